import Foundation

/// A parsed Jinja template, configured as transformers configures chat templates: `trim_blocks`,
/// `lstrip_blocks`, the loop controls (`break`, `continue`), the sandbox's immutable lists and dicts, and
/// transformers' `tojson`, `raise_exception` and `strftime_now`. Parse once, render many times; a template is a
/// value and may be shared across threads.
public struct Template: @unchecked Sendable {
    let source: SourceText
    let nodes: [Node]

    /// Parses `text`; `name` appears in error messages. Throws `JinjaError` (`.syntax` or `.unsupported`).
    public init(_ text: String, name: String = "template") throws {
        let bytes = Lexer.normalize(text)
        let source = SourceText(name: name, bytes: bytes)
        do {
            var lexer = Lexer(bytes: bytes)
            var parser = Parser(tokens: try lexer.tokenize())
            self.nodes = try parser.parseTemplate()
        } catch let e as PendingError {
            throw source.error(e)
        }
        self.source = source
    }

    /// Renders with `context` as the template's variables (they shadow the globals). `now` is the clock
    /// `strftime_now` reads, formatted in `timeZone`; tests pass a fixed one.
    /// Throws `JinjaError`: `.raised` for the template's own `raise_exception(…)`, `.runtime` otherwise.
    public func render(_ context: [String: Value], now: @escaping () -> Date = Date.init,
                       timeZone: TimeZone = .current) throws -> String {
        let interpreter = Interpreter(source: source, now: now, timeZone: timeZone)
        let globals = Scope(parent: nil, variables: makeGlobals())
        let scope = Scope(parent: globals, variables: context)
        do {
            _ = try interpreter.execute(nodes, scope)
        } catch let e as PendingError {
            throw source.error(e)
        }
        return interpreter.out
    }
}
