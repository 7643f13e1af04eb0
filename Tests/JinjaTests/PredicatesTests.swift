import Foundation
@testable import Jinja
import XCTest

/// Jinja2's tests (`is defined`, `is string`…), as Python evaluates them. Expected texts rendered by Python jinja2 3.1.6.
final class PredicatesTests: XCTestCase {
    /// Type tests; an undefined value is iterable, a sequence and callable, as Jinja2's `Undefined` is.
    func testTypeTests() throws {
        try expectRenders([
            ("{{ {'a':1} is mapping }}{{ [1] is sequence }}{{ {'a':1} is sequence }}{{ 'a' is sequence }}{{ 1 is iterable }}{{ {} is iterable }}{{ 1.5 is float }}{{ 1 is integer }}{{ true is integer }}{{ true is number }}{{ true is boolean }}", "TrueTrueTrueTrueFalseTrueTrueTrueFalseTrueTrue"),
            ("{{ range is callable }}{{ namespace() is callable }}{{ 1 is callable }}{{ 'upper' is filter }}{{ 'odd' is test }}{{ 'nope' is filter }}{{ (1|string) is string }}{{ ([1]|select) is iterable }}{{ none is none }}{{ 1 is not none }}", "TrueFalseFalseTrueTrueFalseTrueTrueTrueTrue"),
            ("{{ u is defined }}{{ u is undefined }}{{ u is iterable }}{{ u is sequence }}{{ u is callable }}{{ u is mapping }}{{ m.content is string }}{{ m.content is iterable }}{{ m.content is mapping }}", "FalseTrueTrueTrueTrueFalseFalseTrueFalse"),
        ], context: ["m": ["content": [["type": "text"]]]])
    }

    /// `odd`, `even`, `divisibleby`, `in`, `lower`, `upper`, `sameas`, `true`/`false`, `escaped`, comparisons.
    func testValueTests() throws {
        try expectRenders([
            ("{{ 1 is divisibleby 3 }}{{ 6 is divisibleby(3) }}{{ 2 is even }}{{ 3 is odd }}{{ 2.0 is even }}{{ 3.0 is odd }}{{ 'a' is in 'abc' }}{{ 1 is eq 1 }}{{ 1 is equalto 1 }}", "FalseTrueTrueTrueTrueTrueTrueTrueTrue"),
            ("{{ 'Ab' is lower }}{{ 'ab' is lower }}{{ 'AB' is upper }}{{ '12' is lower }}", "FalseTrueTrueFalse"),
            ("{{ x is sameas none }}{{ none is sameas none }}{{ 1 is sameas 1 }}{{ true is true }}{{ 1 is true }}{{ false is false }}{{ 0 is false }}", "TrueTrueTrueTrueFalseTrueFalse"),
            ("{{ 1 is gt 0 }}{{ 1 is lt 0 }}{{ 1 is ge 1 }}{{ 1 is le 0 }}{{ 1 is ne 2 }}{{ 1 is greaterthan 0 }}{{ 1 is lessthan 2 }}{{ 'a' is escaped }}{{ 'a'|e is escaped }}", "TrueFalseTrueFalseTrueTrueTrueFalseTrue"),
            ("{{ m is not defined }}{{ not m is defined }}{{ m is defined and m }}|{% if messages[0]['role'] == 'system' and messages[0].content is string %}s{% endif %}", "TrueTrueFalse|s"),
        ], context: ["x": .none, "messages": [["role": "system", "content": "c"]]])
    }

    /// Tests on unsuitable values fail as in Python.
    func testTestErrors() throws {
        // jinja2: TypeError: not all arguments converted during string formatting
        expectFailure("{{ 'a' is odd }}", what: "not all arguments converted during string formatting")
        // jinja2: UndefinedError: 'u' is undefined
        expectFailure("{{ u is divisibleby 2 }}", what: "'u' is undefined")
        // jinja2: TypeError: argument of type 'int' is not iterable
        expectFailure("{{ 1 is in 2 }}", what: "argument of type 'int' is not iterable")
    }

}
