/** Serve flags of the HTTP layer checked as a launch sees them: parsed, and through a `vllm serve` process. */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { ArgError } from "../../src/cli/arg_parser";
import { parseServeFlags } from "../../src/cli/serve";
import { REPO_ROOT, tinyModelDir } from "../support/tiny_models";

const BUN = join(REPO_ROOT, "node_modules", ".bin", "bun");
const MAIN = join(REPO_ROOT, "src", "cli", "main.ts");
const dir = tinyModelDir("mistral");

function parsed(argv: string[]) {
  const p = parseServeFlags([dir, ...argv]);
  if (p === "help") throw new Error("unexpected --help");
  return p;
}

function runSync(args: string[]) {
  const r = Bun.spawnSync([BUN, MAIN, "serve", ...args, "--kv-cache-memory", "64MiB", "--port", "0", "--host", "127.0.0.1"], { cwd: REPO_ROOT, stdout: "pipe", stderr: "pipe", timeout: 60_000 });
  return { code: r.exitCode, err: r.stderr.toString() };
}

describe("--reasoning-parser", () => {
  test("vLLM's names parse; another is an error naming the flag", () => {
    expect(parsed(["--reasoning-parser", "deepseek_r1"]).serve.config.reasoningParser).toBe("deepseek_r1");
    expect(parsed(["--reasoning-parser", "qwen3"]).serve.config.reasoningParser).toBe("qwen3");
    expect(parsed([]).serve.config.reasoningParser).toBeNull();
    expect(() => parsed(["--reasoning-parser", "granite"])).toThrow(ArgError);
    expect(() => parsed(["--reasoning-parser", "granite"])).toThrow(/--reasoning-parser: invalid choice: 'granite' \(choose from deepseek_r1, qwen3\)/);
  });

  test("a model whose tokenizer has no think tokens fails startup with exit 2, naming the flag", () => {
    const r = runSync([dir, "--reasoning-parser", "qwen3"]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("--reasoning-parser: qwen3 needs the tokens <think> and </think>");
    const unknown = runSync([dir, "--reasoning-parser", "nope"]);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toContain("--reasoning-parser: invalid choice: 'nope'");
  }, 60_000);
});
