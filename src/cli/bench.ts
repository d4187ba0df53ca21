/** `vllm bench <serve|latency|throughput>`: vLLM's benchmark commands, flags and output. */
import { runBenchLatency } from "./bench/latency";
import { runBenchServe } from "./bench/serve";
import { runBenchThroughput } from "./bench/throughput";

const USAGE = `usage: vllm bench <subcommand> [options]   (vllm bench <subcommand> --help for its flags)

subcommands:
  serve        online serving: drives a running OpenAI-compatible server over HTTP (TTFT, TPOT, ITL, throughput)
  latency      offline: end-to-end latency of one batch through the engine
  throughput   offline: throughput of the engine on a dataset (random, sharegpt, custom)`;

const SUBCOMMANDS: Record<string, (argv: string[]) => number | Promise<number>> = {
  serve: runBenchServe,
  latency: runBenchLatency,
  throughput: runBenchThroughput,
};

export function runBench(argv: string[]): number | Promise<number> {
  const [sub, ...rest] = argv;
  const run = sub === undefined ? undefined : SUBCOMMANDS[sub];
  if (run) return run(rest);
  const asked = sub === undefined || sub === "--help" || sub === "-h";
  (asked ? console.log : console.error)(asked ? USAGE : `vllm bench: unknown subcommand '${sub}'\n\n${USAGE}`);
  return asked ? 0 : 2;
}
