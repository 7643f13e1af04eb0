import DNDTestSupport
import Foundation
import XCTest

/// `Packaging/build-deb`, fed the debug binary to stay fast.
final class BuildDebTests: XCTestCase {
    func sh(_ args: [String]) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = args
        p.currentDirectoryURL = TestSupport.repoRoot
        let pipe = Pipe()
        p.standardOutput = pipe; p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    func testTheDebHoldsTheBinaryTheUnitTheReadmeAndTheManPage() throws {
        let out = TestSupport.temporaryDirectory("dnd-deb")
        defer { try? FileManager.default.removeItem(at: out) }
        let build = try sh(["bash", "Packaging/build-deb", "--binary", TestSupport.dndBinary.path, "--out", out.path, "--fast"])
        XCTAssertEqual(build.status, 0, build.output)
        let debs = try FileManager.default.contentsOfDirectory(atPath: out.path).filter { $0.hasSuffix(".deb") }
        XCTAssertEqual(debs.count, 1)
        let deb = out.appendingPathComponent(debs[0]).path
        XCTAssertTrue(debs[0].hasPrefix("dnd_0.1.0_"), debs[0])
        let listing = try sh(["dpkg", "-c", deb])
        XCTAssertEqual(listing.status, 0, listing.output)
        let files = listing.output.split(separator: "\n").compactMap { $0.split(separator: " ").last.map(String.init) }.filter { !$0.hasSuffix("/") }
        let encoder = "./usr/share/dnd/encoder/"
        XCTAssertEqual(files.filter { !$0.hasPrefix(encoder) }.sorted(), ["./usr/bin/dnd", "./usr/lib/systemd/user/dnd.service", "./usr/share/doc/dnd/README.md",
                                                                          "./usr/share/man/man1/dnd.1.gz"])
        // The encoder every job needs ships with the package (issue 15.5).
        for f in ["config.json", "vocab.txt", "model.safetensors", "modules.json", "1_Pooling/config.json"] {
            XCTAssertTrue(files.contains(encoder + f), "\(f) in:\n\(listing.output)")
        }
        XCTAssertTrue(listing.output.contains("-rwxr-xr-x root/root"), listing.output)
        let info = try sh(["dpkg-deb", "-f", deb, "Package", "Version", "Depends"])
        XCTAssertEqual(info.status, 0, info.output)
        XCTAssertTrue(info.output.hasPrefix("Package: dnd\nVersion: 0.1.0\nDepends: "), info.output)
        // Version bounds, as dpkg-shlibdeps computes them.
        for dep in ["libc6 (>= 2.", "libstdc++6 (>= ", "libinotifytools0 (>= 3.22.1.0)", "libopenblas0"] {
            XCTAssertTrue(info.output.contains(dep), "\(dep) in: \(info.output)")
        }
        // The man page carries the help of the subcommands too.
        let man = try sh(["bash", "-c", "dpkg-deb --fsys-tarfile '\(deb)' | tar -xO ./usr/share/man/man1/dnd.1.gz | gzip -d"])
        XCTAssertTrue(man.output.hasPrefix(".TH DND 1 "), man.output)
        XCTAssertTrue(man.output.contains(".SH \"DND STATUS\""), man.output)
        XCTAssertTrue(man.output.contains(".SH \"DND CONFIG\""), man.output)
    }

    func testAMissingEncoderIsReported() throws {
        let r = try sh(["bash", "Packaging/build-deb", "--binary", TestSupport.dndBinary.path, "--out", "/tmp", "--encoder", "/nonexistent/enc"])
        XCTAssertEqual(r.status, 1)
        XCTAssertEqual(r.output, "build-deb: /nonexistent/enc/config.json is missing: the package ships the encoder; run Packaging/install-deps (or pass --encoder DIR)\n")
    }

    func testAMissingBinaryIsReported() throws {
        let r = try sh(["bash", "Packaging/build-deb", "--binary", "/nonexistent/dnd", "--out", "/tmp"])
        XCTAssertEqual(r.status, 1)
        XCTAssertEqual(r.output, "build-deb: /nonexistent/dnd is not an executable\n")
    }
}
