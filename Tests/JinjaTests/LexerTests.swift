import Foundation
@testable import Jinja
import XCTest

/// Whitespace control and literals as Jinja2's lexer handles them in transformers' environment
/// (`trim_blocks`, `lstrip_blocks`); expected texts rendered by Python jinja2 3.1.6.
final class LexerTests: XCTestCase {
    /// A block or comment tag eats the newline right after it; an expression tag does not.
    func testTrimBlocksDropsOneNewlineAfterBlockAndCommentTags() throws {
        try expectRenders([
            ("a\n{% if true %}\nb\n{% endif %}\nc", "a\nb\nc"),
            ("{% if true %}\n\nx{% endif %}", "\nx"),
            ("{{ 'v' }}\nnext", "v\nnext"),
            ("{# note #}\nafter", "after"),
            ("{% set x = 1 %}\r\n{{ x }}", "1"),
            ("{% for i in [1,2] %}\n  {{ i }}\n{% endfor %}\n", "  1\n  2\n"),
        ])
    }

    /// Spaces and tabs before a block tag alone on its line go; not before `{{`, not after text.
    func testLstripBlocksStripsIndentationBeforeBlockTagsOnTheirOwnLine() throws {
        try expectRenders([
            ("  {% if true %}x{% endif %}", "x"),
            ("line\n    {% set x = 1 %}\n    {{ x }}\n", "line\n    1"),
            ("  {{ 'kept' }}", "  kept"),
            ("a  {% if true %}b{% endif %}", "a  b"),
            ("\t \t{# comment #}\nz", "z"),
            ("{{ 'a' }}\n{{ 'b' }}\n{% if true %}  c{% endif %}", "a\nb\n  c"),
            ("\u{A0}\u{3000}{% if true %}w{% endif %}", "w"),
            ("x\n  {% if true %}\n  y\n  {% endif %}\nz", "x\n  y\nz"),
        ])
    }

    /// `-` strips every whitespace character, newlines included, on its side of the tag.
    func testMinusStripsAllWhitespaceOnItsSide() throws {
        try expectRenders([
            ("a  {%- if true -%}  b  {%- endif -%}  c", "abc"),
            ("a {{- ' b ' -}} c", "a b c"),
            ("x{{- '' -}}\n\n   y", "xy"),
            ("{% for i in [1,2] -%}\n  {{ i }}\n{%- endfor %}", "12"),
            ("a\n\n{#- c -#}\n\nb", "ab"),
            ("{{- 'start' }}", "start"),
        ])
    }

    /// `+` turns off lstrip (on the left) and trim (on the right).
    func testPlusKeepsWhitespace() throws {
        try expectRenders([
            ("x\n  {%+ if true %}y{% endif +%}\nz", "x\n  y\nz"),
            ("{# one #}\n{#- two -#}   \n  x {#+ three +#}\ny", "x \ny"),
        ])
    }

    /// `{% raw %}` keeps its body as text, with its own whitespace control.
    func testRawBlocksAreLiteral() throws {
        try expectRenders([
            ("{% raw %}{{ not evaluated }}{% endraw %}|{% raw -%}  x  {%- endraw %}|", "{{ not evaluated }}|x|"),
            ("   {% raw %}\n   a\n   {% endraw %}\nb", "\n   a\nb"),
            ("{%raw%}{% if %}{%endraw%}", "{% if %}"),
        ])
    }

    /// `\r\n` and `\r` become `\n`; one final newline is dropped.
    func testNewlinesAreNormalisedAndOneTrailingNewlineDropped() throws {
        try expectRenders([
            ("a\r\nb\r{{ 'c' }}\r\n", "a\nb\nc"),
            ("text\n", "text"),
            ("text\n\n", "text\n"),
            ("", ""),
            ("\n", ""),
        ])
    }

    /// Python escapes in string literals; adjacent literals concatenate.
    func testStringLiterals() throws {
        try expectRenders([
            ("{{ 'a' 'b' }}{{ \"it's\" }}", "abit's"),
            ("{{ 'x\\ny\\t\\'q\\\"\\\\' }}", "x\ny\t'q\"\\"),
            ("{{ '\\u00e9\\x41\\101\\U0001F600' }}", "éAA😀"),
            ("{{ 'unknown \\d escape' }}", "unknown \\d escape"),
            ("{{ 'multi\nline' }}", "multi\nline"),
            ("{{ 'bell\\a|\\b|\\f|\\v' }}", "bell\u{7}|\u{8}|\u{C}|\u{B}"),
        ])
    }

    /// Integers in any base with `_`, floats with exponents, printed as Python prints them.
    func testNumberLiterals() throws {
        try expectRenders([
            ("{{ 0x1F }} {{ 0o17 }} {{ 0b101 }} {{ 1_000 }} {{ 1_0.5 }} {{ 3.14e2 }} {{ 2E3 }}", "31 15 5 1000 10.5 314.0 2000.0"),
            ("{{ 1.0 }} {{ 1e20 }} {{ 1e16 }} {{ 1.5e15 }} {{ 0.0001 }} {{ 0.00001 }} {{ 1e400 }}", "1.0 1e+20 1e+16 1500000000000000.0 0.0001 1e-05 inf"),
        ])
    }

    /// `}}` inside a dict literal does not end the tag.
    func testBracesInsideExpressionsAreBalanced() throws {
        try expectRenders([
            ("{{ {'a': {'b': 1}} }}", "{'a': {'b': 1}}"),
            ("{{ {'a': [1, {'b': 2}]}['a'][1]['b'] }}", "2"),
            ("{% set d = {'k': {'v': 1}} %}{{ d.k.v }}", "1"),
        ])
    }

    func testErrorsPointAtTheirLineAndColumn() {
        expectFailure("line one\n  {# never closed", kind: .syntax, line: 2, column: 3, what: "Missing end of comment tag")
        expectFailure("{% raw %}\nno end", kind: .syntax, line: 1, column: 1, what: "Missing end of raw directive")
        expectFailure("{{ 'ok' }}\n{{ 'unterminated }}", kind: .syntax, line: 2, column: 4, what: "unexpected char \"'\" at 14")
        expectFailure("{{ (1, 2 }}", kind: .syntax, line: 1, column: 10, what: "unexpected '}', expected ')'")
        expectFailure("{{ 1 ) }}", kind: .syntax, line: 1, column: 6, what: "unexpected ')'")
        expectFailure("{{ 'é' ` }}", kind: .syntax, line: 1, column: 8, what: "unexpected char '`' at 7")
        expectFailure("{{ '\\x4' }}", kind: .syntax, what: "truncated \\xXX escape")
        expectFailure("{{ 99999999999999999999 }}", kind: .unsupported, line: 1, column: 4)
    }
}
