import Foundation

/// An error the user or the environment caused: it names the file (and item) and says what to do.
public struct DNDError: Error, CustomStringConvertible, LocalizedError, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
    public var errorDescription: String? { message }
}
