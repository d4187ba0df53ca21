/** `vllm serve` as a child process: flags and --help, startup lines, env API key, graceful shutdown. */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { REPO_ROOT, tinyModelDir } from "../support/tiny_models";
import { parseSse } from "./support";
import { cudaAvailable } from "../../src/backend/select";

const BUN = join(REPO_ROOT, "node_modules", ".bin", "bun");
const MAIN = join(REPO_ROOT, "src", "cli", "main.ts");
const dir = tinyModelDir("mistral");

function runSync(args: string[]) {
  const r = Bun.spawnSync([BUN, MAIN, "serve", ...args], { cwd: REPO_ROOT, stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString() };
}

interface Child {
  proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
  url: string;
  log: () => string;
}

/** Starts a server on a free port and waits for its "serving ... on URL" line. */
async function spawnServer(args: string[], env: Record<string, string> = {}): Promise<Child> {
  const proc = Bun.spawn([BUN, MAIN, "serve", dir, "--host", "127.0.0.1", "--port", "0", "--served-model-name", "tiny",
    "--kv-cache-memory", "64MiB", "--disable-log-stats", ...args], { cwd: REPO_ROOT, stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { ...process.env, ...env } });
  let text = "";
  const reader = proc.stdout.getReader();
  const pump = (async () => {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      text += new TextDecoder().decode(value);
    }
  })();
  void pump;
  const deadline = performance.now() + 20_000;
  while (performance.now() < deadline) {
    const m = /serving tiny on (http:\/\/127\.0\.0\.1:\d+)/.exec(text);
    if (m) return { proc, url: m[1], log: () => text };
    if (proc.exitCode !== null) break;
    await Bun.sleep(20);
  }
  proc.kill();
  throw new Error(`server did not start:\n${text}\n${await new Response(proc.stderr).text()}`);
}

async function exitCode(proc: Child["proc"], ms = 15_000): Promise<number | null> {
  const timer = setTimeout(() => proc.kill("SIGKILL"), ms);
  const code = await proc.exited;
  clearTimeout(timer);
  return code;
}

describe("vllm serve flags", () => {
  test("--help lists every flag with its default", () => {
    const r = runSync(["--help"]);
    expect(r.code).toBe(0);
    const flags = ["host", "port", "api-key", "served-model-name", "model", "max-model-len", "dtype", "seed", "max-num-seqs",
      "max-num-batched-tokens", "block-size", "enable-prefix-caching", "no-enable-prefix-caching", "gpu-memory-utilization",
      "kv-cache-memory", "max-num-queued-reqs", "chat-template", "generation-config", "max-logprobs", "enable-log-requests",
      "disable-log-stats", "log-level", "enforce-eager", "device", "tensor-parallel-size"];
    for (const f of flags) expect(r.out).toContain(`--${f}`);
    for (const d of ['(default: "0.0.0.0")', "(default: 8000)", "(default: 0.9)", "(default: 20)", '(default: "auto")', "(default: 1)", "[env VLLM_API_KEY]"])
      expect(r.out).toContain(d);
  });

  test("bad flags fail at startup with a message naming them", () => {
    const cases: [string[], string][] = [
      [["--no-such-flag"], "--no-such-flag"],
      [["--tensor-parallel-size", "2"], "--tensor-parallel-size: 2 is not supported yet"],
      [["--gpu-memory-utilization", "1.5"], "--gpu-memory-utilization: must be in (0, 1]"],
      [["--dtype", "int3"], "--dtype: invalid choice"],
      [["--generation-config", "other"], "--generation-config: 'other' is not auto, vllm or a folder"],
      [["--chat-template", "/no/such/file.jinja"], "--chat-template"],
      [[dir, "extra-positional"], "unrecognized arguments: extra-positional"],
    ];
    for (const [args, message] of cases) {
      const r = runSync(args);
      expect(r.code).toBe(2);
      expect(r.err).toContain(message);
    }
  });

  test.skipIf(cudaAvailable())("--device cuda without a usable CUDA device fails at startup and says why", () => {
    const r = runSync(["--device", "cuda"]);
    expect(r.code).not.toBe(0);
    expect(r.err).toContain("--device cuda:");
  });
});

