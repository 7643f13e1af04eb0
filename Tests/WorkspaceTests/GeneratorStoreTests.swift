import DaemonTestSupport
import DNDTestSupport
import FileKit
import Foundation
import Workspace
import XCTest

final class GeneratorStoreTests: XCTestCase {
    var layout: RootLayout!
    var store: GeneratorStore!
    let worker = FakeWorker()

    override func setUpWithError() throws {
        layout = RootLayout(root: TestSupport.temporaryDirectory("dnd-gen"))
        try layout.prepare()
        store = GeneratorStore(layout: layout)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: layout.root) }

    func testNoGenerator() throws {
        XCTAssertNil(try store.settle(validate: worker.validateGenerator))
        XCTAssertNil(store.linkedID())
    }

    func testAPlainFolderIsAdoptedBehindALink() throws {
        try FakeWorker.installInitialGenerator(root: layout.root)
        XCTAssertEqual(try store.settle(validate: worker.validateGenerator), "fake-initial")
        XCTAssertEqual(Rename.kind(layout.generatorLink), .symlink)
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: layout.generatorLink.path), "generators/fake-initial")
        XCTAssertEqual(try worker.validateGenerator(layout.generatorLink).identity, "fake-initial")
        XCTAssertEqual(try store.settle(validate: worker.validateGenerator), "fake-initial")  // stable
    }

    func testAnInvalidPlainFolderIsRefusedAndLeftInPlace() throws {
        try FileManager.default.createDirectory(at: layout.generatorLink, withIntermediateDirectories: true)
        XCTAssertThrowsError(try store.settle(validate: worker.validateGenerator)) {
            XCTAssertEqual("\($0)", "\(layout.generatorLink.path): no generator.json; not a generator folder")
        }
        XCTAssertEqual(Rename.kind(layout.generatorLink), .directory)
    }

    func testInstallSwapsTheLinkAndKeepsTheOldFolderUntilPruned() throws {
        try FakeWorker.installInitialGenerator(root: layout.root)
        _ = try store.settle(validate: worker.validateGenerator)
        let fresh = layout.retrainWork.appendingPathComponent("run-1/generator")
        try FakeWorker.writeGenerator(identity: "fake-2", datasets: ["a", "b"], into: fresh)
        let handle = try store.install(fresh, info: try worker.validateGenerator(fresh))
        XCTAssertEqual(handle.folder, store.folder("fake-2"))
        XCTAssertEqual(store.linkedID(), "fake-2")
        XCTAssertEqual(try worker.validateGenerator(layout.generatorLink).datasets, ["a", "b"])
        XCTAssertEqual(Rename.kind(fresh), .missing)
        XCTAssertEqual(Rename.names(layout.generators), ["fake-2", "fake-initial"])
        XCTAssertEqual(store.prune(keep: ["fake-2"]), ["fake-initial"])
        XCTAssertEqual(Rename.names(layout.generators), ["fake-2"])
        // Same identity again: a fresh folder name, the link moves.
        let again = layout.retrainWork.appendingPathComponent("run-2/generator")
        try FakeWorker.writeGenerator(identity: "fake-2", datasets: ["a"], into: again)
        _ = try store.install(again, info: try worker.validateGenerator(again))
        XCTAssertEqual(store.linkedID(), "fake-2-2")
    }

    func testAMissingLinkAfterACrashPointsAtTheNewestFolder() throws {
        try FakeWorker.writeGenerator(identity: "old", datasets: [], into: store.folder("old"))
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: 1000)], ofItemAtPath: store.folder("old").path)
        try FakeWorker.writeGenerator(identity: "new", datasets: [], into: store.folder("new"))
        try Data().write(to: layout.state.appendingPathComponent(".generator.new"))
        XCTAssertEqual(try store.settle(validate: worker.validateGenerator), "new")
        XCTAssertEqual(Rename.kind(layout.state.appendingPathComponent(".generator.new")), .missing)
    }
}
