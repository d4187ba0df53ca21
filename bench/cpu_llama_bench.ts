/**
 * CPU side by side with llama.cpp (node-llama-cpp 3.21.1's prebuilt CPU build) on the same weights: the ~0.5B
 * Llama-shaped bf16 model of bench/cpu_bench.ts, and the same model as a BF16 GGUF for llama.cpp.
 * Rows: prefill (512-token prompt), batch-1 decode, decode at 2/8/32 sequences greedy and at temperature 1,
 * prompt-logprob scoring of a 512-token prompt. Rounds are interleaved (every row of both engines, then the
 * next round, the engine order alternating), and each row reports min/median/max with the 1-minute load
 * average at the start of every sample.
 * Usage: bun bench/cpu_llama_bench.ts [--rounds 3] [--threads 2] [--output-len 32] [--no-peer] [--host-sampler] [--out FILE]
 * --host-sampler: vllm-bun samples with src/sample/sampler.ts instead of the library's vk_sample (as before it).
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { Llama, LlamaContext, LlamaModel, Token } from "node-llama-cpp";
import { writeRandomModel, type RandomModelSpec } from "../src/demo/random_model";
import { createEngine } from "../src/entrypoints/from_engine_args";
import { makeSamplingParams } from "../src/engine/sampling_params";

const { values: a } = parseArgs({
  options: {
    rounds: { type: "string" }, threads: { type: "string" }, "output-len": { type: "string" }, "no-peer": { type: "boolean" },
    "host-sampler": { type: "boolean" }, out: { type: "string" },
  },
});
const ROUNDS = Number(a.rounds ?? 3), THREADS = Number(a.threads ?? 2), OUT_LEN = Number(a["output-len"] ?? 32);
const PROMPT_LEN = 512, DECODE1 = 64, BATCH_PROMPT = 64, BATCHES = [2, 8, 32];
const ROOT = join(import.meta.dir, "..");

const SPEC: RandomModelSpec = {
  architecture: "LlamaForCausalLM", hiddenSize: 1024, intermediateSize: 4096, numHiddenLayers: 24, numAttentionHeads: 16,
  numKeyValueHeads: 4, vocabSize: 128256, dtype: "bfloat16", tieWordEmbeddings: true, seed: 42, maxPositionEmbeddings: 4096,
  eosTokenId: 128001, bosTokenId: 128000,
};

function models(): { dir: string; gguf: string } {
  const dir = join(ROOT, ".cache", "bench", "llama-0.5b-bf16-v1"), gguf = `${dir}.bf16.gguf`;
  if (!existsSync(join(dir, "model.safetensors"))) {
    const tok = join(ROOT, "node_modules", "@lenml", "tokenizer-llama3", "models");
    console.error(`writing ${dir} ...`);
    writeRandomModel(dir, SPEC, { tokenizerJson: join(tok, "tokenizer.json"), tokenizerConfig: join(tok, "tokenizer_config.json") });
  }
  if (!existsSync(gguf)) {
    console.error(`writing ${gguf} ...`);
    const r = spawnSync(process.execPath, [join(ROOT, "scripts", "convert-hf-to-gguf.ts"), dir, gguf, "--outtype", "BF16"], { stdio: "inherit" });
    if (r.status !== 0) throw new Error("GGUF conversion failed");
  }
  return { dir, gguf };
}

/** The CPU model name and flags, as /proc/cpuinfo has them. */
function cpuInfo(): { model: string; flags: string } {
  const text = existsSync("/proc/cpuinfo") ? readFileSync("/proc/cpuinfo", "utf8") : "";
  const field = (k: string) => text.match(new RegExp(`^${k}\\s*:\\s*(.*)$`, "m"))?.[1]?.trim() ?? "unknown";
  return { model: `${field("model name")} (family ${field("cpu family")}, model ${field("model")})`, flags: field("flags") };
}

const prompt = (n: number, base: number) => Array.from({ length: n }, (_, i) => 1000 + ((i * 7919 + base) % 100000));

/** A row's measurement: the figure (higher is better) and the load average when it started. */
interface Sample { value: number; load: number }
type Measure = () => Promise<number>;

// ---- vllm-bun ----

