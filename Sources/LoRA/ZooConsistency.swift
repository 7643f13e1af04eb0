import Foundation
import TensorCore

/// Checks that the LoRA checkpoints of a zoo can share one token layout and one adapter config.
public enum ZooConsistency {
    /// Throws unless every checkpoint has the first one's rank, lora_alpha, rsLoRA flag, sites and tensor
    /// shapes; the error names both folders and the tensor that differs.
    public static func check(_ checkpoints: [LoRAAdapter]) throws {
        guard let ref = checkpoints.first else { throw DNDError("checkpoint zoo: no checkpoints given; add at least one PEFT LoRA folder") }
        let refSites = Set(ref.sites)
        let hint = "every checkpoint of the zoo must be trained with the same LoRA config (r, lora_alpha, target modules) on the same base model"
        for other in checkpoints.dropFirst() {
            let pair = "\(other.origin) and \(ref.origin)"
            guard other.rank == ref.rank else {
                throw DNDError("\(pair) disagree: r = \(other.rank) vs r = \(ref.rank); \(hint)")
            }
            guard other.config.loraAlpha == ref.config.loraAlpha, other.config.useRslora == ref.config.useRslora else {
                throw DNDError("\(pair) disagree: lora_alpha \(other.config.loraAlpha)\(other.config.useRslora ? " (rsLoRA)" : "") vs \(ref.config.loraAlpha)\(ref.config.useRslora ? " (rsLoRA)" : ""); \(hint)")
            }
            for s in other.sites where !refSites.contains(s) {
                throw DNDError("\(pair) disagree: \(s.key("A")) is in \(other.origin) but not in \(ref.origin); \(hint)")
            }
            for s in ref.sites {
                guard let w = other.weights[s] else {
                    throw DNDError("\(pair) disagree: \(s.key("A")) is in \(ref.origin) but not in \(other.origin); \(hint)")
                }
                let r = ref.weights[s]!
                if w.a.shape != r.a.shape {
                    throw DNDError("\(pair) disagree: \(s.key("A")) has shape \(w.a.shape) vs \(r.a.shape); \(hint)")
                }
                if w.b.shape != r.b.shape {
                    throw DNDError("\(pair) disagree: \(s.key("B")) has shape \(w.b.shape) vs \(r.b.shape); \(hint)")
                }
            }
        }
    }
}
