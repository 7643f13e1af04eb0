import Crypto
import Foundation

/// SHA-256 helpers (content keys, fingerprints, identities).
public enum Hashing {
    public static func hex<D: Digest>(_ d: D) -> String { d.map { String(format: "%02x", $0) }.joined() }
    public static func sha256Hex(_ data: Data) -> String { hex(SHA256.hash(data: data)) }
    /// Hash of several strings, each terminated by a NUL so that ("ab","c") and ("a","bc") differ.
    public static func sha256Hex(parts: [String]) -> String {
        var h = SHA256()
        for p in parts { h.update(data: Data(p.utf8)); h.update(data: Data([0])) }
        return hex(h.finalize())
    }
}
