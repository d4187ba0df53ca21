// Every CPU kernel against a float64 reference written here, and every built variant against the
// portable one (variants this CPU cannot run are skipped). Bounds per op:
// - embedding, reshape_and_cache, topk: exact.
// - rms_norm, add_rms_norm, rope, silu_mul, matmul, paged_attention: max |got - want| /
//   max(|want|, rms(want)) <= 1e-5. f32 accumulation over at most ~1300 terms; observed <= 2.5e-6.
// - log_softmax: max |got - want| / max(|want|, 1) <= 1e-5.
// The same bounds hold between variants.
import { beforeAll, describe, expect, test } from "bun:test";
import { ptr, toArrayBuffer } from "bun:ffi";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type CpuKernels,
  openCpuKernels,
  VK_BF16,
  VK_CPU_AVX2,
  VK_CPU_AVX512BF16,
  VK_CPU_AVX512BW,
  VK_CPU_AVX512F,
  VK_CPU_AVX512VNNI,
  VK_CPU_F16C,
  VK_CPU_FMA,
  VK_F16,
  VK_F32,
} from "../../src/backend/cpu/ffi";

const ROOT = join(import.meta.dir, "..", "..");
const BUILD = join(ROOT, "build", "native");
const REQUIRED: Record<string, number> = {
  portable: 0,
  avx2: VK_CPU_AVX2 | VK_CPU_FMA | VK_CPU_F16C,
  avx512: VK_CPU_AVX512F | VK_CPU_AVX512BW,
  avx512bf16: VK_CPU_AVX512F | VK_CPU_AVX512BW | VK_CPU_AVX512BF16 | VK_CPU_AVX512VNNI,
};
const TOL = 1e-5;

// ---- deterministic inputs ----

function prng(seed: number) {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const normal = () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
  const int = (n: number) => Math.floor(next() * n);
  return { next, normal, int };
}
type Rng = ReturnType<typeof prng>;
const randn = (rng: Rng, n: number, scale = 1) => Float32Array.from({ length: n }, () => rng.normal() * scale);

/** Weights in a kernel dtype: the raw bytes to pass, and their exact values for the reference. */
function weights(values: Float32Array, dtype: number): { raw: Float32Array | Uint16Array; exact: Float64Array } {
  if (dtype === VK_F32) return { raw: values, exact: Float64Array.from(values) };
  if (dtype === VK_F16) {
    const h = new Float16Array(values);
    return { raw: new Uint16Array(h.buffer), exact: Float64Array.from(h) };
  }
  const bits = new Uint32Array(values.buffer.slice(0)).map((u) => u & 0xffff0000);
  return { raw: Uint16Array.from(bits, (u) => u >>> 16), exact: Float64Array.from(new Float32Array(bits.buffer)) };
}

// ---- comparison ----

function maxErr(got: ArrayLike<number>, want: ArrayLike<number>, floor: number): number {
  expect(got.length).toBe(want.length);
  let worst = 0;
  for (let i = 0; i < got.length; i++) {
    const err = Math.abs(got[i] - want[i]) / Math.max(Math.abs(want[i]), floor);
    if (!(err <= worst)) worst = err; // NaN sticks
  }
  return worst;
}
const rms = (a: ArrayLike<number>) => Math.sqrt(Array.from(a).reduce((s, v) => s + v * v, 0) / a.length) || 1;

/** A kernel case: run() on a library gives outputs; ref() gives float64 expectations. */
interface Case {
  name: string;
  run(k: CpuKernels): (Float32Array | Int32Array)[];
  ref(): ArrayLike<number>[];
  floor: (want: ArrayLike<number>) => number; // magnitude below which error is absolute
  exact?: boolean;
}
const normalized = (want: ArrayLike<number>) => rms(want);

function compare(c: Case, got: ArrayLike<number>[], want: ArrayLike<number>[]) {
  for (let o = 0; o < want.length; o++) {
    if (c.exact) expect(Array.from(got[o])).toEqual(Array.from(want[o]));
    else expect(maxErr(got[o], want[o], c.floor(want[o]))).toBeLessThanOrEqual(TOL);
  }
}

// ---- cases ----

const DTYPES = [
  ["f32", VK_F32],
  ["f16", VK_F16],
  ["bf16", VK_BF16],
] as const;

