/**
 * --generation-config / --override-generation-config (request defaults), --max-log-len (the prompt in the
 * debug log) and --root-path (the OpenAPI server URL), from the parsed command line through a real server.
 */
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ArgError } from "../../src/cli/arg_parser";
import { parseServeFlags } from "../../src/cli/serve";
import { Logger } from "../../src/server/logger";
import type { ServerConfig } from "../../src/server/state";
import { tinyModelDir } from "../support/tiny_models";
import { MODEL_NAME, post, startTestServer, type TestServer } from "./support";

setDefaultTimeout(60_000);
const dir = tinyModelDir("llama3");
const tmp = mkdtempSync(join(tmpdir(), "vllm-genconf-"));
const servers: TestServer[] = [];
afterAll(async () => {
  for (const s of servers) await s.close();
  rmSync(tmp, { recursive: true, force: true });
});

function folder(name: string, json: unknown): string {
  const d = join(tmp, name);
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, "generation_config.json"), typeof json === "string" ? json : JSON.stringify(json));
  return d;
}

function config(argv: string[]): Partial<ServerConfig> {
  const p = parseServeFlags([dir, ...argv]);
  if (p === "help") throw new Error("unexpected --help");
  return p.serve.config;
}

/** A server started from these flags, its log lines kept. */
function serverFrom(argv: string[], level: "info" | "debug" = "info") {
  const lines: string[] = [];
  const s = startTestServer({ model: "llama3", config: { ...config(argv), enableLogRequests: true }, log: new Logger(level, (l) => lines.push(l)) });
  servers.push(s);
  return { s, lines };
}

const chat = (s: TestServer, body: Record<string, unknown> = {}) =>
  post(`${s.url}/v1/chat/completions`, { model: MODEL_NAME, messages: [{ role: "user", content: "Hello there" }], seed: 3, ...body });

describe("--generation-config and --override-generation-config", () => {
  const sampling = folder("sampling", { temperature: 0.3, top_k: 7, max_new_tokens: 3 });

  test("a folder's generation_config.json gives the request defaults; the request's own values win", async () => {
    const { s, lines } = serverFrom(["--generation-config", sampling]);
    expect(s.state.defaults).toEqual({ temperature: 0.3, topK: 7, maxTokens: 3 });
    expect(lines.some((l) => /default sampling parameters from --generation-config/.test(l))).toBe(true);
    const r = await chat(s, { max_tokens: 10 });
    expect(r.status).toBe(200);
    // max_new_tokens caps what a request asks, as in vLLM.
    expect(r.json.usage.completion_tokens).toBeLessThanOrEqual(3);
    await chat(s, { temperature: 0.8 });
    const received = lines.filter((l) => l.includes("Received request"));
    expect(received[0]).toContain('"temperature":0.3');
    expect(received[0]).toContain('"topK":7');
    expect(received[1]).toContain('"temperature":0.8');
  });

  test("the override lays its fields over the folder's, and over none under vllm; other keys warn", () => {
    const { s, lines } = serverFrom(["--generation-config", sampling, "--override-generation-config", '{"temperature": 0.9, "max_new_tokens": 2, "eos_token_id": 5}']);
    expect(s.state.defaults).toEqual({ temperature: 0.9, topK: 7, maxTokens: 2 });
    expect(lines.some((l) => /^WARNING .*--override-generation-config: 'eos_token_id' has no effect/.test(l))).toBe(true);
    const v = serverFrom(["--generation-config", "vllm", "--override-generation-config", '{"top_p": 0.5}']);
    expect(v.s.state.defaults).toEqual({ topP: 0.5 });
    const auto = serverFrom([]);
    expect(auto.s.state.defaults).toEqual({});
  });

  test("bad values are errors naming the flag", () => {
    const cases: [string[], RegExp][] = [
      [["--generation-config", join(tmp, "nope")], /--generation-config: '.*nope' is not auto, vllm or a folder/],
      [["--generation-config", tmp], /--generation-config: .*generation_config\.json: not found/],
      [["--generation-config", folder("bad", { temperature: -1 })], /--generation-config: .*temperature/],
      [["--generation-config", folder("broken", "{not json")], /--generation-config: /],
      [["--override-generation-config", "{temperature"], /--override-generation-config: not valid JSON/],
      [["--override-generation-config", "[1]"], /--override-generation-config: must be a JSON object/],
      [["--override-generation-config", '{"top_p": 2}'], /--override-generation-config: field 'top_p'/],
      [["--override-generation-config", '{"top_k": "x"}'], /--override-generation-config: .*top_k/],
    ];
    for (const [argv, message] of cases) {
      expect(() => config(argv)).toThrow(ArgError);
      expect(() => config(argv)).toThrow(message);
    }
  });
});

describe("--max-log-len", () => {
  test("at debug level the prompt's text and ids are logged, cut to --max-log-len", async () => {
    const cut = serverFrom(["--max-log-len", "5"], "debug");
    await chat(cut.s, { max_tokens: 1 });
    const line = cut.lines.find((l) => l.includes("Request prompt:"))!;
    const m = /Request prompt: (".*"), prompt_token_ids: \[(.*)\]$/.exec(line)!;
    expect(JSON.parse(m[1]).length).toBeLessThanOrEqual(5);
    expect(m[2].split(", ")).toHaveLength(5);
    const full = serverFrom([], "debug");
    const r = await chat(full.s, { max_tokens: 1 });
    const fullLine = full.lines.find((l) => l.includes("Request prompt:"))!;
    const fm = /Request prompt: (".*"), prompt_token_ids: \[(.*)\]$/.exec(fullLine)!;
    expect(fm[2].split(", ")).toHaveLength(r.json.usage.prompt_tokens);
    expect(JSON.parse(fm[1])).toContain("Hello there");
    expect(JSON.parse(fm[1]).startsWith(JSON.parse(m[1]))).toBe(true);
    // At info level the prompt never reaches the log.
    const info = serverFrom(["--max-log-len", "5"]);
    await chat(info.s, { max_tokens: 1 });
    expect(info.lines.some((l) => l.includes("Request prompt:"))).toBe(false);
  });

  test("a negative value is an error naming the flag", () => {
    expect(() => config(["--max-log-len", "-1"])).toThrow(/--max-log-len: must be non-negative/);
  });
});

describe("--root-path", () => {
  test("routes stay at / (the proxy strips the prefix) and the OpenAPI document names the prefix", async () => {
    const { s } = serverFrom(["--root-path", "/llm/v2"]);
    const doc = (await (await fetch(`${s.url}/openapi.json`)).json()) as { servers?: unknown };
    expect(doc.servers).toEqual([{ url: "/llm/v2" }]);
    expect((await fetch(`${s.url}/v1/models`)).status).toBe(200);
    const plain = serverFrom([]);
    expect(((await (await fetch(`${plain.s.url}/openapi.json`)).json()) as { servers?: unknown }).servers).toBeUndefined();
  });

  test("a value that is not a URL path is an error naming the flag", () => {
    for (const bad of ["llm", "/llm/", "/l m", "/llm?x=1"]) expect(() => config(["--root-path", bad])).toThrow(/--root-path: must be a URL path/);
    expect(config(["--root-path", "/a/b"]).rootPath).toBe("/a/b");
  });
});
