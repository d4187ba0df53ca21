/** vLLM serve launch lines start unchanged: no-op flags warn, result-changing ones are refused, --config YAML. */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ArgError, parseArgs } from "../../src/cli/arg_parser";
import { parseServeFlags } from "../../src/cli/serve";
import { ApiKeyChecker } from "../../src/server/auth";
import { REPO_ROOT, tinyModelDir } from "../support/tiny_models";

const BUN = join(REPO_ROOT, "node_modules", ".bin", "bun");
const MAIN = join(REPO_ROOT, "src", "cli", "main.ts");
const dir = tinyModelDir("mistral");
const tmp = mkdtempSync(join(tmpdir(), "vllm-flags-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function parsed(argv: string[]) {
  const p = parseServeFlags(argv);
  if (p === "help") throw new Error("unexpected --help");
  return p;
}

function runSync(args: string[]) {
  const r = Bun.spawnSync([BUN, MAIN, "serve", ...args], { cwd: REPO_ROOT, stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString() };
}

describe("vLLM launch command lines", () => {
  test("a realistic launch line parses, maps and warns once per no-op flag", () => {
    const p = parsed([dir, "--host", "0.0.0.0", "--port", "8000", "-tp", "1", "-pp=1", "-dp", "1", "--trust-remote-code",
      "--swap-space", "4", "--disable-log-requests", "--uvicorn-log-level", "warning", "--disable-custom-all-reduce",
      "--max-parallel-loading-workers", "2", "--tokenizer-mode", "auto", "--load-format", "safetensors",
      "--distributed-executor-backend", "mp", "--disable-frontend-multiprocessing", "--max-seq-len-to-capture", "8192",
      "--no-enable-chunked-prefill", "--enforce-eager", "--kv-cache-dtype", "auto", "--quantization", "none",
      "--kv-cache-memory-bytes", "1GiB", "--max-model-len", "4096", "--api-key", "k1", "--api-key", "k2", "k3",
      "--root-path", "/llm", "--max-log-len", "100", "--tokenizer", dir, "--served-model-name", "m"]);
    expect(p.args.kvCacheMemory).toBe(1024 ** 3);
    expect(p.args.enableChunkedPrefill).toBe(false);
    expect(p.args.model).toBe(dir);
    expect(p.serve.config.apiKey).toBe("k1");
    expect(p.serve.config.extraApiKeys).toEqual(["k2", "k3"]);
    for (const f of ["trust-remote-code", "swap-space", "disable-log-requests", "uvicorn-log-level", "disable-custom-all-reduce",
      "max-parallel-loading-workers", "tokenizer-mode", "load-format", "distributed-executor-backend",
      "disable-frontend-multiprocessing", "max-seq-len-to-capture"])
      expect(p.warnings.filter((w) => w.startsWith(`--${f}: accepted, has no effect`))).toHaveLength(1);
    expect(p.warnings).toHaveLength(11);
    // Implemented now, so silent.
    expect(p.serve.config.rootPath).toBe("/llm");
    expect(p.serve.config.maxLogLen).toBe(100);
  });

  test("refused flags name themselves", () => {
    const cases: [string[], RegExp][] = [
      [["--enable-lora"], /--enable-lora: not supported: LoRA/],
      [["--lora-modules", "a=/x"], /--lora-modules: not supported/],
      [["--speculative-config", '{"method":"ngram"}'], /--speculative-config: not supported/],
      [["--quantization", "awq"], /--quantization: not supported: 'awq'/],
      [["-q", "fp8"], /--quantization: not supported: 'fp8'/],
      [["--kv-cache-dtype", "fp8"], /--kv-cache-dtype: not supported: 'fp8'/],
      [["-tp", "2"], /--tensor-parallel-size: 2 is not supported yet/],
      [["-pp", "2"], /--pipeline-parallel-size: 2 is not supported yet/],
      [["--data-parallel-size", "4"], /--data-parallel-size: 4 is not supported yet/],
      [["--tokenizer-mode", "mistral"], /--tokenizer-mode: not supported/],
      [["--load-format", "gguf"], /--load-format: not supported/],
      [["--tokenizer", "/some/other/tokenizer"], /--tokenizer: .*not supported yet/],
      [["-x"], /unrecognized argument: -x/],
    ];
    for (const [argv, message] of cases) {
      expect(() => parseServeFlags([dir, ...argv])).toThrow(ArgError);
      expect(() => parseServeFlags([dir, ...argv])).toThrow(message);
    }
  });

  test("short options do not swallow list values, and -1 stays a value", () => {
    const p = parseArgs(["--served-model-name", "a", "b", "-tp", "1", "--structured-outputs-max-whitespace", "-1"], [
      { name: "served-model-name", type: "strings", help: "" }, { name: "tensor-parallel-size", type: "int", aliases: ["tp"], help: "" },
      { name: "structured-outputs-max-whitespace", type: "int", help: "" },
    ]);
    expect(p.values["served-model-name"]).toEqual(["a", "b"]);
    expect(p.values["tensor-parallel-size"]).toBe(1);
    expect(p.values["structured-outputs-max-whitespace"]).toBe(-1);
  });

  test("several API keys: any one is accepted", () => {
    const auth = new ApiKeyChecker(["k1", "k2"]);
    expect(auth.allows("/v1/models", "Bearer k1")).toBe(true);
    expect(auth.allows("/v1/models", "Bearer k2")).toBe(true);
    expect(auth.allows("/v1/models", "Bearer k3")).toBe(false);
    expect(auth.allows("/v1/models", null)).toBe(false);
  });
});

describe("--config YAML", () => {
  test("file flags apply, the command line wins, lists and bools map", () => {
    const path = join(tmp, "config.yaml");
    writeFileSync(path, `model: ${dir}\nport: 9000\nmax_num_seqs: 32\nenable-prefix-caching: false\nserved-model-name:\n  - a\n  - b\ntrust-remote-code: true\nswap_space: 4\n`);
    const p = parsed(["--config", path, "--port", "8123"]);
    expect(p.serve.port).toBe(8123);
    expect(p.args.maxNumSeqs).toBe(32);
    expect(p.args.enablePrefixCaching).toBe(false);
    expect(p.args.model).toBe(dir);
    expect(p.serve.servedModelNames).toEqual(["a", "b"]);
    expect(p.warnings.map((w) => w.split(":")[0])).toEqual(["--trust-remote-code", "--swap-space"]);
    const override = parsed([`--config=${path}`, "--served-model-name", "c", "--enable-prefix-caching"]);
    expect(override.serve.servedModelNames).toEqual(["c"]);
    expect(override.args.enablePrefixCaching).toBe(true);
  });

  test("unknown and nested keys, and refused flags inside it, are errors naming them", () => {
    const unknown = join(tmp, "unknown.yaml");
    writeFileSync(unknown, "port: 1\nno_such_flag: 3\n");
    expect(() => parseServeFlags(["--config", unknown])).toThrow(/unknown key 'no_such_flag'/);
    const nested = join(tmp, "nested.yaml");
    writeFileSync(nested, "max-model-len:\n  value: 3\n");
    expect(() => parseServeFlags(["--config", nested])).toThrow(/'max-model-len' must be a plain value/);
    const refused = join(tmp, "refused.yaml");
    writeFileSync(refused, "enable_lora: true\n");
    expect(() => parseServeFlags(["--config", refused])).toThrow(/--enable-lora: not supported/);
    expect(() => parseServeFlags(["--config", join(tmp, "missing.yaml")])).toThrow(/--config: cannot read/);
  });
});

describe("vllm serve with vLLM flags (process)", () => {
  test("refused flags exit 2 with a message naming the flag", () => {
    for (const [args, message] of [[["--enable-lora"], "--enable-lora"], [["-dp", "2"], "--data-parallel-size"], [["--quantization", "gptq"], "--quantization"]] as const) {
      const r = runSync([dir, ...args]);
      expect(r.code).toBe(2);
      expect(r.err).toContain(message);
    }
  });

  test("warn-only flags log one warning each and the server serves /health", async () => {
    const proc = Bun.spawn([BUN, MAIN, "serve", dir, "--host", "127.0.0.1", "--port", "0", "--served-model-name", "tiny",
      "--kv-cache-memory-bytes", "64MiB", "--disable-log-stats", "--trust-remote-code", "--swap-space", "4",
      "--disable-log-requests", "--uvicorn-log-level", "info", "-tp", "1"], { cwd: REPO_ROOT, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    let text = "";
    const reader = proc.stdout.getReader();
    void (async () => {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        text += new TextDecoder().decode(value);
      }
    })();
    try {
      const deadline = performance.now() + 20_000;
      let url: string | null = null;
      while (performance.now() < deadline && url === null && proc.exitCode === null) {
        url = /serving tiny on (http:\/\/127\.0\.0\.1:\d+)/.exec(text)?.[1] ?? null;
        await Bun.sleep(20);
      }
      expect(url).not.toBeNull();
      for (const f of ["trust-remote-code", "swap-space", "disable-log-requests", "uvicorn-log-level"])
        expect(text).toMatch(new RegExp(`^WARNING .*--${f}: accepted, has no effect`, "m"));
      expect((await fetch(`${url}/health`)).status).toBe(200);
    } finally {
      proc.kill();
      await proc.exited;
    }
  });
});