function embeddingCase(dtype: number, dname: string): Case {
  const rng = prng(1 + dtype), vocab = 50, hidden = 67;
  const vals = randn(rng, vocab * hidden, 3);
  vals.set([0, -0, Infinity, -Infinity, 1e-6, 6.1e-5, 65504, -1e-7, 3e-39]); // subnormals, inf, extremes
  const w = weights(vals, dtype);
  const ids = Int32Array.from({ length: 9 }, () => rng.int(vocab));
  ids[1] = 0;
  return {
    name: `embedding ${dname}`,
    exact: true,
    floor: normalized,
    run: (k) => {
      const out = new Float32Array(ids.length * hidden);
      k.embedding(ptr(out), ptr(w.raw), dtype, vocab, ptr(ids), ids.length, hidden);
      return [out];
    },
    ref: () => [Float32Array.from(Array.from(ids).flatMap((id) => [...w.exact.subarray(id * hidden, (id + 1) * hidden)]))],
  };
}

function rmsNormRef(x: ArrayLike<number>, w: Float64Array, rows: number, hidden: number, eps: number) {
  const out = new Float64Array(rows * hidden);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let i = 0; i < hidden; i++) ss += x[r * hidden + i] ** 2;
    const inv = 1 / Math.sqrt(ss / hidden + eps);
    for (let i = 0; i < hidden; i++) out[r * hidden + i] = x[r * hidden + i] * inv * w[i];
  }
  return out;
}

function rmsNormCase(dtype: number, dname: string, fused: boolean): Case {
  const rng = prng(10 + dtype), rows = 5, hidden = 197, eps = 1e-6;
  const x = randn(rng, rows * hidden, 2), res = randn(rng, rows * hidden, 5);
  const w = weights(Float32Array.from({ length: hidden }, () => 1 + rng.normal() * 0.2), dtype);
  return {
    name: `${fused ? "add_rms_norm" : "rms_norm"} ${dname}`,
    floor: normalized,
    run: (k) => {
      const io = x.slice(), residual = res.slice(); // out aliases x, as the ABI allows
      if (fused) k.addRmsNorm(ptr(io), ptr(residual), ptr(io), ptr(w.raw), dtype, rows, hidden, eps);
      else k.rmsNorm(ptr(io), ptr(io), ptr(w.raw), dtype, rows, hidden, eps);
      return fused ? [io, residual] : [io];
    },
    ref: () => {
      if (!fused) return [rmsNormRef(x, w.exact, rows, hidden, eps)];
      const sum = Float64Array.from(x, (v, i) => Math.fround(v + res[i]));
      return [rmsNormRef(sum, w.exact, rows, hidden, eps), sum];
    },
  };
}

function ropeCase(headDim: number): Case {
  const rng = prng(20 + headDim), n = 6, nq = 8, nkv = 2, half = headDim / 2;
  const q = randn(rng, n * nq * headDim), kk = randn(rng, n * nkv * headDim);
  const pos = Int32Array.from({ length: n }, () => rng.int(8000));
  const invFreq = Float32Array.from({ length: half }, (_, i) => 1 / 10000 ** ((2 * i) / headDim));
  const rotate = (x: Float32Array, heads: number) => {
    const out = Float64Array.from(x);
    for (let t = 0; t < n; t++) {
      for (let h = 0; h < heads; h++) {
        const base = (t * heads + h) * headDim;
        for (let i = 0; i < half; i++) {
          const angle = Math.fround(pos[t] * invFreq[i]); // f32 angle, like HF
          const [c, s, a, b] = [Math.cos(angle), Math.sin(angle), x[base + i], x[base + half + i]];
          out[base + i] = a * c - b * s;
          out[base + half + i] = b * c + a * s;
        }
      }
    }
    return out;
  };
  return {
    name: `rope head_dim=${headDim}`,
    floor: normalized,
    run: (k) => {
      const qo = q.slice(), ko = kk.slice();
      k.rope(ptr(qo), ptr(ko), ptr(pos), ptr(invFreq), n, nq, nkv, headDim);
      return [qo, ko];
    },
    ref: () => [rotate(q, nq), rotate(kk, nkv)],
  };
}

function siluCase(): Case {
  const rng = prng(30), n = 4, inter = 173;
  const gu = randn(rng, n * 2 * inter, 4);
  gu.set([30, -30, 100, -100, 0, 1e-8], 0);
  return {
    name: "silu_mul",
    floor: normalized,
    run: (k) => {
      const out = new Float32Array(n * inter);
      k.siluMul(ptr(out), ptr(gu), n, inter);
      return [out];
    },
    ref: () => {
      const out = new Float64Array(n * inter);
      for (let t = 0; t < n; t++) {
        for (let i = 0; i < inter; i++) {
          const g = gu[t * 2 * inter + i];
          out[t * inter + i] = (g / (1 + Math.exp(-g))) * gu[t * 2 * inter + inter + i];
        }
      }
      return [out];
    },
  };
}

