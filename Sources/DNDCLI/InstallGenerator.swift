import ArgumentParser
import Foundation
import Pipeline
import TensorCore
import Workspace

/// `dnd install-generator`: makes a generator folder trained elsewhere (dnd_torch) the root's generator.
struct InstallGenerator: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "install-generator",
        abstract: "Validate a generator folder (e.g. from dnd_torch) against a root and install it as <root>/state/generator.",
        discussion: """
        The folder must load as a dnd generator, match its weights' identity, have been trained on the root's encoder \
        and emit adapters shaped like the root's checkpoints; a zero condition must run through it. A copy is then \
        moved into state/generators/ and state/generator switched to it in one rename, as `dnd train` and the \
        daemon's retraining do. Stop `dnd serve` first; it uses the new generator when started again.
        """
    )

    @Argument(help: "The generator folder (generator.json, generator.safetensors, pipeline.json, datasets.safetensors).") var folder: String
    @OptionGroup var root: RootOptions
    @OptionGroup var encoder: EncoderOptions

    func run() throws {
        let layout = try root.layout()
        if InstanceLock.isHeld(layout) {
            throw DNDError("\(layout.root.path): `dnd serve` is running on this root; stop it first (it prunes generator folders it does not use), install, then start it again")
        }
        try layout.prepare()
        let source = URL(fileURLWithPath: folder)
        let bundle = try GeneratorBundle(folder: source)
        let enc = try encoder.load()
        let hasDatasets = Rename.names(layout.checkpoints).contains { !$0.hasPrefix(".") }
        let zoo = hasDatasets ? try Zoo.scan(layout.checkpoints) : nil
        let notes = try GeneratorCompatibility.check(bundle, encoder: enc, zoo: zoo)
        let handle = try GeneratorStore(layout: layout).installCopy(of: source, files: GeneratorCompatibility.files(in: source)) { copy in
            let b = try GeneratorBundle(folder: copy)
            guard b.metadata.identity == bundle.metadata.identity else {
                throw DNDError("\(source.path): changed while it was being copied; install again")
            }
            return b.info
        }
        for n in notes { print("note: \(n)") }
        let c = bundle.config
        print("installed generator \(bundle.metadata.identity) (\(bundle.generator.parameterCount) parameters, \(c.training.map { "\($0.steps) steps, " } ?? "")trained on \(bundle.metadata.datasets.joined(separator: ", "))) at \(handle.folder.path)")
    }
}
