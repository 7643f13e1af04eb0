import Foundation

/// The GPT-2 byte-to-unicode table: every byte maps to one printable character, so that byte-level BPE
/// works on strings. Printable Latin-1 bytes map to themselves; the other 68 bytes map to U+0100 and up.
public enum ByteLevel {
    /// The 256 bytes in GPT-2 order (printable ranges first): a byte-level vocabulary's first 256 ids.
    public static let byteOrder: [UInt8] = {
        var bs: [UInt8] = Array(33...126) + Array(161...172) + Array(174...255)
        for b in 0...255 where !bs.contains(UInt8(b)) { bs.append(UInt8(b)) }
        return bs
    }()

    /// `byteToChar[b]` is the character standing for byte `b`.
    public static let byteToChar: [Character] = {
        var table = [Character](repeating: " ", count: 256)
        var extra: UInt32 = 0
        for b in 0...255 {
            let printable = (33...126).contains(b) || (161...172).contains(b) || (174...255).contains(b)
            let scalar = printable ? UInt32(b) : 256 + extra
            if !printable { extra += 1 }
            table[b] = Character(Unicode.Scalar(scalar)!)
        }
        return table
    }()

    /// Inverse of `byteToChar`, by unicode scalar value.
    public static let charToByte: [UInt32: UInt8] = {
        var d: [UInt32: UInt8] = [:]
        for b in 0...255 { d[byteToChar[b].unicodeScalars.first!.value] = UInt8(b) }
        return d
    }()

    /// A string's UTF-8 bytes in the byte-level alphabet.
    public static func encode<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        var s = ""
        for b in bytes { s.append(byteToChar[Int(b)]) }
        return s
    }

    /// Bytes of a token string written in the byte-level alphabet; characters outside it contribute their UTF-8.
    public static func decode(_ token: String, into bytes: inout [UInt8]) {
        for u in token.unicodeScalars {
            if let b = charToByte[u.value] { bytes.append(b) } else { bytes.append(contentsOf: Array(String(u).utf8)) }
        }
    }
}