function matmulCase(m: number, n: number, k: number, dtype: number, dname: string, withBias: boolean): Case {
  const rng = prng(m * 1000003 + n * 1009 + k * 7 + dtype);
  const x = randn(rng, m * k), w = weights(randn(rng, n * k, 0.1), dtype);
  const bias = withBias ? randn(rng, n) : null;
  return {
    name: `matmul ${m}x${n}x${k} ${dname}${withBias ? " +bias" : ""}`,
    floor: normalized,
    run: (kern) => {
      const out = new Float32Array(m * n).fill(NaN); // every element must be written
      kern.matmul(ptr(out), ptr(x), ptr(w.raw), dtype, bias ? ptr(bias) : null, m, n, k);
      return [out];
    },
    ref: () => {
      const out = new Float64Array(m * n);
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          let s = bias ? bias[j] : 0;
          for (let t = 0; t < k; t++) s += x[i * k + t] * w.exact[j * k + t];
          out[i * n + j] = s;
        }
      }
      return [out];
    },
  };
}

function reshapeAndCacheCase(): Case {
  const rng = prng(40), n = 9, nkv = 2, d = 24, slots = 40, row = nkv * d;
  const k = randn(rng, n * row), v = randn(rng, n * row);
  const slotMapping = Int32Array.from([3, 17, -1, 0, 39, 8, -1, 21, 22]);
  const kc0 = randn(rng, slots * row), vc0 = randn(rng, slots * row);
  return {
    name: "reshape_and_cache",
    exact: true,
    floor: normalized,
    run: (kern) => {
      const kc = kc0.slice(), vc = vc0.slice();
      kern.reshapeAndCache(ptr(kc), ptr(vc), ptr(k), ptr(v), ptr(slotMapping), n, nkv, d);
      return [kc, vc];
    },
    ref: () => {
      const kc = kc0.slice(), vc = vc0.slice();
      slotMapping.forEach((s, t) => {
        if (s < 0) return;
        kc.set(k.subarray(t * row, (t + 1) * row), s * row);
        vc.set(v.subarray(t * row, (t + 1) * row), s * row);
      });
      return [kc, vc];
    },
  };
}

/** Ragged batch: prefill, chunked prefill, decode rows, over shuffled (non-contiguous) blocks. */
const RAGGED = [[37, 37], [5, 40], [1, 23], [1, 1], [20, 150]]; // [q_len, seq_len]
/** Few long sequences: too few work items, so the kernel splits the keys and merges partials. */
const LONG = [[1, 1100], [3, 1300]];

function attentionCase(nq: number, nkv: number, d: number, bs: number, seqs = RAGGED): Case {
  const rng = prng(50 + nq * 7 + d + bs + seqs.length);
  const nTok = seqs.reduce((s, [q]) => s + q, 0);
  const need = seqs.map(([, l]) => Math.ceil(l / bs));
  const maxBlocks = Math.max(...need) + 2;
  const numBlocks = need.reduce((a, b) => a + b, 0) + 5;
  const perm = Array.from({ length: numBlocks }, (_, i) => i).sort(() => rng.next() - 0.5);
  const tables = new Int32Array(seqs.length * maxBlocks).fill(-1); // unused entries must never be read
  let nextBlock = 0;
  need.forEach((nb, s) => {
    for (let b = 0; b < nb; b++) tables[s * maxBlocks + b] = perm[nextBlock++];
  });
  const seqLens = Int32Array.from(seqs, ([, l]) => l);
  const qsl = new Int32Array(seqs.length + 1);
  seqs.forEach(([q], s) => (qsl[s + 1] = qsl[s] + q));
  const q = randn(rng, nTok * nq * d, 2);
  const kc = randn(rng, numBlocks * bs * nkv * d), vc = randn(rng, numBlocks * bs * nkv * d);
  const scale = 1 / Math.sqrt(d);
  const ref = () => {
    const out = new Float64Array(nTok * nq * d);
    seqs.forEach(([qLen, seqLen], s) => {
      for (let r = 0; r < qLen; r++) {
        const pos = seqLen - qLen + r;
        for (let h = 0; h < nq; h++) {
          const kvh = Math.floor(h / (nq / nkv)), qo = ((qsl[s] + r) * nq + h) * d;
          const off = (p: number) => ((tables[s * maxBlocks + Math.floor(p / bs)] * bs + (p % bs)) * nkv + kvh) * d;
          const sc = Array.from({ length: pos + 1 }, (_, p) => {
            let dot = 0;
            for (let i = 0; i < d; i++) dot += q[qo + i] * kc[off(p) + i];
            return dot * scale;
          });
          const mx = Math.max(...sc), e = sc.map((v) => Math.exp(v - mx)), z = e.reduce((a, b) => a + b, 0);
          for (let p = 0; p <= pos; p++) for (let i = 0; i < d; i++) out[qo + i] += (e[p] / z) * vc[off(p) + i];
        }
      }
    });
    return [out];
  };
  return {
    name: `paged_attention q=${nq} kv=${nkv} d=${d} block=${bs}${seqs === LONG ? " long" : ""}`,
    floor: normalized,
    run: (k) => {
      const out = new Float32Array(nTok * nq * d).fill(NaN);
      const threads = k.numThreads();
      if (seqs === LONG) k.setNumThreads(4); // enough workers to make it split keys on any machine
      k.pagedAttention(ptr(out), ptr(q), ptr(kc), ptr(vc), ptr(tables), maxBlocks, ptr(seqLens), ptr(qsl),
        seqs.length, Math.max(...seqs.map(([qLen]) => qLen)), nq, nkv, d, bs, scale, 0, 0);
      k.setNumThreads(threads);
      return [out];
    },
    ref,
  };
}

