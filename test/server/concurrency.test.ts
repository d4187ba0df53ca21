/** 100 concurrent streaming requests all complete, and batching does not change any greedy output. */
import { afterAll, describe, expect, test } from "bun:test";
import { metrics, metricValue, MODEL_NAME, startTestServer } from "./support";

const s = startTestServer();
afterAll(() => s.close());
const PROMPTS = ["Once upon a time", "The capital of France is", "def fibonacci(n):", "In the beginning"];

async function streamText(prompt: string): Promise<{ text: string; finish: string | null; tokens: number }> {
  const stream = await s.client.completions.create({
    model: MODEL_NAME, prompt, max_tokens: 8, temperature: 0, stream: true, stream_options: { include_usage: true }, ...({ ignore_eos: true } as {}),
  });
  let text = "", finish: string | null = null, tokens = -1;
  for await (const chunk of stream) {
    for (const c of chunk.choices) { text += c.text; finish = c.finish_reason ?? finish; }
    if (chunk.usage) tokens = chunk.usage.completion_tokens;
  }
  return { text, finish, tokens };
}

describe("concurrency", () => {
  test("100 concurrent streams all finish with their solo greedy text", async () => {
    const solo = new Map<string, string>();
    for (const p of PROMPTS) solo.set(p, (await streamText(p)).text);
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => streamText(PROMPTS[i % PROMPTS.length])));
    results.forEach((r, i) => {
      expect(r.finish).toBe("length");
      expect(r.tokens).toBe(8);
      expect(r.text).toBe(solo.get(PROMPTS[i % PROMPTS.length])!);
    });
    const text = await metrics(s.url);
    expect(metricValue(text, "vllm:request_success_total", { finished_reason: "length" })).toBe(104);
    expect(metricValue(text, "vllm:num_requests_running")).toBe(0);
    expect(metricValue(text, "vllm:kv_cache_usage_perc")).toBe(0);
    expect(s.state.inFlight).toBe(0);
  });
});
