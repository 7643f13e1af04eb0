import Foundation
@testable import Jinja
import XCTest

/// Statements at run time: loop variables, Jinja2's scoping (a `set` in a loop does not leak, a namespace does),
/// macros and call blocks. Expected texts rendered by Python jinja2 3.1.6 in transformers' environment.
final class InterpreterTests: XCTestCase {
    /// `loop.index`, `index0`, `revindex`, `revindex0`, `first`, `last`, `length`, `previtem`, `nextitem`, `depth`, `cycle`, `changed`.
    func testLoopVariables() throws {
        try expectRenders([
            ("{% for i in [1,2,3] %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.previtem }}{{ loop.nextitem }}{{ loop.depth }}{{ loop.depth0 }}|{% endfor %}", "1032TrueFalse3210|2121FalseFalse31310|3210FalseTrue3210|"),
            ("{% for i in [1,1,2] %}{{ loop.changed(i) }}{{ loop.cycle('a','b') }}{% endfor %}", "TrueaFalsebTruea"),
            ("{% for x in [1] %}{{ loop.previtem is defined }}{{ loop.nextitem is defined }}{% endfor %}", "FalseFalse"),
            ("{% for i in [1,2] %}{% set outer = loop %}{% for j in [1] %}{{ outer.index }}{{ loop.index }}{% endfor %}{% endfor %}", "1121"),
            ("{% for m in messages %}{{ loop.index0 }}{{ m.role[0] }}{% if not loop.last %},{% endif %}{% endfor %}", "0u,1a,2u"),
        ], context: ["messages": [["role": "user"], ["role": "assistant"], ["role": "user"]]])
    }

    /// `for … if`, `else`, tuple targets, `break`/`continue`, recursive loops.
    func testLoopFiltersElseUnpackingAndControl() throws {
        try expectRenders([
            ("{% for i in [1,2,3] if i > 1 %}{{ loop.index }}/{{ loop.length }}{% else %}E{% endfor %}|{% for i in [] %}x{% else %}E{% endfor %}", "1/22/2|E"),
            ("{% for a, b in [[1,2],[3,4]] %}{{ a }}{{ b }}{% endfor %}|{% for k, v in {'a':1}.items() %}{{k}}={{v}}{% endfor %}|{% for (a, b), c in [((1, 2), 3)] %}{{ a }}{{ b }}{{ c }}{% endfor %}", "1234|a=1|123"),
            ("{% for i in range(5) %}{% if i == 1 %}{% continue %}{% endif %}{% if i == 3 %}{% break %}{% endif %}{{ i }}{% endfor %}", "02"),
            ("{% for i in range(3) %}{% for j in range(3) %}{% if j == 1 %}{% break %}{% endif %}{{ i }}{{ j }}{% endfor %}{% endfor %}", "001020"),
            ("{% for x in [[1,[2,3]]] recursive %}{{ loop.depth }}{% if x is iterable %}[{{ loop(x) }}]{% else %}{{ x }}{% endif %}{% endfor %}", "1[212[3233]]"),
            ("{% for c in 'héy' %}{{ c }}.{% endfor %}|{% for k in {'b': 1, 'a': 2} %}{{ k }}{% endfor %}|{% for x in undefined_name %}x{% else %}U{% endfor %}", "h.é.y.|ba|U"),
        ])
    }

