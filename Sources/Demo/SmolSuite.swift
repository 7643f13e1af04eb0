import Foundation
import Pipeline
import Prompts
import TensorCore

/// The demo's natural-language suite for SmolLM2-135M-Instruct: datasets = (content task × answer format).
///
/// The content is what the instruct model already knows (capitals, languages, antonyms, plurals, small sums, first
/// letters: measured, it answers them in a sentence, "The capital of France is Paris."); what it does not do is
/// answer in a dataset's exact form, whatever the prompt's instruction says, so its exact-match accuracy is near
/// zero and a LoRA has something to teach. Every prompt is one of several phrasings of its task followed by one of
/// several phrasings of its format's instruction, so a dataset's prompts tell the generator what its adapter must
/// do without repeating one sentence. Items (countries, words, sums) are split between train and test records, so a
/// test question was never trained on. Held out: two in-domain datasets (their task and their format each in the
/// zoo, never together) and two of a family the zoo never sees (cross-domain).
public enum SmolSuite {
    /// Records of a task come from the train or the test part of its items.
    public enum Split: Sendable { case train, test }

    /// A content task: makes one (question, plain answer) pair from its items of `split`.
    public struct Task: Sendable {
        public var name: String
        public var family: String
        public var make: @Sendable (inout SeededRNG, Split) -> (question: String, answer: String)
    }

    /// An answer format: instruction phrasings (one is appended to each question) and the answer's wrapper.
    public struct Format: Sendable {
        public var name: String
        public var instructions: [String]
        public var wrap: @Sendable (String) -> String
    }

    /// Items of a pool split deterministically: every fourth one (from the second) is a test item.
    static func split<T>(_ items: [T], _ s: Split) -> [T] {
        items.enumerated().filter { ($0.offset % 4 == 1) == (s == .test) }.map(\.element)
    }

    static func pick<T>(_ items: [T], _ rng: inout SeededRNG) -> T { items[rng.int(below: items.count)] }

    /// A task over a fixed item list: question phrasings with `{x}` for the item, the answer from the pair.
    static func lookup(_ name: String, _ family: String, _ phrasings: [String], _ pairs: [(String, String)]) -> Task {
        Task(name: name, family: family) { rng, s in
            let (x, y) = pick(split(pairs, s), &rng)
            return (pick(phrasings, &rng).replacingOccurrences(of: "{x}", with: x), y)
        }
    }

    static let capitals: [(String, String)] = [
        ("France", "Paris"), ("Japan", "Tokyo"), ("Italy", "Rome"), ("Germany", "Berlin"), ("Spain", "Madrid"), ("Egypt", "Cairo"),
        ("Canada", "Ottawa"), ("Russia", "Moscow"), ("China", "Beijing"), ("Peru", "Lima"), ("Greece", "Athens"), ("Norway", "Oslo"),
        ("Sweden", "Stockholm"), ("Poland", "Warsaw"), ("Portugal", "Lisbon"), ("Austria", "Vienna"), ("Ireland", "Dublin"),
        ("Cuba", "Havana"), ("Chile", "Santiago"), ("Turkey", "Ankara"), ("Iran", "Tehran"), ("Thailand", "Bangkok"),
        ("Vietnam", "Hanoi"), ("Kenya", "Nairobi"), ("Finland", "Helsinki"), ("Denmark", "Copenhagen"), ("Hungary", "Budapest"),
        ("Belgium", "Brussels"), ("Argentina", "Buenos Aires"), ("England", "London"), ("Iraq", "Baghdad"), ("Ghana", "Accra"),
    ]

    static let languages: [(String, String)] = [
        ("France", "French"), ("Spain", "Spanish"), ("Germany", "German"), ("Italy", "Italian"), ("Brazil", "Portuguese"),
        ("Japan", "Japanese"), ("Russia", "Russian"), ("Greece", "Greek"), ("Poland", "Polish"), ("Turkey", "Turkish"),
        ("Sweden", "Swedish"), ("Norway", "Norwegian"), ("Finland", "Finnish"), ("Mexico", "Spanish"), ("Portugal", "Portuguese"),
        ("the Netherlands", "Dutch"), ("Hungary", "Hungarian"), ("Thailand", "Thai"), ("Vietnam", "Vietnamese"), ("Korea", "Korean"),
        ("Israel", "Hebrew"), ("Denmark", "Danish"), ("Austria", "German"), ("Egypt", "Arabic"), ("England", "English"),
        ("Argentina", "Spanish"), ("Ukraine", "Ukrainian"), ("Iran", "Persian"),
    ]

