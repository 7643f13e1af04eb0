import Foundation
@testable import Jinja
import XCTest

/// Expressions: Python's operators and printing, Jinja2's undefined and lookup rules, slicing. Expected texts
/// rendered by Python jinja2 3.1.6 in transformers' environment.
final class EvaluationTests: XCTestCase {
    /// `{{ x }}` prints Python's `str()`: `True`, `None`, `1.0`, `['a', 1]`, `{'k': None}`, repr quoting.
    func testPrintingIsPythonStr() throws {
        try expectRenders([
            ("{{ True }}{{ False }}{{ None }}{{ true }}{{ none }}|{{ [] }}{{ {} }}{{ () }}{{ (1,) }}{{ (1, 'a') }}", "TrueFalseNoneTrueNone|[]{}()(1,)(1, 'a')"),
            ("{{ ['it\\'s', \"q\\\"\", 'a\\nb', '\\u00e9', '\\x00', '\\x7f', '\\u200b', 'both \\' \"'] }}", "[\"it's\", 'q\"', 'a\\nb', 'é', '\\x00', '\\x7f', '\\u200b', 'both \\' \"']"),
            ("{{ {1: 'a', none: 2, true: 3, 1.5: 4, 'k': [1.0, none]} }}", "{1: 3, None: 2, 1.5: 4, 'k': [1.0, None]}"),
            ("{{ x }}", "{'role': 'user', 'content': ['a', 1, 2.5, True, None]}"),
            ("{{ 1.0 }} {{ 1e20 }} {{ 1e16 }} {{ 1.5e15 }} {{ 123456789.123456789 }} {{ 0.0001 }} {{ 0.00001 }} {{ -0.0 }} {{ 1e-7 }} {{ 0.1 + 0.2 }} {{ 1 / 3 }}", "1.0 1e+20 1e+16 1500000000000000.0 123456789.12345679 0.0001 1e-05 -0.0 1e-07 0.30000000000000004 0.3333333333333333"),
        ], context: ["x": ["role": "user", "content": ["a", 1, 2.5, true, .none]]])
    }

    /// Python arithmetic: floor division and modulo follow the divisor's sign; `/` is always float; bools are ints.
    func testArithmetic() throws {
        try expectRenders([
            ("{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % -3 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 4 / 2 }} {{ 2 ** 10 }} {{ 2 ** -1 }}", "3 -4 -2 2 3.5 2.0 1024 0.5"),
            ("{{ 1 + 1.5 }} {{ 7 // 2.0 }} {{ 7.5 % 2 }} {{ -7.5 // 2 }} {{ true + 1 }} {{ true * 3 }} {{ 3 - true }} {{ -7.5 % 2 }}", "2.5 3.0 1.5 -4.0 2 3 2 0.5"),
            ("{{ 'ab' * 3 }}{{ 3 * 'x' }}{{ [1] * 2 }}{{ 'a' * 0 }}{{ [1] * -1 }}{{ [1] + [2] }}{{ (1,) + (2,) }}{{ 'a' + 'b' }}", "abababxxx[1, 1][][1, 2](1, 2)ab"),
            ("{{ 'a' ~ 1 ~ none ~ 2.0 ~ undefined_name ~ [1] }}", "a1None2.0[1]"),
        ])
    }

    /// `and`/`or` return an operand; chained comparisons; `in` on strings, lists and dicts.
    func testComparisonsAndLogic() throws {
        try expectRenders([
            ("{{ 1 == 1.0 }}{{ true == 1 }}{{ 'a' < 'b' }}{{ [1,2] < [1,3] }}{{ (1, 2) == [1, 2] }}{{ 1 < 2 < 3 }}{{ 3 > 2 > 2 }}{{ 1 != 2 }}", "TrueTrueTrueTrueFalseTrueFalseTrue"),
            ("{{ 'a' in 'abc' }}{{ '' in 'abc' }}{{ 1 in [1] }}{{ 'k' in {'k': 1} }}{{ 2 not in [1] }}{{ not 1 in [1] }}{{ 'x' in u }}{{ u == u }}{{ u == none }}", "TrueTrueTrueTrueTrueFalseFalseTrueFalse"),
            ("{{ u or 'd' }}|{{ 0 or '' }}|{{ 'a' and 'b' }}|{{ [] and 1 }}|{{ none or false }}|{{ not none }}|{{ 0 or [] or 'z' }}", "d||b|[]|False|True|z"),
            ("{{ 'B' > 'a' }}{{ 'é' > 'z' }}{{ [1, 'a'] == [1, 'a'] }}{{ {'a': 1} == {'a': 1.0} }}{{ {'a': 1, 'b': 2} == {'b': 2, 'a': 1} }}", "FalseTrueTrueTrueTrue"),
        ])
    }

