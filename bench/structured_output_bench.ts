/**
 * Structured-output benchmark (issue 6): JSON-schema-constrained vs unconstrained decoding throughput at
 * batch 1 and 64, and the grammar's cost per token (bitmask fill p50 / p99, bitmask apply on the logits).
 * Usage: bun bench/structured_output_bench.ts [--model DIR] [--batches 1,64] [--output-len 32] [--repeats 3] [--threads N] [--out FILE]
 * The default model is the tiny random Llama 3 test model (128k vocabulary, almost no forward cost), the worst
 * case for the relative overhead; pass --model .cache/bench/llama-0.5b-bf16-v1 for a 0.5B model.
 */
import { writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { parseArgs } from "node:util";
import { createEngine, type LoadedEngine } from "../src/entrypoints/from_engine_args";
import { makeSamplingParams, type SamplingParams } from "../src/engine/sampling_params";
import { applyTokenBitmask } from "../src/sample/sampler";
import { tinyModelDir } from "../test/support/tiny_models";
import { testEngineArgs } from "../test/support/engine_args";

const { values: args } = parseArgs({
  options: {
    model: { type: "string" }, batches: { type: "string" }, "output-len": { type: "string" }, repeats: { type: "string" },
    threads: { type: "string" }, out: { type: "string" },
  },
});
const batches = (args.batches ?? "1,64").split(",").map(Number);
const outputLen = Number(args["output-len"] ?? 32);
const repeats = Number(args.repeats ?? 3);
const threads = Number(args.threads ?? cpus().length);
const modelDir = args.model ?? tinyModelDir("llama3");

// A typical extraction schema; free strings keep the grammar open for the whole run, as on a real model.
const SCHEMA = {
  type: "object",
  properties: {
    name: { type: "string" },
    age: { type: "integer", minimum: 0, maximum: 150 },
    email: { type: "string" },
    tags: { type: "array", items: { type: "string" } },
    address: { type: "object", properties: { street: { type: "string" }, city: { type: "string" } }, required: ["street", "city"] },
  },
  required: ["name", "age", "email", "tags", "address"],
};

interface Run {
  batch: number;
  constrained: boolean;
  outputTokens: number;
  seconds: number;
  tokPerS: number;
}

function params(constrained: boolean, seed: number): SamplingParams {
  return makeSamplingParams({
    temperature: 1, seed, maxTokens: outputLen, ignoreEos: !constrained,
    structuredOutputs: constrained ? { json: SCHEMA, disableAnyWhitespace: true } : null,
  });
}

async function runOnce(loaded: LoadedEngine, batch: number, constrained: boolean): Promise<Run> {
  const { engine, tokenizer } = loaded;
  const ps = Array.from({ length: batch }, (_, i) => params(constrained, i));
  await engine.prepareStructuredOutput(ps[0]);
  const inputs = ps.map((_, i) => ({ promptTokenIds: tokenizer.encode(`Extract the person described in record ${i} as JSON:`) }));
  const t0 = performance.now();
  const outs = engine.generate(inputs, ps);
  const seconds = (performance.now() - t0) / 1000;
  const outputTokens = outs.reduce((n, o) => n + o.outputs[0].tokenIds.length, 0);
  return { batch, constrained, outputTokens, seconds, tokPerS: outputTokens / seconds };
}

// The sampler's share: applying one bitmask to a full logits row, with the mask of a JSON string state.
function applyCostUs(loaded: LoadedEngine): number {
  const vocab = loaded.modelConfig.vocabSize;
  const mask = new Int32Array(Math.ceil(vocab / 32)).fill(-1);
  for (let i = 0; i < mask.length; i += 97) mask[i] = 0x7fff_fff0; // a string state allows almost everything
  const logits = new Float32Array(vocab);
  const times: number[] = [];
  for (let r = 0; r < 2000; r++) {
    logits.fill(1);
    const t0 = performance.now();
    applyTokenBitmask(logits, mask);
    times.push((performance.now() - t0) * 1000);
  }
  return times.sort((a, b) => a - b)[1000];
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];

async function main(): Promise<void> {
  const loaded = createEngine({ ...testEngineArgs(modelDir), maxModelLen: 256, maxNumSeqs: Math.max(...batches), maxNumBatchedTokens: 4096, cpuThreads: threads, kvCacheMemory: 1 << 30 });
  const manager = loaded.engine.structuredOutputManager!;
  const t0 = performance.now();
  await loaded.engine.prepareStructuredOutput(params(true, 0));
  const firstCompileMs = performance.now() - t0;
  await runOnce(loaded, Math.min(...batches), false); // warm-up
  const applyUs = applyCostUs(loaded);
  const rows = [];
  for (const batch of batches) {
    // Alternating repeats and medians, because a shared machine drifts between runs.
    const free: Run[] = [], bound: Run[] = [];
    manager.resetMaskTimeStats();
    for (let r = 0; r < repeats; r++) {
      free.push(await runOnce(loaded, batch, false));
      bound.push(await runOnce(loaded, batch, true));
    }
    const mask = manager.maskTimeStats();
    const boundSeconds = bound.reduce((s, r) => s + r.seconds, 0);
    // Grammar work on the engine thread: mask fills plus applying each mask to its logits row.
    const grammarShare = (mask.count * (mask.meanUs + applyUs)) / 1e6 / boundSeconds;
    rows.push({
      batch, unconstrainedTokPerS: median(free.map((r) => r.tokPerS)), constrainedTokPerS: median(bound.map((r) => r.tokPerS)),
      maskFillUs: mask, grammarShare, runs: [...free, ...bound],
    });
  }
  const result = { date: new Date().toISOString().slice(0, 10), model: modelDir, vocabSize: loaded.modelConfig.vocabSize, threads, outputLen, repeats, firstCompileMs, applyMaskUsP50: applyUs, rows };
  console.log("batch | unconstrained tok/s | constrained tok/s | ratio | mask fill p50 / p99 / mean µs | grammar share of constrained time");
  for (const r of rows) {
    console.log(`${r.batch} | ${r.unconstrainedTokPerS.toFixed(1)} | ${r.constrainedTokPerS.toFixed(1)} | ${(r.constrainedTokPerS / r.unconstrainedTokPerS).toFixed(3)} | ` +
      `${r.maskFillUs.p50Us.toFixed(1)} / ${r.maskFillUs.p99Us.toFixed(1)} / ${r.maskFillUs.meanUs.toFixed(1)} | ${(100 * r.grammarShare).toFixed(2)} %`);
  }
  console.log(`first compile (worker check + engine compile, includes loading xgrammar): ${firstCompileMs.toFixed(0)} ms; bitmask apply on a ${result.vocabSize}-logit row: ${applyUs.toFixed(1)} µs`);
  if (args.out) writeFileSync(args.out, JSON.stringify(result, null, 2) + "\n");
  manager.close();
}

await main();
