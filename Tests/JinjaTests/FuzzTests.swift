import Foundation
@testable import Jinja
import XCTest

/// Mutated real templates and random token soup: every one parses and renders or fails with a `JinjaError`,
/// never a trap, on a thread with a small (512 KB) stack like a worker thread's.
final class FuzzTests: XCTestCase {
    /// SplitMix64, so that a failure reproduces from its seed.
    struct Rng {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(n, 1))) }
    }

    static let pieces = ["{{", "}}", "{%", "%}", "{#", "#}", "-", "+", "(", ")", "[", "]", "{", "}", "'", "\"", "\\", "|",
                         " if ", " else ", " for ", " in ", " endfor ", " endif ", " set ", " macro ", " endmacro ", " is ",
                         " not ", " and ", " or ", "loop", "messages", "ns", ".", ",", ":", "~", "*", "**", "//", "%",
                         "0", "1", "-1", "1e999", "'x'", "\n", " ", "raw", "endraw", "namespace(", "range(", "tojson",
                         "trim", "length", "items()", "[::-1]", "caller()", "recursive", "break", "continue", "é", "🎉"]

    static func mutate(_ source: String, _ rng: inout Rng) -> String {
        var s = Array(source.unicodeScalars)
        for _ in 0..<(1 + rng.below(4)) {
            let at = s.isEmpty ? 0 : rng.below(s.count + 1)
            switch rng.below(4) {
            case 0 where !s.isEmpty:  // delete a span
                let end = min(s.count, at + 1 + rng.below(12))
                if at < end { s.removeSubrange(at..<end) }
            case 1:  // insert a piece
                s.insert(contentsOf: Array(pieces[rng.below(pieces.count)].unicodeScalars), at: at)
            case 2 where !s.isEmpty:  // duplicate a span elsewhere
                let from = rng.below(s.count), len = min(s.count - from, 1 + rng.below(40))
                s.insert(contentsOf: Array(s[from..<(from + len)]), at: min(at, s.count))
            default:  // swap two scalars
                if s.count > 1 { s.swapAt(rng.below(s.count), rng.below(s.count)) }
            }
        }
        return String(String.UnicodeScalarView(s))
    }

    func runOnSmallStack(_ body: @escaping () -> Void) {
        let done = DispatchSemaphore(value: 0)
        let thread = Thread { body(); done.signal() }
        thread.stackSize = 512 * 1024
        thread.start()
        done.wait()
    }

    func testMutatedTemplatesRenderOrFailCleanly() throws {
        let models = ChatTemplateRendererTests.models
        let sources = try models.map { try Fixture.template($0) }
        let messages: Value = [["role": "system", "content": "s"], ["role": "user", "content": "u"],
                               ["role": "assistant", "content": "a", "tool_calls": [["function": ["name": "f", "arguments": ["x": 1]]]]],
                               ["role": "tool", "content": "t"]]
        let context: [String: Value] = ["messages": messages, "add_generation_prompt": true, "bos_token": "<s>", "tools": [["type": "function"]]]
        // JINJA_FUZZ_CASES / JINJA_FUZZ_SEED run a longer or different campaign locally.
        let env = ProcessInfo.processInfo.environment
        let count = env["JINJA_FUZZ_CASES"].flatMap { Int($0) } ?? 3000
        let seed = env["JINJA_FUZZ_SEED"].flatMap { UInt64($0) } ?? 0x5EED
        var outcomes = (rendered: 0, failed: 0)
        runOnSmallStack {
            var rng = Rng(state: seed)
            for i in 0..<count {
                let source: String
                if i % 5 == 4 {
                    source = (0..<(1 + rng.below(30))).map { _ in Self.pieces[rng.below(Self.pieces.count)] }.joined()
                } else {
                    source = Self.mutate(sources[i % sources.count], &rng)
                }
                do {
                    _ = try Template(source).render(context, now: { Fixture.now }, timeZone: Fixture.utc)
                    outcomes.rendered += 1
                } catch is JinjaError {
                    outcomes.failed += 1
                } catch {
                    XCTFail("seed \(seed) case \(i): not a JinjaError: \(error)\n\(source)")
                }
            }
        }
        print("fuzz: \(outcomes.rendered) rendered, \(outcomes.failed) failed cleanly")
        XCTAssertEqual(outcomes.rendered + outcomes.failed, count)
        XCTAssertGreaterThan(outcomes.rendered, 100)
        XCTAssertGreaterThan(outcomes.failed, 100)
    }

    /// `mutations.json`: the same seeded edits of the real templates rendered by Python jinja2; both sides must
    /// agree on success (by FNV-1a of the text) or failure, and `raise_exception` must stay the template's own error.
    func testMutatedTemplatesMatchJinja2() throws {
        let fixture = try Fixture.json("mutations.json")
        let corpus = try Fixture.json("corpus.json").array
        let bases: [[Unicode.Scalar]] = try fixture["bases"]!.array.map { name in
            let n = name.string!
            if n.hasPrefix("templates/") { return Array(try Fixture.text(Fixture.folder.appendingPathComponent(n)).unicodeScalars) }
            return Array(corpus.first { $0["name"]?.string == n }!["template"]!.string!.unicodeScalars)
        }
        let context = fixture["context"]!.context
        var failures: [String] = []
        let cases = fixture["cases"]!.array
        for (i, c) in cases.enumerated() {
            var s = bases[c["base"]!.intValue!]
            for op in c["ops"]!.array {
                let a = op.array
                switch a[0].string! {
                case "del":
                    let at = min(a[1].intValue!, s.count), end = min(s.count, at + a[2].intValue!)
                    s.removeSubrange(at..<end)
                case "ins": s.insert(contentsOf: Array(a[2].string!.unicodeScalars), at: min(a[1].intValue!, s.count))
                case "dup":
                    let from = a[2].intValue!, end = min(s.count, from + a[3].intValue!)
                    s.insert(contentsOf: Array(s[from..<end]), at: min(a[1].intValue!, s.count))
                default: s.swapAt(a[1].intValue!, a[2].intValue!)
                }
            }
            let source = String(String.UnicodeScalarView(s))
            do {
                let text = try Template(source).render(context, now: { Fixture.now }, timeZone: Fixture.utc)
                if let expected = c["fnv"]?.string {
                    if fnv1a64(text) != expected { failures.append("case \(i): a different text") }
                } else {
                    failures.append("case \(i): rendered, jinja2 raised \(c["error"]!.string!)")
                }
            } catch let e as JinjaError {
                if c["fnv"] != nil { failures.append("case \(i): jinja2 rendered, got \(e)") }
                if c["error"]?.string == "TemplateError", e.kind != .raised { failures.append("case \(i): expected raise_exception, got \(e)") }
            }
        }
        XCTAssertEqual(cases.count, 3000)
        XCTAssert(failures.isEmpty, "\(failures.count) of \(cases.count) disagree with jinja2:\n" + failures.prefix(10).joined(separator: "\n"))
    }

    func fnv1a64(_ text: String) -> String {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in text.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
        return String(format: "%016llx", h)
    }

    func testHostileLimitsOnSmallStack() {
        runOnSmallStack {
            for source in [String(repeating: "{{ (", count: 300), String(repeating: "{% for x in [1] %}", count: 300),
                           "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "{{ range(99999)|join }}",
                           String(repeating: "-", count: 5000) + "1 }}", "{{ " + String(repeating: "x.", count: 3000) + "y }}",
                           "{{ " + String(repeating: "1|abs|", count: 2000) + "abs }}",
                           // Deep but within the parser's limits, around a recursive macro: the run-time budget stops it.
                           "{% macro f(n) %}{{ " + String(repeating: "[", count: 50) + "f(n + 1)" + String(repeating: "]", count: 50) + " }}{% endmacro %}{{ f(0) }}",
                           "{% for a in [1] recursive %}" + String(repeating: "{% if true %}", count: 30) + "{{ loop([1]) }}" + String(repeating: "{% endif %}", count: 30) + "{% endfor %}"] {
                do { _ = try Template(source).render([:]) } catch is JinjaError {} catch { XCTFail("\(error)") }
            }
        }
    }
}
