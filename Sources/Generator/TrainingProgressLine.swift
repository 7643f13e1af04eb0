import Foundation

extension TrainingProgress {
    /// The step as one line of the loss log (`loss.jsonl`): `{"step":…,"loss":…,"lr":…,"grad_norm":…,"elapsed":…}`
    /// and a newline. dnd_torch writes the same lines.
    public var jsonLine: String {
        String(format: "{\"step\":%d,\"loss\":%.9g,\"lr\":%.9g,\"grad_norm\":%.9g,\"elapsed\":%.3f}\n",
               step, loss, learningRate, gradientNorm, elapsed)
    }
}
