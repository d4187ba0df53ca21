// Sanity checks of the float64 reference itself: it is what every engine test trusts.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeSafetensors } from "../../src/model_loader/safetensors_writer";
import { TINY_MODEL_NAMES, tinyModelDir, type TinyModelName } from "../support/tiny_models";
import { decodeToF64, referenceGreedy, referenceLogits, referenceRouterMargin, ropeInvFreq, top2 } from "./forward_f64";

// "The capital of France is" in each tokenizer family (Llama 3 and Mistral with their BOS).
const PROMPTS: Record<TinyModelName, number[]> = {
  llama3: [128000, 791, 6864, 315, 9822, 374],
  llama3_sharded: [128000, 791, 6864, 315, 9822, 374],
  qwen2: [785, 6722, 315, 9625, 374],
  qwen3: [785, 6722, 315, 9625, 374],
  mistral: [1, 415, 5565, 302, 4843, 349],
  gemma2: [2, 651, 6037, 576, 6081, 603],
  gemma3: [2, 818, 5279, 529, 7001, 563],
  phi3: [1, 415, 5565, 302, 4843, 349],
  mixtral: [1, 415, 5565, 302, 4843, 349],
  qwen2_moe: [785, 6722, 315, 9625, 374],
  qwen3_moe: [785, 6722, 315, 9625, 374],
};

