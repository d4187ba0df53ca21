// The CPU library's mixture-of-experts ops against plain float64 loops: routing (softmax, top-k,
// renormalisation), the grouped experts for every weight dtype at odd shapes and batch sizes, reading only
// the chosen experts, a bad expert id, and the gated shared expert.
import { describe, expect, test } from "bun:test";
import type { Tensor } from "../../src/backend/backend";
import { CpuBackend } from "../../src/backend/cpu/cpu_backend";
import { encode } from "../../src/demo/random_model";
import type { TensorInfo } from "../../src/model_loader/safetensors";
import { type Rand, rng } from "../support/rng";

const cpu = new CpuBackend({ numThreads: 2 });


const DTYPES = { BF16: "bfloat16", F16: "float16", F32: "float32" } as const;
type WDtype = keyof typeof DTYPES;

/** Values as the weight dtype stores them (rounded), and the checkpoint tensor holding them. */
function weight(values: Float32Array, shape: number[], dtype: WDtype): { info: TensorInfo; exact: Float32Array } {
  const data = encode(values, DTYPES[dtype]);
  const info: TensorInfo = { name: "w", dtype, shape, file: "test", data };
  const exact = dtype === "F32" ? values : dtype === "BF16"
    ? new Float32Array(Uint32Array.from(new Uint16Array(data.buffer), (h) => h << 16).buffer)
    : Float32Array.from(new Float16Array(data.buffer));
  return { info, exact };
}

function uniform(r: Rand, n: number, lo = -1, hi = 1): Float32Array {
  return Float32Array.from({ length: n }, () => r(lo, hi));
}

function f32(data: Float32Array): Tensor {
  const t = cpu.empty([data.length], "f32");
  cpu.write(t, data);
  return t;
}

function i32(data: Int32Array): Tensor {
  const t = cpu.empty([data.length], "i32");
  cpu.write(t, data);
  return t;
}

/** softmax in f64, then the top k (larger first, lower id on ties), renormalised or not. */
function routeRef(logits: Float32Array, n: number, E: number, k: number, renorm: boolean): { ids: number[][]; weights: number[][] } {
  const ids: number[][] = [], weights: number[][] = [];
  for (let t = 0; t < n; t++) {
    const row = Array.from(logits.subarray(t * E, (t + 1) * E));
    const max = Math.max(...row), e = row.map((v) => Math.exp(v - max)), sum = e.reduce((a, b) => a + b, 0);
    const order = e.map((_, i) => i).sort((a, b) => e[b] - e[a] || a - b).slice(0, k);
    const kept = order.reduce((a, i) => a + e[i] / sum, 0);
    ids.push(order);
    weights.push(order.map((i) => e[i] / sum / (renorm ? kept : 1)));
  }
  return { ids, weights };
}

/** out[t] = sum_s w[t,s] * down_e(silu(gate_e x) * up_e x), in f64. */
function expertsRef(x: Float32Array, gu: Float32Array, down: Float32Array, ids: Int32Array, w: Float32Array, n: number, H: number, I: number, k: number): Float64Array {
  const out = new Float64Array(n * H);
  for (let t = 0; t < n; t++) {
    for (let s = 0; s < k; s++) {
      const e = ids[t * k + s], act = new Float64Array(I);
      for (let i = 0; i < I; i++) {
        let g = 0, u = 0;
        for (let h = 0; h < H; h++) {
          g += gu[(e * 2 * I + i) * H + h] * x[t * H + h];
          u += gu[(e * 2 * I + I + i) * H + h] * x[t * H + h];
        }
        act[i] = (g / (1 + Math.exp(-g))) * u;
      }
      for (let h = 0; h < H; h++) {
        let y = 0;
        for (let i = 0; i < I; i++) y += down[(e * H + h) * I + i] * act[i];
        out[t * H + h] += w[t * k + s] * y;
      }
    }
  }
  return out;
}

/** k distinct experts per token, drawn at random. */
function randomIds(r: Rand, n: number, E: number, k: number): Int32Array {
  const ids = new Int32Array(n * k);
  for (let t = 0; t < n; t++) {
    const pool = Array.from({ length: E }, (_, i) => i);
    for (let s = 0; s < k; s++) ids[t * k + s] = pool.splice(Math.floor(r(0, pool.length)), 1)[0];
  }
  return ids;
}

function relErr(got: Float32Array, want: Float64Array): number {
  let num = 0, den = 0;
  for (let i = 0; i < want.length; i++) {
    num += (got[i] - want[i]) ** 2;
    den += want[i] ** 2;
  }
  return Math.sqrt(num / den);
}

function runExperts(x: Float32Array, gu: TensorInfo, down: TensorInfo, ids: Int32Array, w: Float32Array, n: number, H: number, I: number, E: number, k: number, out = f32(new Float32Array(n * H).fill(NaN))) {
  const ws = cpu.empty([Math.ceil(cpu.moeWorkspaceBytes(n, H, I, E, k) / 4)], "i32");
  cpu.moeExperts(out, ws, f32(x), cpu.weight(gu), cpu.weight(down), i32(ids), f32(w), n, H, I, E, k);
  return cpu.readF32(out, n * H);
}

