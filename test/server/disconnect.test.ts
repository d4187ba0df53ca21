/** A client that goes away mid-request aborts it in the engine: nothing keeps running, no KV block stays held. */
import { afterAll, describe, expect, test } from "bun:test";
import { metrics, metricValue, startTestServer } from "./support";

// A long context so an unaborted request would still be running long after the checks below.
const s = startTestServer({ engine: { maxModelLen: 4096 } });
afterAll(() => s.close());
const LONG = { prompt: "Once upon a time", max_tokens: 4000, ignore_eos: true, temperature: 0 };

async function until(what: () => Promise<boolean>, ms = 3000): Promise<boolean> {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    if (await what()) return true;
    await Bun.sleep(10);
  }
  return false;
}

const gauge = async (name: string) => metricValue(await metrics(s.url), name, { model_name: "tiny" });

async function expectAllFreed(abortsBefore: number) {
  expect(await until(async () => (await gauge("vllm:num_requests_running")) === 0)).toBe(true);
  const text = await metrics(s.url);
  expect(metricValue(text, "vllm:num_requests_running")).toBe(0);
  expect(metricValue(text, "vllm:num_requests_waiting")).toBe(0);
  expect(metricValue(text, "vllm:kv_cache_usage_perc")).toBe(0);
  expect(metricValue(text, "vllm:request_success_total", { finished_reason: "abort" })).toBe(abortsBefore + 1);
  expect(metricValue(text, "vllm:generation_tokens_total")!).toBeLessThan(4000);
  expect(s.state.inFlight).toBe(0);
  expect(s.state.llm.engine.hasUnfinishedRequests()).toBe(false);
}

const aborts = async () => metricValue(await metrics(s.url), "vllm:request_success_total", { finished_reason: "abort" }) ?? 0;

describe("client disconnect", () => {
  test("a streaming client that disconnects after one chunk", async () => {
    const before = await aborts();
    const ac = new AbortController();
    const res = await fetch(`${s.url}/v1/completions`, { method: "POST", body: JSON.stringify({ ...LONG, stream: true }), signal: ac.signal });
    const reader = res.body!.getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toStartWith("data: ");
    expect(await gauge("vllm:num_requests_running")).toBe(1);
    expect((await gauge("vllm:kv_cache_usage_perc"))!).toBeGreaterThan(0);
    ac.abort();
    await expectAllFreed(before);
  });

  test("a non-streaming client that disconnects while its request runs", async () => {
    const before = await aborts();
    const ac = new AbortController();
    const pending = fetch(`${s.url}/v1/chat/completions`, {
      method: "POST", body: JSON.stringify({ messages: [{ role: "user", content: "Hi" }], ...LONG }), signal: ac.signal,
    }).catch((e) => e);
    expect(await until(async () => (await gauge("vllm:num_requests_running")) === 1)).toBe(true);
    ac.abort();
    expect(await pending).toBeInstanceOf(Error);
    await expectAllFreed(before);
  });

  test("an SDK stream broken off early", async () => {
    const before = await aborts();
    const stream = await s.client.chat.completions.create({
      model: "tiny", messages: [{ role: "user", content: "Hi" }], max_tokens: 4000, stream: true, ...({ ignore_eos: true } as {}),
    });
    let n = 0;
    for await (const _ of stream) if (++n === 3) break;
    await expectAllFreed(before);
  });
});