describe("vllm serve process", () => {
  test("startup lines, VLLM_API_KEY, and SIGTERM: 503 for new requests while in-flight ones finish, then exit 0", async () => {
    const child = await spawnServer(["--enforce-eager", "--dtype", "bfloat16"], { VLLM_API_KEY: "env-key" });
    const log = child.log();
    expect(log).toMatch(/loaded MistralForCausalLM/);
    expect(log).toMatch(/KV cache: \d+ blocks of 16 tokens \(\d+ tokens\)/);
    expect(log).toMatch(/^INFO .*vllm-bun serving tiny on http:\/\/127\.0\.0\.1:\d+/m);
    const auth = { authorization: "Bearer env-key" };
    expect((await fetch(`${child.url}/v1/models`)).status).toBe(401);
    expect((await fetch(`${child.url}/v1/models`, { headers: auth })).status).toBe(200);

    const res = await fetch(`${child.url}/v1/completions`, {
      method: "POST", headers: auth, body: JSON.stringify({ prompt: "Hi", max_tokens: 1500, ignore_eos: true, stream: true }),
    });
    const reader = res.body!.getReader();
    let body = new TextDecoder().decode((await reader.read()).value);
    child.proc.kill("SIGTERM");
    await Bun.sleep(100);
    const refused = await fetch(`${child.url}/health`);
    expect(refused.status).toBe(503);
    expect(((await refused.json()) as any).error.message).toContain("shutting down");
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      body += new TextDecoder().decode(value);
    }
    const events = parseSse(body) as any[];
    expect(events.at(-1)).toBe("[DONE]");
    expect(events.at(-2).choices[0].finish_reason).toBe("length");
    expect(await exitCode(child.proc)).toBe(0);
    expect(child.log()).toContain("SIGTERM received");
  });

  test("past --shutdown-timeout the remaining requests are aborted and the server still exits 0", async () => {
    const child = await spawnServer(["--shutdown-timeout", "0.3"]);
    const res = await fetch(`${child.url}/v1/completions`, {
      method: "POST", body: JSON.stringify({ prompt: "Hi", max_tokens: 4000, ignore_eos: true, stream: true }),
    });
    const started = performance.now();
    child.proc.kill("SIGINT");
    const events = parseSse(await res.text()) as any[];
    expect(events.at(-1)).toBe("[DONE]");
    expect(events.at(-2).choices[0].finish_reason).toBe("abort");
    expect(await exitCode(child.proc)).toBe(0);
    expect(performance.now() - started).toBeLessThan(5000);
  });

  test("a dead engine: in-flight requests get their error, then the process exits 1 (engine_health.test.ts covers /health)", async () => {
    const child = await spawnServer([], { VLLM_BUN_FAULT_AFTER_STEPS: "2" });
    const res = await fetch(`${child.url}/v1/completions`, { method: "POST", body: JSON.stringify({ prompt: "Hi", max_tokens: 40, ignore_eos: true }) });
    expect(res.status).toBe(503);
    expect(((await res.json()) as any).error.message).toContain("injected fault");
    expect(await exitCode(child.proc)).toBe(1);
    expect(child.log() + (await new Response(child.proc.stderr).text())).toContain("the engine died");
  });

  test("the port is bound before the weights load: a port in use fails at once, naming it", async () => {
    const busy = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("busy") });
    try {
      const r = runSync([dir, "--host", "127.0.0.1", "--port", String(busy.port), "--kv-cache-memory", "64MiB"]);
      expect(r.code).toBe(1);
      expect(r.err).toContain(`cannot listen on 127.0.0.1:${busy.port}`);
      expect(r.err + r.out).not.toContain("loaded MistralForCausalLM");
    } finally {
      busy.stop(true);
    }
  });
});