describe("CPU mixture-of-experts ops", () => {
  test("moe_route: f32 softmax, top-k largest first, renormalised or not", () => {
    const r = rng(3);
    for (const [n, E, k] of [[1, 8, 2], [37, 60, 4], [5, 128, 8]]) {
      const logits = uniform(r, n * E, -6, 6);
      for (const renorm of [true, false]) {
        const ids = cpu.empty([n * k], "i32"), w = cpu.empty([n * k], "f32");
        cpu.moeRoute(ids, w, f32(logits), n, E, k, renorm);
        const want = routeRef(logits, n, E, k, renorm);
        const gotIds = new Int32Array(cpu.readF32(ids, n * k).buffer), gotW = cpu.readF32(w, n * k);
        for (let t = 0; t < n; t++) {
          expect(Array.from(gotIds.subarray(t * k, (t + 1) * k))).toEqual(want.ids[t]);
          want.weights[t].forEach((v, s) => expect(Math.abs(gotW[t * k + s] - v)).toBeLessThan(1e-6));
        }
      }
    }
    expect(() => cpu.moeRoute(cpu.empty([4], "i32"), cpu.empty([4], "f32"), f32(new Float32Array(8)), 1, 8, 9, true)).toThrow(/top_k 9/);
  });

  test("moe_experts matches f64 for bf16, f16 and f32 weights, odd shapes and batches from 1 row", () => {
    const r = rng(5);
    for (const dtype of ["BF16", "F16", "F32"] as const) {
      for (const [n, H, I, E, k] of [[1, 48, 40, 6, 2], [5, 64, 32, 8, 3], [33, 24, 20, 4, 2], [2, 40, 16, 16, 8]]) {
        const x = uniform(r, n * H, -2, 2);
        const gu = weight(uniform(r, E * 2 * I * H, -0.3, 0.3), [E * 2 * I, H], dtype);
        const down = weight(uniform(r, E * H * I, -0.3, 0.3), [E * H, I], dtype);
        const ids = randomIds(r, n, E, k), w = uniform(r, n * k, 0, 1);
        const got = runExperts(x, gu.info, down.info, ids, w, n, H, I, E, k);
        expect(relErr(got, expertsRef(x, gu.exact, down.exact, ids, w, n, H, I, k))).toBeLessThan(1e-5);
      }
    }
  });

  test("moe_experts reads only the chosen experts: NaN in every other expert leaves the output finite", () => {
    const r = rng(7), n = 1, H = 64, I = 48, E = 8, k = 2;
    const x = uniform(r, n * H), ids = Int32Array.of(5, 2), w = Float32Array.of(0.7, 0.3);
    const gu = uniform(r, E * 2 * I * H, -0.3, 0.3), down = uniform(r, E * H * I, -0.3, 0.3);
    const want = expertsRef(x, gu, down, ids, w, n, H, I, k);
    for (let e = 0; e < E; e++) {
      if (e === 5 || e === 2) continue;
      gu.fill(NaN, e * 2 * I * H, (e + 1) * 2 * I * H);
      down.fill(NaN, e * H * I, (e + 1) * H * I);
    }
    const got = runExperts(x, weight(gu, [E * 2 * I, H], "F32").info, weight(down, [E * H, I], "F32").info, ids, w, n, H, I, E, k);
    expect(got.every(Number.isFinite)).toBe(true);
    expect(relErr(got, want)).toBeLessThan(1e-6);
  });

  test("moe_experts: an expert id outside the table fails naming it and writes nothing", () => {
    const r = rng(9), n = 3, H = 16, I = 8, E = 4, k = 2;
    const gu = weight(uniform(r, E * 2 * I * H), [E * 2 * I, H], "F32").info, down = weight(uniform(r, E * H * I), [E * H, I], "F32").info;
    for (const bad of [4, -1]) {
      const out = f32(new Float32Array(n * H).fill(7));
      const ids = Int32Array.of(0, 1, 2, bad, 3, 0);
      expect(() => runExperts(uniform(r, n * H), gu, down, ids, new Float32Array(n * k).fill(0.5), n, H, I, E, k, out))
        .toThrow(new RegExp(`expert id ${bad} of token 1 is outside \\[0, 4\\)`));
      expect(cpu.readF32(out, n * H).every((v) => v === 7)).toBe(true);
    }
    expect(runExperts(uniform(r, n * H), gu, down, Int32Array.of(0, 1, 2, 3, 3, 0), new Float32Array(n * k).fill(0.5), n, H, I, E, k).every(Number.isFinite)).toBe(true);
  });

  test("moe_shared_add: out += sigmoid(gate) * shared per token", () => {
    const r = rng(11), n = 9, H = 37;
    const out = uniform(r, n * H), shared = uniform(r, n * H), gate = uniform(r, n, -4, 4);
    const o = f32(out);
    cpu.moeSharedAdd(o, f32(shared), f32(gate), n, H);
    const got = cpu.readF32(o, n * H);
    for (let i = 0; i < n * H; i++) {
      const want = out[i] + shared[i] / (1 + Math.exp(-gate[Math.floor(i / H)]));
      expect(Math.abs(got[i] - want)).toBeLessThan(1e-6);
    }
  });
});
