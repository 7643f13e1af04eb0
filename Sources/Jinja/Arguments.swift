import Foundation

/// Evaluated call arguments.
struct Arguments {
    var positional: [Value] = []
    var keywords: [(String, Value)] = []

    static let empty = Arguments()

    init(positional: [Value] = [], keywords: [(String, Value)] = []) {
        self.positional = positional
        self.keywords = keywords
    }

    /// Python-style binding to parameter names: positional arguments first, then keywords by name; nil for a
    /// parameter not given.
    func bind(_ function: String, _ names: [String], at offset: SourceOffset) throws -> [Value?] {
        guard positional.count <= names.count else {
            throw PendingError(.runtime, at: offset, "\(function)() takes at most \(names.count) argument\(names.count == 1 ? "" : "s") (\(positional.count) given)")
        }
        var out: [Value?] = positional.map { $0 } + Array(repeating: nil, count: names.count - positional.count)
        for (k, v) in keywords {
            guard let i = names.firstIndex(of: k) else {
                throw PendingError(.runtime, at: offset, "\(function)() got an unexpected keyword argument '\(k)'")
            }
            guard out[i] == nil else {
                throw PendingError(.runtime, at: offset, "\(function)() got multiple values for argument '\(k)'")
            }
            out[i] = v
        }
        return out
    }
}
