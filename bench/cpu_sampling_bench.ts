/**
 * Sampling cost per row at a 128k vocabulary: the CPU library's vk_sample (CpuBackend.sample) against the host
 * sampler (src/sample/sampler.ts, what the CPU backend used before), on the same LM-like logits rows.
 * Rows: greedy, temperature 1, top_k 50 + top_p 0.9, top_p 0.9 alone, logprobs 20, prompt-logprob rows.
 * Usage: bun bench/cpu_sampling_bench.ts [--threads 2] [--rows 32] [--vocab 128256] [--out FILE]
 */
import { writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { parseArgs } from "node:util";
import type { SamplingBatch } from "../src/backend/backend";
import { CpuBackend } from "../src/backend/cpu/cpu_backend";
import { Generator } from "../src/sample/generator";
import { sampleRow } from "../src/sample/sampler";
import { packSamplingBatch, promptEntry, type SamplingEntry } from "../src/sample/sampling_metadata";

const { values: a } = parseArgs({ options: { threads: { type: "string" }, rows: { type: "string" }, vocab: { type: "string" }, out: { type: "string" } } });
const threads = Number(a.threads ?? 2), nRows = Number(a.rows ?? 32), vocab = Number(a.vocab ?? 128256);
const cpu = new CpuBackend({ numThreads: threads });

// LM-like rows: a normal bulk with a few clear leaders.
const g = new Generator(1);
const normal = () => Math.sqrt(-2 * Math.log(1 - g.random())) * Math.cos(2 * Math.PI * g.random());
const rows = Array.from({ length: nRows }, () => {
  const x = Float32Array.from({ length: vocab }, () => 2 * normal());
  for (let j = 0; j < 6; j++) x[Math.floor(g.random() * vocab)] = 10 + 4 * g.random();
  return x;
});
const logits = cpu.empty([nRows, vocab], "f32");
const flat = new Float32Array(nRows * vocab);
rows.forEach((r, i) => flat.set(r, i * vocab));
cpu.write(logits, flat);

const entry = (row: number, over: Partial<SamplingEntry>): SamplingEntry => ({
  row, temperature: 1, topP: 1, minP: 0, topK: 0, u: g.random(), forcedToken: -1, numLogprobs: -1, ops: null, mask: null, holdsStops: false, ...over,
});
const CASES: [string, (row: number) => SamplingEntry][] = [
  ["greedy", (r) => entry(r, { temperature: 0 })],
  ["temperature 1", (r) => entry(r, {})],
  ["temperature 1, top_k 50, top_p 0.9", (r) => entry(r, { topK: 50, topP: 0.9 })],
  ["temperature 1, top_p 0.9", (r) => entry(r, { topP: 0.9 })],
  ["temperature 1, logprobs 20", (r) => entry(r, { numLogprobs: 20 })],
  ["prompt logprob row (k = 0)", (r) => promptEntry(r, (r * 7919) % vocab, 0)],
  ["prompt logprob row (k = 5)", (r) => promptEntry(r, (r * 7919) % vocab, 5)],
];

/** Median ms per row over `reps` calls of `fn` on `count` rows. */
function perRow(fn: () => void, count: number, reps: number): number {
  fn();
  const t: number[] = [];
  for (let i = 0; i < reps; i++) {
    const s = performance.now();
    fn();
    t.push(performance.now() - s);
  }
  return t.sort((x, y) => x - y)[reps >> 1] / count;
}

// Every native timing first: the host sampler's garbage would have the collector's threads compete for the cores.
const native = CASES.map(([name, make]) => {
  const one: SamplingBatch = packSamplingBatch([make(0)]);
  const all: SamplingBatch = packSamplingBatch(rows.map((_, r) => make(r)));
  return { name, nativeBatch1Ms: perRow(() => cpu.sample(logits, vocab, one), 1, 41), nativeBatchMs: perRow(() => cpu.sample(logits, vocab, all), nRows, 11) };
});
const results = CASES.map(([, make], i) => {
  const hostEntries = rows.slice(0, 4).map((_, r) => make(r));
  return { ...native[i], hostMs: perRow(() => hostEntries.forEach((e) => sampleRow(rows[e.row].slice(), e)), hostEntries.length, 3) };
});

const report = {
  date: new Date().toISOString(), cpu: cpus()[0]?.model, threads, variant: cpu.variant, vocab, rows: nRows, loadavg: loadavg()[0], results,
};
console.log(`vk_sample vs the host sampler, vocab ${vocab}, ${cpu.description}, load ${report.loadavg.toFixed(2)}`);
console.log(`| row | native, 1 row (ms) | native, per row of ${nRows} (ms) | host sampler (ms/row) | speed-up |\n| --- | --- | --- | --- | --- |`);
for (const r of results) console.log(`| ${r.name} | ${r.nativeBatch1Ms.toFixed(3)} | ${r.nativeBatchMs.toFixed(3)} | ${r.hostMs.toFixed(2)} | ${(r.hostMs / r.nativeBatchMs).toFixed(0)}× |`);
if (a.out) writeFileSync(a.out, JSON.stringify(report, null, 2) + "\n");
