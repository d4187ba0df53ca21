/** The `vllm` command: dispatches to generate, serve and bench. */
import { ArgError } from "./arg_parser";
import { runBench } from "./bench";
import { runGenerate } from "./generate";
import { runServe } from "./serve";
import { VERSION } from "../version";

const HELP = `vllm-bun ${VERSION}: an LLM inference engine that works like vLLM, in one executable.

usage: vllm <command> [options]

commands:
  generate   generate text for prompts offline (vllm generate --help)
  bench      benchmarks as vLLM's: vllm bench serve|latency|throughput --help
  serve      OpenAI-compatible HTTP server (vllm serve [MODEL] --help)

  vllm --version    prints the version

Without --model, commands use the built-in demo model: a small Llama-architecture model with the real
Llama 3 tokenizer and RANDOM weights, written deterministically on first use. Its text is noise.`;

/** The exit code; a promise for `serve` and `bench serve`, which resolves once they are done. */
export function main(argv: string[]): number | Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    const code = dispatch(cmd, rest);
    return code instanceof Promise ? code.catch((e) => fail(cmd, e)) : code;
  } catch (e) {
    return fail(cmd, e);
  }
}

function dispatch(cmd: string | undefined, rest: string[]): number | Promise<number> {
  if (cmd === undefined || cmd === "-h" || cmd === "--help" || cmd === "help") { console.log(HELP); return 0; }
  if (cmd === "--version" || cmd === "-v" || cmd === "version") { console.log(VERSION); return 0; }
  if (cmd === "generate") return runGenerate(rest);
  if (cmd === "bench") return runBench(rest);
  if (cmd === "serve") return runServe(rest);
  console.error(`vllm: unknown command '${cmd}'\n\n${HELP}`);
  return 2;
}

function fail(cmd: string | undefined, e: unknown): number {
  const msg = e instanceof Error ? e.message : String(e);
  console.error(e instanceof ArgError ? `vllm ${cmd}: error: ${msg}` : `error: ${msg}`);
  if (process.env.VLLM_DEBUG && e instanceof Error) console.error(e.stack);
  return e instanceof ArgError ? 2 : 1;
}

if (import.meta.main) Promise.resolve(main(process.argv.slice(2))).then((code) => process.exit(code));
