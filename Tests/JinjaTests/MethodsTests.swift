import Foundation
@testable import Jinja
import XCTest

/// Python methods of str, dict and list that templates call; the sandbox refuses the mutating ones, as
/// transformers' `ImmutableSandboxedEnvironment` does. Expected texts rendered by Python jinja2 3.1.6.
final class MethodsTests: XCTestCase {
    /// strip/split/startswith… with Python's semantics (whitespace split, `maxsplit`, tuples of prefixes).
    func testStringMethods() throws {
        try expectRenders([
            ("{{ 'abc'.upper() }}{{ ' x '.strip() }}{{ 'a,b'.split(',') }}{{ 'a b  c'.split() }}{{ 'a,b,c'.split(',', 1) }}{{ 'abc'.startswith(('x','a')) }}{{ 'abc'.endswith('c') }}{{ 'xax'.strip('x') }}", "ABCx['a', 'b']['a', 'b', 'c']['a', 'b,c']TrueTruea"),
            ("{{ 'abc'.replace('b', 'B') }}{{ 'abca'.find('a', 1) }}{{ 'abca'.count('a') }}{{ '-'.join(['a','b']) }}{{ 'Hello World'.title() }}{{ 'hello'.capitalize() }}{{ 'a\\nb'.splitlines() }}{{ 'abc'.rstrip('c') }}{{ '  x'.lstrip() }}", "aBc32a-bHello WorldHello['a', 'b']abx"),
            ("{{ '  a  b  '.split(' ') }}{{ 'a b c'.rsplit(' ', 1) }}{{ '  a b '.split(None, 1) }}{{ '  a b  c '.rsplit(None, 1) }}{{ 'a\\tb\\nc'.split() }}{{ ''.split() }}{{ ''.split(',') }}", "['', '', 'a', '', 'b', '', '']['a b', 'c']['a', 'b ']['  a b', 'c']['a', 'b', 'c'][]['']"),
            ("{{ 'ab'.center(6, '*') }}{{ 'ab'.ljust(4) }}|{{ 'ab'.rjust(4, '0') }}{{ '42'.zfill(5) }}{{ '-4'.zfill(4) }}{{ 'a=b=c'.partition('=') }}{{ 'a=b=c'.rpartition('=') }}", "**ab**ab  |00ab00042-004('a', '=', 'b=c')('a=b', '=', 'c')"),
            ("{{ 'pre_x'.removeprefix('pre_') }}{{ 'x.py'.removesuffix('.py') }}{{ 'AbC'.swapcase() }}{{ '123'.isdigit() }}{{ 'ab'.isalpha() }}{{ 'a1'.isalnum() }}{{ ' '.isspace() }}{{ 'ab'.islower() }}{{ 'AB'.isupper() }}{{ 'Ab Cd'.istitle() }}", "xxaBcTrueTrueTrueTrueTrueTrueTrue"),
            ("{{ 'hello world'.title() }}{{ \"they're bill's\".title() }}{{ 'ÉCOLE'.lower() }}{{ 'straße'.upper() }}{{ 'ǆemal'.capitalize() }}", "Hello WorldThey'Re Bill'SécoleSTRASSEǅemal"),
            ("{{ content.split('</think>')[-1].lstrip('\\n') }}|{{ content.split('<think>')[-1].split('</think>')[0].rstrip('\\n') }}", "answer|\nreasoning"),
        ], context: ["content": "<think>\nreasoning\n</think>\n\nanswer"])
    }

    /// `get`, `keys`, `values`, `items`, `copy`; `index`, `count`.
    func testDictAndListMethods() throws {
        try expectRenders([
            ("{{ {'a':1}.get('a') }}{{ {'a':1}.get('b') }}{{ {'a':1}.get('b', 3) }}{{ {'a':1}.keys()|list }}{{ {'a':1}.values()|list }}{{ {'a':1}.items()|list }}{{ {'a':1}.copy() }}", "1None3['a'][1][('a', 1)]{'a': 1}"),
            ("{{ [1,2,2].index(2) }}{{ [1,2,2].count(2) }}{{ (1, 2).index(2) }}{{ [1,2].copy() }}", "121[1, 2]"),
            ("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}", "b=1;a=[2];c={'x': None};"),
            ("{{ [1].append }}|{{ [3, 1].sort }}|{{ d.update is defined }}", "||False"),
        ], context: ["d": ["b": 1, "a": [2], "c": ["x": .none]]])
    }

    /// Lists and dicts are immutable in the sandbox, as in transformers.
    func testMutatingMethodsAreRefused() throws {
        // jinja2: SecurityError: access to attribute 'append' of 'list' object is unsafe.
        expectFailure("{% set l = [1] %}{% set _ = l.append(2) %}{{ l }}", what: "access to attribute 'append' of 'list' object is unsafe.")
        // jinja2: SecurityError: access to attribute 'update' of 'dict' object is unsafe.
        expectFailure("{{ {'a': 1}.update({'b': 2}) }}", what: "access to attribute 'update' of 'dict' object is unsafe.")
        // jinja2: SecurityError: access to attribute 'pop' of 'list' object is unsafe.
        expectFailure("{{ [1, 2].pop() }}", what: "access to attribute 'pop' of 'list' object is unsafe.")
        // jinja2: ValueError: empty separator
        expectFailure("{{ 'x'.split('') }}", what: "empty separator")
        // jinja2: ValueError: substring not found
        expectFailure("{{ 'abc'.index('z') }}", what: "substring not found")
        // jinja2: ValueError: 5 is not in list
        expectFailure("{{ [1].index(5) }}", what: "5 is not in list")
        // jinja2: TypeError: sequence item 0: expected str instance, int found
        expectFailure("{{ '-'.join([1, 2]) }}", what: "sequence item 0: expected str instance, int found")
        // jinja2: TypeError: startswith first arg must be str or a tuple of str, not int
        expectFailure("{{ 'a'.startswith(1) }}", what: "startswith first arg must be str or a tuple of str, not int")
    }

}