    /// Jinja2's default `Undefined`: printing, truth, iteration, length, `default` and tests all work on it.
    func testUndefinedPrintsEmptyIsFalseAndIteratesAsEmpty() throws {
        try expectRenders([
            ("{{ u }}|{{ u is defined }}|{{ u is undefined }}|{% for a in u %}A{% endfor %}|{{ u|length }}|{{ u|default('d') }}|{{ u|list }}", "|False|True||0|d|[]"),
            ("{% if u %}t{% else %}f{% endif %}{% if not u %}!{% endif %}{{ u ~ 'a' }}{{ u|string }}|{{ u|upper }}|{{ u|join }}", "f!a||"),
            ("{{ u is iterable }}{{ u is sequence }}{{ u is mapping }}{{ u is string }}{{ u is none }}{{ u is number }}{{ u is callable }}", "TrueTrueFalseFalseFalseFalseTrue"),
            ("{{ none.y }}|{{ none['y'] }}|{{ 'ab'[5] }}|{{ [1,2,3][5] }}|{{ {'a':1}['b'] }}|{{ {'a':1}.b }}|{{ d.missing is defined }}", "||||||False"),
            ("{{ 'y' if u is defined else 'n' }}|{{ 1 if false }}|{% set v = 1 if false %}{{ v is defined }}", "n||False"),
        ], context: ["d": ["k": "v"]])
    }

    /// Anything else done with an undefined value raises Jinja2's `UndefinedError` message.
    func testUsingUndefinedFailsNamingWhatIsMissing() throws {
        // jinja2: UndefinedError: 'x' is undefined
        expectFailure("{{ x.y }}", what: "'x' is undefined")
        // jinja2: UndefinedError: 'x' is undefined
        expectFailure("{{ x['y'] }}", what: "'x' is undefined")
        // jinja2: UndefinedError: 'x' is undefined
        expectFailure("{{ x() }}", what: "'x' is undefined")
        // jinja2: UndefinedError: 'x' is undefined
        expectFailure("{{ x + 1 }}", what: "'x' is undefined")
        // jinja2: UndefinedError: 'x' is undefined
        expectFailure("{{ 1 - x }}", what: "'x' is undefined")
        // jinja2: UndefinedError: 'x' is undefined
        expectFailure("{{ -x }}", what: "'x' is undefined")
        // jinja2: UndefinedError: 'x' is undefined
        expectFailure("{{ x < 1 }}", what: "'x' is undefined")
        // jinja2: UndefinedError: 'x' is undefined
        expectFailure("{{ x|int }}", what: "'x' is undefined")
        // jinja2: UndefinedError: 'None' has no attribute 'a'
        expectFailure("{{ none.a.b }}", what: "'None' has no attribute 'a'")
        // jinja2: UndefinedError: 'dict object' has no attribute 'a'
        expectFailure("{{ {}.a.b }}", what: "'dict object' has no attribute 'a'")
        // jinja2: UndefinedError: list object has no element 5
        expectFailure("{{ [1][5].x }}", what: "list object has no element 5")
        // jinja2: UndefinedError: 'str object' has no attribute 'foo'
        expectFailure("{{ 'abc'.foo.bar }}", what: "'str object' has no attribute 'foo'")
        // jinja2: UndefinedError: 'x' is undefined
        expectFailure("{{ x.y is defined }}", what: "'x' is undefined")
        // jinja2: UndefinedError: the inline if-expression on line 1 evaluated to false and no else section was defined.
        expectFailure("{{ (1 if false).x }}", what: "the inline if-expression on line 1 evaluated to false and no else section was defined.")
        // jinja2: UndefinedError: No first item, sequence was empty.
        expectFailure("{{ []|first|upper|trim }}{{ ([]|first).x }}", what: "No first item, sequence was empty.")
        // jinja2: UndefinedError: 'dict object' has no attribute 'tool_calls'
        expectFailure("{{ m.tool_calls|length }}{{ m.tool_calls[0] }}", what: "'dict object' has no attribute 'tool_calls'", context: ["m": ["role": "assistant"]])
    }

    /// `a.b` tries the attribute (a method) before the key; `a['b']` the key before the attribute.
    func testAttributeAndItemLookup() throws {
        try expectRenders([
            ("{{ msg.items is callable }}|{{ msg['items'] }}|{{ msg.content }}|{{ msg.get('content') }}", "True|3|c|c"),
            ("{{ x.0 }}{{ x.1.a }}|{{ [1,2]['a'] }}|{{ [1,2].a }}|{{ 'ab'.x }}|{{ {'a': 1}[0] }}|{{ {0: 'z'}[0] }}|{{ {'1': 'a'}[1] }}|{{ {1: 'i'}[1.0] }}|{{ {1: 'i'}[true] }}", "pq|||||z||i|i"),
        ], context: ["msg": ["items": 3, "content": "c"], "x": ["p", ["a": "q"]]])
    }

