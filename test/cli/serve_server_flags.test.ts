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

describe("CORS flags", () => {
  test("vLLM's defaults: any origin, method and header, no credentials", () => {
    expect(parsed([]).serve.config.cors).toEqual({ allowedOrigins: ["*"], allowedMethods: ["*"], allowedHeaders: ["*"], allowCredentials: false });
  });

  test("JSON lists as vLLM takes them", () => {
    const c = parsed(["--allowed-origins", '["https://a.example", "http://localhost:3000"]', "--allowed-methods", '["GET", "POST"]',
      "--allowed-headers", '["Authorization", "X-Request-Id"]', "--allow-credentials"]).serve.config.cors;
    expect(c).toEqual({ allowedOrigins: ["https://a.example", "http://localhost:3000"], allowedMethods: ["GET", "POST"], allowedHeaders: ["Authorization", "X-Request-Id"], allowCredentials: true });
  });

  test("a value that is not a JSON list of valid items is an error naming the flag", () => {
    const cases: [string[], RegExp][] = [
      [["--allowed-origins", "https://a.example"], /--allowed-origins: must be a JSON list of strings/],
      [["--allowed-origins", '["https://a.example/path"]'], /--allowed-origins: 'https:\/\/a.example\/path' is not an origin/],
      [["--allowed-origins", "[1]"], /--allowed-origins: must be a JSON list of strings/],
      [["--allowed-methods", '["GET POST"]'], /--allowed-methods: 'GET POST' is not an HTTP method/],
      [["--allowed-headers", '{"a": 1}'], /--allowed-headers: must be a JSON list of strings/],
      [["--allowed-headers", '["bad header"]'], /--allowed-headers: 'bad header' is not a header name/],
    ];
    for (const [argv, message] of cases) {
      expect(() => parsed(argv)).toThrow(ArgError);
      expect(() => parsed(argv)).toThrow(message);
    }
  });

  test("a bad CORS flag stops `vllm serve` with exit 2", () => {
    const r = runSync([dir, "--allowed-methods", "GET"]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("--allowed-methods: must be a JSON list of strings");
  }, 60_000);
});
