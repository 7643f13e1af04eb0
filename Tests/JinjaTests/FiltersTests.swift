import Foundation
@testable import Jinja
import XCTest

/// Text and number filters, with transformers' `tojson`. Expected texts rendered by Python jinja2 3.1.6 in
/// transformers' environment.
final class FiltersTests: XCTestCase {
    /// `title`, `capitalize`, `upper`, `lower`, `trim`, `replace`, `indent`, `wordcount`, `center`, `truncate`, `string`.
    func testTextFilters() throws {
        try expectRenders([
            ("{{ 'hello world-foo(bar'|title }}|{{ 'hELLO wORLD'|capitalize }}|{{ 'AbC'|upper }}{{ 'AbC'|lower }}|{{ 42|upper }}|{{ u|upper }}|", "Hello World-Foo(Bar|Hello world|ABCabc|42||"),
            ("{{ '  a\\n b  '|trim }}|{{ 'xxaxx'|trim('x') }}|{{ '\\u3000 a \\u00a0'|trim }}|{{ 12|trim }}", "a\n b|a|a|12"),
            ("{{ 'a\\nb\\n\\nc'|indent }}|{{ 'a\\nb\\n\\nc'|indent(2, true, true) }}|{{ 'a'|indent('>>', first=true) }}|{{ 'a\\n'|indent }}|{{ ''|indent(first=true) }}", "a\n    b\n\n    c|  a\n  b\n  \n  c|>>a|a\n|    "),
            ("{{ 'abc'|replace('b','x') }}|{{ 'aaa'|replace('a','b',2) }}|{{ 'abc'|replace('', '-') }}|{{ 123|replace(2, 9) }}", "axc|bba|-a-b-c-|193"),
            ("{{ 'a b  c'|wordcount }}|{{ 'don\\'t stop_me now-3'|wordcount }}|{{ 'abc'|center(9) }}|{{ 'abc'|center(8) }}", "3|5|   abc   |  abc   "),
            ("{{ 'hello world'|truncate(8) }}|{{ 'hello big world'|truncate(9, false, '..', 0) }}|{{ 'hello world'|truncate(5, true) }}", "hello world|hello..|he..."),
            ("{{ 1|string }}{{ none|string }}{{ [1, 'a']|string }}|{{ 1.5|string }}|{{ 'ab'|list }}", "1None[1, 'a']|1.5|['a', 'b']"),
            ("{{ '%s-%d'|format('a', 3) }}|{{ '%(k)s'|format(k='v') }}", "a-3|v"),
        ])
    }

    /// `e`/`escape` always HTML-escape (autoescape is off); `+` with a safe string escapes the other, `~` does not.
    func testEscapeAndSafe() throws {
        try expectRenders([
            ("{{ '<a href=\"x\">&\\'</a>'|e }}|{{ '<b>'|escape|e }}|{{ '<b>'|forceescape }}|{{ 1|safe }}", "&lt;a href=&#34;x&#34;&gt;&amp;&#39;&lt;/a&gt;|&lt;b&gt;|&lt;b&gt;|1"),
            ("{{ ('<b>'|safe) + '<i>' }}|{{ '<i>' + ('<b>'|safe) }}|{{ ('<b>'|safe) ~ '<i>' }}|{{ ('<b>'|safe)|upper }}", "<b>&lt;i&gt;|&lt;i&gt;<b>|<b><i>|<B>"),
        ])
    }

    /// `default`/`d`: for undefined values, or for false ones with `boolean=true`.
    func testDefault() throws {
        try expectRenders([
            ("{{ u|default('d') }}|{{ ''|default('d') }}|{{ ''|default('d', true) }}|{{ none|default('d') }}|{{ false|d('d', boolean=true) }}|{{ 0|d('z', true) }}|{{ u|d }}|", "d||d|None|d|z||"),
            ("{{ m.tools|default([])|length }}{{ m.get('x', 'g') }}", "0g"),
        ], context: ["m": ["role": "user"]])
    }

    /// `round` (Python's, ties to even), `int` and `float` with their fallbacks, `abs`, `sum`.
    func testNumberFilters() throws {
        try expectRenders([
            ("{{ 2.5|round }}|{{ 3.5|round }}|{{ 2.675|round(2) }}|{{ 2.5|round(0,'floor') }}|{{ -2.5|round }}|{{ 5|round }}|{{ 1234.5678|round(-2) }}|{{ 2.1|round(0, 'ceil') }}|{{ 0.125|round(2) }}|{{ 15|round(-1) }}", "2.0|4.0|2.67|2.0|-2.0|5|1200.0|3.0|0.12|20"),
            ("{{ '42'|int }}|{{ '3.7'|int }}|{{ 'x'|int }}|{{ 3.9|int }}|{{ '0x1A'|int(0,16) }}|{{ '12'|float }}|{{ true|int }}|{{ ' -7 '|int }}|{{ '1_000'|int }}|{{ 'x'|int(-1) }}|{{ none|int }}|{{ 'nan'|float }}|{{ '1e3'|float }}|{{ 'z'|float(2.5) }}|{{ '0b11'|int(0, 0) }}", "42|3|0|3|26|12.0|1|-7|1000|-1|0|nan|1000.0|2.5|3"),
            ("{{ -3|abs }}{{ -2.5|abs }}{{ true|abs }}|{{ [3, 1, 2]|sum }}{{ [1.5, 2]|sum }}{{ [[1], [2]]|sum(start=[]) }}{{ [{'n': 2}, {'n': 3}]|sum(attribute='n') }}", "32.51|63.5[1, 2]5"),
        ])
    }

