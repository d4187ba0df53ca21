/**
 * Issue 9, items 6 and 10 at startup and over HTTP: `vllm serve` renders the chat template on a sample
 * conversation under the render time limit before it listens, so a broken or looping template fails startup
 * naming its file (tokenizer_config.json, or the --chat-template file); bad generation_config.json values
 * fail startup naming the file and field; and a template that runs past its limit on a request is a 400
 * while the server keeps answering.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT, tinyModelDir } from "../support/tiny_models";
import { healthDuring, modelVariant } from "./hardening_support";
import { post, startTestServer } from "./support";

const BUN = join(REPO_ROOT, "node_modules", ".bin", "bun");
const MAIN = join(REPO_ROOT, "src", "cli", "main.ts");
const cleanups: (() => void)[] = [];
afterAll(() => { for (const c of cleanups) c(); });

function serve(dir: string, flags: string[] = []) {
  const t0 = performance.now();
  const r = Bun.spawnSync([BUN, MAIN, "serve", dir, "--host", "127.0.0.1", "--port", "0", "--kv-cache-memory", "64MiB", "--disable-log-stats", ...flags],
    { cwd: REPO_ROOT, stdout: "pipe", stderr: "pipe", timeout: 60_000 });
  return { code: r.exitCode, err: r.stderr.toString(), out: r.stdout.toString(), ms: performance.now() - t0 };
}

/** The mistral tiny model with a chat template in its tokenizer_config.json. */
function withTemplate(template: string): string {
  const config = JSON.parse(readFileSync(join(tinyModelDir("mistral"), "tokenizer_config.json"), "utf8"));
  const v = modelVariant("mistral", { "tokenizer_config.json": JSON.stringify({ ...config, chat_template: template }) });
  cleanups.push(v.cleanup);
  return v.dir;
}

const LOOP = "{% for a in range(1000) %}{% for b in range(1000) %}{% for c in range(1000) %}{% endfor %}{% endfor %}{% endfor %}";

describe("startup checks", () => {
  test("a chat template that fails or loops on a sample conversation fails startup, naming tokenizer_config.json", () => {
    const broken = withTemplate("{{ raise_exception('this template is broken') }}");
    const r = serve(broken);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${join(broken, "tokenizer_config.json")}: the chat template fails on a one-message conversation`);
    expect(r.err).toContain("this template is broken");
    expect(r.out).not.toContain("serving");

    const looping = withTemplate(LOOP);
    const l = serve(looping, ["--chat-template-render-timeout", "0.5"]);
    expect(l.code).toBe(1);
    expect(l.err).toContain(`${join(looping, "tokenizer_config.json")}: the chat template fails`);
    expect(l.err).toContain("took longer than 0.5 s (--chat-template-render-timeout)");
    expect(l.ms).toBeLessThan(30_000);
  });

  test("--chat-template: a file symlinked to /dev/zero, or one that does not render, is a flag error naming it", () => {
    const v = modelVariant("mistral", { "bad.jinja": "{% if %}" });
    cleanups.push(v.cleanup);
    symlinkSync("/dev/zero", join(v.dir, "zero.jinja"));
    const zero = serve(v.dir, ["--chat-template", join(v.dir, "zero.jinja")]);
    expect(zero.code).toBe(2);
    expect(zero.err).toContain(`argument --chat-template: ${join(v.dir, "zero.jinja")}: not a regular file`);
    const bad = serve(v.dir, ["--chat-template", join(v.dir, "bad.jinja")]);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain(`argument --chat-template: ${join(v.dir, "bad.jinja")}: the chat template fails`);
    expect(bad.err).toContain("bad.jinja");
  });

  test("generation_config.json with temperature -1 fails startup naming the file and the field; bad limit flags are flag errors", () => {
    const v = modelVariant("mistral", { "generation_config.json": JSON.stringify({ eos_token_id: 2, temperature: -1 }) });
    cleanups.push(v.cleanup);
    const r = serve(v.dir);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${join(v.dir, "generation_config.json")}: field 'temperature'`);
    const flags: [string[], string][] = [
      [["--tokenizer-pool-size", "-1"], "--tokenizer-pool-size: must be in [0, 64]"],
      [["--timeout-keep-alive", "0"], "--timeout-keep-alive: must be in [1, 255]"],
      [["--request-body-timeout", "0"], "--request-body-timeout: must be positive"],
      [["--limit-concurrency", "0"], "--limit-concurrency: must be at least 1"],
      [["--max-seqs-per-request", "0"], "--max-seqs-per-request: must be at least 1"],
      [["--chat-template-render-timeout", "0"], "--chat-template-render-timeout: must be positive"],
    ];
    for (const [args, message] of flags) {
      const f = serve(tinyModelDir("mistral"), args);
      expect(f.code).toBe(2);
      expect(f.err).toContain(message);
    }
  });
});

describe("a chat template past its render limit on a request", () => {
  // Fine on the startup sample; quadratic in a variable the request controls.
  const TEMPLATE = "{% if n is defined %}{% for a in range(n) %}{% for b in range(n) %}{% endfor %}{% endfor %}{% endif %}{{ messages[0].content }}";
  const s = startTestServer({ config: { chatTemplate: TEMPLATE, chatTemplateRenderTimeout: 0.5 } });
  afterAll(() => s.close());

  test("is a 400 naming the limit, /health answers meanwhile, and the next request is served", async () => {
    const body = { messages: [{ role: "user", content: "Hi" }], max_tokens: 1, chat_template_kwargs: { n: 5000 } }; // 25M loop steps, each list within the output limit
    await post(`${s.url}/tokenize`, { prompt: "warm up" });
    const { result, maxHealthMs } = await healthDuring(s.url, post(`${s.url}/v1/chat/completions`, body));
    expect(result.status).toBe(400);
    expect(result.json.error.message).toContain("rendering the chat template took longer than 0.5 s (--chat-template-render-timeout)");
    expect(maxHealthMs).toBeLessThan(200);
    const ok = await post(`${s.url}/v1/chat/completions`, { messages: [{ role: "user", content: "Hi" }], max_tokens: 1 });
    expect(ok.status).toBe(200);
  });
});
