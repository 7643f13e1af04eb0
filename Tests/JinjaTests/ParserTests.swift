import Foundation
@testable import Jinja
import XCTest

/// Jinja2's precedence and statement grammar; syntax errors name what is wrong and where. Expected texts
/// rendered by Python jinja2 3.1.6 in transformers' environment.
final class ParserTests: XCTestCase {
    /// `~` binds tighter than `+` but looser than `*`; unary minus applies before `**` and filters.
    func testOperatorPrecedence() throws {
        try expectRenders([
            ("{{ 2 * 3 ~ 4 }}|{{ 'a' ~ 2 * 3 }}|{{ -1 ~ -2 }}|{{ not 1 == 2 }}|{{ -2|abs }}|{{ - 2 ** 2 }}|{{ 2 ** 3 ** 2 }}", "64|a6|-1-2|True|2|4|64"),
            ("{{ 1 + 2 * 3 - 4 / 2 }}|{{ (1 + 2) * 3 }}|{{ 10 - 2 - 3 }}|{{ 2 ** -1 }}|{{ 7 // 2 * 2 }}", "5.0|9|5|0.5|6"),
            ("{{ 1 or 0 and 0 }}|{{ not 0 or 0 }}|{{ not (0 or 1) }}|{{ 1 < 2 == 2 }}|{{ 'a' in 'abc' == true }}", "1|True|False|True|False"),
            ("{{ [1,2]|first + 1 }}|{{ 1 + [1,2]|first }}|{{ 'abc'|upper ~ 'd' }}|{{ 'a' is string and 1 is number }}|{{ not 'x' is string }}", "2|2|ABCd|True|False"),
            ("{{ 'a' if 0 else 'b' if 0 else 'c' }}|{{ 1 if 1 else 2 ~ 'x' }}|{{ (1 if 0 else 2) + 1 }}", "c|1|3"),
            ("{{ x.y.z }}|{{ x['y']['z'] }}|{{ x.y['z'] }}|{{ x['y'].z|upper }}|{{ x.y.z|length }}", "deep|deep|deep|DEEP|4"),
        ], context: ["x": ["y": ["z": "deep"]]])
    }

    /// Literals: tuples need a comma, lists and dicts allow a trailing one.
    func testTuplesListsAndDicts() throws {
        try expectRenders([
            ("{{ 1, 2 }}|{{ (1, 2) }}|{{ (1,) }}|{{ () }}|{{ [1, 2,] }}|{{ {'a': 1,} }}|{% set t = 1, 'b' %}{{ t }}", "(1, 2)|(1, 2)|(1,)|()|[1, 2]|{'a': 1}|(1, 'b')"),
            ("{% for a in 1, 2 %}{{ a }}{% endfor %}|{% if 1, 2 %}t{% endif %}", "12|t"),
        ])
    }

    /// if/elif/else, for/else, set, macro, call, filter, with, print, raw and transformers' generation tag.
    func testStatements() throws {
        try expectRenders([
            ("{% if none %}a{% elif 0 %}b{% elif 'x' %}c{% else %}d{% endif %}|{% if [] %}{% else %}e{% endif %}", "c|e"),
            ("{% print 'p', 1 %}|{% generation %}g{{ 1 + 1 }}{% endgeneration %}", "p1|g2"),
            ("{% filter upper %}a{{ 'b' }}{% endfilter %}|{% filter replace('x', 'y') | upper %}xx{% endfilter %}", "AB|YY"),
            ("{% set x | upper %}b{{ 'c' }}{% endset %}{{ x }}|{% set y | trim | replace('a', 'b') %}  a  {% endset %}{{ y }}", "BC|b"),
            ("{% macro m(a, b='d') %}{{ a }}{{ b }}{% endmacro %}{{ m(1) }}{{ m(1, 2) }}{{ m(b=3, a=4) }}", "1d1243"),
            ("{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}", "3"),
            ("{% for i in [1, 2] %}{{ i }}{% else %}none{% endfor %}{% for i in [] %}{{ i }}{% else %}none{% endfor %}", "12none"),
            ("{% if true %}{% if false %}a{% else %}{% for i in [1] %}b{% endfor %}{% endif %}{% endif %}", "b"),
        ])
    }

