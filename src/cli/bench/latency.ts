/**
 * `vllm bench latency`: end-to-end time of one batch of random prompts through the engine, repeated, as
 * vLLM's latency benchmark reports it (average, standard deviation, percentiles 10–99).
 */
import { writeFileSync } from "node:fs";
import { ProgressBar } from "../../benchmarks/progress";
import { pyFloat } from "../../benchmarks/py_format";
import { mean, percentile, std } from "../../benchmarks/stats";
import { ENGINE_FLAGS, engineArgsFrom } from "../../config/engine_args";
import { makeSamplingParams } from "../../engine/sampling_params";
import { createEngine } from "../../entrypoints/from_engine_args";
import { Generator } from "../../sample/generator";
import { ArgError, type FlagSpec, formatHelp, parseArgs } from "../arg_parser";

// Prefix caching would turn every repeat of the same batch into cache hits.
const LATENCY_ENGINE_FLAGS = ENGINE_FLAGS.map((f) => (f.name === "enable-prefix-caching" ? { ...f, default: false } : f));

export const LATENCY_FLAGS: FlagSpec[] = [
  { name: "input-len", type: "int", default: 32, help: "prompt tokens per request (random token ids)" },
  { name: "output-len", type: "int", default: 128, help: "generated tokens per request (eos ignored)" },
  { name: "batch-size", type: "int", default: 8, help: "requests in the batch" },
  { name: "n", type: "int", default: 1, help: "sequences generated per prompt" },
  { name: "num-iters-warmup", type: "int", default: 10, help: "untimed batches first" },
  { name: "num-iters", type: "int", default: 30, help: "timed batches" },
  { name: "output-json", type: "string", help: "also write the results to this JSON file" },
  { name: "disable-tqdm", type: "bool", default: false, help: "no progress bar" },
  ...LATENCY_ENGINE_FLAGS,
];

const USAGE = "vllm bench latency [--model DIR] [--input-len I] [--output-len O] [--batch-size B] [--num-iters N] [options]";
const PERCENTAGES = [10, 25, 50, 75, 90, 99];
// vLLM draws the random prompt ids below 10000.
const MAX_RANDOM_ID = 10000;

export function runBenchLatency(argv: string[]): number {
  const { values: v, positionals, help } = parseArgs(argv, LATENCY_FLAGS);
  if (help) {
    console.log(formatHelp(USAGE, "Times one batch of random prompts end to end, --num-iters times, and reports the average and percentiles.", LATENCY_FLAGS));
    return 0;
  }
  if (positionals.length > 0) v["model"] = positionals[0];
  const int = (name: string, min: number) => {
    const x = v[name] as number;
    if (!(x >= min)) throw new ArgError(`argument --${name}: must be at least ${min}, got ${x}`);
    return x;
  };
  const inputLen = int("input-len", 1), outputLen = int("output-len", 1), batchSize = int("batch-size", 1);
  const warmup = int("num-iters-warmup", 0), iters = int("num-iters", 1), n = int("n", 1);
  const args = engineArgsFrom(v);
  const { engine, modelConfig, maxModelLen } = createEngine(args, (l) => console.error(`INFO ${l}`));
  if (maxModelLen < inputLen + outputLen) throw new ArgError(`--max-model-len ${maxModelLen} is shorter than --input-len + --output-len (${inputLen + outputLen})`);
  const g = new Generator(args.seed);
  const hi = Math.min(MAX_RANDOM_ID, modelConfig.vocabSize);
  const prompts = Array.from({ length: batchSize }, () => ({ promptTokenIds: Array.from({ length: inputLen }, () => Math.floor(g.random() * hi)) }));
  const params = makeSamplingParams({ n, temperature: 1, topP: 1, maxTokens: outputLen, ignoreEos: true });
  const runOnce = () => {
    const t0 = performance.now();
    engine.generate(prompts, params);
    return (performance.now() - t0) / 1000;
  };
  const progress = !(v["disable-tqdm"] as boolean);
  console.log("Warming up...");
  repeat(warmup, "Warmup iterations", progress, runOnce);
  const latencies = repeat(iters, "Bench iterations", progress, runOnce);
  report(latencies, v["output-json"] as string | undefined);
  return 0;
}

function repeat(times: number, desc: string, progress: boolean, f: () => number): number[] {
  const bar = progress && times > 0 ? new ProgressBar(times, desc) : null;
  const out: number[] = [];
  for (let i = 0; i < times; i++) {
    out.push(f());
    bar?.update();
  }
  bar?.close();
  return out;
}

function report(latencies: number[], outputJson: string | undefined): void {
  const pcts = PERCENTAGES.map((p) => percentile(latencies, p));
  console.log(`Avg latency: ${pyFloat(mean(latencies))} seconds`);
  console.log(`Std latency: ${pyFloat(std(latencies))} seconds`);
  PERCENTAGES.forEach((p, i) => console.log(`${p}% percentile latency: ${pyFloat(pcts[i])} seconds`));
  if (!outputJson) return;
  const result = {
    avg_latency: mean(latencies), std_latency: std(latencies), latencies,
    percentiles: Object.fromEntries(PERCENTAGES.map((p, i) => [String(p), pcts[i]])),
  };
  writeFileSync(outputJson, JSON.stringify(result, null, 4) + "\n");
}
