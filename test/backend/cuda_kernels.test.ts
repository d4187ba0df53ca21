// Every CUDA kernel against the CPU backend on the same inputs (bf16-representable, so both see
// identical values), at the shapes the 8B-class models run: head_dim 64 and 128, GQA 8:1, block 16,
// contexts up to 8k, batches up to 256. The CUDA library keeps activations in bf16 (f32 accumulation),
// so outputs are compared by relative L2 error and by the worst element against the largest one.
// Outputs are poisoned with NaN first, so an unwritten element fails. Skips without a CUDA device.
import { describe, expect, test } from "bun:test";
import type { Backend, DType, Tensor } from "../../src/backend/backend";
import { CpuBackend } from "../../src/backend/cpu/cpu_backend";
import { CudaBackend, fromBf16, toBf16 } from "../../src/backend/cuda/cuda_backend";
import { probeCuda } from "../../src/backend/cuda/cuda_library";
import type { TensorInfo } from "../../src/model_loader/safetensors";
import { type Rand, rng } from "../support/rng";

const probe = probeCuda();
const cuda = probe.ok ? new CudaBackend(probe.kernels) : null;
const cpu = cuda ? new CpuBackend({ numThreads: navigator.hardwareConcurrency }) : null;

// ---- inputs ----


/** n uniform values in [lo, hi), rounded to bf16 so the CPU's f32 copy holds exactly what the GPU holds. */
function bf16Values(r: Rand, n: number, lo = -1, hi = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = r(lo, hi);
  return fromBf16(toBf16(a));
}

function tensor(b: Backend, data: Float32Array | Int32Array, dtype: DType, shape = [data.length]): Tensor {
  const t = b.empty(shape, dtype);
  b.write(t, data);
  return t;
}
const act = (b: Backend, data: Float32Array, shape?: number[]) => tensor(b, data, b.activationDtype, shape);
const ints = (b: Backend, data: Int32Array) => tensor(b, data, "i32");

/** A weight as a checkpoint tensor in `dtype` (BF16 / F16 / F32), holding `values`. */
function weightInfo(values: Float32Array, shape: number[], dtype: "BF16" | "F16" | "F32" = "BF16"): TensorInfo {
  let bytes: Uint8Array;
  if (dtype === "BF16") bytes = new Uint8Array(toBf16(values).buffer);
  else if (dtype === "F16") bytes = new Uint8Array(new Float16Array(values).buffer);
  else bytes = new Uint8Array(values.slice().buffer);
  return { name: "w", dtype, shape, file: "test", data: bytes };
}

/** Output buffer on the device, filled with NaN so unwritten elements show. */
function poisoned(b: Backend, n: number, dtype: DType = b.activationDtype, shape = [n]): Tensor {
  return tensor(b, new Float32Array(n).fill(NaN), dtype, shape);
}

// ---- comparison ----

interface Tol { rel: number; max: number }
const BF16: Tol = { rel: 1e-2, max: 2e-2 }; // one or two bf16 roundings (2^-9 each) on the output
const F32: Tol = { rel: 1e-5, max: 1e-5 };

function expectClose(name: string, got: Float32Array, want: Float32Array, tol: Tol): void {
  expect(got.length).toBe(want.length);
  let num = 0, den = 0, worst = 0, peak = 0, bad = 0;
  for (let i = 0; i < got.length; i++) {
    const d = got[i] - want[i];
    if (!Number.isFinite(got[i]) && got[i] !== want[i]) bad++;
    num += d * d;
    den += want[i] * want[i];
    worst = Math.max(worst, Math.abs(d));
    peak = Math.max(peak, Math.abs(want[i]));
  }
  const rel = Math.sqrt(num / (den || 1)), max = worst / (peak || 1);
  console.log(`cuda-kernel ${name}: rel_l2=${rel.toExponential(2)} max_err/max_ref=${max.toExponential(2)} n=${got.length}`);
  expect(bad, `${name}: non-finite or unwritten elements`).toBe(0);
  expect(rel, `${name}: relative L2 error`).toBeLessThanOrEqual(tol.rel);
  expect(max, `${name}: worst element error / largest reference element`).toBeLessThanOrEqual(tol.max);
}

/** Runs `op` on both backends with inputs made by `inputs(b)`; returns [cuda, cpu] f32 copies of `outputs`. */
function both<I>(inputs: (b: Backend) => I, op: (b: Backend, io: I) => void, outputs: (io: I) => [Tensor, number][]) {
  const run = (b: Backend) => {
    const io = inputs(b);
    op(b, io);
    return outputs(io).map(([t, n]) => b.readF32(t, n));
  };
  return { gpu: run(cuda!), ref: run(cpu!) };
}

