import Foundation
@testable import Jinja
import XCTest

/// Python's string formatting: `%` (and the `format` filter) and `str.format`. Expected texts rendered by Python
/// jinja2 3.1.6.
final class FormattingTests: XCTestCase {
    /// `%` on strings and the `format` filter: printf conversions with flags, width and precision.
    func testPrintfFormatting() throws {
        try expectRenders([
            ("{{ '%s-%d'|format('a', 3) }}|{{ '%s' % 'x' }}|{{ '%d items' % 3 }}|{{ '%.2f' % 1.5 }}|{{ '%(a)s=%(b)d' % {'a': 'k', 'b': 2} }}|{{ '100%%' % () }}", "a-3|x|3 items|1.50|k=2|100%"),
            ("{{ '%05.1f|%-4d|%+d|%x|%o|%e|%g|%r' % (3.14159, 7, 5, 255, 8, 12345.678, 0.0001, 'q') }}|{{ '%5s|%-5s|%.1s' % ('ab', 'cd', 'xyz') }}|{{ '%c%c' % (65, 'b') }}|{{ '%#x %#o %X' % (255, 8, 171) }}", "003.1|7   |+5|ff|10|1.234568e+04|0.0001|'q'|   ab|cd   |x|Ab|0xff 0o10 AB"),
        ])
    }

    /// `str.format` with automatic and explicit fields, attributes, items and format specs.
    func testStrFormat() throws {
        try expectRenders([
            ("{{ '{} and {}'.format(1, 'x') }}|{{ '{a}!'.format(a=2) }}|{{ '{0:>4}|{0:<4}|{0:^5}'.format(7) }}|{{ '{:.2f} {:,} {:x} {!r}'.format(3.14159, 1234567, 255, 'q') }}|{{ '{{}}'.format() }}", "1 and x|2!|   7|7   |  7  |3.14 1,234,567 ff 'q'|{}"),
            ("{{ '{m[role]}: {m[content]}'.format(m=msg) }}|{{ '{0[1]}{1}'.format([5, 6], 'z') }}|{{ '{:*^9}|{:+.1e}|{:08.3f}|{:b}|{:%}'.format('mid', 12345.6789, -3.14159, 10, 0.25) }}", "user: hi|6z|***mid***|+1.2e+04|-003.142|1010|25.000000%"),
        ], context: ["msg": ["role": "user", "content": "hi"]])
    }

    /// Mismatched arguments fail with Python's message.
    func testFormattingErrors() throws {
        // jinja2: TypeError: not enough arguments for format string
        expectFailure("{{ '%s %s' % ('a',) }}", what: "not enough arguments for format string")
        // jinja2: TypeError: not all arguments converted during string formatting
        expectFailure("{{ '%s' % ('a', 'b') }}", what: "not all arguments converted during string formatting")
        // jinja2: TypeError: %d format: a real number is required, not str
        expectFailure("{{ '%d' % 'x' }}", what: "%d format: a real number is required, not str")
        // jinja2: IndexError: tuple index out of range
        expectFailure("{{ '{}'.format() }}", what: "tuple index out of range")
        // jinja2: ValueError: cannot switch from manual field specification to automatic field numbering
        expectFailure("{{ '{0}{}'.format(1, 2) }}", what: "cannot switch from manual field specification to automatic field numbering")
        // jinja2: ValueError: Single '}' encountered in format string
        expectFailure("{{ '}'.format() }}", what: "Single '}' encountered in format string")
    }

}
