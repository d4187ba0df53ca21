/**
 * CPU benchmark (issue: foundation): a ~0.5B-parameter Llama-shaped random model in bf16.
 *   decode tok/s at batch 1  vs  the memory-bandwidth roofline (read bandwidth measured in this run)
 *   prefill tok/s            vs  numpy's f32 matmul GFLOP/s on the same shapes (a tuned BLAS)
 * Usage: bun bench/cpu_bench.ts [--threads N] [--prompt-len 512] [--decode-tokens 64]
 * Writes bench/results/cpu-<date>.json and prints a table.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { createEngine } from "../src/entrypoints/from_engine_args";
import { makeSamplingParams } from "../src/engine/sampling_params";
import { writeRandomModel, type RandomModelSpec } from "../src/demo/random_model";

const ROOT = join(import.meta.dir, "..");
const arg = (name: string, d: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : d;
};
const threads = arg("threads", cpus().length);
const promptLen = arg("prompt-len", 512);
const decodeTokens = arg("decode-tokens", 64);

const SPEC: RandomModelSpec = {
  architecture: "LlamaForCausalLM", hiddenSize: 1024, intermediateSize: 4096, numHiddenLayers: 24, numAttentionHeads: 16,
  numKeyValueHeads: 4, vocabSize: 128256, dtype: "bfloat16", tieWordEmbeddings: true, seed: 42, maxPositionEmbeddings: 4096,
  eosTokenId: 128001, bosTokenId: 128000,
};

function benchModel(): string {
  const dir = join(ROOT, ".cache", "bench", "llama-0.5b-bf16-v1");
  if (!existsSync(join(dir, "model.safetensors"))) {
    const tok = join(ROOT, "node_modules", "@lenml", "tokenizer-llama3", "models");
    console.error(`writing ${dir} ...`);
    writeRandomModel(dir, SPEC, { tokenizerJson: join(tok, "tokenizer.json"), tokenizerConfig: join(tok, "tokenizer_config.json") });
  }
  return dir;
}

function params(): { total: number; perToken: number } {
  const s = SPEC, hd = s.hiddenSize / s.numAttentionHeads;
  const layer = s.hiddenSize * hd * (2 * s.numAttentionHeads + 2 * s.numKeyValueHeads) + 3 * s.hiddenSize * s.intermediateSize;
  const embed = s.vocabSize * s.hiddenSize;
  // Per token the matmuls touch every layer weight plus the (tied) lm_head; the embedding is a row lookup.
  return { total: layer * s.numHiddenLayers + embed, perToken: layer * s.numHiddenLayers + embed };
}

function readBandwidthGBs(): number {
  const exe = join(ROOT, ".cache", "bench", "membw");
  mkdirSync(join(ROOT, ".cache", "bench"), { recursive: true });
  execFileSync("cc", ["-O2", "-pthread", "-o", exe, join(ROOT, "bench", "membw.c")]);
  return Number(execFileSync(exe, [String(threads), "1024"], { encoding: "utf8" }).split(" ")[0]);
}

function numpyGflops(m: number, k: number, n: number): number | null {
  const py = `import numpy as np, time\na=np.random.rand(${m},${k}).astype(np.float32); b=np.random.rand(${k},${n}).astype(np.float32)\nbest=1e9\nfor _ in range(5):\n  t=time.perf_counter(); a@b; best=min(best,time.perf_counter()-t)\nprint(2*${m}*${k}*${n}/best/1e9)`;
  try {
    return Number(execFileSync("python3", ["-c", py], { encoding: "utf8", env: { ...process.env, OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads) } }));
  } catch {
    return null;
  }
}

const dir = benchModel();
const { engine, backend } = createEngine({
  model: dir, maxModelLen: 4096, maxNumSeqs: 8, maxNumBatchedTokens: Math.max(promptLen, 512), blockSize: 16,
  enablePrefixCaching: false, enableChunkedPrefill: true, kvCacheMemory: 512 * 1024 * 1024, cpuThreads: threads, seed: 0, maxLogprobs: 20,
  device: "cpu", gpuMemoryUtilization: 0.9, numGpuBlocksOverride: null, structuredOutputsMaxWhitespace: 4,
});
const sp = (maxTokens: number) => makeSamplingParams({ temperature: 0, maxTokens, ignoreEos: true });
const prompt = (n: number, base: number) => Array.from({ length: n }, (_, i) => 1000 + ((i * 7919 + base) % 100000));

engine.generate([{ promptTokenIds: prompt(16, 1) }], sp(4)); // warm-up
let t0 = performance.now();
engine.generate([{ promptTokenIds: prompt(promptLen, 2) }], sp(1));
const prefillTokS = promptLen / ((performance.now() - t0) / 1000);
const d = engine.generate([{ promptTokenIds: prompt(16, 3) }], sp(decodeTokens))[0].metrics;
const decodeTokS = (decodeTokens - 1) / (d.lastTokenTime! - d.firstTokenTime!);

const p = params();
const bw = readBandwidthGBs();
const decodeRoofline = (bw * 1e9) / (p.perToken * 2);
const blas = numpyGflops(promptLen, SPEC.hiddenSize, SPEC.intermediateSize);
const prefillPeer = blas === null ? null : (blas * 1e9) / (2 * p.perToken);

const result = {
  date: new Date().toISOString(), host: cpus()[0]?.model, threads, backend: backend.description,
  model: { ...SPEC, params: p.total, weightBytes: p.total * 2 }, promptLen, decodeTokens,
  decode: { tokS: decodeTokS, readBandwidthGBs: bw, rooflineTokS: decodeRoofline, ratio: decodeTokS / decodeRoofline },
  prefill: { tokS: prefillTokS, ourGflops: (prefillTokS * 2 * p.perToken) / 1e9, numpyGflops: blas, peerTokS: prefillPeer, ratio: prefillPeer ? prefillTokS / prefillPeer : null },
};
mkdirSync(join(ROOT, "bench", "results"), { recursive: true });
const out = join(ROOT, "bench", "results", `cpu-${result.date.slice(0, 10)}.json`);
writeFileSync(out, JSON.stringify(result, null, 2) + "\n");
const f = (x: number | null, dgt = 1) => (x === null ? "n/a" : x.toFixed(dgt));
console.log(`\nCPU benchmark: ${(p.total / 1e6).toFixed(0)}M-param Llama-shaped bf16 model, ${result.backend}, ${result.host}`);
console.log("| metric | vllm-bun | peer | peer value | ratio |\n| --- | --- | --- | --- | --- |");
console.log(`| decode tok/s (batch 1) | ${f(decodeTokS, 2)} | bandwidth roofline (${f(bw, 2)} GB/s read ÷ ${f(p.perToken * 2 / 1e9, 2)} GB/token) | ${f(decodeRoofline, 2)} | ${f(result.decode.ratio, 2)} |`);
console.log(`| prefill tok/s (${promptLen}-token prompt) | ${f(prefillTokS, 1)} | numpy f32 matmul ${f(blas, 1)} GFLOP/s ÷ ${f(2 * p.perToken / 1e9, 2)} GFLOP/token | ${f(prefillPeer, 1)} | ${f(result.prefill.ratio, 2)} |`);
console.log(`\nraw: ${out}`);
