import Foundation
import TensorCore

/// Which LoRA matrix a weight token was cut from: `lora_A` `[r, in]` or `lora_B` transposed `[r, out]`.
public enum LoRAMatrix: String, Codable, Sendable, CaseIterable {
    case A, B
}

/// Where every DnD weight token comes from (layer, module, matrix, chunk, columns), plus each site's
/// `(in, out)`: enough to cut an adapter into tokens and to rebuild it from tokens without a template.
///
/// Letters: T tokens, r rank, cw chunk width. Token order is DESIGN.md's: layer by layer, modules in
/// `LoRAModule` order, per module the chunks of `lora_A` `[r, in]` then of `lora_B`ᵀ `[r, out]`, each matrix
/// cut along its second axis into chunks of `cw` columns (the last one narrower).
///
/// Its JSON form is the fixture index format (`shared/fixtures/lora-tokens/index*.json`); the site
/// dimensions are not stored there because the chunk widths already sum to them.
public struct TokenLayout: Codable, Equatable, Sendable {
    /// One weight token: chunk `chunk` of `matrix` at `(layer, module)`, columns `start ..< start + width`.
    public struct Token: Codable, Equatable, Sendable {
        public var layer: Int
        public var module: LoRAModule
        public var matrix: LoRAMatrix
        public var chunk: Int
        public var width: Int
        public var start: Int

        public init(layer: Int, module: LoRAModule, matrix: LoRAMatrix, chunk: Int, width: Int, start: Int) {
            self.layer = layer; self.module = module; self.matrix = matrix
            self.chunk = chunk; self.width = width; self.start = start
        }

        public var site: LoRASite { LoRASite(layer: layer, module: module) }
        /// The tensor's name in `adapter_model.safetensors`.
        public var key: String { site.key(matrix.rawValue) }

        enum CodingKeys: String, CodingKey { case layer, module, matrix, chunk, width, start, key }

        public init(from d: Decoder) throws {
            let c = try d.container(keyedBy: CodingKeys.self)
            layer = try c.decode(Int.self, forKey: .layer)
            module = try c.decode(LoRAModule.self, forKey: .module)
            matrix = try c.decode(LoRAMatrix.self, forKey: .matrix)
            chunk = try c.decode(Int.self, forKey: .chunk)
            width = try c.decode(Int.self, forKey: .width)
            start = try c.decode(Int.self, forKey: .start)
            // `key` is redundant; when present it must agree with the rest.
            if let k = try c.decodeIfPresent(String.self, forKey: .key), k != key {
                throw DecodingError.dataCorruptedError(forKey: .key, in: c, debugDescription: "key '\(k)' does not match layer \(layer) \(module.rawValue) \(matrix.rawValue) (expected '\(key)')")
            }
        }

        public func encode(to e: Encoder) throws {
            var c = e.container(keyedBy: CodingKeys.self)
            try c.encode(layer, forKey: .layer); try c.encode(module, forKey: .module)
            try c.encode(matrix, forKey: .matrix); try c.encode(chunk, forKey: .chunk)
            try c.encode(width, forKey: .width); try c.encode(start, forKey: .start)
            try c.encode(key, forKey: .key)
        }
    }

    /// A targeted linear layer: `lora_A` is `[r, inFeatures]`, `lora_B` is `[outFeatures, r]`; its tokens are
    /// `firstToken ..< firstToken + aTokens + bTokens` (A's first).
    public struct SiteShape: Equatable, Sendable {
        public var site: LoRASite
        public var inFeatures: Int
        public var outFeatures: Int
        public var firstToken: Int
        public var aTokens: Int
        public var bTokens: Int

        /// Tokens of `matrix`, as a range of token indices.
        public func tokens(_ matrix: LoRAMatrix) -> Range<Int> {
            matrix == .A ? firstToken ..< firstToken + aTokens : firstToken + aTokens ..< firstToken + aTokens + bTokens
        }
    }

    public let rank: Int
    public let chunkWidth: Int
    /// The adapter folder's name, carried into the JSON index when known (informational only).
    public var adapter: String?
    public let tokens: [Token]
    /// Sites in token order.
    public let sites: [SiteShape]

