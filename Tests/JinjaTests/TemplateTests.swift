import Foundation
@testable import Jinja
import XCTest

/// Every construct of `constructs.json` and every real template of `corpus.json` against Python jinja2 in
/// transformers' environment (expected texts and errors from `tools/fixtures/jinja-chat.py`).
final class TemplateTests: XCTestCase {
    func check(_ fixture: String, label: (Value) -> String) throws -> (Int, [String]) {
        var failures: [String] = []
        let cases = try Fixture.json(fixture).array
        for (i, c) in cases.enumerated() {
            let source = c["template"]!.string!
            let context = c["context"]!.context
            if let m = mismatch(c, { try Template(source).render(context, now: { Fixture.now }, timeZone: Fixture.utc) }) {
                failures.append("\(fixture) case \(i) \(label(c)): \(m)")
            }
        }
        return (cases.count, failures)
    }

    func testConstructsMatchJinja2() throws {
        let (n, failures) = try check("constructs.json") { pyRepr(string: String($0["template"]!.string!.prefix(70))) }
        XCTAssertGreaterThan(n, 200)
        XCTAssert(failures.isEmpty, "\(failures.count) of \(n) differ:\n" + failures.prefix(40).joined(separator: "\n"))
    }

    func testRealTemplatesMatchJinja2() throws {
        let (n, failures) = try check("corpus.json") { $0["name"]!.string! }
        XCTAssertGreaterThan(n, 50)
        XCTAssert(failures.isEmpty, "\(failures.count) of \(n) differ:\n" + failures.prefix(20).joined(separator: "\n"))
    }
}
