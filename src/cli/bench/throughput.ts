/**
 * `vllm bench throughput`: offline throughput of the engine on a dataset (random prompts by default),
 * all requests submitted at once, reported as vLLM reports it.
 */
import { writeFileSync } from "node:fs";
import { getSamples } from "../../benchmarks/datasets";
import { ENGINE_FLAGS, engineArgsFrom } from "../../config/engine_args";
import { makeSamplingParams } from "../../engine/sampling_params";
import { createEngine } from "../../entrypoints/from_engine_args";
import { ArgError, type FlagSpec, formatHelp, parseArgs } from "../arg_parser";
import { datasetFlags, datasetOptionsFrom } from "./dataset_flags";

export const THROUGHPUT_FLAGS: FlagSpec[] = [
  ...datasetFlags({ inputLen: 128, outputLen: 128 }),
  { name: "num-prompts", type: "int", default: 100, help: "number of requests" },
  { name: "n", type: "int", default: 1, help: "sequences generated per prompt" },
  { name: "output-json", type: "string", help: "also write the results to this JSON file" },
  ...ENGINE_FLAGS,
];

const USAGE = "vllm bench throughput [--model DIR] [--dataset-name random|sharegpt|custom] [--input-len I] [--output-len O] [--num-prompts N] [options]";

export function runBenchThroughput(argv: string[]): number {
  const { values: v, positionals, help } = parseArgs(argv, THROUGHPUT_FLAGS);
  if (help) {
    console.log(formatHelp(USAGE, "Runs --num-prompts requests through the engine at once (eos ignored) and reports requests/s and tokens/s.", THROUGHPUT_FLAGS));
    return 0;
  }
  if (positionals.length > 0) v["model"] = positionals[0];
  const n = v["n"] as number, num = v["num-prompts"] as number;
  if (!(n >= 1)) throw new ArgError(`argument --n: must be at least 1, got ${n}`);
  const args = engineArgsFrom(v);
  // Checked before the engine loads, so a wrong flag fails at once.
  const dataset = { ...datasetOptionsFrom(v, num, args.seed, "throughput-"), applyChatTemplate: true };
  const { engine, tokenizer, backend, config } = createEngine(args, (l) => console.error(`INFO ${l}`));
  const requests = getSamples(tokenizer, dataset);
  const prompts = requests.map((r) => ({ promptTokenIds: tokenizer.encode(r.prompt) }));
  const params = requests.map((r) => makeSamplingParams({ n, temperature: 1, topP: 1, maxTokens: r.expectedOutputLen, ignoreEos: true }));
  const t0 = performance.now();
  const outs = engine.generate(prompts, params);
  const elapsed = (performance.now() - t0) / 1000;
  const promptTokens = outs.reduce((a, o) => a + o.promptTokenIds.length, 0);
  const outputTokens = outs.reduce((a, o) => a + o.outputs.reduce((b, c) => b + c.tokenIds.length, 0), 0);
  const totalTokens = promptTokens + outputTokens;
  const result = {
    elapsed_time: elapsed, num_requests: requests.length, total_num_tokens: totalTokens, requests_per_second: requests.length / elapsed,
    tokens_per_second: totalTokens / elapsed, output_tokens_per_second: outputTokens / elapsed,
    total_prompt_tokens: promptTokens, total_output_tokens: outputTokens, dataset_name: dataset.name, n,
    input_len: dataset.name === "random" ? dataset.random.inputLen : null, output_len: dataset.name === "random" ? dataset.random.outputLen : null,
    backend: backend.description, max_num_seqs: config.scheduler.maxNumSeqs, max_num_batched_tokens: config.scheduler.maxNumBatchedTokens,
    preemptions: engine.schedulerStats?.numPreemptions ?? 0,
  };
  console.log(`Throughput: ${result.requests_per_second.toFixed(2)} requests/s, ${result.tokens_per_second.toFixed(2)} total tokens/s, ${result.output_tokens_per_second.toFixed(2)} output tokens/s`);
  console.log(`Total num prompt tokens:  ${promptTokens}\nTotal num output tokens:  ${outputTokens}`);
  const out = v["output-json"] as string | undefined;
  if (out) writeFileSync(out, JSON.stringify(result, null, 4) + "\n");
  return 0;
}