    /// T.
    public var count: Int { tokens.count }
    /// `[r+2, cw+2]`.
    public var tokenShape: [Int] { [rank + 2, chunkWidth + 2] }
    /// `[T, r+2, cw+2]`.
    public var shape: [Int] { [count, rank + 2, chunkWidth + 2] }
    /// Modules present, in token order.
    public var modules: [LoRAModule] { Array(Set(sites.map(\.site.module))).sorted() }

    /// The layout for sites of the given dimensions (any order; duplicates are an error): what the
    /// generator builds from the base model's shapes.
    public init(rank: Int, chunkWidth: Int, sites: [(LoRASite, in: Int, out: Int)]) throws {
        guard rank >= 1 else { throw DNDError("token layout: rank \(rank) must be at least 1") }
        guard chunkWidth >= 1 else { throw DNDError("token layout: chunk width \(chunkWidth) must be at least 1; pass --chunk-width with a positive value") }
        guard !sites.isEmpty else { throw DNDError("token layout: no LoRA sites; the adapter must target at least one module") }
        let ordered = sites.sorted { $0.0 < $1.0 }
        var tokens: [Token] = []
        var shapes: [SiteShape] = []
        for (i, s) in ordered.enumerated() {
            if i > 0 && ordered[i - 1].0 == s.0 { throw DNDError("token layout: \(s.0) is listed twice") }
            guard s.in >= 1, s.out >= 1 else {
                throw DNDError("token layout: \(s.0) has in = \(s.in), out = \(s.out); both must be at least 1 (an empty lora_A or lora_B cannot be tokenized)")
            }
            let first = tokens.count
            for (matrix, width) in [(LoRAMatrix.A, s.in), (LoRAMatrix.B, s.out)] {
                var start = 0, chunk = 0
                while start < width {
                    let w = min(chunkWidth, width - start)
                    tokens.append(Token(layer: s.0.layer, module: s.0.module, matrix: matrix, chunk: chunk, width: w, start: start))
                    start += w; chunk += 1
                }
            }
            let a = (s.in + chunkWidth - 1) / chunkWidth
            shapes.append(SiteShape(site: s.0, inFeatures: s.in, outFeatures: s.out, firstToken: first, aTokens: a, bTokens: tokens.count - first - a))
        }
        self.rank = rank; self.chunkWidth = chunkWidth; self.adapter = nil
        self.tokens = tokens; self.sites = shapes
    }

    /// The layout of an adapter's own shapes (`A [r, in]`, `B [out, r]` per site).
    public init(adapter: LoRAAdapter, chunkWidth: Int) throws {
        try adapter.validate(origin: adapter.origin)
        try self.init(rank: adapter.rank, chunkWidth: chunkWidth,
                      sites: adapter.sites.map { s in (s, in: adapter.weights[s]!.a.shape[1], out: adapter.weights[s]!.b.shape[0]) })
    }

    /// The dimensions of `site`, nil when the layout does not cover it.
    public func shape(of site: LoRASite) -> SiteShape? { sites.first { $0.site == site } }

    /// Throws unless `adapter` is valid (finite, consistent rank) and has exactly this layout's sites, rank and
    /// shapes; the error names the tensor.
    public func check(_ adapter: LoRAAdapter) throws {
        let origin = adapter.origin
        try adapter.validate(origin: origin)
        guard adapter.rank == rank else {
            throw DNDError("\(origin): rank \(adapter.rank) differs from the token layout's rank \(rank); every checkpoint must use r = \(rank)")
        }
        let covered = Set(sites.map(\.site))
        for s in adapter.sites where !covered.contains(s) {
            throw DNDError("\(origin): \(s.key("A")) is not part of the token layout (sites: \(describeSites())); retrain LoRAs on the same target modules and layers")
        }
        for s in sites {
            guard let w = adapter.weights[s.site] else {
                throw DNDError("\(origin): \(s.site.key("A")) and its lora_B are missing but the token layout needs them; retrain LoRAs on the same target modules and layers")
            }
            guard w.a.shape == [rank, s.inFeatures] else {
                throw DNDError("\(origin): \(s.site.key("A")) has shape \(w.a.shape) but the token layout expects [\(rank), \(s.inFeatures)]")
            }
            guard w.b.shape == [s.outFeatures, rank] else {
                throw DNDError("\(origin): \(s.site.key("B")) has shape \(w.b.shape) but the token layout expects [\(s.outFeatures), \(rank)]")
            }
        }
    }

