/**
 * Decode-batch matmul: ms per vk_matmul for m = 1..16 rows of x against one weight matrix that does not fit in
 * cache, for each CPU library file given (e.g. this tree's build and one built from an older commit), the
 * libraries taking turns so load changes hit them alike. Only vk_alloc / vk_matmul / vk_set_num_threads are
 * bound, so libraries of other ABI revisions load too.
 * Usage: bun bench/cpu_matmul_bench.ts [--libs a.so,b.so] [--threads 2] [--n 8192] [--k 4096] [--dtype bf16] [--rounds 3] [--out FILE]
 */
import { dlopen, FFIType, type Pointer, toArrayBuffer } from "bun:ffi";
import { writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";

const { values: a } = parseArgs({
  options: { libs: { type: "string" }, threads: { type: "string" }, n: { type: "string" }, k: { type: "string" }, dtype: { type: "string" }, rounds: { type: "string" }, out: { type: "string" } },
});
const libs = (a.libs ?? join(import.meta.dir, "..", "build", "native", "libvk_cpu_avx512.so")).split(",");
const threads = Number(a.threads ?? 2), n = Number(a.n ?? 8192), k = Number(a.k ?? 4096), rounds = Number(a.rounds ?? 3);
const dtype = { f32: 0, f16: 1, bf16: 2 }[a.dtype ?? "bf16"]!;
const M = [1, 2, 3, 4, 6, 8, 12, 16];
const { ptr, i32, i64, void: v } = FFIType;

const loaded = libs.map((path) => {
  const s = dlopen(path, {
    vk_matmul: { args: [ptr, ptr, ptr, i32, ptr, i32, i32, i32], returns: v }, vk_alloc: { args: [i64], returns: ptr },
    vk_set_num_threads: { args: [i32], returns: i32 },
  }).symbols;
  s.vk_set_num_threads(threads);
  const buffer = (bytes: number): Pointer => {
    const p = s.vk_alloc(bytes) as Pointer;
    new Uint32Array(toArrayBuffer(p, 0, bytes)).fill(0x3c003c00); // touched: untouched pages would all be the zero page
    return p;
  };
  return { path, s, x: buffer(16 * k * 4), out: buffer(16 * n * 4), w: buffer(n * k * (dtype === 0 ? 4 : 2)) };
});

/** Median ms of 10 calls, taken 5 times; the median of those. */
function time(l: (typeof loaded)[number], m: number): number {
  for (let i = 0; i < 3; i++) l.s.vk_matmul(l.out, l.x, l.w, dtype, null, m, n, k);
  const t: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t0 = performance.now();
    for (let i = 0; i < 10; i++) l.s.vk_matmul(l.out, l.x, l.w, dtype, null, m, n, k);
    t.push((performance.now() - t0) / 10);
  }
  return t.sort((p, q) => p - q)[2];
}

const samples = loaded.map(() => M.map(() => [] as number[]));
const loads: number[] = [];
for (let r = 0; r < rounds; r++) {
  loads.push(loadavg()[0]);
  for (const [mi, m] of M.entries()) loaded.forEach((l, li) => samples[li][mi].push(time(l, m)));
}
const median = (xs: number[]) => [...xs].sort((p, q) => p - q)[xs.length >> 1];
const weightBytes = n * k * (dtype === 0 ? 4 : 2);
const report = {
  date: new Date().toISOString(), cpu: cpus()[0]?.model, threads, n, k, dtype: a.dtype ?? "bf16", rounds, loadAtRounds: loads,
  libs: loaded.map((l, li) => ({ path: l.path, ms: Object.fromEntries(M.map((m, mi) => [m, { median: median(samples[li][mi]), samples: samples[li][mi] }])) })),
};
console.log(`vk_matmul ${n}x${k} ${report.dtype} weights (${(weightBytes / 2 ** 20).toFixed(0)} MiB), ${threads} threads, load ${loads.map((x) => x.toFixed(2)).join(", ")}`);
console.log(`| library | ${M.map((m) => `m=${m}`).join(" | ")} |\n| --- |${M.map(() => " --- |").join("")}`);
for (const l of report.libs) console.log(`| ${l.path} | ${M.map((m) => `${l.ms[m].median.toFixed(3)} ms`).join(" | ")} |`);
if (a.out) writeFileSync(a.out, JSON.stringify(report, null, 2) + "\n");