    /// Each iteration starts from the outer value; `namespace` carries state out.
    func testSetInsideLoopsDoesNotLeakButNamespacesDo() throws {
        try expectRenders([
            ("{% set x = 0 %}{% for i in [1,2] %}{{ x }}{% set x = i %}{{ x }}{% endfor %}{{ x }}", "01020"),
            ("{% if true %}{% set y = 1 %}{% endif %}{{ y }}", "1"),
            ("{% for x in [] %}{% else %}{% set z = 1 %}{% endfor %}{{ z }}", ""),
            ("{% set ns = namespace(x=1, y=[]) %}{% for i in [1,2] %}{% set ns.x = ns.x + i %}{% set ns.y = ns.y + [i] %}{% endfor %}{{ ns.x }}|{{ ns }}|{{ ns.z }}|{{ ns['x'] }}", "4|<Namespace {'x': 4, 'y': [1, 2]}>||4"),
            ("{% set ns = namespace({'a': 1}, b=2) %}{{ ns.a }}{{ ns.b }}|{% set ns2 = namespace() %}{% set ns2.v = 'set' %}{{ ns2.v }}", "12|set"),
            ("{% set a, b = 1, 2 %}{{ a }}{{ b }}|{% set ns = namespace() %}{% set ns.p, q = 'p', 'q' %}{{ ns.p }}{{ q }}", "12|pq"),
            ("{% set x = [1, 2] %}{% for x in x %}{{ x }}{% endfor %}{{ x }}", "12[1, 2]"),
            ("{% set a = 5 %}{% with a = 1, b = a %}{{ a }}{{ b }}{% set c = 3 %}{% endwith %}{{ a }}{{ c }}", "155"),
            ("{% set s %}{% set inner = 1 %}b{% endset %}{{ inner }}{{ s }}", "b"),
        ])
    }

    /// Defaults see earlier parameters; extra arguments reach `varargs`/`kwargs` only when the body reads them; macros see their defining scope at call time.
    func testMacros() throws {
        try expectRenders([
            ("{% macro m(a, b=2) %}{{ a }}{{ b }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1) }}|{{ m(1, 3, 4, k=5) }}|{{ m(b=7, a=0) }}", "12(){}|13(4,){'k': 5}|07(){}"),
            ("{% macro m(a, b=a) %}{{ b }}{% endmacro %}{{ m(3) }}", "3"),
            ("{% macro m(a) %}[{{ a }}]{% endmacro %}{{ m() }}", "[]"),
            ("{% set x = 1 %}{% macro m() %}{{ x }}{% endmacro %}{% for i in [1] %}{% set x = 2 %}{{ m() }}{% endfor %}{% set x = 3 %}{{ m() }}", "13"),
            ("{% for i in [1,2] %}{% macro m() %}{{ i }}{{ x }}{% endmacro %}{% set x = i * 10 %}{{ m() }}{% endfor %}", "110220"),
            ("{% macro f(n) %}{% if n > 0 %}{{ n }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(5) }}", "54321"),
            ("{% macro m() %}x{% endmacro %}{{ m }}|{{ m is callable }}|{{ m() ~ m() }}|{{ (m() + 'y')|upper }}", "<Macro 'm'>|True|xx|XY"),
            ("{% macro m(x) %}{{ x }}{% endmacro %}{{ m(x='kw') }}{{ m(*['star']) }}{{ m(**{'x': 'dstar'}) }}", "kwstardstar"),
            ("{% macro outer() %}{% macro inner() %}in{% endmacro %}{{ inner() }}-{{ varargs|length }}{% endmacro %}{{ outer(1, 2) }}", "in-2"),
        ])
    }

    /// `caller()` renders the call block's body, with its own arguments and scope.
    func testCallBlocks() throws {
        try expectRenders([
            ("{% macro m(a) %}[{{ caller() }}]{% endmacro %}{% call m(1) %}body{% endcall %}", "[body]"),
            ("{% macro m() %}{{ caller(3) }}{{ caller(4) }}{% endmacro %}{% call(x) m() %}got {{ x }};{% endcall %}", "got 3;got 4;"),
            ("{% macro m() %}{% set z = 1 %}{{ caller() }}{% endmacro %}{% call m() %}{% set w = 2 %}{{ z }}{% endcall %}{{ w }}", ""),
            ("{% for i in [1, 2] %}{% generation %}{{ i }}{% set g = i %}{% endgeneration %}{{ g }}{% endfor %}", "12"),
        ])
    }

