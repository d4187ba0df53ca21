/** GET /metrics: vLLM's metric names with a model_name label, and values that follow the traffic. */
import { afterAll, describe, expect, test } from "bun:test";
import { metrics, metricValue, MODEL_NAME, startTestServer } from "./support";

const s = startTestServer();
afterAll(() => s.close());
const labels = { model_name: MODEL_NAME };

// With the names vLLM used before its rename, which routers in front of vLLM still scrape.
const GAUGES = ["vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"];
const COUNTERS = ["vllm:prompt_tokens_total", "vllm:generation_tokens_total", "vllm:num_preemptions_total", "vllm:prefix_cache_queries_total", "vllm:prefix_cache_hits_total",
  "vllm:gpu_prefix_cache_queries_total", "vllm:gpu_prefix_cache_hits_total"];
const HISTOGRAMS = [
  "vllm:time_to_first_token_seconds", "vllm:inter_token_latency_seconds", "vllm:e2e_request_latency_seconds",
  "vllm:request_queue_time_seconds", "vllm:request_prompt_tokens", "vllm:request_generation_tokens",
];

describe("metrics", () => {
  test("every vLLM metric name is exported with its type", async () => {
    const res = await fetch(`${s.url}/metrics`);
    expect(res.headers.get("content-type")).toContain("text/plain");
    const text = await res.text();
    for (const name of GAUGES) expect(text).toContain(`# TYPE ${name} gauge`);
    for (const name of [...COUNTERS, "vllm:request_success_total"]) expect(text).toContain(`# TYPE ${name} counter`);
    for (const name of HISTOGRAMS) expect(text).toContain(`# TYPE ${name} histogram`);
    for (const name of [...GAUGES, ...COUNTERS]) expect(metricValue(text, name, labels)).toBe(0);
    const n = s.state.llm.engine.engineCore.scheduler.kv.pool.numBlocks;
    expect(metricValue(text, "vllm:cache_config_info", { ...labels, block_size: "16", num_gpu_blocks: String(n) })).toBe(1);
  });

  test("counters and histograms follow finished requests", async () => {
    const prompt = "The quick brown fox jumps over the lazy dog. ".repeat(6);
    const a = await s.client.completions.create({ model: MODEL_NAME, prompt, max_tokens: 5, temperature: 0, ...({ ignore_eos: true } as {}) });
    const b = await s.client.completions.create({ model: MODEL_NAME, prompt, max_tokens: 7, temperature: 0, ...({ ignore_eos: true } as {}) });
    const text = await metrics(s.url);
    expect(metricValue(text, "vllm:prompt_tokens_total", labels)).toBe(a.usage!.prompt_tokens + b.usage!.prompt_tokens);
    expect(metricValue(text, "vllm:generation_tokens_total", labels)).toBe(12);
    expect(metricValue(text, "vllm:request_success_total", { ...labels, finished_reason: "length" })).toBe(2);
    // The second request found the first one's full blocks in the prefix cache.
    expect(metricValue(text, "vllm:prefix_cache_queries_total", labels)!).toBeGreaterThanOrEqual(2 * a.usage!.prompt_tokens);
    expect(metricValue(text, "vllm:prefix_cache_hits_total", labels)!).toBeGreaterThanOrEqual(16);
    for (const name of ["vllm:time_to_first_token_seconds", "vllm:e2e_request_latency_seconds", "vllm:request_queue_time_seconds"])
      expect(metricValue(text, `${name}_count`, labels)).toBe(2);
    expect(metricValue(text, "vllm:inter_token_latency_seconds_count", labels)).toBe(4 + 6);
    expect(metricValue(text, "vllm:request_generation_tokens_sum", labels)).toBe(12);
    expect(metricValue(text, "vllm:request_prompt_tokens_sum", labels)).toBe(a.usage!.prompt_tokens + b.usage!.prompt_tokens);
    // Scraping again adds nothing.
    expect(metricValue(await metrics(s.url), "vllm:generation_tokens_total", labels)).toBe(12);
  });
});
