import Foundation
import Pipeline
import TensorCore

/// The demo's synthetic task suite: datasets = (content task × answer format), deterministic for a seed.
///
/// Every prompt states its task and its answer format ("… Answer in square brackets."), so a dataset's prompts
/// reveal what its LoRA must do. The base model is pretrained on the same contents with plain answers and no
/// format instruction: it knows *what* to answer but not *how*; a LoRA teaches the format. Held-out datasets
/// pair a format seen in training with a task seen in training (in-domain) or with a task family the generator
/// never saw (cross-domain).
public enum TaskSuite {
    /// A content task: makes one (question, plain answer) pair.
    public struct Task: Sendable {
        public var name: String
        public var family: String
        public var make: @Sendable (inout SeededRNG) -> (question: String, answer: String)
    }

    /// An answer format: an instruction appended to the question and a wrapper for the answer.
    public struct Format: Sendable {
        public var name: String
        public var instruction: String
        public var wrap: @Sendable (String) -> String
    }

    /// One dataset of the suite with its splits.
    public struct Dataset: Sendable {
        public var name: String
        public var task: Task
        public var format: Format
        /// "train" (in the zoo), "in-domain" or "cross-domain" (held out).
        public var role: String
        public var train: [PromptRecord]
        public var test: [PromptRecord]
        public var isHeldOut: Bool { role != "train" }
    }

    static let letters = Array("abcdefghijklmnopqrstuvwxyz")

    public static let tasks: [Task] = [
        Task(name: "add", family: "arithmetic") { rng in
            let a = rng.int(below: 10), b = rng.int(below: 10)
            return ("What is \(a) plus \(b)?", "\(a + b)")
        },
        Task(name: "sub", family: "arithmetic") { rng in
            let a = rng.int(below: 10), b = rng.int(below: a + 1)
            return ("What is \(a) minus \(b)?", "\(a - b)")
        },
        Task(name: "greater", family: "logic") { rng in
            let a = rng.int(below: 10)
            var b = rng.int(below: 10)
            while b == a { b = rng.int(below: 10) }
            return ("Is \(a) greater than \(b)?", a > b ? "True" : "False")
        },
        Task(name: "even", family: "logic") { rng in
            let a = rng.int(below: 20)
            return ("Is \(a) an even number?", a % 2 == 0 ? "True" : "False")
        },
        Task(name: "next", family: "letters") { rng in
            let i = rng.int(below: 25)
            return ("Which letter comes after \(letters[i])?", String(letters[i + 1]))
        },
        Task(name: "prev", family: "letters") { rng in
            let i = 1 + rng.int(below: 25)
            return ("Which letter comes before \(letters[i])?", String(letters[i - 1]))
        },
    ]

    public static let formats: [Format] = [
        Format(name: "bracket", instruction: "Answer in square brackets.") { "[\($0)]" },
        Format(name: "paren", instruction: "Answer in parentheses.") { "(\($0))" },
        Format(name: "colon", instruction: "Start the reply with Answer:") { "Answer: \($0)" },
        Format(name: "star", instruction: "Wrap the answer in stars.") { "*\($0)*" },
    ]

    /// (task, format, role) of the standard suite: 8 training datasets, 3 held out.
    public static let standardPlan: [(String, String, String)] = [
        ("add", "bracket", "train"), ("add", "paren", "train"),
        ("sub", "colon", "train"), ("sub", "star", "train"),
        ("greater", "bracket", "train"), ("greater", "colon", "train"),
        ("even", "paren", "train"), ("even", "star", "train"),
        ("sub", "bracket", "in-domain"),
        ("greater", "star", "in-domain"),
        ("next", "paren", "cross-domain"),
    ]

    static func task(_ name: String) -> Task { tasks.first { $0.name == name }! }
    static func format(_ name: String) -> Format { formats.first { $0.name == name }! }

    /// The prompt of one example in a given format.
    public static func prompt(_ question: String, _ format: Format) -> String { "\(question) \(format.instruction)" }

    /// Builds the suite: `trainSize` and `testSize` records per dataset, deterministic for `seed`.
    public static func standard(seed: UInt64 = 2025, trainSize: Int = 160, testSize: Int = 40,
                                plan: [(String, String, String)] = standardPlan) -> [Dataset] {
        plan.enumerated().map { i, p in
            let (t, f, role) = p
            var rng = SeededRNG(seed: seed &+ UInt64(i) &* 7919)
            let task = task(t), format = format(f)
            func records(_ n: Int) -> [PromptRecord] {
                (0..<n).map { k in
                    let (q, a) = task.make(&rng)
                    return PromptRecord(prompt: prompt(q, format), response: format.wrap(a), line: k + 1)
                }
            }
            return Dataset(name: "\(t)-\(f)", task: task, format: format, role: role, train: records(trainSize), test: records(testSize))
        }
    }

    /// Pretraining records for the base model: every task (held-out ones included: the base knows the content),
    /// plain answers, no format instruction.
    public static func pretrainRecords(seed: UInt64 = 7, count: Int = 6000) -> [PromptRecord] {
        var rng = SeededRNG(seed: seed)
        return (0..<count).map { k in
            let task = tasks[k % tasks.count]
            let (q, a) = task.make(&rng)
            return PromptRecord(prompt: q, response: a, line: k + 1)
        }
    }
}
