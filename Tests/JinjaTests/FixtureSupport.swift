import Foundation
@testable import Jinja
import XCTest

/// Loading of `Tests/JinjaTests/Fixtures` (made by `tools/fixtures/jinja-chat.py`) and exact-text comparison.
enum Fixture {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    /// `../shared/fixtures` next to the repository, or `$DND_FIXTURES`.
    static var shared: URL {
        if let p = ProcessInfo.processInfo.environment["DND_FIXTURES"] { return URL(fileURLWithPath: p) }
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return repo.deletingLastPathComponent().appendingPathComponent("shared/fixtures")
    }

    /// The instant the fixtures' `strftime_now` read: 2024-09-05 12:34:56 UTC.
    static let now = Date(timeIntervalSince1970: 1_725_539_696)
    static let utc = TimeZone(identifier: "UTC")!

    static func text(_ url: URL) throws -> String {
        String(decoding: try Data(contentsOf: url), as: UTF8.self)
    }

    static func json(_ name: String) throws -> Value { try Value(json: text(folder.appendingPathComponent(name))) }

    static func template(_ model: String) throws -> String {
        try text(folder.appendingPathComponent("templates/\(model).jinja"))
    }
}

extension Value {
    subscript(_ key: String) -> Value? {
        if case .dict(let d) = self { return d[key] }
        return nil
    }

    var array: [Value] {
        switch self {
        case .list(let a), .tuple(let a): return a
        default: return []
        }
    }

    var string: String? { stringValue }

    /// A JSON object as template variables.
    var context: [String: Value] {
        guard case .dict(let d) = self else { return [:] }
        var out: [String: Value] = [:]
        for (k, v) in zip(d.keys, d.values) { if let k = k.stringValue { out[k] = v } }
        return out
    }
}

/// Where two texts first differ, for golden-test failures: position, the two characters, and context.
func firstDifference(_ expected: String, _ actual: String) -> String {
    let e = Array(expected.unicodeScalars), a = Array(actual.unicodeScalars)
    var i = 0
    while i < e.count, i < a.count, e[i] == a[i] { i += 1 }
    if i == e.count, i == a.count { return "identical" }
    func show(_ s: [Unicode.Scalar], _ at: Int) -> String {
        at < s.count ? "\(pyRepr(string: String(s[at]))) (U+\(String(format: "%04X", s[at].value)))" : "end of text"
    }
    let line = e[0..<i].filter { $0 == "\n" }.count + 1
    let start = max(0, i - 40)
    let before = String(String.UnicodeScalarView(e[start..<i]))
    return "first difference at scalar \(i) (line \(line)): expected \(show(e, i)), got \(show(a, i)); after \(pyRepr(string: before))"
        + "\n  expected: \(pyRepr(string: String(String.UnicodeScalarView(e[i..<min(e.count, i + 60)]))))"
        + "\n  actual:   \(pyRepr(string: String(String.UnicodeScalarView(a[i..<min(a.count, i + 60)]))))"
}

/// Checks one rendering against a fixture's `text` or `error`; returns a description of the mismatch, or nil.
func mismatch(_ expected: Value, _ render: () throws -> String) -> String? {
    if let text = expected["text"]?.string {
        do {
            let actual = try render()
            return actual == text && actual.unicodeScalars.elementsEqual(text.unicodeScalars) ? nil : firstDifference(text, actual)
        } catch {
            return "expected text \(pyRepr(string: String(text.prefix(80)))), got error \(error)"
        }
    }
    guard let e = expected["error"], let type = e["type"]?.string, let message = e["message"]?.string else {
        return "fixture has neither text nor error"
    }
    do {
        let actual = try render()
        return "expected \(type): \(message), got text \(pyRepr(string: String(actual.prefix(80))))"
    } catch let j as JinjaError {
        switch type {
        case "TemplateError":
            return j.kind == .raised && j.what == message ? nil : "expected raise_exception(\(pyRepr(string: message))), got \(j)"
        case "UndefinedError", "SecurityError":
            return j.what == message ? nil : "expected \(type): \(message), got \(j)"
        case "TemplateSyntaxError", "TemplateAssertionError", "SyntaxError":
            return j.kind == .syntax || j.kind == .unsupported ? nil : "expected a syntax error (\(message)), got \(j)"
        default:
            return j.kind == .raised ? "expected \(type): \(message), got \(j)" : nil
        }
    } catch {
        return "expected a JinjaError, got \(error)"
    }
}

/// Renders each template (with `context`, the fixtures' clock) and compares with its expected text exactly.
func expectRenders(_ cases: [(String, String)], context: [String: Value] = [:], file: StaticString = #filePath, line: UInt = #line) throws {
    for (source, expected) in cases {
        do {
            let actual = try Template(source).render(context, now: { Fixture.now }, timeZone: Fixture.utc)
            XCTAssert(actual.unicodeScalars.elementsEqual(expected.unicodeScalars),
                      "\(pyRepr(string: source)): \(firstDifference(expected, actual))", file: file, line: line)
        } catch {
            XCTFail("\(pyRepr(string: source)): \(error)", file: file, line: line)
        }
    }
}

/// Expects parsing or rendering `source` to fail with a `JinjaError` of this kind, position and message.
func expectFailure(_ source: String, kind: JinjaError.Kind? = nil, line: Int? = nil, column: Int? = nil, what: String? = nil,
                   context: [String: Value] = [:], file: StaticString = #filePath, testLine: UInt = #line) {
    do {
        let text = try Template(source).render(context, now: { Fixture.now }, timeZone: Fixture.utc)
        XCTFail("\(pyRepr(string: source)) rendered \(pyRepr(string: text)) instead of failing", file: file, line: testLine)
    } catch let e as JinjaError {
        if let kind { XCTAssertEqual(e.kind, kind, "\(pyRepr(string: source)): \(e)", file: file, line: testLine) }
        if let line { XCTAssertEqual(e.line, line, "\(pyRepr(string: source)): line of \(e)", file: file, line: testLine) }
        if let column { XCTAssertEqual(e.column, column, "\(pyRepr(string: source)): column of \(e)", file: file, line: testLine) }
        if let what { XCTAssertEqual(e.what, what, "\(pyRepr(string: source))", file: file, line: testLine) }
    } catch {
        XCTFail("\(pyRepr(string: source)): not a JinjaError: \(error)", file: file, line: testLine)
    }
}
