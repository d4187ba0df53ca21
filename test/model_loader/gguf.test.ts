/** GGUF reader validation, writer round trip, block types, and config/tokenizer/weights against the same model's HF files. */
import { describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openCheckpoint } from "../../src/model_loader/checkpoint";
import { tensorToF32 } from "../../src/model_loader/convert";
import { ModelLoadError } from "../../src/model_loader/errors";
import { openGguf } from "../../src/model_loader/gguf";
import { ggufCheckpoint } from "../../src/model_loader/gguf_checkpoint";
import { ggufModelConfig } from "../../src/model_loader/gguf_config";
import { DEQUANTIZERS } from "../../src/model_loader/gguf_dequant";
import { loadGgufModel } from "../../src/model_loader/gguf_model";
import { QUANTIZERS } from "../../src/model_loader/gguf_quant";
import { GgufValueType, type GgmlTypeName } from "../../src/model_loader/gguf_types";
import { writeGguf, type GgufKV } from "../../src/model_loader/gguf_writer";
import { loadModelConfig } from "../../src/model_loader/hf_config";
import type { ModelConfig } from "../../src/model_loader/model_config";
import { Tokenizer } from "../../src/tokenizer/tokenizer";
import { craft, kv, type CraftSpec } from "../support/gguf_craft";
import { GGUF_TEST_MODELS, ggufTestModel, ggufTestModelHfDir } from "../support/gguf_models";

const dir = mkdtempSync(join(tmpdir(), "gguf-test-"));
let n = 0;
const file = (spec: CraftSpec) => craft(join(dir, `f${n++}.gguf`), spec);

// A valid file: an F32 [2, 4] tensor and a Q8_0 [1, 32] tensor, 32-byte aligned.
const A = { name: "a", dims: [4, 2], type: 0, offset: 0 };
const B = { name: "b", dims: [32, 1], type: 8, offset: 32 };
const valid: CraftSpec = { kvs: [kv.u32("general.alignment", 32), kv.string("general.name", "x")], tensors: [A, B], dataBytes: 66 };