function logSoftmaxCase(): Case {
  const rng = prng(60), rows = 3, cols = 1003;
  const x = randn(rng, rows * cols, 8);
  for (let i = 0; i < cols; i++) x[2 * cols + i] += 1000; // needs the max subtraction
  return {
    name: "log_softmax",
    floor: () => 1,
    run: (k) => {
      const out = new Float32Array(rows * cols);
      k.logSoftmax(ptr(out), ptr(x), rows, cols);
      return [out];
    },
    ref: () => {
      const out = new Float64Array(rows * cols);
      for (let r = 0; r < rows; r++) {
        const row = Array.from(x.subarray(r * cols, (r + 1) * cols));
        const mx = Math.max(...row), lse = mx + Math.log(row.reduce((s, v) => s + Math.exp(v - mx), 0));
        row.forEach((v, i) => (out[r * cols + i] = v - lse));
      }
      return [out];
    },
  };
}

function topkCase(cols: number, k: number): Case {
  const rng = prng(70 + k), rows = 4;
  const x = Float32Array.from({ length: rows * cols }, () => Math.round(rng.normal() * 4) / 4); // many ties
  x[3] = NaN; // ranks below every number
  return {
    name: `topk cols=${cols} k=${k}`,
    exact: true,
    floor: normalized,
    run: (kern) => {
      const ids = new Int32Array(rows * k), vals = new Float32Array(rows * k);
      kern.topk(ptr(ids), ptr(vals), ptr(x), rows, cols, k);
      return [ids, vals];
    },
    ref: () => {
      const ids: number[] = [], vals: number[] = [];
      for (let r = 0; r < rows; r++) {
        const v = (i: number) => (Number.isNaN(x[r * cols + i]) ? -Infinity : x[r * cols + i]);
        const order = Array.from({ length: cols }, (_, i) => i).sort((a, b) => v(b) - v(a) || a - b);
        ids.push(...order.slice(0, k));
        vals.push(...order.slice(0, k).map((i) => x[r * cols + i]));
      }
      return [ids, vals];
    },
  };
}

const MATMUL_SHAPES = [
  [1, 37, 131], [2, 50, 64], [3, 13, 515], [4, 29, 200], [5, 40, 100], [6, 20, 33], [7, 61, 520],
  [13, 97, 131], [16, 45, 1030], [17, 33, 64], [64, 100, 600], [130, 23, 40], [1, 300, 1000],
] as const;

const CASES: Case[] = [
  ...DTYPES.map(([n, d]) => embeddingCase(d, n)),
  ...DTYPES.flatMap(([n, d]) => [rmsNormCase(d, n, false), rmsNormCase(d, n, true)]),
  ropeCase(64),
  ropeCase(48),
  siluCase(),
  ...DTYPES.flatMap(([dn, d]) => MATMUL_SHAPES.map(([m, n, k], i) => matmulCase(m, n, k, d, dn, i % 3 === 1))),
  reshapeAndCacheCase(),
  attentionCase(8, 2, 64, 16),
  attentionCase(4, 4, 40, 4),
  attentionCase(8, 2, 128, 16),
  attentionCase(4, 1, 64, 16, LONG),
  logSoftmaxCase(),
  topkCase(1000, 1),
  topkCase(1000, 7),
  topkCase(1000, 100),
  topkCase(10, 10),
];

