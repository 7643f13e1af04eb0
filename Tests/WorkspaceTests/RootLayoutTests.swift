import DNDTestSupport
import FileKit
import Foundation
import Workspace
import XCTest

final class RootLayoutTests: XCTestCase {
    func testRootPrecedence() throws {
        let home = TestSupport.temporaryDirectory("dnd-home")
        var env = ["HOME": home.path]
        XCTAssertEqual(try RootLayout.resolve(option: nil, environment: env).0.root.path, home.path + "/dnd")
        XCTAssertEqual(try RootLayout.resolve(option: nil, environment: env).1, .defaultRoot)
        let user = home.appendingPathComponent(".config/dnd/config.toml")
        try FileManager.default.createDirectory(at: user.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data("root = \"~/elsewhere\"\n".utf8).write(to: user)
        XCTAssertEqual(try RootLayout.resolve(option: nil, environment: env).0.root.path, home.path + "/elsewhere")
        XCTAssertEqual(try RootLayout.resolve(option: nil, environment: env).1, .userConfig)
        env["DND_ROOT"] = "/srv/dnd"
        XCTAssertEqual(try RootLayout.resolve(option: nil, environment: env).0.root.path, "/srv/dnd")
        XCTAssertEqual(try RootLayout.resolve(option: "/opt/x", environment: env).0.root.path, "/opt/x")
        XCTAssertEqual(try RootLayout.resolve(option: "/opt/x", environment: env).1, .option)
        try Data("root = \"/a\"\nmax_queue = 3\n".utf8).write(to: user)
        env["DND_ROOT"] = nil
        XCTAssertThrowsError(try RootLayout.resolve(option: nil, environment: env)) {
            XCTAssertEqual("\($0)", "\(user.path): unknown key 'max_queue'; this file only holds `root = \"/path/to/dnd\"`, the other settings go in <root>/config.toml")
        }
    }

    func testPrepareCreatesEveryFolder() throws {
        let layout = RootLayout(root: TestSupport.temporaryDirectory("dnd-layout").appendingPathComponent("new"))
        try layout.prepare()
        for f in layout.folders { XCTAssertEqual(Rename.kind(f), .directory, f.path) }
        try layout.prepare()  // idempotent
    }

    func testPrepareRefusesAFileWhereAFolderBelongs() throws {
        let layout = RootLayout(root: TestSupport.temporaryDirectory("dnd-layout"))
        try Data().write(to: layout.root.appendingPathComponent("inbox"))
        XCTAssertThrowsError(try layout.prepare()) {
            XCTAssertEqual("\($0)", "\(layout.inbox.path): is a regular file, not a folder; move it away so dnd can create the folder")
        }
    }
}