function rejects(spec: CraftSpec, pattern: RegExp, tensor: string | null = null): void {
  const path = file(spec);
  let err: unknown;
  try {
    openGguf(path);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(ModelLoadError);
  const e = err as ModelLoadError;
  expect(e.message).toContain(path);
  expect(e.message).toMatch(pattern);
  expect(e.tensor).toBe(tensor);
}

describe("GGUF reader", () => {
  test("reads a valid crafted file: metadata, dims reversed to shape, zero-copy views", () => {
    const g = openGguf(file(valid));
    expect(g.version).toBe(3);
    expect(g.metadata.get("general.name")?.value).toBe("x");
    const a = g.tensors.get("a")!;
    expect(a.shape).toEqual([2, 4]);
    expect(a.nbytes).toBe(32);
    expect(g.tensors.get("b")!.nbytes).toBe(34);
    expect(a.data.buffer.byteLength).toBe(statSync(g.path).size); // a view of the one file mapping
  });

  test("rejects bad files: path, header, counts", () => {
    expect(() => openGguf(join(dir, "missing.gguf"))).toThrow(/cannot open/);
    mkdirSync(join(dir, "adir.gguf"));
    expect(() => openGguf(join(dir, "adir.gguf"))).toThrow(/not a regular file/);
    rejects({ ...valid, truncateTo: 10 }, /too short/);
    rejects({ ...valid, magic: 0x46554746 }, /not a GGUF file/);
    rejects({ ...valid, version: 1 }, /version 1 is not supported/);
    rejects({ ...valid, version: 0x03000000 }, /big-endian/);
    rejects({ ...valid, version: 4 }, /version 4 is not supported/);
    rejects({ ...valid, kvCount: 1n << 62n }, /metadata entries needs/);
    rejects({ ...valid, tensorCount: 1n << 40n }, /tensor infos needs/);
    rejects({ ...valid, tensorCount: 0xffffffffffffffffn }, /tensor infos needs/);
    rejects({ ...valid, truncateTo: 120 }, /needs \d+ bytes at byte \d+/);
  });

  test("rejects bad metadata: lengths, types, duplicates, encoding", () => {
    const withKv = (...kvs: Uint8Array[]): CraftSpec => ({ ...valid, kvs });
    rejects(withKv(kv.string("k", "v", 0xfffffffffffffff0n)), /metadata 'k' needs 18446744073709551600 bytes/);
    rejects(withKv(new Uint8Array([...new Uint8Array(new BigUint64Array([1n << 63n]).buffer)])), /metadata key #0 needs/);
    rejects(withKv(kv.array("k", GgufValueType.UINT32, 1n << 61n)), /metadata 'k' \(2305843009213693952 items\) needs/);
    rejects(withKv(kv.array("k", GgufValueType.STRING, 1n << 60n)), /items\) needs/);
    rejects(withKv(kv.array("k", GgufValueType.ARRAY, 1)), /array of arrays/);
    rejects(withKv(kv.array("k", 77, 1)), /array of unknown value type 77/);
    rejects(withKv(kv.raw("k", 13, [0, 0, 0, 0])), /unknown value type 13/);
    rejects(withKv(kv.bool("k", 2)), /bool stored as 2/);
    rejects(withKv(kv.u32("k", 1), kv.u32("k", 2)), /metadata key 'k' appears twice/);
    rejects(withKv(new Uint8Array([2, 0, 0, 0, 0, 0, 0, 0, 0xc3, 0x28, 4, 0, 0, 0, 1, 0, 0, 0])), /metadata key #0 is not valid UTF-8/);
    rejects(withKv(kv.u32("general.alignment", 24)), /general.alignment' must be a u32 power of two, got 24/);
    rejects(withKv(kv.u32("general.alignment", 0)), /power of two, got 0/);
    rejects(withKv(kv.f32("general.alignment", 32)), /power of two/);
  });

  test("rejects bad tensor infos, naming the tensor", () => {
    const withT = (...tensors: CraftSpec["tensors"] & object): CraftSpec => ({ ...valid, tensors });
    rejects(withT(A, { ...B, name: "a" }), /appears twice/, "a");
    rejects(withT({ ...A, name: "n".repeat(64) }), /longer than 63 bytes/, "n".repeat(64));
    rejects(withT({ ...A, nDims: 0, dims: [] }), /has 0 dimensions/, "a");
    rejects(withT({ ...A, nDims: 5, dims: [1, 1, 1, 1, 1] }), /has 5 dimensions/, "a");
    rejects(withT({ ...A, dims: [1n << 40n, 1n << 40n] }), /more than 2\^53 elements/, "a");
    rejects(withT({ ...A, dims: [0xffffffffffffffffn, 2] }), /more than 2\^53 elements/, "a");
    rejects(withT({ ...A, type: 4 }), /unknown or unsupported ggml type id 4/, "a");
    rejects(withT({ ...A, type: 1000 }), /ggml type id 1000/, "a");
    rejects(withT(A, { ...B, dims: [31, 1] }), /rows of 31 elements are not a multiple of the Q8_0 block size 32/, "b");
    rejects(withT(A, { ...B, offset: 33 }), /offset 33 is not a multiple of the alignment 32/, "b");
    rejects(withT(A, { ...B, offset: 64 }), /runs past the 66-byte data section/, "b");
    rejects(withT(A, { ...B, offset: 0xffffffffffffffe0n }), /runs past/, "b");
    rejects(withT({ ...A, dims: [8, 2] }, B), /overlaps tensor 'a'/, "b");
    rejects({ ...valid, dataBytes: 40 }, /runs past the 40-byte data section/, "b");
  });
});

describe("GGUF writer", () => {
  test("round-trips every metadata type and tensor bytes", () => {
    const kvs: GgufKV[] = [
      { key: "u8", type: GgufValueType.UINT8, value: 200 }, { key: "i8", type: GgufValueType.INT8, value: -5 },
      { key: "u16", type: GgufValueType.UINT16, value: 60000 }, { key: "i16", type: GgufValueType.INT16, value: -300 },
      { key: "u32", type: GgufValueType.UINT32, value: 4e9 }, { key: "i32", type: GgufValueType.INT32, value: -2e9 },
      { key: "f32", type: GgufValueType.FLOAT32, value: 0.5 }, { key: "f64", type: GgufValueType.FLOAT64, value: 0.1 },
      { key: "u64", type: GgufValueType.UINT64, value: 1n << 60n }, { key: "i64", type: GgufValueType.INT64, value: -(1n << 60n) },
      { key: "b", type: GgufValueType.BOOL, value: true }, { key: "s", type: GgufValueType.STRING, value: "héllo ▁" },
      { key: "as", type: GgufValueType.ARRAY, itemType: GgufValueType.STRING, value: ["a", "", "ü"] },
      { key: "af", type: GgufValueType.ARRAY, itemType: GgufValueType.FLOAT32, value: Float32Array.of(1, -2.5) },
    ];
    const data = QUANTIZERS.Q8_0!(Float32Array.from({ length: 64 }, (_, i) => Math.sin(i)));
    const path = join(dir, "roundtrip.gguf");
    writeGguf(path, kvs, [{ name: "w", type: "Q8_0", shape: [2, 32], data }, { name: "v", type: "F32", shape: [3], data: new Uint8Array(12) }]);
    const g = openGguf(path);
    for (const e of kvs) expect(g.metadata.get(e.key)?.value).toEqual(e.value);
    expect(g.tensors.get("w")!.dims).toEqual([32, 2]);
    expect([...g.tensors.get("w")!.data]).toEqual([...data]);
    expect(g.tensors.get("v")!.offset % 32).toBe(0);
  });
});

// Gaussian-ish test data with a few outliers, as weights have.
function weights(count: number, seed: number): Float32Array {
  let s = seed;
  const rnd = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  return Float32Array.from({ length: count }, (_, i) => (rnd() + rnd() + rnd() - 1.5) * (i % 97 === 0 ? 4 : 1));
}

function relRms(a: Float32Array, b: Float32Array): number {
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) { num += (a[i] - b[i]) ** 2; den += b[i] ** 2; }
  return Math.sqrt(num / den);
}

describe("block types", () => {
  test("Q8_0 is ggml's reference: d = amax / 127 as f16, the largest element at ±127", () => {
    const x = weights(32 * 8, 1);
    const q = QUANTIZERS.Q8_0!(x);
    for (let b = 0; b < 8; b++) {
      const block = x.subarray(32 * b, 32 * b + 32);
      const amax = Math.max(...block.map(Math.abs));
      const d = new DataView(q.buffer).getUint16(34 * b, true);
      expect(d).toBe(new Uint16Array(new Float16Array([Math.fround(amax / 127)]).buffer)[0]);
      const at = block.findIndex((v) => Math.abs(v) === amax);
      expect(Math.abs((q[34 * b + 2 + at] << 24) >> 24)).toBe(127);
    }
    expect(relRms(DEQUANTIZERS.Q8_0!(q, x.length), x)).toBeLessThan(0.01);
  });

  // Quantizer and dequantizer share no code; the layouts are checked against llama.cpp in gguf_parity.test.ts.
  const bounds: [GgmlTypeName, number][] = [["Q4_0", 0.15], ["Q4_K", 0.12], ["Q5_K", 0.06], ["Q6_K", 0.03], ["F16", 1e-3], ["BF16", 5e-3]];
  for (const [type, bound] of bounds) {
    test(`${type} dequantizes its own quantization within ${bound} relative RMS`, () => {
      const x = weights(256 * 6, 7);
      const err = relRms(DEQUANTIZERS[type]!(QUANTIZERS[type]!(x), x.length), x);
      expect(err).toBeLessThan(bound);
      expect(err).toBeGreaterThan(0);
    });
  }
});

/**
 * The model's tokenizer.json as written. For the sentencepiece model that is not what transformers' Llama
 * tokenizer class runs: the class swaps the file's normalizer for a Metaspace pre-tokenizer that adds no "▁"
 * before text that starts with a space, where sentencepiece and llama.cpp do.
 */
function referenceTokenizer(hfDir: string): Tokenizer {
  const json = JSON.parse(readFileSync(join(hfDir, "tokenizer.json"), "utf8"));
  const config = JSON.parse(readFileSync(join(hfDir, "tokenizer_config.json"), "utf8"));
  delete config.tokenizer_class;
  return Tokenizer.fromJson(json, config, hfDir);
}

describe("GGUF model source vs the same model's HF files", () => {
  for (const name of GGUF_TEST_MODELS) {
    test(`${name}: ModelConfig, tokenizer ids and unpermuted q/k weights`, () => {
      const hfDir = ggufTestModelHfDir(name);
      const gguf = loadGgufModel(ggufTestModel(name, "F16"));
      const hf = loadModelConfig(hfDir);
      // GGUF names Mistral "llama" and keeps weights as f16; everything else is the same.
      const expected: ModelConfig = { ...hf, torchDtype: "float16", ...(name === "mistral" ? { architecture: "LlamaForCausalLM", modelType: "llama" } : {}) };
      expect(gguf.modelConfig).toEqual(expected);

      const ref = referenceTokenizer(hfDir);
      const { strings } = JSON.parse(readFileSync(join(import.meta.dir, "../fixtures/tokenizer_strings.json"), "utf8")) as { strings: string[] };
      for (const s of strings) {
        expect(gguf.tokenizer.encode(s)).toEqual(ref.encode(s));
        expect(gguf.tokenizer.decode(ref.encode(s))).toBe(ref.decode(ref.encode(s)));
      }
      expect(gguf.tokenizer.chatTemplate).toBe(ref.chatTemplate);

      const ckpt = openCheckpoint(hfDir);
      for (const w of ["self_attn.q_proj.weight", "self_attn.k_proj.weight", "mlp.down_proj.weight"]) {
        const t = `model.layers.1.${w}`;
        const f16 = new Float32Array(new Float16Array(tensorToF32(ckpt.get(t))));
        expect(tensorToF32(gguf.checkpoint.get(t))).toEqual(f16);
      }
    });
  }

  test("a tensor of a type without a dequantizer is refused by name", () => {
    const path = join(dir, "q5_1.gguf");
    const u32 = (key: string, value: number): GgufKV => ({ key, type: GgufValueType.UINT32, value });
    writeGguf(path, [
      { key: "general.architecture", type: GgufValueType.STRING, value: "llama" }, u32("llama.embedding_length", 32),
      u32("llama.attention.head_count", 2), u32("llama.feed_forward_length", 32), u32("llama.block_count", 1), u32("llama.context_length", 64),
      { key: "llama.attention.layer_norm_rms_epsilon", type: GgufValueType.FLOAT32, value: 1e-5 },
    ], [
      { name: "token_embd.weight", type: "F32", shape: [4, 32], data: new Uint8Array(512) },
      { name: "blk.0.ffn_down.weight", type: "Q5_1", shape: [32, 32], data: new Uint8Array(32 * 24) },
    ]);
    const g = openGguf(path);
    expect(() => ggufCheckpoint(g, ggufModelConfig(g))).toThrow(/tensor 'blk.0.ffn_down.weight': has type Q5_1, which is not supported/);
  });
});