    func testSyntaxErrorsNameTheProblemAndItsPosition() {
        expectFailure("{% if true %}unclosed", kind: .syntax, line: 1, column: 22,
                      what: "Unexpected end of template. Jinja was looking for the following tags: 'elif' or 'else' or 'endif'. The innermost block that needs to be closed is 'if'.")
        expectFailure("{% for x in [1] %}\n{% endif %}", kind: .syntax, line: 2, column: 4,
                      what: "Encountered unknown tag 'endif'. Jinja was looking for the following tags: 'endfor' or 'else'. The innermost block that needs to be closed is 'for'.")
        expectFailure("{% if a %}{% for x in y %}{% endif %}", kind: .syntax,
                      what: "Encountered unknown tag 'endif'. You probably made a nesting mistake. Jinja is expecting this tag, but currently looking for 'endfor' or 'else'. The innermost block that needs to be closed is 'for'.")
        expectFailure("a\n{{ 1 + }}", kind: .syntax, line: 2, column: 8, what: "unexpected 'end of print statement'")
        expectFailure("{% nosuchtag %}", kind: .syntax, line: 1, column: 4, what: "Encountered unknown tag 'nosuchtag'.")
        expectFailure("{% set 1 = 2 %}", kind: .syntax, what: "can't assign to 'const'")
        expectFailure("{% for loop in [1] %}{% endfor %}", kind: .syntax, what: "Can't assign to special loop variable in for-loop target")
        expectFailure("{% macro m(a=1, b) %}{% endmacro %}", kind: .syntax, what: "non-default argument follows default argument")
        expectFailure("{{ 1 is == 1 }}", kind: .syntax, what: "expected token 'name', got '=='")
        expectFailure("{% set x = %}", kind: .syntax)
        expectFailure("{{ 'a' ~ }}", kind: .syntax)
        expectFailure("{{ 1 }", kind: .syntax)
        expectFailure("{% if x %}{% endif %}{% endfor %}", kind: .syntax, what: "Encountered unknown tag 'endfor'.")
    }

    func testUnknownAndRefusedNamesAreNamed() {
        expectFailure("text\n  {{ x|nosuchfilter }}", kind: .syntax, line: 2, column: 8, what: "No filter named 'nosuchfilter'.")
        expectFailure("{{ x is nosuchtest }}", kind: .syntax, what: "No test named 'nosuchtest'.")
        expectFailure("{{ x|urlize }}", kind: .unsupported, what: "the 'urlize' filter is not supported")
        expectFailure("{{ x|groupby('a') }}", kind: .unsupported, what: "the 'groupby' filter is not supported")
        expectFailure("{% include 'x.html' %}", kind: .unsupported, line: 1, column: 4, what: "the 'include' tag is not supported")
        expectFailure("{% extends 'base' %}", kind: .unsupported, what: "the 'extends' tag is not supported")
        expectFailure("{% import 'm' as m %}", kind: .unsupported, what: "the 'import' tag is not supported")
        // Jinja2 checks names when it compiles, except inside an `if` or a conditional expression ("soft frames"),
        // where a name only fails if it runs; a loop or macro inside the `if` is checked again.
        XCTAssertEqual(try Template("{% if false %}{{ x|nosuchfilter }}{% elif true %}{% else %}{{ x is nosuchtest }}{% endif %}ok").render([:]), "ok")
        XCTAssertEqual(try Template("{{ 'a' if true else x|nosuchfilter }}{{ x|urlize if false }}").render([:]), "a")
        expectFailure("{% if true %}{{ x|nosuchfilter }}{% endif %}", kind: .runtime, what: "No filter named 'nosuchfilter' found.")
        expectFailure("{% if x is nosuchtest %}{% endif %}", kind: .runtime, what: "No test named 'nosuchtest' found.")
        expectFailure("{% if true %}{% for i in [1] %}{{ x|nosuchfilter }}{% endfor %}{% endif %}", kind: .syntax, what: "No filter named 'nosuchfilter'.")
        expectFailure("{{ x|nosuchfilter }}{{ 1 + }}", kind: .syntax, what: "unexpected 'end of print statement'")
    }

    func testBreakAndContinueOnlyInsideLoops() {
        expectFailure("{% break %}", kind: .syntax, what: "'break' outside a for loop")
        expectFailure("{% for i in [1] %}{% macro m() %}{% continue %}{% endmacro %}{% endfor %}", kind: .syntax)
        expectFailure("{% for i in [] %}{% else %}{% break %}{% endfor %}", kind: .syntax)
    }

    func testDeepNestingIsRefusedNotACrash() {
        let deep = String(repeating: "(", count: 500) + "1" + String(repeating: ")", count: 500)
        expectFailure("{{ \(deep) }}", kind: .unsupported)
        expectFailure("{{ " + String(repeating: "not ", count: 1000) + "1 }}", kind: .unsupported)
        expectFailure("{{ " + String(repeating: "[", count: 1000) + "1" + String(repeating: "]", count: 1000) + " }}", kind: .unsupported)
        expectFailure("{{ " + String(repeating: "x.", count: 3000) + "y }}", kind: .unsupported)
        expectFailure("{{ " + String(repeating: "1 + ", count: 3000) + "1 }}", kind: .unsupported)
        expectFailure("{{ 1" + String(repeating: "|abs", count: 3000) + " }}", kind: .unsupported)
        let nested = String(repeating: "{% if true %}", count: 200) + "x" + String(repeating: "{% endif %}", count: 200)
        expectFailure(nested, kind: .unsupported)
        XCTAssertEqual(try Template(String(repeating: "(", count: 20) + "{{ " + String(repeating: "(", count: 20) + "1" + String(repeating: ")", count: 20) + " }}").render([:]),
                       String(repeating: "(", count: 20) + "1")
    }
}
