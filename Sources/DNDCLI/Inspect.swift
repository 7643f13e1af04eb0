import ArgumentParser
import Foundation
import LoRA
import SafeTensors
import TensorCore

/// `dnd inspect PATH`: what a safetensors file or a PEFT adapter folder holds.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the tensors of a .safetensors file (name, dtype, shape, min, max, mean, NaN count) and its metadata, or summarise a PEFT LoRA adapter folder (modules, layers, rank, alpha, scaling, norms)."
    )

    @Argument(help: "A .safetensors file, or a PEFT LoRA folder (with adapter_config.json).") var path: String

    func run() throws {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue {
            let url = URL(fileURLWithPath: path)
            guard FileManager.default.fileExists(atPath: url.appendingPathComponent(LoRAAdapter.configFile).path) else {
                throw DNDError("\(path): a folder without \(LoRAAdapter.configFile); inspect takes a .safetensors file or a PEFT LoRA adapter folder")
            }
            print(try AdapterSummary(folder: url).text, terminator: "")
            return
        }
        print(try Inspect.describeSafeTensors(path: path), terminator: "")
    }

    static func describeSafeTensors(path: String) throws -> String {
        let file = try SafeTensorsFile(path: path)
        var out = "\(path): \(file.tensors.count) tensors\n"
        let nameWidth = min(72, max(4, file.tensors.map(\.name.count).max() ?? 4))
        out += "name".padding(toLength: nameWidth, withPad: " ", startingAt: 0) + "  dtype  shape                     min          max          mean         NaN\n"
        var total = 0
        for t in file.tensors {
            let x = try file.tensor(t.name)
            total += t.elementCount
            var lo = Float.infinity, hi = -Float.infinity, sum = 0.0, nan = 0, finite = 0
            x.withUnsafeBufferPointer { b in
                for v in b {
                    if v.isNaN { nan += 1; continue }
                    lo = Swift.min(lo, v); hi = Swift.max(hi, v)
                    if v.isFinite { sum += Double(v); finite += 1 }
                }
            }
            let mean = finite > 0 ? sum / Double(finite) : .nan
            let shape = "[" + t.shape.map(String.init).joined(separator: ", ") + "]"
            out += t.name.padding(toLength: nameWidth, withPad: " ", startingAt: 0) + "  "
                + t.dtype.rawValue.padding(toLength: 5, withPad: " ", startingAt: 0) + "  "
                + shape.padding(toLength: 24, withPad: " ", startingAt: 0)
                + String(format: "%12.5g %12.5g %12.5g %6d\n", t.elementCount > 0 ? lo : 0, t.elementCount > 0 ? hi : 0, mean, nan)
        }
        out += "total: \(total) values\n"
        if !file.metadata.isEmpty {
            out += "metadata:\n"
            for k in file.metadata.keys.sorted() { out += "  \(k): \(file.metadata[k]!)\n" }
        }
        return out
    }
}
