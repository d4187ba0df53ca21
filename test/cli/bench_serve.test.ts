/** `vllm bench serve` against the real server on a loopback port with a tiny model (CPU backend). */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { benchServe } from "../../src/benchmarks/serve";
import { parseArgs } from "../../src/cli/arg_parser";
import { SERVE_FLAGS, serveOptionsFrom } from "../../src/cli/bench/serve";
import { startTestServer } from "../server/support";
import { tinyModelDir } from "../support/tiny_models";

const s = startTestServer();
const dir = mkdtempSync(join(tmpdir(), "bench-serve-"));
afterAll(async () => {
  await s.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs bench serve's code with CLI flags against the test server; returns the result JSON and the printed lines. */
async function bench(...argv: string[]): Promise<{ r: Record<string, any>; lines: string[] }> {
  const lines: string[] = [];
  const o = serveOptionsFrom(parseArgs(["--base-url", s.url, "--disable-tqdm", ...argv], SERVE_FLAGS).values);
  const r = await benchServe(o, (l) => lines.push(l));
  return { r, lines };
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

function expectConsistent(r: Record<string, any>, num: number): void {
  expect(r.completed + r.failed).toBe(num);
  for (const k of ["input_lens", "output_lens", "ttfts", "itls", "generated_texts", "errors"]) expect(r[k]).toHaveLength(num);
  // Totals count the successful requests; the lists hold every request.
  expect(r.total_input_tokens).toBe(sum(r.input_lens.filter((_: number, i: number) => r.errors[i] === "")));
  expect(r.total_output_tokens).toBe(sum(r.output_lens));
  expect(r.request_throughput).toBeCloseTo(r.completed / r.duration, 6);
  expect(r.output_throughput).toBeCloseTo(r.total_output_tokens / r.duration, 6);
  expect(r.total_token_throughput).toBeCloseTo((r.total_input_tokens + r.total_output_tokens) / r.duration, 6);
}

/** The table line for `label`: the label padded to 40, a space, the value padded to 10 (Python's format). */
function tableValue(lines: string[], label: string): string {
  const table = lines.slice(lines.indexOf("============ Serving Benchmark Result ============"));
  const line = table.find((l) => l.startsWith(label));
  expect(line).toBeDefined();
  expect(line!.slice(0, 41)).toBe(label.padEnd(40) + " ");
  expect(line!.length).toBeGreaterThanOrEqual(51);
  return line!.slice(41).trimEnd();
}

describe("random dataset", () => {
  test("--request-rate inf: every request completes, counts and percentiles agree, vLLM's table and file", async () => {
    const { r, lines } = await bench(
      "--num-prompts", "6", "--random-input-len", "16", "--random-output-len", "8", "--metric-percentiles", "25,50,75,99",
      "--percentile-metrics", "ttft,tpot,itl,e2el", "--save-result", "--result-dir", join(dir, "inf"), "--seed", "3",
    );
    expectConsistent(r, 6);
    expect(r.completed).toBe(6);
    expect(r.failed).toBe(0);
    expect(r.errors).toEqual(Array(6).fill(""));
    // The dataset leaves room for BOS; the server's usage counts it back.
    expect(r.input_lens).toEqual(Array(6).fill(16));
    // The random dataset always sends ignore_eos, so every request runs to its length.
    expect(r.output_lens).toEqual(Array(6).fill(8));
    for (let i = 0; i < 6; i++) {
      expect(r.ttfts[i]).toBeGreaterThan(0);
      expect(r.itls[i].length).toBeGreaterThanOrEqual(1);
      expect(r.itls[i].length).toBeLessThanOrEqual(7);
    }
    for (const m of ["ttft", "tpot", "itl", "e2el"]) {
      const [p25, p50, p75, p99] = [25, 50, 75, 99].map((p) => r[`p${p}_${m}_ms`]);
      // Chunks read together share one arrival time, so an ITL may be 0 (the server shares this event loop).
      if (m === "itl") expect(p25).toBeGreaterThanOrEqual(0);
      else expect(p25).toBeGreaterThan(0);
      expect(p25).toBeLessThanOrEqual(p50);
      expect(p50).toBeLessThanOrEqual(p75);
      expect(p75).toBeLessThanOrEqual(p99);
      expect(r[`median_${m}_ms`]).toBeCloseTo(p50, 9);
      expect(r[`std_${m}_ms`]).toBeGreaterThanOrEqual(0);
      expect(r[`mean_${m}_ms`]).toBeGreaterThan(0);
    }
    expect(r.mean_ttft_ms).toBeCloseTo((sum(r.ttfts) / 6) * 1000, 6);
    expect(r.mean_e2el_ms).toBeGreaterThan(r.mean_ttft_ms);
    expect(r.max_concurrent_requests).toBeGreaterThanOrEqual(1);
    expect(r.max_concurrent_requests).toBeLessThanOrEqual(6);
    expect(r).toMatchObject({ backend: "openai", endpoint_type: "openai", label: "openai", model_id: s.state.modelPath, request_rate: "inf", burstiness: 1, max_concurrency: null, num_prompts: 6 });

    expect(lines).toContain("Traffic request rate: inf");
    expect(lines).toContain("Burstiness factor: 1.0 (Poisson process)");
    const start = lines.indexOf("============ Serving Benchmark Result ============");
    expect(start).toBeGreaterThanOrEqual(0);
    expect(lines.at(-1)).toBe("=".repeat(50));
    expect(tableValue(lines, "Successful requests:")).toBe("6");
    expect(tableValue(lines, "Failed requests:")).toBe("0");
    expect(tableValue(lines, "Total input tokens:")).toBe("96");
    expect(tableValue(lines, "Total generated tokens:")).toBe("48");
    expect(Number(tableValue(lines, "Benchmark duration (s):"))).toBeCloseTo(r.duration, 2);
    expect(Number(tableValue(lines, "Total Token throughput (tok/s):"))).toBeCloseTo(r.total_token_throughput, 1);
    expect(lines).toContain("Maximum request concurrency: None");
    const table = lines.slice(start);
    expect(table.some((l) => l.startsWith("Maximum request concurrency:") || l.startsWith("Request rate configured"))).toBe(false);
    const headers = lines.filter((l) => /^-+[A-Z].*-+$/.test(l));
    expect(headers).toEqual([
      "---------------Time to First Token----------------",
      "-----Time per Output Token (excl. 1st token)------",
      "---------------Inter-token Latency----------------",
      "----------------End-to-end Latency----------------",
    ]);
    expect(Number(tableValue(lines, "P99 TTFT (ms):"))).toBeCloseTo(r.p99_ttft_ms, 1);
    expect(Number(tableValue(lines, "Median ITL (ms):"))).toBeCloseTo(r.median_itl_ms, 1);

    const files = readdirSync(join(dir, "inf"));
    const base = s.state.modelPath.split("/").pop()!;
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(new RegExp(`^openai-infqps-${base.replace(/[.-]/g, "\\$&")}-\\d{8}-\\d{6}\\.json$`));
    const saved = JSON.parse(readFileSync(join(dir, "inf", files[0]), "utf8"));
    expect(saved).toEqual(r);
  });

  test("a finite rate with --max-concurrency over the chat endpoint", async () => {
    const { r, lines } = await bench(
      "--backend", "openai-chat", "--model", "tiny", "--tokenizer", tinyModelDir("mistral"), "--num-prompts", "6",
      "--input-len", "12", "--output-len", "5", "--request-rate", "40", "--burstiness", "0.5", "--max-concurrency", "2",
      "--save-result", "--result-dir", join(dir, "rate"), "--label", "chat",
    );
    expectConsistent(r, 6);
    expect(r.completed).toBe(6);
    expect(r.output_lens).toEqual(Array(6).fill(5));
    expect(r.max_concurrent_requests).toBeLessThanOrEqual(2);
    // The chat template wraps the prompt, so the server counts more prompt tokens than were drawn.
    for (const n of r.input_lens) expect(n).toBeGreaterThan(12);
    expect(r).toMatchObject({ request_rate: 40, burstiness: 0.5, max_concurrency: 2, model_id: "tiny", label: "chat" });
    expect(lines).toContain("Burstiness factor: 0.5 (Gamma distribution)");
    expect(tableValue(lines, "Maximum request concurrency:")).toBe("2");
    expect(tableValue(lines, "Request rate configured (RPS):")).toBe("40.00");
    expect(lines.some((l) => l.includes("End-to-end Latency"))).toBe(false);
    expect(r.p99_ttft_ms).toBeGreaterThanOrEqual(r.median_ttft_ms);
    expect(readdirSync(join(dir, "rate"))[0]).toMatch(/^chat-40\.0qps-concurrency2-tiny-\d{8}-\d{6}\.json$/);
    // Six requests at 40/s are spread over 150 ms.
    expect(r.duration).toBeGreaterThan(0.15);
  });
});

describe("dataset files", () => {
  test("ShareGPT conversations: the second turn sets the output length", async () => {
    const path = join(dir, "sharegpt.json");
    const convo = (q: string, a: string) => ({ id: q, conversations: [{ from: "human", value: q }, { from: "gpt", value: a }] });
    writeFileSync(path, JSON.stringify([
      convo("What is the capital of France? Answer briefly.", "The capital of France is Paris."),
      convo("Name three primary colours, please.", "Red, yellow and blue are the three primary colours."),
      { id: "short", conversations: [{ from: "human", value: "only one turn" }] },
      convo("Write a haiku about the sea and its waves.", "Waves fold into foam, the grey sea breathes in and out, salt wind on the shore."),
    ]));
    const { r } = await bench("--dataset-name", "sharegpt", "--dataset-path", path, "--num-prompts", "3", "--ignore-eos", "--model", "tiny");
    expectConsistent(r, 3);
    expect(r.completed).toBe(3);
    const tok = s.state.tokenizer;
    const expected = [
      "The capital of France is Paris.", "Red, yellow and blue are the three primary colours.",
      "Waves fold into foam, the grey sea breathes in and out, salt wind on the shore.",
    ].map((a) => tok.encode(a).length);
    expect([...r.output_lens].sort()).toEqual(expected.sort());

    const fixed = await bench("--dataset-name", "sharegpt", "--dataset-path", path, "--num-prompts", "5", "--output-len", "4", "--ignore-eos");
    // Three usable conversations are repeated to fill five requests.
    expect(fixed.r.completed).toBe(5);
    expect(fixed.r.output_lens).toEqual(Array(5).fill(4));
  });

  test("custom JSONL: per-line output_tokens, the rest from --custom-output-len", async () => {
    const path = join(dir, "custom.jsonl");
    writeFileSync(path, [
      JSON.stringify({ prompt: "What is the capital of India?", output_tokens: 3 }),
      JSON.stringify({ prompt: "What is the capital of Iran?", output_tokens: 6 }),
      JSON.stringify({ prompt: "What is the capital of China?" }),
    ].join("\n") + "\n");
    const { r } = await bench("--dataset-name", "custom", "--dataset-path", path, "--num-prompts", "3", "--custom-output-len", "2", "--ignore-eos");
    expectConsistent(r, 3);
    expect([...r.output_lens].sort()).toEqual([2, 3, 6]);
    // Completions get the chat template applied client-side (BOS counted once more by the server).
    const raw = s.state.tokenizer.encode("What is the capital of India?").length;
    for (const n of r.input_lens) expect(n).toBeGreaterThan(raw);
  });
});

describe("failures", () => {
  test("server errors count as failed requests, as vLLM counts them", async () => {
    const { r, lines } = await bench("--served-model-name", "no-such-model", "--tokenizer", tinyModelDir("mistral"), "--num-prompts", "3", "--input-len", "8", "--output-len", "2");
    expectConsistent(r, 3);
    expect(r.completed).toBe(0);
    expect(r.failed).toBe(3);
    for (const e of r.errors) expect(e).toMatch(/^HTTP 404 /);
    expect(r.output_lens).toEqual([0, 0, 0]);
    expect(tableValue(lines, "Successful requests:")).toBe("0");
    expect(tableValue(lines, "Failed requests:")).toBe("3");
    expect(lines).toContain("Failed requests during benchmark run detected (capping to 10):");
  });

  test("an unreachable server fails every request, with the reason", async () => {
    const dead = serveOptionsFrom(parseArgs(["--port", "1", "--model", "x", "--tokenizer", tinyModelDir("mistral"), "--num-prompts", "2", "--input-len", "8", "--output-len", "2", "--disable-tqdm"], SERVE_FLAGS).values);
    const r = await benchServe(dead, () => {});
    expect(r.failed).toBe(2);
    for (const e of r.errors as string[]) expect(e.length).toBeGreaterThan(0);
  });
});

describe("auth", () => {
  test("OPENAI_API_KEY is sent to /v1/models and to every request", async () => {
    const locked = startTestServer({ config: { apiKey: "sk-bench" } });
    const run = (key: string | undefined) => {
      if (key === undefined) delete process.env.OPENAI_API_KEY;
      else process.env.OPENAI_API_KEY = key;
      const o = serveOptionsFrom(parseArgs(["--base-url", locked.url, "--num-prompts", "2", "--input-len", "8", "--output-len", "2", "--disable-tqdm"], SERVE_FLAGS).values);
      return benchServe(o, () => {});
    };
    const saved = process.env.OPENAI_API_KEY;
    try {
      const r = await run("sk-bench");
      expect(r.completed).toBe(2);
      expect(r.model_id).toBe(locked.state.modelPath);
      await expect(run(undefined)).rejects.toThrow(/cannot list models .*HTTP 401/);
    } finally {
      if (saved === undefined) delete process.env.OPENAI_API_KEY;
      else process.env.OPENAI_API_KEY = saved;
      await locked.close();
    }
  });
});