    /// Errors a template can cause at run time, with Jinja2's (Python's) messages.
    func testRuntimeErrorsCarryPythonsMessages() throws {
        // jinja2: TypeError: macro 'm' takes not more than 1 argument(s)
        expectFailure("{% macro m(a) %}{{ a }}{% endmacro %}{{ m(1, 2) }}", what: "macro 'm' takes not more than 1 argument(s)")
        // jinja2: TypeError: macro 'm' takes no keyword argument 'b'
        expectFailure("{% macro m(a) %}{{ a }}{% endmacro %}{{ m(b=1) }}", what: "macro 'm' takes no keyword argument 'b'")
        // jinja2: UndefinedError: parameter 'a' was not provided
        expectFailure("{% macro m(a) %}{{ a.x }}{% endmacro %}{{ m() }}", what: "parameter 'a' was not provided")
        // jinja2: TemplateRuntimeError: cannot assign attribute on non-namespace object
        expectFailure("{% set d = {} %}{% set d.x = 1 %}", what: "cannot assign attribute on non-namespace object")
        // jinja2: SecurityError: Chat templates cannot store underscore-prefixed attributes on a namespace, but got '_hidden'. Please rename the attribute.
        expectFailure("{% set ns = namespace() %}{% set ns._hidden = 1 %}", what: "Chat templates cannot store underscore-prefixed attributes on a namespace, but got '_hidden'. Please rename the attribute.")
        // jinja2: SecurityError: Chat templates cannot store underscore-prefixed attributes on a namespace, but got '_x'. Please rename the attribute.
        expectFailure("{{ namespace(_x=1) }}", what: "Chat templates cannot store underscore-prefixed attributes on a namespace, but got '_x'. Please rename the attribute.")
        // jinja2: ValueError: too many values to unpack (expected 2)
        expectFailure("{% for a, b in [[1,2,3]] %}{% endfor %}", what: "too many values to unpack (expected 2)")
        // jinja2: ValueError: not enough values to unpack (expected 2, got 1)
        expectFailure("{% for a, b in [[1]] %}{% endfor %}", what: "not enough values to unpack (expected 2, got 1)")
        // jinja2: ValueError: not enough values to unpack (expected 2, got 1)
        expectFailure("{% set a, b = [1] %}", what: "not enough values to unpack (expected 2, got 1)")
        // jinja2: TypeError: 'int' object is not iterable
        expectFailure("{% for i in 3 %}{% endfor %}", what: "'int' object is not iterable")
        // jinja2: TypeError: 'NoneType' object is not iterable
        expectFailure("{% for i in none %}{% endfor %}", what: "'NoneType' object is not iterable")
        // jinja2: UndefinedError: 'loop' is undefined
        expectFailure("{{ loop.index }}", what: "'loop' is undefined")
        // jinja2: UndefinedError: 'loop' is undefined
        expectFailure("{% for i in [1, 2] if i > loop %}{% endfor %}", what: "'loop' is undefined")
        // jinja2: UndefinedError: 'm' is undefined
        expectFailure("{{ m() }}{% macro m() %}hi{% endmacro %}", what: "'m' is undefined")
    }

    func testRunawayRecursionIsAnErrorNotACrash() {
        expectFailure("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", line: 1, column: 20)
        expectFailure("{% for x in [1] recursive %}{{ loop([1]) }}{% endfor %}")
    }

    func testRaiseExceptionIsReportedAsTheTemplatesOwnError() {
        expectFailure("line\n{% if true %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}",
                      kind: .raised, line: 2, column: 17, what: "Conversation roles must alternate user/assistant/user/assistant/...")
        expectFailure("{{ raise_exception('n=' ~ 3) }}", kind: .raised, what: "n=3")
    }

    func testTemplateIsReusableAndRendersAreIndependent() throws {
        let t = try Template("{% set ns = namespace(n=0) %}{% for m in items %}{% set ns.n = ns.n + m %}{% endfor %}{{ ns.n }}")
        XCTAssertEqual(try t.render(["items": [1, 2, 3]]), "6")
        XCTAssertEqual(try t.render(["items": [10]]), "10")
        XCTAssertEqual(try t.render([:]), "0")
    }
}
