import Foundation

/// The demo's own files under `<root>/demo/`.
public struct DemoPaths: Sendable {
    public let root: URL
    public init(root: URL) { self.root = root }
    public var demo: URL { root.appendingPathComponent("demo") }
    public var data: URL { demo.appendingPathComponent("data") }
    public var stages: URL { demo.appendingPathComponent("stages") }
    public var bench: URL { demo.appendingPathComponent("bench") }
    public var settings: URL { demo.appendingPathComponent("settings.json") }
    public var daemonLog: URL { demo.appendingPathComponent("daemon.log") }
    public var pretrainData: URL { data.appendingPathComponent("pretrain.jsonl") }
    public func trainData(_ dataset: String) -> URL { data.appendingPathComponent("\(dataset).train.jsonl") }
    public func testData(_ dataset: String) -> URL { data.appendingPathComponent("\(dataset).test.jsonl") }
}
