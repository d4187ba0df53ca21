// CPU kernel micro-benchmarks: decode GEMV, prefill GEMM, decode attention, and the read and copy
// bandwidth ceilings to compare the memory-bound ones against.
// Usage: bun bench/cpu_kernels.ts [--threads N] [--variant portable|avx2|avx512]
import { type Pointer, ptr, toArrayBuffer } from "bun:ffi";
import { parseArgs } from "node:util";
import { VK_BF16, VK_F16, VK_F32 } from "../src/backend/cpu/ffi";
import { loadCpuKernels } from "../src/backend/native_library";

const { values: args } = parseArgs({ options: { threads: { type: "string" }, variant: { type: "string" } } });
const { kernels: K, variant } = loadCpuKernels({ variant: args.variant });
const threads = args.threads ? K.setNumThreads(Number(args.threads)) : K.numThreads();
console.log(`variant=${variant} threads=${threads}`);

/** A filled buffer: untouched calloc pages all map the one zero page, which would stay in cache. */
function buffer(bytes: number): Pointer {
  const p = K.alloc(bytes);
  if (!p) throw new Error(`alloc ${bytes} failed`);
  new Uint32Array(toArrayBuffer(p, 0, bytes)).fill(0x3c003c00); // 1.0 as f16, ~0.008 as bf16/f32
  return p;
}

/** Median seconds per call over enough repetitions to fill ~0.5 s. */
function time(fn: () => void): number {
  fn();
  const t0 = performance.now();
  fn();
  const once = Math.max((performance.now() - t0) / 1000, 1e-6);
  const reps = Math.max(3, Math.min(200, Math.round(0.5 / once)));
  const samples: number[] = [];
  for (let i = 0; i < reps; i++) {
    const s = performance.now();
    fn();
    samples.push((performance.now() - s) / 1000);
  }
  return samples.sort((a, b) => a - b)[samples.length >> 1];
}

function report(name: string, seconds: number, bytes: number, flops: number) {
  const gbs = bytes / seconds / 1e9, gflops = flops / seconds / 1e9;
  console.log(`${name.padEnd(34)} ${(seconds * 1e3).toFixed(3).padStart(9)} ms ${gbs.toFixed(1).padStart(7)} GB/s ` +
    `${gflops.toFixed(1).padStart(7)} GFLOP/s`);
}

// Ceilings. Read: a top-1 scan of 256 MiB of equal values only streams (nothing beats the first).
// Copy: a 256 MiB row gather is a parallel memcpy (bytes read + written).
{
  const rows = 64, hidden = (256 << 20) / 4 / rows;
  const src = buffer(rows * hidden * 4), dst = buffer(rows * hidden * 4);
  const ids = new Int32Array(rows).map((_, i) => i), top = new Float32Array(rows);
  report("read 256MiB (top-1 scan)", time(() => K.topk(ptr(ids), ptr(top), src, rows, hidden, 1)), rows * hidden * 4, 0);
  const s = time(() => K.embedding(dst, src, VK_F32, rows, ptr(ids), rows, hidden));
  report("copy 256MiB (read+write)", s, 2 * rows * hidden * 4, 0);
  K.free(src);
  K.free(dst);
}

const N = 4096, KD = 4096;
const x = buffer(64 * KD * 4), out = buffer(64 * N * 4);
for (const [dname, dtype, size] of [["bf16", VK_BF16, 2], ["f16", VK_F16, 2], ["f32", VK_F32, 4]] as const) {
  // Several weight copies so the GEMV streams from memory, not from the last run's cache.
  const copies = 4, w = Array.from({ length: copies }, () => buffer(N * KD * size));
  let i = 0;
  const gemv = time(() => K.matmul(out, x, w[i++ % copies], dtype, null, 1, N, KD));
  report(`gemv 1x${N}x${KD} ${dname}`, gemv, N * KD * size, 2 * N * KD);
  const gemm = time(() => K.matmul(out, x, w[0], dtype, null, 64, N, KD));
  report(`matmul 64x${N}x${KD} ${dname}`, gemm, N * KD * size, 2 * 64 * N * KD);
  w.forEach((p) => K.free(p));
}

// Decode attention: 1 sequence, 32 q heads over 8 kv heads, head_dim 128, 4096 cached tokens.
{
  const nq = 32, nkv = 8, d = 128, bs = 16, len = 4096, blocks = len / bs;
  const kc = buffer(blocks * bs * nkv * d * 4), vc = buffer(blocks * bs * nkv * d * 4);
  const q = buffer(nq * d * 4), o = buffer(nq * d * 4);
  const table = Int32Array.from({ length: blocks }, (_, i) => i);
  const seqLens = Int32Array.of(len), qsl = Int32Array.of(0, 1);
  const attend = () => K.pagedAttention(o, q, kc, vc, ptr(table), blocks, ptr(seqLens), ptr(qsl), 1, 1, nq, nkv, d, bs, 0.088, 0, 0);
  const s = time(attend);
  report(`attention decode ctx=${len} 32/8x128`, s, 2 * len * nkv * d * 4, 4 * len * nq * d);
}