    func describeSites() -> String {
        let layers = Set(sites.map(\.site.layer)).sorted()
        return "layers \(layers.first!)…\(layers.last!), modules \(modules.map(\.rawValue).joined(separator: ","))"
    }

    // MARK: JSON (the fixture index format)

    enum CodingKeys: String, CodingKey {
        case adapter, chunkWidth = "chunk_width", rank, numTokens = "num_tokens", tokenShape = "token_shape"
        case moduleOrder = "module_order", tokens
    }

    public func encode(to e: Encoder) throws {
        var c = e.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(adapter, forKey: .adapter)
        try c.encode(chunkWidth, forKey: .chunkWidth); try c.encode(rank, forKey: .rank)
        try c.encode(count, forKey: .numTokens); try c.encode(tokenShape, forKey: .tokenShape)
        try c.encode(LoRAModule.allCases, forKey: .moduleOrder); try c.encode(tokens, forKey: .tokens)
    }

    /// Decodes an index, derives the site dimensions from the chunk widths and checks that the tokens follow
    /// the DnD order exactly.
    public init(from d: Decoder) throws {
        let c = try d.container(keyedBy: CodingKeys.self)
        let rank = try c.decode(Int.self, forKey: .rank)
        let cw = try c.decode(Int.self, forKey: .chunkWidth)
        let listed = try c.decode([Token].self, forKey: .tokens)
        func corrupt(_ key: CodingKeys, _ what: String) -> DecodingError { DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: what) }
        if let order = try c.decodeIfPresent([LoRAModule].self, forKey: .moduleOrder), order != LoRAModule.allCases {
            throw corrupt(.moduleOrder, "module_order \(order.map(\.rawValue)) is not dnd's \(LoRAModule.allCases.map(\.rawValue))")
        }
        // Site dimensions: the columns covered by each matrix's chunks.
        var order: [LoRASite] = []
        var dims: [LoRASite: (in: Int, out: Int)] = [:]
        for t in listed {
            if dims[t.site] == nil { order.append(t.site); dims[t.site] = (0, 0) }
            if t.matrix == .A { dims[t.site]!.in = max(dims[t.site]!.in, t.start + t.width) } else { dims[t.site]!.out = max(dims[t.site]!.out, t.start + t.width) }
        }
        let built: TokenLayout
        do { built = try TokenLayout(rank: rank, chunkWidth: cw, sites: order.map { ($0, in: dims[$0]!.in, out: dims[$0]!.out) }) } catch let e as DNDError {
            throw corrupt(.tokens, e.message)
        }
        if built.tokens.count != listed.count {
            throw corrupt(.tokens, "\(listed.count) tokens listed but the sites they name need \(built.tokens.count) in DnD order")
        }
        for (i, (got, want)) in zip(listed, built.tokens).enumerated() where got != want {
            throw corrupt(.tokens, "token \(i) is \(got.key) chunk \(got.chunk) (start \(got.start), width \(got.width)) but DnD order expects \(want.key) chunk \(want.chunk) (start \(want.start), width \(want.width))")
        }
        if let n = try c.decodeIfPresent(Int.self, forKey: .numTokens), n != listed.count {
            throw corrupt(.numTokens, "num_tokens \(n) but \(listed.count) tokens listed")
        }
        if let s = try c.decodeIfPresent([Int].self, forKey: .tokenShape), s != built.tokenShape {
            throw corrupt(.tokenShape, "token_shape \(s) but rank \(rank) and chunk_width \(cw) give \(built.tokenShape)")
        }
        self = built
        self.adapter = try c.decodeIfPresent(String.self, forKey: .adapter)
    }

    /// The JSON index (pretty-printed, keys sorted).
    public func jsonData() throws -> Data {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try enc.encode(self)
    }

    /// Writes the JSON index atomically.
    public func write(to url: URL) throws { try AtomicFile.write(jsonData(), to: url) }

    /// Reads a JSON index, with errors naming the file.
    public static func load(from url: URL) throws -> TokenLayout {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw DNDError("\(url.path): cannot read the token layout; check the path")
        }
        do { return try JSONDecoder().decode(TokenLayout.self, from: data) } catch let DecodingError.dataCorrupted(ctx) {
            throw DNDError("\(url.path): not a valid token layout (\(ctx.debugDescription))")
        } catch {
            throw DNDError("\(url.path): not a valid token layout (\(LoRAAdapter.describe(error)))")
        }
    }
}
