import ArgumentParser
import Foundation
import Workspace

/// `--root`: the dnd root a command works on, found as every command finds it (one help text).
struct RootOptions: ParsableArguments {
    @Option(name: .long, help: "The dnd root (default: $DND_ROOT, `root` in ~/.config/dnd/config.toml, or ~/dnd).")
    var root: String?

    /// The root's folders and where the root was found (see `RootLayout.resolve`).
    func resolve() throws -> (RootLayout, RootLayout.Source) { try RootLayout.resolve(option: root) }

    /// The root's folders.
    func layout() throws -> RootLayout { try resolve().0 }
}

/// `--root` of `dnd demo` and `dnd bench dnd`: the demo's root, `.demo` unless given.
struct DemoRootOptions: ParsableArguments {
    @Option(name: .long, help: "The demo root (relative paths from the current directory).")
    var root = ".demo"

    var url: URL { URL(fileURLWithPath: root).standardizedFileURL }
}
