/** `vllm bench latency` and `vllm bench throughput` on a tiny model (CPU backend), run through the CLI entry point. */
import { afterAll, describe, expect, spyOn, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "../../src/cli/main";
import { tinyModelDir } from "../support/tiny_models";

const dir = mkdtempSync(join(tmpdir(), "bench-offline-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const ENGINE = ["--model", tinyModelDir("mistral"), "--device", "cpu", "--cpu-threads", "2", "--kv-cache-memory", "64MiB", "--max-model-len", "256", "--max-num-batched-tokens", "256"];

/** Runs `vllm ...argv` in-process and returns its exit code and stdout lines. */
async function vllm(...argv: string[]): Promise<{ code: number; out: string[] }> {
  const out: string[] = [];
  const log = spyOn(console, "log").mockImplementation((...a: unknown[]) => void out.push(a.join(" ")));
  const err = spyOn(console, "error").mockImplementation(() => {});
  try {
    return { code: await main(argv), out: out.flatMap((l) => l.split("\n")) };
  } finally {
    log.mockRestore();
    err.mockRestore();
  }
}

describe("bench latency", () => {
  test("prints vLLM's lines and writes avg_latency, latencies and percentiles", async () => {
    const json = join(dir, "latency.json");
    const { code, out } = await vllm("bench", "latency", ...ENGINE, "--input-len", "8", "--output-len", "4", "--batch-size", "2",
      "--num-iters-warmup", "1", "--num-iters", "3", "--output-json", json, "--disable-tqdm");
    expect(code).toBe(0);
    const r = JSON.parse(readFileSync(json, "utf8"));
    expect(Object.keys(r).sort()).toEqual(["avg_latency", "latencies", "percentiles", "std_latency"]);
    expect(r.latencies).toHaveLength(3);
    for (const l of r.latencies) expect(l).toBeGreaterThan(0);
    expect(r.avg_latency).toBeCloseTo(r.latencies.reduce((a: number, b: number) => a + b, 0) / 3, 12);
    expect(Object.keys(r.percentiles)).toEqual(["10", "25", "50", "75", "90", "99"]);
    const ps = Object.values(r.percentiles) as number[];
    for (let i = 1; i < ps.length; i++) expect(ps[i]).toBeGreaterThanOrEqual(ps[i - 1]);
    expect(ps[0]).toBeGreaterThanOrEqual(Math.min(...r.latencies));
    expect(ps[5]).toBeLessThanOrEqual(Math.max(...r.latencies));
    expect(out[0]).toBe("Warming up...");
    expect(out[1]).toBe(`Avg latency: ${r.avg_latency} seconds`);
    expect(out).toContain(`50% percentile latency: ${r.percentiles["50"]} seconds`);
    expect(out.filter((l) => /^\d+% percentile latency: [\d.e-]+ seconds$/.test(l))).toHaveLength(6);
  });

  test("a batch longer than the context is refused, naming the flag", async () => {
    const { code } = await vllm("bench", "latency", ...ENGINE, "--input-len", "200", "--output-len", "100", "--num-iters", "1");
    expect(code).toBe(2);
  });
});

describe("bench throughput", () => {
  test("random prompts with --n 2: every sequence's tokens are counted", async () => {
    const json = join(dir, "throughput.json");
    const { code, out } = await vllm("bench", "throughput", ...ENGINE, "--input-len", "12", "--output-len", "5", "--num-prompts", "3", "--n", "2", "--output-json", json);
    expect(code).toBe(0);
    const r = JSON.parse(readFileSync(json, "utf8"));
    expect(r).toMatchObject({ num_requests: 3, n: 2, dataset_name: "random", total_prompt_tokens: 36, total_output_tokens: 30, total_num_tokens: 66 });
    expect(r.requests_per_second).toBeCloseTo(3 / r.elapsed_time, 6);
    expect(r.tokens_per_second).toBeCloseTo(66 / r.elapsed_time, 6);
    expect(out[0]).toMatch(/^Throughput: \d+\.\d\d requests\/s, \d+\.\d\d total tokens\/s, \d+\.\d\d output tokens\/s$/);
    expect(out).toContain("Total num prompt tokens:  36");
    expect(out).toContain("Total num output tokens:  30");
  });

  test("a ShareGPT file, its second turns setting the output lengths", async () => {
    const path = join(dir, "sharegpt.jsonl");
    const answers = ["Paris is the capital of France.", "Blue, red and yellow are primary."];
    writeFileSync(path, answers.map((a, i) => JSON.stringify({ conversations: [{ from: "human", value: `Question number ${i} for the model, please answer.` }, { from: "gpt", value: a }] })).join("\n"));
    const json = join(dir, "throughput-sharegpt.json");
    const { code } = await vllm("bench", "throughput", ...ENGINE, "--dataset-name", "sharegpt", "--dataset-path", path, "--num-prompts", "2", "--output-json", json);
    expect(code).toBe(0);
    const r = JSON.parse(readFileSync(json, "utf8"));
    expect(r.num_requests).toBe(2);
    expect(r.dataset_name).toBe("sharegpt");
    const { Tokenizer } = await import("../../src/tokenizer/tokenizer");
    const tok = Tokenizer.fromDir(tinyModelDir("mistral"));
    expect(r.total_output_tokens).toBe(answers.reduce((a, s) => a + tok.encode(s).length, 0));
  });

  test("a dataset file with the random dataset, or a file dataset without one, is refused before the engine loads", async () => {
    expect((await vllm("bench", "throughput", ...ENGINE, "--dataset-path", join(dir, "x.json"))).code).toBe(2);
    expect((await vllm("bench", "throughput", ...ENGINE, "--dataset-name", "custom")).code).toBe(2);
  });
});