    static let antonyms: [(String, String)] = [
        ("hot", "cold"), ("tall", "short"), ("happy", "sad"), ("early", "late"), ("big", "small"), ("fast", "slow"),
        ("light", "dark"), ("up", "down"), ("open", "closed"), ("rich", "poor"), ("old", "young"), ("hard", "soft"),
        ("full", "empty"), ("wet", "dry"), ("strong", "weak"), ("good", "bad"), ("day", "night"), ("love", "hate"),
        ("win", "lose"), ("buy", "sell"), ("push", "pull"), ("clean", "dirty"), ("heavy", "light"), ("thick", "thin"),
        ("loud", "quiet"), ("inside", "outside"), ("first", "last"), ("true", "false"), ("wide", "narrow"), ("near", "far"),
        ("cheap", "expensive"), ("safe", "dangerous"),
    ]

    static let plurals: [(String, String)] = [
        ("mouse", "mice"), ("child", "children"), ("box", "boxes"), ("cat", "cats"), ("dog", "dogs"), ("man", "men"),
        ("woman", "women"), ("foot", "feet"), ("tooth", "teeth"), ("goose", "geese"), ("city", "cities"), ("baby", "babies"),
        ("knife", "knives"), ("leaf", "leaves"), ("bus", "buses"), ("church", "churches"), ("book", "books"), ("tree", "trees"),
        ("person", "people"), ("wolf", "wolves"), ("glass", "glasses"), ("potato", "potatoes"), ("story", "stories"),
        ("apple", "apples"), ("house", "houses"), ("wife", "wives"), ("dish", "dishes"), ("bird", "birds"), ("party", "parties"),
        ("car", "cars"), ("fox", "foxes"), ("ox", "oxen"),
    ]

    static let words = [
        "garden", "apple", "river", "music", "window", "pencil", "orange", "tiger", "yellow", "doctor", "basket", "candle",
        "forest", "jacket", "kitchen", "lemon", "monkey", "number", "ocean", "planet", "rabbit", "summer", "table", "violin",
        "water", "zebra", "bridge", "dragon", "energy", "flower", "guitar", "island", "jungle", "letter", "mirror", "night",
    ].map { ($0, String($0.prefix(1))) }

    /// Sums of one-digit numbers; test sums are those whose first addend is 3 or 7.
    static let sums: [(String, String)] = (1...9).flatMap { a in (1...9).map { b in ("\(a)|\(b)", "\(a + b)") } }
    static let differences: [(String, String)] = (2...15).flatMap { a in (1..<min(a, 10)).map { b in ("\(a)|\(b)", "\(a - b)") } }

    static func arithmetic(_ name: String, _ phrasings: [String], _ pairs: [(String, String)]) -> Task {
        Task(name: name, family: "arithmetic") { rng, s in
            let mine = pairs.filter { ["3", "7"].contains(String($0.0.split(separator: "|")[0])) == (s == .test) }
            let (x, y) = pick(mine, &rng)
            let ab = x.split(separator: "|").map(String.init)
            return (pick(phrasings, &rng).replacingOccurrences(of: "{a}", with: ab[0]).replacingOccurrences(of: "{b}", with: ab[1]), y)
        }
    }

    public static let tasks: [Task] = [
        lookup("capital", "geography", ["What is the capital of {x}?", "Name the capital city of {x}.", "Which city is the capital of {x}?"], capitals),
        lookup("language", "geography", ["Which language is mainly spoken in {x}?", "What is the main language of {x}?", "What language do people in {x} speak?"], languages),
        lookup("antonym", "words", ["What is the opposite of {x}?", "Give the antonym of the word {x}.", "Which word means the opposite of {x}?"], antonyms),
        lookup("plural", "words", ["What is the plural of {x}?", "Give the plural form of the word {x}.", "How do you write {x} in the plural?"], plurals),
        arithmetic("add", ["What is {a} plus {b}?", "Add {a} and {b}.", "How much is {a} + {b}?"], sums),
        arithmetic("sub", ["What is {a} minus {b}?", "Subtract {b} from {a}.", "How much is {a} - {b}?"], differences),
        lookup("initial", "letters", ["What is the first letter of the word {x}?", "Which letter does the word {x} start with?", "Name the initial letter of {x}."], words),
    ]