// ---- element-wise and row ops ----

describe.skipIf(cuda === null)("CUDA kernels vs the CPU backend", () => {
  test("host <-> device copies round-trip exactly, through the pinned staging buffers too", () => {
    const r = rng(21);
    // Small (pageable path), just past one staging chunk, and several chunks with a ragged tail.
    for (const n of [1000, (8 << 20) / 4 + 5, 5 * (8 << 18) + 12345]) {
      const f = Float32Array.from({ length: n }, () => r(-100, 100));
      const t = tensor(cuda!, f, "f32");
      expect(cuda!.readF32(t, n)).toEqual(f);
      const h = bf16Values(r, n);
      const u = tensor(cuda!, h, "bf16");
      expect(cuda!.readF32(u, n)).toEqual(h);
      cuda!.free(t);
      cuda!.free(u);
    }
  });

  test("embedding (bf16, f16 and f32 tables) and the bf16 row gather", () => {
    const r = rng(1), vocab = 1000, hidden = 4096, n = 256;
    const ids = Int32Array.from({ length: n }, () => Math.floor(r(0, vocab)));
    for (const dtype of ["BF16", "F16", "F32"] as const) {
      const values = bf16Values(r, vocab * hidden, -3, 3);
      const { gpu, ref } = both(
        (b) => ({ table: b.weight(weightInfo(values, [vocab, hidden], dtype)), ids: ints(b, ids), out: poisoned(b, n * hidden) }),
        (b, io) => b.embedding(io.out, io.table, io.ids, n, hidden),
        (io) => [[io.out, n * hidden]],
      );
      // bf16 values: a copy; through f16 only values below f16's normal range can round
      expectClose(`embedding ${dtype}`, gpu[0], ref[0], dtype === "BF16" ? { rel: 0, max: 0 } : { rel: 1e-6, max: 1e-6 });
    }
    const rows = bf16Values(r, 300 * 512);
    const { gpu, ref } = both(
      (b) => ({ table: act(b, rows), ids: ints(b, ids.map((i) => i % 300)), out: poisoned(b, n * 512) }),
      (b, io) => b.embedding(io.out, io.table, io.ids, n, 512),
      (io) => [[io.out, n * 512]],
    );
    expectClose("row gather", gpu[0], ref[0], { rel: 0, max: 0 });
  });

  test("embedding: an id outside the table fails naming it, its row is zeros, and the library recovers", () => {
    const b = cuda!, r = rng(12), vocab = 1000;
    // A bf16 table of width 8k (the vectorized kernel) and an f32 one of odd width (the element-wise one).
    for (const [hidden, dtype] of [[256, "bf16"], [100, "f32"]] as const) {
      const values = bf16Values(r, vocab * hidden, -3, 3);
      const table = tensor(b, values, dtype, [vocab, hidden]);
      for (const [bad, at] of [[vocab, 3], [-1, 0], [2 ** 31 - 1, 5], [-(2 ** 31), 2]]) {
        const idList = Int32Array.of(1, 2, 999, 4, 0, 6);
        idList[at] = bad;
        const ids = ints(b, idList), out = poisoned(b, idList.length * hidden);
        const message = `vk_embedding: token id ${bad} at position ${at} is outside the table's ${vocab} rows`;
        // Found on the device: it throws at this op's check or, at the latest, at the next synchronization.
        expect(() => { b.embedding(out, table, ids, idList.length, hidden); b.synchronize(); }, message).toThrow(message);
        const got = b.readF32(out, idList.length * hidden);
        idList.forEach((id, t) => {
          const want = t === at ? new Float32Array(hidden) : values.subarray(id * hidden, (id + 1) * hidden);
          expect(got.subarray(t * hidden, (t + 1) * hidden), `${dtype} token ${t}`).toEqual(want);
        });
        b.free(ids);
        b.free(out);
      }
      const ids = ints(b, Int32Array.of(999, 0)), out = poisoned(b, 2 * hidden);
      b.embedding(out, table, ids, 2, hidden);
      b.synchronize();
      expect(b.readF32(out, hidden)).toEqual(values.subarray(999 * hidden));
      for (const x of [table, ids, out]) b.free(x);
    }
  });

  for (const [rows, hidden] of [[256, 4096], [256 * 32, 128]]) {
    test(`rms_norm and add_rms_norm, ${rows} rows of ${hidden}`, () => {
      const r = rng(hidden), x = bf16Values(r, rows * hidden, -2, 2), res = bf16Values(r, rows * hidden, -4, 4);
      const w = bf16Values(r, hidden, 0.5, 1.5), eps = 1e-5;
      const plain = both(
        (b) => ({ x: act(b, x), w: b.weight(weightInfo(w, [hidden])), out: poisoned(b, rows * hidden) }),
        (b, io) => b.rmsNorm(io.out, io.x, io.w, rows, hidden, eps),
        (io) => [[io.out, rows * hidden]],
      );
      expectClose(`rms_norm ${rows}x${hidden}`, plain.gpu[0], plain.ref[0], BF16);
      const fused = both(
        (b) => ({ x: act(b, x), res: act(b, res), w: b.weight(weightInfo(w, [hidden])), out: poisoned(b, rows * hidden) }),
        (b, io) => b.addRmsNorm(io.out, io.res, io.x, io.w, rows, hidden, eps),
        (io) => [[io.out, rows * hidden], [io.res, rows * hidden]],
      );
      expectClose(`add_rms_norm out ${rows}x${hidden}`, fused.gpu[0], fused.ref[0], BF16);
      expectClose(`add_rms_norm residual ${rows}x${hidden}`, fused.gpu[1], fused.ref[1], BF16);
    });
  }

  for (const headDim of [64, 128]) {
    test(`rope, head_dim ${headDim}, 32 q / 4 kv heads, positions up to 8k`, () => {
      const r = rng(headDim + 7), n = 256, nq = 32, nkv = 4, half = headDim / 2;
      const q = bf16Values(r, n * nq * headDim, -2, 2), k = bf16Values(r, n * nkv * headDim, -2, 2);
      const pos = Int32Array.from({ length: n }, (_, i) => (i < 4 ? i : Math.floor(r(0, 8192))));
      const inv = Float32Array.from({ length: half }, (_, i) => 1 / 500000 ** ((2 * i) / headDim));
      const { gpu, ref } = both(
        (b) => ({ q: act(b, q), k: act(b, k), pos: ints(b, pos), inv: tensor(b, inv, "f32") }),
        (b, io) => b.rope(io.q, io.k, io.pos, io.inv, n, nq, nkv, headDim),
        (io) => [[io.q, q.length], [io.k, k.length]],
      );
      expectClose(`rope q d=${headDim}`, gpu[0], ref[0], BF16);
      expectClose(`rope k d=${headDim}`, gpu[1], ref[1], BF16);
    });
  }

  test("silu_mul, 256 tokens x 14336", () => {
    const r = rng(3), n = 256, inter = 14336, gu = bf16Values(r, n * 2 * inter, -6, 6);
    const { gpu, ref } = both(
      (b) => ({ gu: act(b, gu), out: poisoned(b, n * inter) }),
      (b, io) => b.siluMul(io.out, io.gu, n, inter),
      (io) => [[io.out, n * inter]],
    );
    expectClose("silu_mul", gpu[0], ref[0], BF16);
  });

  for (const [m, n, k, bias, f32Out] of [[1, 2048, 4096, false, false], [33, 2048, 4096, false, false], [256, 2048, 4096, false, false],
    [5, 768, 512, true, false], [8, 32000, 1024, false, true], [3, 4000, 256, true, true],
    // The small-m GEMV: odd n, k past a whole unrolled stride, bias, f32 out; k % 8 != 0 falls back to cuBLAS.
    [1, 1001, 4104, true, false], [2, 129, 136, false, true], [4, 6144, 4096, false, false], [1, 5, 8, true, true],
    [2, 64, 100, false, false]] as const) {
    test(`matmul m=${m} n=${n} k=${k}${bias ? " +bias" : ""}${f32Out ? " f32 out" : ""}`, () => {
      const r = rng(m * 31 + n), x = bf16Values(r, m * k), w = bf16Values(r, n * k, -0.05, 0.05);
      const bv = Float32Array.from({ length: n }, () => r(-1, 1));
      const { gpu, ref } = both(
        (b) => ({
          x: act(b, x), w: b.weight(weightInfo(w, [n, k])), bias: bias ? tensor(b, bv, "f32") : null,
          out: poisoned(b, m * n, f32Out ? "f32" : b.activationDtype),
        }),
        (b, io) => b.matmul(io.out, io.x, io.w, io.bias, m, n, k),
        (io) => [[io.out, m * n]],
      );
      expectClose(`matmul ${m}x${n}x${k}`, gpu[0], ref[0], f32Out && !bias ? { rel: 1e-4, max: 1e-4 } : BF16);
    });
  }

  test("weights from f16 and f32 checkpoints are converted once at upload", () => {
    const r = rng(11), m = 16, n = 512, k = 384, x = bf16Values(r, m * k);
    const w = Float32Array.from({ length: n * k }, () => r(-0.05, 0.05));
    for (const dtype of ["F16", "F32"] as const) {
      const { gpu, ref } = both(
        (b) => ({ x: act(b, x), w: b.weight(weightInfo(w, [n, k], dtype)), out: poisoned(b, m * n) }),
        (b, io) => b.matmul(io.out, io.x, io.w, null, m, n, k),
        (io) => [[io.out, m * n]],
      );
      expectClose(`matmul ${dtype} weights`, gpu[0], ref[0], BF16);
    }
  });

  test("reshape_and_cache scatters through the slot mapping and skips negative slots", () => {
    const r = rng(5), n = 256, nkv = 8, d = 128, row = nkv * d, numSlots = 64 * 16;
    const k = bf16Values(r, n * row), v = bf16Values(r, n * row), cache = bf16Values(r, numSlots * row);
    const perm = shuffle(Int32Array.from({ length: numSlots }, (_, i) => i), r);
    const slots = Int32Array.from({ length: n }, (_, i) => (i % 17 === 5 ? -1 : perm[i]));
    const { gpu, ref } = both(
      (b) => ({ k: act(b, k), v: act(b, v), kc: act(b, cache), vc: act(b, cache), slots: ints(b, slots) }),
      (b, io) => b.reshapeAndCache(io.k, io.v, io.kc, io.vc, io.slots, n, nkv, d),
      (io) => [[io.kc, cache.length], [io.vc, cache.length]],
    );
    expectClose("reshape_and_cache k", gpu[0], ref[0], { rel: 0, max: 0 });
    expectClose("reshape_and_cache v", gpu[1], ref[1], { rel: 0, max: 0 });
  });

  for (const [headDim, nq, nkv] of [[128, 32, 8], [64, 32, 4], [16, 4, 2]]) {
    test(`rope_and_cache equals rope + reshape_and_cache bit for bit, head_dim ${headDim}, ${nq}/${nkv} heads`, () => {
      const r = rng(headDim + 13), n = 256, row = nkv * headDim, numSlots = 64 * 16, half = headDim / 2;
      const q = bf16Values(r, n * nq * headDim, -2, 2), k = bf16Values(r, n * row, -2, 2), v = bf16Values(r, n * row);
      const cache = bf16Values(r, numSlots * row);
      const pos = Int32Array.from({ length: n }, () => Math.floor(r(0, 8192)));
      const perm = shuffle(Int32Array.from({ length: numSlots }, (_, i) => i), r);
      const slots = Int32Array.from({ length: n }, (_, i) => (i % 13 === 4 ? -1 : perm[i]));
      const inv = Float32Array.from({ length: half }, (_, i) => 1 / 500000 ** ((2 * i) / headDim));
      const b = cuda!;
      const run = (fused: boolean) => {
        const io = { q: act(b, q), k: act(b, k), v: act(b, v), kc: act(b, cache), vc: act(b, cache), pos: ints(b, pos), slots: ints(b, slots), inv: tensor(b, inv, "f32") };
        if (fused) b.ropeAndCache!(io.q, io.k, io.v, io.kc, io.vc, io.pos, io.slots, io.inv, n, nq, nkv, headDim);
        else {
          b.rope(io.q, io.k, io.pos, io.inv, n, nq, nkv, headDim);
          b.reshapeAndCache(io.k, io.v, io.kc, io.vc, io.slots, n, nkv, headDim);
        }
        const out = [b.readF32(io.q, q.length), b.readF32(io.k, k.length), b.readF32(io.kc, cache.length), b.readF32(io.vc, cache.length)];
        for (const t of Object.values(io)) b.free(t);
        return out;
      };
      const fused = run(true), twoCalls = run(false);
      ["q", "k", "k_cache", "v_cache"].forEach((name, i) => expectClose(`rope_and_cache ${name} d=${headDim}`, fused[i], twoCalls[i], { rel: 0, max: 0 }));
      expect(fused[2]).not.toEqual(cache); // the caches were written
    });
  }

  test("log_softmax and topk over 64 rows of a 128256 vocabulary", () => {
    const r = rng(9), rows = 64, vocab = 128256, k = 20;
    const x = Float32Array.from({ length: rows * vocab }, () => r(-8, 8));
    for (let i = 0; i < rows; i++) x[i * vocab + 100] = x[i * vocab + 7] = 9; // a tie: lower index first
    const lsm = both(
      (b) => ({ x: tensor(b, x, "f32"), out: poisoned(b, rows * vocab, "f32") }),
      (b, io) => b.logSoftmax(io.out, io.x, rows, vocab),
      (io) => [[io.out, rows * vocab]],
    );
    expectClose("log_softmax", lsm.gpu[0], lsm.ref[0], F32);
    const run = (b: Backend) => {
      const xt = tensor(b, x, "f32"), ids = b.empty([rows * k], "i32"), vals = poisoned(b, rows * k, "f32");
      b.topk(ids, vals, xt, rows, vocab, k);
      return { vals: b.readF32(vals, rows * k), ids: new Int32Array(b.readF32(ids, rows * k).buffer) };
    };
    const g = run(cuda!), c = run(cpu!);
    expect(Array.from(g.ids)).toEqual(Array.from(c.ids));
    expect(Array.from(g.vals)).toEqual(Array.from(c.vals));
    expect(g.ids[0]).toBe(7);
    expect(g.ids[1]).toBe(100);
  });
});