// ---- libraries ----

const libs = new Map<string, CpuKernels>();
const refs = new Map<Case, ArrayLike<number>[]>();
const refOf = (c: Case) => refs.get(c) ?? (refs.set(c, c.ref()), refs.get(c)!);

// Builds first (a no-op when up to date), so the tests never run against stale libraries.
beforeAll(() => {
  const build = Bun.spawnSync([process.execPath, join(ROOT, "scripts", "build-native.mjs")], { stderr: "pipe" });
  if (build.exitCode !== 0) throw new Error(`build-native failed:\n${build.stderr.toString()}`);
  const manifest = JSON.parse(readFileSync(join(BUILD, "manifest.json"), "utf8")) as { variants: { name: string }[] };
  const portable = openCpuKernels(join(BUILD, "libvk_cpu_portable.so"));
  libs.set("portable", portable);
  const features = portable.cpuFeatures();
  for (const { name } of manifest.variants) {
    if (name === "portable" || (features & REQUIRED[name]) !== REQUIRED[name]) continue; // cannot run here
    libs.set(name, openCpuKernels(join(BUILD, `libvk_cpu_${name}.so`)));
  }
}, 120_000);

test("every variant reports its name and a worker pool size", () => {
  for (const [name, k] of libs) {
    expect(k.variant()).toBe(name);
    expect(k.numThreads()).toBeGreaterThanOrEqual(1);
  }
});

describe("against float64 reference", () => {
  for (const c of CASES) {
    test(c.name, () => {
      for (const k of libs.values()) compare(c, c.run(k), refOf(c));
    });
  }
});

describe("variants against portable", () => {
  for (const c of CASES) {
    test(c.name, () => {
      const base = c.run(libs.get("portable")!);
      for (const [name, k] of libs) if (name !== "portable") compare(c, c.run(k), base);
    });
  }
});

// Attention over long keys is left out: how many key splits it merges depends on the pool size.
test("results do not depend on the thread count", () => {
  const cases = CASES.filter((c) => /matmul (64|1)x(100|300)|paged_attention q=8 kv=2 d=64 block=16$/.test(c.name));
  expect(cases.length).toBeGreaterThanOrEqual(3);
  for (const k of libs.values()) {
    const before = k.numThreads();
    k.setNumThreads(1);
    const single = cases.map((c) => c.run(k));
    expect(k.setNumThreads(3)).toBe(3);
    cases.forEach((c, i) => compare({ ...c, exact: true }, c.run(k), single[i]));
    k.setNumThreads(before);
  }
});

test("alloc is 64-byte aligned and zeroed, small blocks and huge-page ones alike", () => {
  const k = libs.get("portable")!;
  for (const bytes of [1000, 3 << 20]) {
    const p = k.alloc(bytes)!;
    expect(p % 64).toBe(0);
    const view = new Uint8Array(toArrayBuffer(p, 0, bytes));
    expect(view.every((b) => b === 0)).toBe(true);
    view.fill(7); // the whole block is writable
    k.free(p);
  }
});

