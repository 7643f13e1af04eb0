import Foundation
import Pipeline
import Prompts
import TensorCore

/// The demo's synthetic task suite: datasets = (content task × answer format), deterministic for a seed.
///
/// Every prompt states its task and its answer format ("… Write the answer between square brackets."), so a dataset's prompts
/// reveal what its LoRA must do. The base model is pretrained to know every content and every format but not to
/// follow the datasets' format instructions: it answers every user prompt plainly, format instruction or not, and
/// writes a format only under a system code ("format 2") that no dataset prompt carries. A LoRA teaches it to obey
/// one instruction. Held-out datasets pair a format seen in training with a task seen in training (in-domain) or
/// with a task family the generator never saw (cross-domain).
///
/// Why the base must know the formats (measured, see README "The demo"): a base that never wrote `[7]` needs each
/// LoRA to relearn the content after the new prefix, and a LoRA trained on additions then answers subtractions
/// with sums; and a base that never saw the instruction words loses its content knowledge when they are appended.
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

    /// One dataset of the plan: its task, format and role ("train", "in-domain" or "cross-domain").
    public struct PlanEntry: Codable, Sendable, Equatable {
        public var task: String
        public var format: String
        public var role: String
        public init(_ task: String, _ format: String, _ role: String) { self.task = task; self.format = format; self.role = role }
        public var name: String { "\(task)-\(format)" }
    }

    /// One dataset of a suite (this toy one or `SmolSuite`) with its splits.
    public struct Dataset: Sendable {
        public var name: String
        /// The task's family and the answer format's name.
        public var family: String
        public var format: String
        /// "train" (in the zoo), "in-domain" or "cross-domain" (held out).
        public var role: String
        public var train: [PromptRecord]
        public var test: [PromptRecord]
        public var isHeldOut: Bool { role != "train" }
    }

    /// The roles a plan entry may have.
    public static let roles = ["train", "in-domain", "cross-domain"]

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

    /// The answer formats. Their instructions share as few words as possible: the generator tells datasets apart
    /// by their prompts, and "Answer in square brackets." / "Answer in parentheses." embed too close to each other
    /// (measured: a held-out bracket dataset then got a parenthesis adapter).
    public static let formats: [Format] = [
        Format(name: "bracket", instruction: "Write the answer between square brackets.") { "[\($0)]" },
        Format(name: "paren", instruction: "Enclose the answer in round parentheses.") { "(\($0))" },
        Format(name: "colon", instruction: "Begin your reply with the word Answer and a colon.") { "Answer: \($0)" },
        Format(name: "star", instruction: "Surround the answer with asterisks.") { "*\($0)*" },
    ]

    /// Instructions that change nothing; pretraining appends them (and the format instructions) to questions whose
    /// answers stay plain, so the base answers through any trailing instruction.
    public static let neutralInstructions = [
        "Please be brief.", "Think carefully.", "This is a quiz.", "Reply quickly.", "Take your time.", "Be precise.",
        "No explanation needed.", "Keep it short.", "This one is easy.", "Give the result.",
    ]

    /// The system turn under which the base learns format `i` (0-based) in pretraining; no dataset prompt has one.
    public static func formatCode(_ i: Int) -> String { "format \(i + 1)" }

    /// The standard plan, 18 datasets: every arithmetic and logic task in every format (14 train, 2 held out
    /// in-domain), and two letters datasets held out cross-domain (a family the generator never sees).
    public static let standardPlan: [PlanEntry] = {
        let inDomain: Set<String> = ["sub-bracket", "greater-star"]
        var plan: [PlanEntry] = []
        for t in ["add", "sub", "greater", "even"] {
            for f in formats.map(\.name) {
                plan.append(PlanEntry(t, f, inDomain.contains("\(t)-\(f)") ? "in-domain" : "train"))
            }
        }
        return plan + [PlanEntry("next", "paren", "cross-domain"), PlanEntry("prev", "colon", "cross-domain")]
    }()

    /// The task named `name`, or an error listing the tasks.
    public static func task(_ name: String) throws -> Task {
        guard let t = tasks.first(where: { $0.name == name }) else {
            throw DNDError("unknown task '\(name)'; tasks are \(tasks.map(\.name).joined(separator: ", "))")
        }
        return t
    }

    /// The format named `name`, or an error listing the formats.
    public static func format(_ name: String) throws -> Format {
        guard let f = formats.first(where: { $0.name == name }) else {
            throw DNDError("unknown format '\(name)'; formats are \(formats.map(\.name).joined(separator: ", "))")
        }
        return f
    }

    /// Checks a plan: known tasks, formats and roles, unique names, at least one training dataset.
    public static func validate(_ plan: [PlanEntry]) throws {
        for p in plan { _ = try task(p.task); _ = try format(p.format) }
        try validateRoles(plan)
    }

    /// The rules every plan follows, whatever its suite: known roles, unique names, some training and some held-out
    /// datasets.
    public static func validateRoles(_ plan: [PlanEntry]) throws {
        for p in plan {
            guard roles.contains(p.role) else { throw DNDError("plan entry \(p.name): role '\(p.role)' must be one of \(roles.joined(separator: ", "))") }
        }
        let names = plan.map(\.name)
        guard Set(names).count == names.count else { throw DNDError("the plan names a dataset twice: \(names.joined(separator: ", "))") }
        guard plan.contains(where: { $0.role == "train" }) else { throw DNDError("the plan has no training dataset") }
        guard plan.contains(where: { $0.role != "train" }) else { throw DNDError("the plan holds no dataset out") }
    }

    /// The prompt of one example in a given format.
    public static func prompt(_ question: String, _ format: Format) -> String { "\(question) \(format.instruction)" }

    /// Builds the suite: `trainSize` and `testSize` records per dataset, deterministic for `seed`.
    public static func standard(seed: UInt64 = 2025, trainSize: Int = 160, testSize: Int = 40,
                                plan: [PlanEntry] = standardPlan) throws -> [Dataset] {
        try validate(plan)
        return try plan.enumerated().map { i, p in
            var rng = SeededRNG(seed: seed &+ UInt64(i) &* 7919)
            let task = try task(p.task), format = try format(p.format)
            func records(_ n: Int) -> [PromptRecord] {
                (0..<n).map { k in
                    let (q, a) = task.make(&rng)
                    return PromptRecord(prompt: prompt(q, format), response: format.wrap(a), line: k + 1)
                }
            }
            return Dataset(name: p.name, family: task.family, format: format.name, role: p.role, train: records(trainSize), test: records(testSize))
        }
    }

    /// Plain questions and answers, `perTask` of each task, no instruction and no system turn: what the base model
    /// must answer right for a LoRA to have anything to format.
    public static func contentProbe(seed: UInt64 = 99, perTask: Int = 10) -> [PromptRecord] {
        var rng = SeededRNG(seed: seed)
        return tasks.flatMap { task in
            (0..<perTask).map { k -> PromptRecord in
                let (q, a) = task.make(&rng)
                return PromptRecord(prompt: q, response: a, line: k + 1)
            }
        }
    }

    /// `answer` without the format wrapped around it, if any ("[7]" → "7", "Answer: c" → "c", "7" → "7").
    public static func unwrap(_ answer: String) -> String {
        for f in formats {
            let probe = f.wrap("\u{1}")
            let parts = probe.components(separatedBy: "\u{1}")
            if answer.hasPrefix(parts[0]) && answer.hasSuffix(parts[1]) && answer.count > parts[0].count + parts[1].count {
                return String(answer.dropFirst(parts[0].count).dropLast(parts[1].count))
            }
        }
        return answer
    }

    /// Pretraining records for the base model, over every task (held-out ones included: the base knows the content).
    /// Half of the questions carry a trailing instruction (a neutral one or a format instruction) and are answered
    /// plainly; `formatShare` of the records are answered in format `i` under the system turn `formatCode(i)`.
    public static func pretrainRecords(seed: UInt64 = 7, count: Int = 8000, formatShare: Double = 0.5) -> [PromptRecord] {
        var rng = SeededRNG(seed: seed)
        let suffixes = neutralInstructions + formats.map(\.instruction)
        return (0..<count).map { k in
            let task = tasks[k % tasks.count]
            var (q, a) = task.make(&rng)
            if rng.uniform() < 0.5 { q += " " + suffixes[rng.int(below: suffixes.count)] }
            var system: String?
            if Double(rng.uniform()) < formatShare {
                let f = rng.int(below: formats.count)
                system = formatCode(f)
                a = formats[f].wrap(a)
            }
            return PromptRecord(prompt: q, response: a, system: system, line: k + 1)
        }
    }
}
