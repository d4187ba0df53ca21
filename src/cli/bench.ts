/** `vllm bench throughput`: offline throughput on random prompts, named and printed as vLLM does. */
import { writeFileSync } from "node:fs";
import { ENGINE_FLAGS, engineArgsFrom } from "../config/engine_args";
import { createEngine } from "../entrypoints/from_engine_args";
import { makeSamplingParams } from "../engine/sampling_params";
import { Generator } from "../sample/generator";
import { type FlagSpec, formatHelp, parseArgs } from "./arg_parser";

const THROUGHPUT_FLAGS: FlagSpec[] = [
  { name: "input-len", type: "int", default: 128, help: "prompt tokens per request (random token ids)" },
  { name: "output-len", type: "int", default: 128, help: "generated tokens per request (eos ignored)" },
  { name: "num-prompts", type: "int", default: 100, help: "number of requests" },
  { name: "output-json", type: "string", help: "also write the results to this JSON file" },
  ...ENGINE_FLAGS,
];

const USAGE = "vllm bench throughput [--model DIR] [--input-len I] [--output-len O] [--num-prompts N] [options]";

export function runBench(argv: string[]): number {
  const [sub, ...rest] = argv;
  if (sub !== "throughput") {
    console.log(`usage: ${USAGE}\n\nsubcommands:\n  throughput   offline throughput of the engine on random prompts`);
    return sub === undefined || sub === "--help" || sub === "-h" ? 0 : 2;
  }
  const { values, positionals, help } = parseArgs(rest, THROUGHPUT_FLAGS);
  if (help) {
    console.log(formatHelp(USAGE, "Runs --num-prompts random prompts through the engine at once and reports requests/s and tokens/s.", THROUGHPUT_FLAGS));
    return 0;
  }
  if (positionals.length > 0) values["model"] = positionals[0];
  const args = engineArgsFrom(values);
  const inputLen = values["input-len"] as number, outputLen = values["output-len"] as number, num = values["num-prompts"] as number;
  for (const [flag, v] of [["input-len", inputLen], ["output-len", outputLen], ["num-prompts", num]] as const)
    if (!(v >= 1)) throw new Error(`--${flag} must be at least 1`);
  const { engine, modelConfig, backend } = createEngine(args, (l) => console.error(`INFO ${l}`));
  const g = new Generator(args.seed);
  const vocab = modelConfig.vocabSize;
  const prompts = Array.from({ length: num }, () => ({
    promptTokenIds: Array.from({ length: inputLen }, () => Math.floor(g.random() * vocab)),
  }));
  const params = makeSamplingParams({ temperature: 1, topP: 1, maxTokens: outputLen, ignoreEos: true });
  const t0 = performance.now();
  const outs = engine.generate(prompts, params);
  const elapsed = (performance.now() - t0) / 1000;
  const outputTokens = outs.reduce((a, o) => a + o.outputs[0].tokenIds.length, 0);
  const totalTokens = outputTokens + num * inputLen;
  const result = {
    elapsed_time: elapsed, num_requests: num, total_num_tokens: totalTokens, requests_per_second: num / elapsed,
    tokens_per_second: totalTokens / elapsed, output_tokens_per_second: outputTokens / elapsed,
    input_len: inputLen, output_len: outputLen, backend: backend.description, max_num_seqs: args.maxNumSeqs,
    max_num_batched_tokens: args.maxNumBatchedTokens, preemptions: engine.schedulerStats?.numPreemptions ?? 0,
  };
  console.log(`Throughput: ${result.requests_per_second.toFixed(2)} requests/s, ${result.tokens_per_second.toFixed(2)} total tokens/s, ${result.output_tokens_per_second.toFixed(2)} output tokens/s`);
  console.log(`Total num prompt tokens: ${num * inputLen}\nTotal num output tokens: ${outputTokens}`);
  const out = values["output-json"] as string | undefined;
  if (out) writeFileSync(out, JSON.stringify(result, null, 2) + "\n");
  return 0;
}
