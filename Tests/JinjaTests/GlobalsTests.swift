import Foundation
@testable import Jinja
import XCTest

/// The global functions: `range` (sandbox-limited), `dict`, `namespace`, `cycler`, `joiner`, and transformers'
/// `raise_exception` and `strftime_now`. Expected texts rendered by Python jinja2 3.1.6 with the fixtures' clock.
final class GlobalsTests: XCTestCase {
    /// `range`, `dict` (with transformers' `fromkeys`), `cycler`, `joiner`.
    func testGlobals() throws {
        try expectRenders([
            ("{{ range(3)|list }}{{ range(1,7,2)|list }}{{ range(0)|length }}{{ range(5, 0, -2)|list }}{{ range(3)|length }}{% for i in range(2) %}{{ i }}{% endfor %}", "[0, 1, 2][1, 3, 5]0[5, 3, 1]301"),
            ("{{ dict(a=1, b='x') }}{{ dict() }}{{ dict({'c': 3}, d=4) }}{{ dict([('e', 5)]) }}{{ dict.fromkeys(['a', 'b'], 0) }}{{ dict.fromkeys('xy') }}", "{'a': 1, 'b': 'x'}{}{'c': 3, 'd': 4}{'e': 5}{'a': 0, 'b': 0}{'x': None, 'y': None}"),
            ("{% set c = cycler('a', 'b') %}{{ c.next() }}{{ c.next() }}{{ c.next() }}{{ c.current }}{% set j = joiner(', ') %}|{{ j() }}x{{ j() }}y{{ j() }}z", "abab|x, y, z"),
        ])
    }

    /// `strftime_now` formats the renderer's clock (2024-09-05 12:34:56 in these tests) as Python's `strftime`.
    func testStrftimeNow() throws {
        try expectRenders([
            ("{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%Y-%m-%d %H:%M:%S') }}|{{ strftime_now('%A %B %-d %j %I%p %y %a') }}", "05 Sep 2024|2024-09-05 12:34:56|Thursday September 5 249 12PM 24 Thu"),
            ("{{ strftime_now('%x %X %D %F %T %R %e %U %W %V %G %u %w %C %%') }}", "09/05/24 12:34:56 09/05/24 2024-09-05 12:34:56 12:34  5 35 36 36 2024 4 4 20 %"),
        ])
    }

    /// Sandbox limits and bad arguments.
    func testGlobalErrors() throws {
        // jinja2: OverflowError: Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).
        expectFailure("{{ range(100001)|length }}", what: "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).")
        // jinja2: ValueError: range() arg 3 must not be zero
        expectFailure("{{ range(0, 10, 0)|list }}", what: "range() arg 3 must not be zero")
        // jinja2: TypeError: 'str' object cannot be interpreted as an integer
        expectFailure("{{ range('a') }}", what: "'str' object cannot be interpreted as an integer")
        // jinja2: TemplateError: boom 1
        expectFailure("{{ raise_exception('boom ' ~ 1) }}", what: "boom 1")
    }

}