    /// transformers' `tojson`: `json.dumps` with `ensure_ascii=False`, and its `indent`, `separators`, `sort_keys`.
    func testTojsonIsJsonDumps() throws {
        try expectRenders([
            ("{{ x|tojson }}", "{\"b\": 1, \"a\": [1, 2.5, null, true, \"é\\\"\\\\\\n\\t\\u0001</script>\"], \"c\": {}, \"d\": []}"),
            ("{{ y|tojson(indent=2) }}|{{ y|tojson(indent=0) }}|{{ y|tojson(indent='\\t') }}|{{ y|tojson(sort_keys=true) }}|{{ y|tojson(separators=(',', ':')) }}|{{ y|tojson(ensure_ascii=true) }}", "{\n  \"z\": \"ü🎉\",\n  \"a\": [\n    1,\n    {\n      \"k\": []\n    }\n  ],\n  \"m\": {}\n}|{\n\"z\": \"ü🎉\",\n\"a\": [\n1,\n{\n\"k\": []\n}\n],\n\"m\": {}\n}|{\n\t\"z\": \"ü🎉\",\n\t\"a\": [\n\t\t1,\n\t\t{\n\t\t\t\"k\": []\n\t\t}\n\t],\n\t\"m\": {}\n}|{\"a\": [1, {\"k\": []}], \"m\": {}, \"z\": \"ü🎉\"}|{\"z\":\"ü🎉\",\"a\":[1,{\"k\":[]}],\"m\":{}}|{\"z\": \"\\u00fc\\ud83c\\udf89\", \"a\": [1, {\"k\": []}], \"m\": {}}"),
            ("{{ [1.0, 1e20, 0.1, -0.0, 1e-7, 123456789012345678]|tojson }}|{{ 'plain'|tojson }}|{{ (1, 'a')|tojson }}|{{ {1: 'i', 2.5: 'f', true: 'b', none: 'n'}|tojson }}|{{ none|tojson }}", "[1.0, 1e+20, 0.1, -0.0, 1e-07, 123456789012345678]|\"plain\"|[1, \"a\"]|{\"1\": \"b\", \"2.5\": \"f\", \"null\": \"n\"}|null"),
            ("{{ y|tojson(indent=4, separators=(', ', ': ')) }}", "{\n    \"z\": \"ü🎉\", \n    \"a\": [\n        1, \n        {\n            \"k\": []\n        }\n    ], \n    \"m\": {}\n}"),
        ], context: ["x": ["b": 1, "a": [1, 2.5, .none, true, "é\"\\\n\t\u{1}</script>"], "c": [:], "d": []], "y": ["z": "ü🎉", "a": [1, ["k": []]], "m": [:]]])
    }

    /// Filter misuse fails with Python's message.
    func testFilterErrors() throws {
        // jinja2: TypeError: bad operand type for abs(): 'str'
        expectFailure("{{ 'a'|abs }}", what: "bad operand type for abs(): 'str'")
        // jinja2: TypeError: object of type 'int' has no len()
        expectFailure("{{ 5|length }}", what: "object of type 'int' has no len()")
        // jinja2: TypeError: Object of type Undefined is not JSON serializable
        expectFailure("{{ x|tojson }}", what: "Object of type Undefined is not JSON serializable")
        // jinja2: TypeError: keys must be str, int, float, bool or None, not tuple
        expectFailure("{{ {(1, 2): 1}|tojson }}", what: "keys must be str, int, float, bool or None, not tuple")
        // jinja2: TypeError: Object of type TemplateNamespace is not JSON serializable
        expectFailure("{{ namespace(a=1)|tojson }}", what: "Object of type TemplateNamespace is not JSON serializable")
        // jinja2: TypeError: '<' not supported between instances of 'int' and 'str'
        expectFailure("{{ {'b': 1, 2: 2}|tojson(sort_keys=true) }}", what: "'<' not supported between instances of 'int' and 'str'")
        // jinja2: TypeError: type str doesn't define __round__ method
        expectFailure("{{ 'a'|round }}", what: "type str doesn't define __round__ method")
        // jinja2: FilterArgumentError: method must be common, ceil or floor
        expectFailure("{{ 1|round(0, 'up') }}", what: "method must be common, ceil or floor")
    }

}