function shuffle(a: Int32Array, r: Rand): Int32Array {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(r(0, i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

// ---- paged attention ----

interface SeqSpec { ctx: number; q: number } // keys already cached, new query rows (which are cached too)

/** Scrambled block tables and query offsets for `seqs` over a pool with one spare block. */
function pagedLayout(seqs: SeqSpec[], bs: number, r: Rand) {
  const lens = seqs.map((s) => s.ctx + s.q), nBlocks = lens.map((l) => Math.ceil(l / bs));
  const maxBlocks = Math.max(...nBlocks), totalBlocks = nBlocks.reduce((a, x) => a + x, 0) + 1;
  const ids = shuffle(Int32Array.from({ length: totalBlocks }, (_, i) => i), r);
  const tables = new Int32Array(seqs.length * maxBlocks);
  let next = 0;
  seqs.forEach((_, s) => { for (let j = 0; j < nBlocks[s]; j++) tables[s * maxBlocks + j] = ids[next++]; });
  const qsl = new Int32Array(seqs.length + 1);
  seqs.forEach((s, i) => (qsl[i + 1] = qsl[i] + s.q));
  return { lens, maxBlocks, totalBlocks, tables, qsl, nTokens: qsl[seqs.length] };
}

function attentionCase(name: string, nq: number, nkv: number, d: number, seqs: SeqSpec[], seed: number) {
  test(`paged_attention ${name}: ${seqs.length} seqs, ${nq}/${nkv} heads, head_dim ${d}`, () => {
    const r = rng(seed), bs = 16;
    const { lens, maxBlocks, tables, qsl, nTokens, totalBlocks } = pagedLayout(seqs, bs, r);
    const slot = totalBlocks * bs * nkv * d;
    const q = bf16Values(r, nTokens * nq * d, -2, 2), kc = bf16Values(r, slot, -2, 2), vc = bf16Values(r, slot, -2, 2);
    const { gpu, ref } = both(
      (b) => ({
        q: act(b, q), k: act(b, kc), v: act(b, vc), out: poisoned(b, nTokens * nq * d),
        tables: ints(b, tables), lens: ints(b, Int32Array.from(lens)), qsl: ints(b, qsl),
      }),
      (b, io) => b.pagedAttention(io.out, io.q, io.k, io.v,
        { blockTables: io.tables, maxBlocksPerSeq: maxBlocks, seqLens: io.lens, queryStartLoc: io.qsl, numSeqs: seqs.length, maxQueryLen: Math.max(...seqs.map((s) => s.q)) },
        nq, nkv, d, bs, 1 / Math.sqrt(d)),
      (io) => [[io.out, nTokens * nq * d]],
    );
    expectClose(`paged_attention ${name}`, gpu[0], ref[0], BF16);
  }, 120_000);
}

describe.skipIf(cuda === null)("CUDA paged attention vs the CPU backend", () => {
  const r = rng(77);
  const decode = (n: number, maxCtx: number) => Array.from({ length: n }, () => ({ ctx: Math.floor(r(0, maxCtx)), q: 1 }));
  attentionCase("decode batch 256", 32, 4, 128, decode(256, 512), 1);
  attentionCase("decode batch 64, head_dim 64", 16, 2, 64, decode(64, 1000), 2);
  attentionCase("decode, split 8k context", 32, 4, 128, [{ ctx: 8191, q: 1 }, { ctx: 5000, q: 1 }, { ctx: 100, q: 1 }], 3);
  attentionCase("decode, split 8k context, head_dim 64", 16, 2, 64, [{ ctx: 8000, q: 1 }], 4);
  attentionCase("ragged prefill + chunked prefill + decode", 32, 4, 128,
    [{ ctx: 0, q: 300 }, { ctx: 37, q: 64 }, { ctx: 500, q: 17 }, { ctx: 0, q: 2 }, { ctx: 1000, q: 1 }, { ctx: 15, q: 129 }], 5);
  attentionCase("ragged prefill, head_dim 64", 32, 4, 64, [{ ctx: 0, q: 200 }, { ctx: 70, q: 33 }, { ctx: 3, q: 1 }], 6);
  attentionCase("prefill, no GQA", 8, 8, 128, [{ ctx: 0, q: 150 }, { ctx: 40, q: 90 }], 7);
  attentionCase("prefill, 4:1 GQA (Llama-3-8B)", 32, 8, 128, [{ ctx: 0, q: 256 }, { ctx: 100, q: 50 }], 8);
  attentionCase("chunked prefill at 8k context", 8, 1, 128, [{ ctx: 7680, q: 512 }], 9);
  attentionCase("tiny model shapes, head_dim 16", 4, 2, 16, [{ ctx: 0, q: 11 }, { ctx: 30, q: 1 }, { ctx: 5, q: 7 }], 10);
  attentionCase("tiny model shapes, head_dim 32, 7:1 GQA", 14, 2, 32, [{ ctx: 0, q: 40 }, { ctx: 90, q: 1 }], 11);
});

/** f64 paged attention with a sliding window and a logit soft cap (vk_core.h semantics), on the host. */
function attentionF64(q: Float32Array, kc: Float32Array, vc: Float32Array, tables: Int32Array, maxBlocks: number,
  seqs: SeqSpec[], nq: number, nkv: number, d: number, bs: number, scale: number, window: number, cap: number): Float32Array {
  const out = new Float32Array(q.length), g = nq / nkv;
  let row = 0;
  seqs.forEach((s, si) => {
    const len = s.ctx + s.q;
    for (let i = 0; i < s.q; i++, row++) {
      const pos = s.ctx + i, first = window > 0 ? Math.max(0, pos - window + 1) : 0;
      for (let h = 0; h < nq; h++) {
        const kvh = Math.floor(h / g), scores: number[] = [];
        for (let j = first; j <= pos && j < len; j++) {
          const off = ((tables[si * maxBlocks + Math.floor(j / bs)] * bs + (j % bs)) * nkv + kvh) * d;
          let dot = 0;
          for (let e = 0; e < d; e++) dot += q[(row * nq + h) * d + e] * kc[off + e];
          dot *= scale;
          scores.push(cap > 0 ? cap * Math.tanh(dot / cap) : dot);
        }
        const m = Math.max(...scores), w = scores.map((x) => Math.exp(x - m)), sum = w.reduce((a, x) => a + x, 0);
        for (let e = 0; e < d; e++) {
          let acc = 0;
          for (let j = first; j <= pos; j++) {
            const off = ((tables[si * maxBlocks + Math.floor(j / bs)] * bs + (j % bs)) * nkv + kvh) * d;
            acc += w[j - first] * vc[off + e];
          }
          out[(row * nq + h) * d + e] = acc / sum;
        }
      }
    }
  });
  return out;
}

function windowCase(name: string, nq: number, nkv: number, d: number, seqs: SeqSpec[], window: number, cap: number, seed: number) {
  test(`paged_attention ${name}: window ${window}, soft cap ${cap}, head_dim ${d}`, () => {
    const r = rng(seed), bs = 16, b = cuda!;
    const { lens, maxBlocks, tables, qsl, nTokens, totalBlocks } = pagedLayout(seqs, bs, r);
    const slot = totalBlocks * bs * nkv * d;
    // Large values, so soft-capping changes the scores and the window changes the result.
    const q = bf16Values(r, nTokens * nq * d, -3, 3), kc = bf16Values(r, slot, -3, 3), vc = bf16Values(r, slot, -2, 2);
    const out = poisoned(b, nTokens * nq * d);
    b.pagedAttention(out, act(b, q), act(b, kc), act(b, vc),
      { blockTables: ints(b, tables), maxBlocksPerSeq: maxBlocks, seqLens: ints(b, Int32Array.from(lens)), queryStartLoc: ints(b, qsl),
        numSeqs: seqs.length, maxQueryLen: Math.max(...seqs.map((s) => s.q)) },
      nq, nkv, d, bs, 1 / Math.sqrt(d), { slidingWindow: window, softCap: cap });
    const got = b.readF32(out, nTokens * nq * d);
    const want = attentionF64(q, kc, vc, tables, maxBlocks, seqs, nq, nkv, d, bs, 1 / Math.sqrt(d), window, cap);
    expectClose(`paged_attention ${name}`, got, want, BF16);
  }, 120_000);
}

describe.skipIf(cuda === null)("CUDA paged attention: sliding window and soft cap vs an f64 reference", () => {
  const seqs: SeqSpec[] = [{ ctx: 0, q: 100 }, { ctx: 300, q: 1 }, { ctx: 37, q: 70 }, { ctx: 1000, q: 1 }, { ctx: 5, q: 1 }];
  windowCase("decode + prefill", 16, 4, 128, seqs, 64, 0, 21);
  windowCase("decode + prefill, window past the context", 16, 4, 128, seqs, 4096, 0, 22);
  windowCase("decode + prefill, soft cap", 16, 4, 128, seqs, 0, 5, 23);
  windowCase("decode + prefill, window and soft cap (Gemma 2)", 8, 4, 256, seqs, 32, 50, 24);
  windowCase("long decode split by the window", 8, 2, 64, [{ ctx: 4000, q: 1 }, { ctx: 17, q: 1 }], 500, 0, 25);
});

// ---- mixture of experts ----

/** k distinct experts per token, drawn at random. */
function expertIds(r: Rand, n: number, E: number, k: number): Int32Array {
  const ids = new Int32Array(n * k);
  for (let t = 0; t < n; t++) {
    const pool = Array.from({ length: E }, (_, i) => i);
    for (let s = 0; s < k; s++) ids[t * k + s] = pool.splice(Math.floor(r(0, pool.length)), 1)[0];
  }
  return ids;
}

interface MoeShape { H: number; I: number; E: number; k: number }

/** moeExperts on both backends with the same bf16 inputs, routing ids and weights; [cuda, cpu] outputs. */
function moeExpertsBoth(s: MoeShape, n: number, gu: Float32Array, down: Float32Array, r: Rand) {
  const { H, I, E, k } = s;
  const x = bf16Values(r, n * H, -2, 2), ids = expertIds(r, n, E, k), w = Float32Array.from({ length: n * k }, () => r(0, 1));
  const guInfo = weightInfo(gu, [E * 2 * I, H]), downInfo = weightInfo(down, [E * H, I]);
  return both(
    (b) => ({
      x: act(b, x), gu: b.weight(guInfo), down: b.weight(downInfo), ids: ints(b, ids), w: tensor(b, w, "f32"), out: poisoned(b, n * H),
      ws: b.empty([Math.ceil(b.moeWorkspaceBytes!(n, H, I, E, k) / 4)], "i32"),
    }),
    (b, io) => b.moeExperts!(io.out, io.ws, io.x, io.gu, io.down, io.ids, io.w, n, H, I, E, k),
    (io) => [[io.out, n * H]],
  );
}

describe.skipIf(cuda === null)("CUDA mixture-of-experts ops vs the CPU backend", () => {
  test("moe_route: the same experts and weights from the same bf16 router logits", () => {
    const r = rng(41);
    for (const [n, E, k, renorm] of [[300, 128, 8, true], [257, 8, 2, true], [33, 60, 4, false], [1, 128, 8, false]] as const) {
      const logits = bf16Values(r, n * E, -6, 6);
      const { gpu, ref } = both(
        (b) => ({ logits: act(b, logits), ids: poisoned(b, n * k, "i32"), w: poisoned(b, n * k, "f32") }),
        (b, io) => b.moeRoute!(io.ids, io.w, io.logits, n, E, k, renorm),
        (io) => [[io.ids, n * k], [io.w, n * k]],
      );
      expect(new Int32Array(gpu[0].buffer)).toEqual(new Int32Array(ref[0].buffer));
      expectClose(`moe_route E=${E} k=${k}`, gpu[1], ref[1], F32);
    }
  });

  // Qwen3-30B-A3B's experts (hidden 2048, 768 wide, 128 of them, top 8), Mixtral-like wide experts, and odd
  // sizes that leave partial tiles and take the unvectorized loads (inter 36).
  const shapes: [string, MoeShape, number[]][] = [
    ["Qwen3-30B-A3B", { H: 2048, I: 768, E: 128, k: 8 }, [1, 16, 200]],
    ["8 wide experts", { H: 1024, I: 1792, E: 8, k: 2 }, [1, 77]],
    ["odd sizes", { H: 72, I: 36, E: 6, k: 3 }, [1, 5, 130]],
  ];
  for (const [name, s, batches] of shapes) {
    test(`moe_experts ${name}: grouped GEMMs at batch ${batches.join(", ")}`, () => {
      const r = rng(43 + s.H);
      const gu = bf16Values(r, s.E * 2 * s.I * s.H, -0.1, 0.1), down = bf16Values(r, s.E * s.H * s.I, -0.1, 0.1);
      for (const n of batches) {
        const { gpu, ref } = moeExpertsBoth(s, n, gu, down, r);
        expectClose(`moe_experts ${name} n=${n}`, gpu[0], ref[0], BF16);
      }
    }, 120_000);
  }

  test("moe_experts reads only the chosen experts: NaN in every other expert leaves the output finite", () => {
    const b = cuda!, r = rng(47), H = 256, I = 128, E = 16, k = 2;
    const gu = bf16Values(r, E * 2 * I * H, -0.1, 0.1), down = bf16Values(r, E * H * I, -0.1, 0.1);
    const x = act(b, bf16Values(r, H)), ids = ints(b, Int32Array.of(11, 3)), w = tensor(b, Float32Array.of(0.6, 0.4), "f32");
    const run = (g: Float32Array, d: Float32Array) => {
      const out = poisoned(b, H), ws = b.empty([Math.ceil(b.moeWorkspaceBytes!(1, H, I, E, k) / 4)], "i32");
      b.moeExperts!(out, ws, x, b.weight(weightInfo(g, [E * 2 * I, H])), b.weight(weightInfo(d, [E * H, I])), ids, w, 1, H, I, E, k);
      return b.readF32(out, H);
    };
    const want = run(gu, down);
    for (let e = 0; e < E; e++) {
      if (e === 11 || e === 3) continue;
      gu.fill(NaN, e * 2 * I * H, (e + 1) * 2 * I * H);
      down.fill(NaN, e * H * I, (e + 1) * H * I);
    }
    expect(run(gu, down)).toEqual(want);
  });

  test("moe_experts: an expert id outside the table fails naming it, and the library recovers", () => {
    const b = cuda!, r = rng(49), n = 4, H = 64, I = 32, E = 8, k = 2;
    const gu = b.weight(weightInfo(bf16Values(r, E * 2 * I * H), [E * 2 * I, H])), down = b.weight(weightInfo(bf16Values(r, E * H * I), [E * H, I]));
    const ws = b.empty([Math.ceil(b.moeWorkspaceBytes!(n, H, I, E, k) / 4)], "i32");
    const x = act(b, bf16Values(r, n * H)), w = tensor(b, new Float32Array(n * k).fill(0.5), "f32"), out = poisoned(b, n * H);
    const call = (ids: Int32Array) => {
      b.moeExperts!(out, ws, x, gu, down, ints(b, ids), w, n, H, I, E, k);
      b.synchronize!();
    };
    expect(() => call(Int32Array.of(0, 1, 2, 3, 8, 4, 5, 6))).toThrow(/index 2, value 8, limit 8/);
    call(Int32Array.of(0, 1, 2, 3, 7, 4, 5, 6));
    expect(b.readF32(out, n * H).every(Number.isFinite)).toBe(true);
  });

  test("moe_shared_add: out += sigmoid(gate) * shared", () => {
    const r = rng(51), n = 300, H = 2048;
    const out = bf16Values(r, n * H), shared = bf16Values(r, n * H), gate = bf16Values(r, n, -4, 4);
    const { gpu, ref } = both(
      (b) => ({ out: act(b, out), shared: act(b, shared), gate: act(b, gate) }),
      (b, io) => b.moeSharedAdd!(io.out, io.shared, io.gate, n, H),
      (io) => [[io.out, n * H]],
    );
    expectClose("moe_shared_add", gpu[0], ref[0], BF16);
  });
});