function ours(dir: string): Record<string, Measure> {
  const { engine, backend } = createEngine({
    model: dir, maxModelLen: 1024, maxNumSeqs: 32, maxNumBatchedTokens: 512, blockSize: 16, enablePrefixCaching: false,
    enableChunkedPrefill: true, kvCacheMemory: 512 * 1024 * 1024, cpuThreads: THREADS, seed: 0, maxLogprobs: 20,
    device: "cpu", gpuMemoryUtilization: 0.9, numGpuBlocksOverride: null, structuredOutputsMaxWhitespace: 4,
  });
  if (a["host-sampler"]) Object.defineProperty(backend, "sample", { value: undefined });
  console.error(`vllm-bun: ${backend.description}${a["host-sampler"] ? ", host sampler" : ""}`);
  const sp = (p: Record<string, unknown>) => makeSamplingParams({ ignoreEos: true, ...p });
  const wall = (f: () => void) => { const t = performance.now(); f(); return (performance.now() - t) / 1000; };
  engine.generate([{ promptTokenIds: prompt(16, 1) }], sp({ temperature: 0, maxTokens: 4 })); // warm-up
  const batch = (s: number, temperature: number) => async () => {
    const outs = engine.generate(Array.from({ length: s }, (_, i) => ({ promptTokenIds: prompt(BATCH_PROMPT, 100 + i) })),
      Array.from({ length: s }, (_, i) => sp({ temperature, maxTokens: OUT_LEN, seed: temperature > 0 ? i : null })));
    const first = Math.max(...outs.map((o) => o.metrics.firstTokenTime!)), last = Math.max(...outs.map((o) => o.metrics.lastTokenTime!));
    return (s * (OUT_LEN - 1)) / (last - first);
  };
  const rows: Record<string, Measure> = {
    "prefill tok/s (512-token prompt)": async () => PROMPT_LEN / wall(() => engine.generate([{ promptTokenIds: prompt(PROMPT_LEN, 2) }], sp({ temperature: 0, maxTokens: 1 }))),
    "decode tok/s, batch 1": async () => {
      const m = engine.generate([{ promptTokenIds: prompt(16, 3) }], sp({ temperature: 0, maxTokens: DECODE1 }))[0].metrics;
      return (DECODE1 - 1) / (m.lastTokenTime! - m.firstTokenTime!);
    },
  };
  for (const s of BATCHES) {
    rows[`decode tok/s, ${s} seqs, greedy`] = batch(s, 0);
    rows[`decode tok/s, ${s} seqs, temperature 1`] = batch(s, 1);
  }
  rows["prompt-logprob scoring tok/s (512-token prompt)"] = async () =>
    PROMPT_LEN / wall(() => engine.generate([{ promptTokenIds: prompt(PROMPT_LEN, 4) }], sp({ temperature: 0, maxTokens: 1, promptLogprobs: 0 })));
  return rows;
}

// ---- llama.cpp ----

async function peer(gguf: string): Promise<{ rows: Record<string, Measure>; close: () => Promise<void> } | null> {
  let llama: Llama;
  try {
    const { getLlama, LlamaLogLevel } = await import("node-llama-cpp");
    llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, progressLogs: false });
  } catch (e) {
    console.error(`llama.cpp not run: ${(e as Error).message}`);
    return null;
  }
  const model: LlamaModel = await llama.loadModel({ modelPath: gguf });
  // One sequence's context for the single-request rows, a 32-sequence one (batched like ours) for the others.
  const single: LlamaContext = await model.createContext({ contextSize: 1024, sequences: 1, threads: THREADS, batchSize: 512 });
  const multi: LlamaContext = await model.createContext({ contextSize: 32 * (BATCH_PROMPT + OUT_LEN + 16), sequences: 32, threads: THREADS, batchSize: 512 });
  // Sequences are taken once and cleared between uses (a disposed one's id comes back only later).
  const seqs = { single: [single.getSequence()], multi: Array.from({ length: 32 }, () => multi.getSequence()) };
  /** Sequence `i` of a context generates: token timestamps (s). */
  const generate = async (tokens: number[], n: number, temperature: number, seed: number, which: "single" | "multi" = "single", i = 0) => {
    const seq = seqs[which][i];
    await seq.clearHistory();
    const times: number[] = [];
    for await (const _ of seq.evaluate(tokens as Token[], temperature > 0 ? { temperature, seed } : { temperature: 0 })) {
      times.push(performance.now() / 1000);
      if (times.length === n) break;
    }
    return times;
  };
  await generate(prompt(16, 1), 4, 0, 0); // warm-up
  const batch = (s: number, temperature: number) => async () => {
    const runs = await Promise.all(Array.from({ length: s }, (_, i) => generate(prompt(BATCH_PROMPT, 100 + i), OUT_LEN, temperature, i, "multi", i)));
    const first = Math.max(...runs.map((t) => t[0])), last = Math.max(...runs.map((t) => t[t.length - 1]));
    return (s * (OUT_LEN - 1)) / (last - first);
  };
  const rows: Record<string, Measure> = {
    "prefill tok/s (512-token prompt)": async () => {
      const t0 = performance.now() / 1000;
      const t = await generate(prompt(PROMPT_LEN, 2), 1, 0, 0);
      return PROMPT_LEN / (t[0] - t0);
    },
    "decode tok/s, batch 1": async () => {
      const t = await generate(prompt(16, 3), DECODE1, 0, 0);
      return (DECODE1 - 1) / (t[t.length - 1] - t[0]);
    },
  };
  for (const s of BATCHES) {
    rows[`decode tok/s, ${s} seqs, greedy`] = batch(s, 0);
    rows[`decode tok/s, ${s} seqs, temperature 1`] = batch(s, 1);
  }
  // No same row for prompt-logprob scoring: node-llama-cpp hands prompt-token probabilities back only as a
  // full-vocabulary Map per token, which would time the binding, not llama.cpp.
  return { rows, close: async () => { await single.dispose(); await multi.dispose(); await model.dispose(); await llama.dispose(); } };
}

