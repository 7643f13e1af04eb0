import ArgumentParser
import Daemon
import Foundation
import Workspace

/// `dnd config`: the effective daemon configuration, every key documented.
struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Print the effective configuration of a root: every config.toml key with its value, default and meaning.",
        discussion: "The output is valid TOML: copy lines into <root>/config.toml to change them (the daemon reads it at start)."
    )

    @OptionGroup var root: RootOptions

    func run() throws {
        print(try ConfigCommand.render(rootOption: root.root), terminator: "")
    }

    static func render(rootOption: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String {
        let (layout, source) = try RootLayout.resolve(option: rootOption, environment: environment)
        let (config, setKeys) = try DaemonConfig.load(layout)
        let present = FileManager.default.fileExists(atPath: layout.configFile.path)
        var out = "# root: \(layout.root.path) (from \(source.rawValue))\n"
        out += "# file: \(layout.configFile.path)\(present ? "" : " (absent: every key has its default)")\n"
        out += "# base model for evaluation: \(config.baseModelFolder(layout)?.path ?? "none")\n"
        let docs = config.documented()
        let width = docs.map { "\($0.key) = \($0.value)".count }.max() ?? 0
        for d in docs {
            let assignment = "\(d.key) = \(d.value)"
            let origin = setKeys.contains(d.key) ? " (set in config.toml)" : ""
            out += assignment.padding(toLength: width, withPad: " ", startingAt: 0)
                + "  # \(d.help); default \(d.defaultValue)\(origin)\n"
        }
        return out
    }
}