describe("micro model derived by hand", () => {
  // Llama, hidden 4, one layer, 2 query heads sharing 1 kv head, head_dim 4 (so rotate_half pairs
  // (0,2),(1,3) differ from adjacent pairs), theta 10000 so inv_freq = [1, 0.01]. Every matrix is a
  // 0/1 or 0.5 pattern, so each step below can be followed on paper.
  const eps = 1e-6;
  const c = 1 / Math.sqrt(1 + eps); // RMSNorm scale of a vector whose mean square is exactly 1
  const embed = [[1, 1, 1, 1], [2, 0, 0, 0], [0, 0, 0, 2]];
  const finalNormWeight = [1, 2, 1, 1];
  const silu = (x: number) => x / (1 + Math.exp(-x));
  const rms = (x: number[]) => Math.sqrt(x.reduce((s, v) => s + v * v, 0) / x.length + eps);

  // After attention: post-norm (weights 1), MLP act = [silu(m0)*m1, silu(m1)*m0] added to dims 0 and 1,
  // final norm with weights [1,2,1,1], lm_head rows e0, e1, e2+e3.
  function logitsAfterAttention(x1: number[]): number[] {
    const m = x1.map((v) => v / rms(x1));
    const x2 = [x1[0] + silu(m[0]) * m[1], x1[1] + silu(m[1]) * m[0], x1[2], x1[3]];
    const f = x2.map((v, i) => (finalNormWeight[i] * v) / rms(x2));
    return [f[0], f[1], f[2] + f[3]];
  }

  function expectedLogits(): number[][] {
    // Position 0, token 0: n = c*[1,1,1,1]; one key, so both heads output v0 = n; o_proj averages heads.
    const n0 = [c, c, c, c];
    const x1pos0 = embed[0].map((v, i) => v + n0[i]);
    // Position 1, token 1: n = c*[2,0,0,0]. Head 0's query and the new key rotate by 1 rad in the (0,2)
    // pair: [2c cos1, 0, 2c sin1, 0]. The cached key of position 0 is n0, unrotated.
    const s0 = (2 * c * Math.cos(1) * c + 2 * c * Math.sin(1) * c) / 2; // q.k0 / sqrt(4)
    const s1 = (4 * c * c) / 2; // q.k1 / sqrt(4): same rotation on both sides
    const p1 = 1 / (1 + Math.exp(s0 - s1));
    const v0 = n0;
    const v1 = [2 * c, 0, 0, 0];
    const head0 = v0.map((v, i) => (1 - p1) * v + p1 * v1[i]);
    const head1 = v0.map((v, i) => 0.5 * v + 0.5 * v1[i]); // zero query: uniform over both positions
    const x1pos1 = embed[1].map((v, i) => v + 0.5 * (head0[i] + head1[i]));
    return [logitsAfterAttention(x1pos0), logitsAfterAttention(x1pos1)];
  }

  function writeMicroModel(dir: string): void {
    const eye = (n: number) => Array.from({ length: n }, (_, r) => Array.from({ length: n }, (_, col) => (r === col ? 1 : 0)));
    const zeros = (r: number, col: number) => Array.from({ length: r }, () => new Array(col).fill(0));
    const tensors: Record<string, number[][] | number[]> = {
      "model.embed_tokens.weight": embed,
      "model.layers.0.input_layernorm.weight": [1, 1, 1, 1],
      "model.layers.0.self_attn.q_proj.weight": [...eye(4), ...zeros(4, 4)], // head 0 = n, head 1 = 0
      "model.layers.0.self_attn.k_proj.weight": eye(4),
      "model.layers.0.self_attn.v_proj.weight": eye(4),
      "model.layers.0.self_attn.o_proj.weight": eye(4).map((row) => [...row.map((v) => v / 2), ...row.map((v) => v / 2)]),
      "model.layers.0.post_attention_layernorm.weight": [1, 1, 1, 1],
      "model.layers.0.mlp.gate_proj.weight": [[1, 0, 0, 0], [0, 1, 0, 0]],
      "model.layers.0.mlp.up_proj.weight": [[0, 1, 0, 0], [1, 0, 0, 0]],
      "model.layers.0.mlp.down_proj.weight": [[1, 0], [0, 1], [0, 0], [0, 0]],
      "model.norm.weight": finalNormWeight,
      "lm_head.weight": [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 1]],
    };
    writeSafetensors(join(dir, "model.safetensors"), Object.entries(tensors).map(([name, v]) => f32Tensor(name, v)));
    const config = {
      architectures: ["LlamaForCausalLM"], model_type: "llama", hidden_size: 4, intermediate_size: 2,
      num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 1, head_dim: 4, vocab_size: 3,
      rms_norm_eps: eps, rope_theta: 10000, rope_scaling: null, tie_word_embeddings: false, hidden_act: "silu",
    };
    writeFileSync(join(dir, "config.json"), JSON.stringify(config));
  }

  test("reference logits match the hand derivation", () => {
    const dir = mkdtempSync(join(tmpdir(), "micro-ref-"));
    try {
      writeMicroModel(dir);
      const got = referenceLogits(dir, [0, 1]);
      const want = expectedLogits();
      expect(got.length).toBe(2);
      for (let t = 0; t < 2; t++) for (let v = 0; v < 3; v++) expect(got[t][v]).toBeCloseTo(want[t][v], 12);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

function f32Tensor(name: string, value: number[][] | number[]) {
  const rows = (Array.isArray(value[0]) ? value : [value]) as number[][];
  const data = new Float32Array(rows.flat());
  const shape = Array.isArray(value[0]) ? [rows.length, rows[0].length] : [rows[0].length];
  return { name, dtype: "F32" as const, shape, data: new Uint8Array(data.buffer) };
}

describe("rope inverse frequencies", () => {
  test("llama3 scaling keeps high, divides low and blends medium frequencies", () => {
    // head_dim 16, theta 5e5, original context 64: wavelengths 6.3 (< 64/4), 32.4 (between), 167 (> 64/1) ...
    const inv = ropeInvFreq(16, 500000, { rope_type: "llama3", factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 64 });
    const base = (i: number) => Math.pow(500000, -i / 8);
    expect(inv[0]).toBe(1);
    const smooth = (64 / ((2 * Math.PI) / base(1)) - 1) / 3;
    expect(inv[1]).toBeCloseTo((1 - smooth) * (base(1) / 8) + smooth * base(1), 15);
    for (let i = 2; i < 8; i++) expect(inv[i]).toBeCloseTo(base(i) / 8, 15);
  });

  test("linear scaling divides every frequency and no scaling leaves them", () => {
    const plain = ropeInvFreq(8, 10000, null);
    expect(Array.from(plain)).toEqual([1, 0.1, 0.01, 0.001].map((v, i) => expect.closeTo(v, 15 - i) as unknown as number));
    const linear = ropeInvFreq(8, 10000, { type: "linear", factor: 4 });
    plain.forEach((f, i) => expect(linear[i]).toBe(f / 4));
  });
});

test("weight decoding is exact for bf16, f16 and f32", () => {
  const u16 = (...v: number[]) => new Uint8Array(new Uint16Array(v).buffer);
  expect(Array.from(decodeToF64("BF16", u16(0x3f80, 0xc000, 0x3f81)))).toEqual([1, -2, 1 + 1 / 128]);
  expect(Array.from(decodeToF64("F16", u16(0x3c00, 0x0001, 0x7bff, 0xfc00, 0x8000)))).toEqual([1, 2 ** -24, 65504, -Infinity, -0]);
  expect(Array.from(decodeToF64("F32", new Uint8Array(new Float32Array([0.1]).buffer)))).toEqual([Math.fround(0.1)]);
  // A view at an odd offset, as a mapped tensor can be.
  const odd = new Uint8Array(5);
  odd.set([0x80, 0x3f], 1);
  expect(Array.from(decodeToF64("BF16", odd.subarray(1, 3)))).toEqual([1]);
});

test("top2 picks the lowest index on ties and measures the lead", () => {
  expect(top2(new Float64Array([1, 3, 3, 2]))).toEqual({ best: 1, margin: 0 });
  expect(top2(new Float64Array([5, 1, 4.5]))).toEqual({ best: 0, margin: 0.5 });
});

describe("tiny models", () => {
  test("logits are causal: a position never sees later tokens", () => {
    const dir = tinyModelDir("llama3");
    const a = referenceLogits(dir, [128000, 791, 6864, 315, 9822, 374]);
    const b = referenceLogits(dir, [128000, 791, 6864, 315, 1000, 2000]);
    for (let t = 0; t < 4; t++) expect(b[t]).toEqual(a[t]);
    expect(b[4]).not.toEqual(a[4]);
  });

  test("attention carries context: an earlier token changes later logits", () => {
    for (const name of ["llama3", "qwen3"] as const) {
      const dir = tinyModelDir(name);
      const a = referenceLogits(dir, [500, 791, 6864, 315]);
      const b = referenceLogits(dir, [501, 791, 6864, 315]);
      const diff = a[3].reduce((m, v, i) => Math.max(m, Math.abs(v - b[3][i])), 0);
      expect(diff).toBeGreaterThan(0.1);
    }
  });

  test("greedy decoding agrees with full-sequence logits", () => {
    const dir = tinyModelDir("qwen2");
    const prompt = PROMPTS.qwen2;
    const { tokens } = referenceGreedy(dir, prompt, 6);
    const logits = referenceLogits(dir, [...prompt, ...tokens.slice(0, 5)]);
    tokens.forEach((tok, i) => expect(top2(logits[prompt.length - 1 + i]).best).toBe(tok));
  });

  // Gemma's tied head over 256k ids (under a final soft cap for Gemma 2) leaves narrower leads than the
  // successor heads, as does Qwen3-MoE's smaller expert width; each floor still sits far above the engine's error
  // against this reference (1e-4 relative).
  const ROUTER_FLOOR = 1e-3; // router logits reach ~10; the engine's f32 error on them is ~1e-5
  const MIN_MARGIN: Partial<Record<TinyModelName, number>> = { gemma2: 0.1, gemma3: 0.05, phi3: 0.25, qwen3_moe: 0.25 };
  // A token whose k-th and (k+1)-th router logits nearly tie could take another expert under f32 rounding.
  for (const name of ["mixtral", "qwen2_moe", "qwen3_moe"] as const) {
    test(`${name}: 32 greedy steps route every token clear of a tie between its k-th and (k+1)-th expert`, () => {
      const margin = referenceRouterMargin(tinyModelDir(name), PROMPTS[name], 32);
      console.log(`${name}: smallest router margin ${margin.toExponential(2)}`);
      expect(margin).toBeGreaterThan(ROUTER_FLOOR);
    });
  }

  for (const name of TINY_MODEL_NAMES) {
    const floor = MIN_MARGIN[name] ?? 0.5;
    test(`${name}: 32 greedy steps keep a margin above ${floor} and do not repeat one token`, () => {
      const { tokens, margins } = referenceGreedy(tinyModelDir(name), PROMPTS[name], 32);
      expect(Math.min(...margins)).toBeGreaterThan(floor);
      expect(new Set(tokens).size).toBeGreaterThan(1);
    });
  }
});