// ---- rounds ----

const stats = (xs: Sample[]) => {
  const v = xs.map((x) => x.value).sort((p, q) => p - q);
  const mid = v.length >> 1, median = v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
  return { min: v[0] ?? NaN, median: v.length ? median : NaN, max: v[v.length - 1] ?? NaN, samples: xs };
};

const { dir, gguf } = models();
const mine = ours(dir);
const theirs = a["no-peer"] ? null : await peer(gguf);
const results: Record<string, { ours: Sample[]; llamacpp: Sample[] }> = {};
for (const row of Object.keys(mine)) results[row] = { ours: [], llamacpp: [] };
const cpu = cpuInfo();
const out = a.out ?? join(ROOT, "bench", "results", `cpu-llamacpp-${new Date().toISOString().slice(0, 10)}.json`);

/** The report so far (written after every round, so a cut-short run keeps its finished rounds). */
function report(roundsDone: number) {
  const r = {
    date: new Date().toISOString(), cpu: cpu.model, flags: cpu.flags, threads: THREADS, rounds: roundsDone, outputLen: OUT_LEN,
    sampler: a["host-sampler"] ? "host (src/sample/sampler.ts)" : "vk_sample",
    model: { ...SPEC, safetensors: dir, gguf }, peer: theirs ? "llama.cpp via node-llama-cpp 3.21.1 (prebuilt CPU)" : null,
    rows: Object.fromEntries(Object.entries(results).map(([row, x]) => [row, { ours: stats(x.ours), llamacpp: x.llamacpp.length ? stats(x.llamacpp) : null }])),
  };
  writeFileSync(out, JSON.stringify(r, null, 2) + "\n");
  return r;
}

let final = report(0);
for (let r = 0; r < ROUNDS; r++) {
  for (const row of Object.keys(mine)) {
    const order: ("ours" | "llamacpp")[] = r % 2 === 0 ? ["ours", "llamacpp"] : ["llamacpp", "ours"];
    for (const who of order) {
      const m = who === "ours" ? mine[row] : theirs?.rows[row];
      if (!m) continue;
      const load = loadavg()[0];
      results[row][who].push({ value: await m(), load });
    }
    console.error(`round ${r + 1}/${ROUNDS} ${row}: ours ${results[row].ours.at(-1)!.value.toFixed(1)}` +
      (results[row].llamacpp.length > r ? `, llama.cpp ${results[row].llamacpp.at(-1)!.value.toFixed(1)}` : ""));
  }
  final = report(r + 1);
}
await theirs?.close();

const f = (s: { min: number; median: number; max: number } | null) => (s ? `${s.median.toFixed(1)} (${s.min.toFixed(1)}–${s.max.toFixed(1)})` : "—");
const loads = (xs: Sample[]) => xs.map((x) => x.load.toFixed(2)).join(", ");
console.log(`\n${cpu.model}, ${THREADS} threads, ${ROUNDS} interleaved rounds; median (min–max)`);
console.log("| row | vllm-bun | llama.cpp | ratio (medians) | load at starts (ours; llama.cpp) |\n| --- | --- | --- | --- | --- |");
for (const [row, r] of Object.entries(final.rows)) {
  const ratio = r.llamacpp ? (r.ours.median / r.llamacpp.median).toFixed(2) : "—";
  console.log(`| ${row} | ${f(r.ours)} | ${f(r.llamacpp)} | ${ratio} | ${loads(r.ours.samples)}${r.llamacpp ? `; ${loads(r.llamacpp.samples)}` : ""} |`);
}
console.log(`\nraw: ${out}`);