    /// Python slices on lists, tuples and strings (by code point), negative and out-of-range bounds included.
    func testSlicing() throws {
        try expectRenders([
            ("{{ 'ab'[0] }}{{ 'ab'[-1] }}|{{ [1,2,3][-1] }}{{ [1,2,3][1:] }}{{ [1,2,3][:-1] }}{{ 'abcdef'[1:5:2] }}{{ [1,2,3][::2] }}{{ [1,2,3][::-1] }}", "ab|3[2, 3][1, 2]bd[1, 3][3, 2, 1]"),
            ("{{ [1,2,3,4,5][-2:] }}{{ [1,2,3,4,5][10:] }}{{ [1,2,3,4,5][-10:2] }}{{ [1,2,3,4,5][4:1:-1] }}{{ 'héllo'[1:3] }}{{ (1,2,3)[1:] }}{{ [1,2][true] }}{{ '🎉x'[1] }}", "[4, 5][][1, 2][5, 4, 3]él(2, 3)2x"),
            ("{{ msgs[1:]|length }}{{ msgs[-1].role }}{{ msgs[0:1][0].role }}", "1usersystem"),
        ], context: ["msgs": [["role": "system"], ["role": "user"]]])
    }

    /// Python's `TypeError`/`ZeroDivisionError` messages for wrong operand types.
    func testTypeErrorsCarryPythonsMessages() throws {
        // jinja2: TypeError: can only concatenate str (not "int") to str
        expectFailure("{{ 'a' + 1 }}", what: "can only concatenate str (not \"int\") to str")
        // jinja2: TypeError: unsupported operand type(s) for +: 'int' and 'str'
        expectFailure("{{ 1 + 'a' }}", what: "unsupported operand type(s) for +: 'int' and 'str'")
        // jinja2: TypeError: can only concatenate list (not "tuple") to list
        expectFailure("{{ [1] + (2,) }}", what: "can only concatenate list (not \"tuple\") to list")
        // jinja2: TypeError: can't multiply sequence by non-int of type 'str'
        expectFailure("{{ 'a' * 'b' }}", what: "can't multiply sequence by non-int of type 'str'")
        // jinja2: TypeError: unsupported operand type(s) for -: 'str' and 'int'
        expectFailure("{{ 'a' - 1 }}", what: "unsupported operand type(s) for -: 'str' and 'int'")
        // jinja2: TypeError: '<' not supported between instances of 'int' and 'str'
        expectFailure("{{ 1 < 'a' }}", what: "'<' not supported between instances of 'int' and 'str'")
        // jinja2: TypeError: argument of type 'NoneType' is not iterable
        expectFailure("{{ 1 in none }}", what: "argument of type 'NoneType' is not iterable")
        // jinja2: TypeError: 'in <string>' requires string as left operand, not int
        expectFailure("{{ 1 in 'abc' }}", what: "'in <string>' requires string as left operand, not int")
        // jinja2: ZeroDivisionError: integer division or modulo by zero
        expectFailure("{{ 5 // 0 }}", what: "integer division or modulo by zero")
        // jinja2: ZeroDivisionError: integer modulo by zero
        expectFailure("{{ 5 % 0 }}", what: "integer modulo by zero")
        // jinja2: ZeroDivisionError: division by zero
        expectFailure("{{ 5 / 0 }}", what: "division by zero")
        // jinja2: ZeroDivisionError: float division by zero
        expectFailure("{{ 5.0 / 0 }}", what: "float division by zero")
        // jinja2: ValueError: slice step cannot be zero
        expectFailure("{{ [1,2][::0] }}", what: "slice step cannot be zero")
        // jinja2: TypeError: unhashable type: 'list'
        expectFailure("{{ {[1]: 2} }}", what: "unhashable type: 'list'")
        // jinja2: TypeError: 'str' object is not callable
        expectFailure("{{ 'abc'() }}", what: "'str' object is not callable")
    }

    func testIntegersBeyond64BitsAreRefused() {
        expectFailure("{{ 2 ** 64 }}", kind: .unsupported)
        expectFailure("{{ 9223372036854775807 + 1 }}", kind: .unsupported)
        expectFailure("{{ 'x' * 100000000 }}", kind: .runtime)
    }
}