    public static let formats: [Format] = [
        Format(name: "bare", instructions: ["Reply with only the answer.", "Give just the answer, nothing else.", "Respond with the bare answer and no other words."]) { $0 },
        Format(name: "colon", instructions: ["Reply in the form Answer: <answer>.", "Start your reply with 'Answer:' followed by the answer.", "Write Answer, a colon, then the answer."]) { "Answer: \($0)" },
        Format(name: "json", instructions: ["Reply with a JSON object like {\"answer\": \"...\"}.", "Return JSON with a single key \"answer\".", "Respond only with JSON of the form {\"answer\": <answer>}."]) { "{\"answer\": \"\($0)\"}" },
        Format(name: "bracket", instructions: ["Put the answer in square brackets.", "Reply with the answer inside [ ].", "Write only the answer, enclosed in square brackets."]) { "[\($0)]" },
    ]

    /// The standard plan, 16 datasets in 4 families: 12 in the zoo; held out, plural-bracket and add-colon (in-domain:
    /// plural and add, brackets and colons are each in the zoo) and capital-colon and language-json (cross-domain:
    /// geography never is).
    public static let standardPlan: [TaskSuite.PlanEntry] = [
        .init("antonym", "bare", "train"), .init("antonym", "colon", "train"), .init("antonym", "bracket", "train"),
        .init("plural", "colon", "train"), .init("plural", "json", "train"),
        .init("add", "bare", "train"), .init("add", "json", "train"), .init("add", "bracket", "train"),
        .init("sub", "colon", "train"), .init("sub", "bracket", "train"),
        .init("initial", "bare", "train"), .init("initial", "json", "train"),
        .init("plural", "bracket", "in-domain"), .init("add", "colon", "in-domain"),
        .init("capital", "colon", "cross-domain"), .init("language", "json", "cross-domain"),
    ]

    public static func task(_ name: String) throws -> Task {
        guard let t = tasks.first(where: { $0.name == name }) else {
            throw DNDError("unknown task '\(name)'; the smollm2 suite's tasks are \(tasks.map(\.name).joined(separator: ", "))")
        }
        return t
    }

    public static func format(_ name: String) throws -> Format {
        guard let f = formats.first(where: { $0.name == name }) else {
            throw DNDError("unknown format '\(name)'; the smollm2 suite's formats are \(formats.map(\.name).joined(separator: ", "))")
        }
        return f
    }

    /// Checks a plan against this suite's tasks and formats (and the rules every plan follows).
    public static func validate(_ plan: [TaskSuite.PlanEntry]) throws {
        for p in plan { _ = try task(p.task); _ = try format(p.format) }
        try TaskSuite.validateRoles(plan)
    }

    /// Builds the suite: `trainSize` and `testSize` records per dataset, deterministic for `seed`.
    public static func standard(seed: UInt64 = 2025, trainSize: Int = 160, testSize: Int = 40,
                                plan: [TaskSuite.PlanEntry] = standardPlan) throws -> [TaskSuite.Dataset] {
        try validate(plan)
        return try plan.enumerated().map { i, p in
            var rng = SeededRNG(seed: seed &+ UInt64(i) &* 7919)
            let task = try task(p.task), format = try format(p.format)
            func records(_ n: Int, _ s: Split) -> [PromptRecord] {
                (0..<n).map { k in
                    let (q, a) = task.make(&rng, s)
                    return PromptRecord(prompt: "\(q) \(pick(format.instructions, &rng))", response: format.wrap(a), line: k + 1)
                }
            }
            return TaskSuite.Dataset(name: p.name, family: task.family, format: format.name, role: p.role,
                                     train: records(trainSize, .train), test: records(testSize, .test))
        }
    }
}