test("loader picks a variant, honours VLLM_CPU_VARIANT and extracts embedded libraries", () => {
  const cache = mkdtempSync(join(tmpdir(), "vk-cache-"));
  const script = `
    import { loadCpuKernels, registerEmbeddedLibraries } from "${join(ROOT, "src/backend/native_library.ts")}";
    const auto = loadCpuKernels();
    const forced = loadCpuKernels({ variant: "portable" });
    let bad = ""; try { loadCpuKernels({ variant: "sse9" }); } catch (e) { bad = e.message; }
    registerEmbeddedLibraries({ "libvk_cpu_portable.so": "${join(BUILD, "libvk_cpu_portable.so")}" });
    const emb = loadCpuKernels();
    const again = loadCpuKernels();
    console.log(JSON.stringify({ auto: auto.variant, lib: auto.kernels.variant(), forced: forced.variant, bad,
      emb: emb.path, again: again.path, embVariant: emb.variant }));`;
  const r = Bun.spawnSync([process.execPath, "-e", script], {
    env: { ...process.env, XDG_CACHE_HOME: cache, VLLM_CPU_VARIANT: "" },
    stderr: "pipe",
  });
  try {
    expect(r.stderr.toString()).toBe("");
    const out = JSON.parse(r.stdout.toString());
    expect(out.lib).toBe(out.auto);
    expect(libs.has(out.auto)).toBe(true);
    expect([...libs.keys()].at(-1)).toBe(out.auto); // the widest variant this CPU runs
    expect(out.forced).toBe("portable");
    expect(out.bad).toContain("sse9");
    expect(out.embVariant).toBe("portable"); // only portable was embedded
    expect(out.emb).toMatch(new RegExp(`^${cache}/vllm-bun/[0-9a-f]{16}/libvk_cpu_portable\\.so$`));
    expect(out.again).toBe(out.emb);
    expect(existsSync(out.emb)).toBe(true);
    expect(readdirSync(join(out.emb, "..")).length).toBe(1); // no temp files left behind
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
});

// ---- ids outside the table ----

test("embedding fails on an id outside the table, names it, and writes nothing", () => {
  const vocab = 50, hidden = 16, table = randn(prng(80), vocab * hidden);
  for (const [name, k] of libs) {
    for (const [bad, at] of [[vocab, 2], [-1, 0], [2 ** 31 - 1, 3], [-(2 ** 31), 1]]) {
      const ids = Int32Array.from([4, 49, 0, 7]);
      ids[at] = bad;
      const out = new Float32Array(ids.length * hidden).fill(NaN);
      expect(k.lastError(), name).toBeNull();
      k.embedding(ptr(out), ptr(table), VK_F32, vocab, ptr(ids), ids.length, hidden);
      expect(k.lastError(), `${name} id ${bad}`).toBe(
        `vk_embedding: token id ${bad} at position ${at} is outside the table's ${vocab} rows`);
      expect(out.every(Number.isNaN), `${name}: nothing written`).toBe(true);
      k.clearError();
    }
    // The first failure is kept until cleared; a good call after clearing records nothing.
    const out = new Float32Array(hidden);
    k.embedding(ptr(out), ptr(table), VK_F32, vocab, ptr(Int32Array.of(60)), 1, hidden);
    k.embedding(ptr(out), ptr(table), VK_F32, vocab, ptr(Int32Array.of(70)), 1, hidden);
    expect(k.lastError()).toContain("token id 60 ");
    k.clearError();
    k.embedding(ptr(out), ptr(table), VK_F32, vocab, ptr(Int32Array.of(49)), 1, hidden);
    expect(k.lastError()).toBeNull();
    expect(Array.from(out)).toEqual(Array.from(table.subarray(49 * hidden)));
  }
});

// In a child process: without the check, 1e8 and 2^30 here end the process with SIGSEGV (exit 139), and
// the others read whatever memory lies there.
test("CpuBackend.embedding throws on a bad token id, and the process lives on", () => {
  const script = `
    import { CpuBackend } from "${join(ROOT, "src/backend/cpu/cpu_backend.ts")}";
    const b = new CpuBackend({ numThreads: 2 }), vocab = 32, hidden = 8;
    const table = b.empty([vocab, hidden], "f32"), out = b.empty([4, hidden], "f32"), ids = b.empty([4], "i32");
    b.write(table, Float32Array.from({ length: vocab * hidden }, (_, i) => i));
    const errors = [];
    for (const bad of [vocab, -1, 1e8, 2 ** 30, 2 ** 31 - 1, -(2 ** 31)]) {
      b.write(ids, Int32Array.of(1, 2, bad, 3));
      try { b.embedding(out, table, ids, 4, hidden); errors.push(null); } catch (e) { errors.push(e.message); }
    }
    b.write(ids, Int32Array.of(31, 0, 5, 6));
    b.embedding(out, table, ids, 4, hidden);
    console.log(JSON.stringify({ errors, row0: Array.from(b.readF32(out, hidden)) }));`;
  const r = Bun.spawnSync([process.execPath, "-e", script], { stderr: "pipe" });
  expect(r.stderr.toString()).toBe("");
  expect(r.exitCode).toBe(0);
  const { errors, row0 } = JSON.parse(r.stdout.toString());
  expect(errors).toEqual([32, -1, 1e8, 2 ** 30, 2 ** 31 - 1, -(2 ** 31)].map((bad) =>
    `cpu backend: embedding: vk_embedding: token id ${bad} at position 2 is outside the table's 32 rows`));
  expect(row0).toEqual(Array.from({ length: 8 }, (_, i) => 31 * 8 + i));
});
