/**
 * Heavy VALID requests, the other half of fuzz.test.ts: 1,000+ random combinations at the bounds (prompts up
 * to the context, prompt_logprobs 0–20, logprobs / top_logprobs up to the cap, n, echo, stop strings, seeds,
 * lists of prompts), many at once, against a small-limits server and a default-limits one. Every answer is a
 * 200 (or a 4xx naming a limit), the engine stays alive, and the KV pool is empty afterwards. Also the
 * reproduction of the request that once killed the engine (prompt_logprobs past the logits rows).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { Generator } from "../../src/sample/generator";
import { metrics, metricValue, MODEL_NAME, post, startTestServer, type TestServer } from "./support";

const MAX_MODEL_LEN = 192;
const small = startTestServer({ model: "mistral", engine: { maxNumSeqs: 8, maxNumBatchedTokens: 64, maxModelLen: MAX_MODEL_LEN } });
const defaults = startTestServer({ model: "mistral", engine: { maxNumSeqs: 256, maxNumBatchedTokens: 8192, maxModelLen: MAX_MODEL_LEN } });
// The issue's reproduction: default batch limits but --max-num-seqs 8.
const repro = startTestServer({ model: "mistral", engine: { maxNumSeqs: 8, maxNumBatchedTokens: 8192, maxModelLen: 512 } });
afterAll(() => Promise.all([small.close(), defaults.close(), repro.close()]));

const g = new Generator(77);
const int = (lo: number, hi: number) => lo + Math.floor(g.random() * (hi - lo + 1));
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(g.random() * xs.length)];
const maybe = <T>(p: number, v: () => T): T | undefined => (g.random() < p ? v() : undefined);
const ids = (n: number) => Array.from({ length: n }, () => int(3, 31000));
const words = (n: number) => Array.from({ length: n }, () => pick(["the", "river", "blue", "ok", "zeta", "42", "!", "über", "데이터"])).join(" ");

/** A prompt length that leaves room for max_tokens, biased to the bounds. */
function promptLen(maxTokens: number): number {
  const room = MAX_MODEL_LEN - maxTokens;
  return pick([1, 2, room, room - 1, int(1, room), int(Math.max(1, room - 40), room)]);
}

function completionBody(): Record<string, unknown> {
  const maxTokens = pick([1, 2, int(1, 8), 16]);
  const multi = g.random() < 0.2;
  const one = () => (g.random() < 0.7 ? ids(promptLen(maxTokens)) : words(int(1, 40)));
  const n = pick([1, 1, 1, 2, int(1, 8)]);
  return clean({
    model: MODEL_NAME, max_tokens: maxTokens, prompt: multi ? Array.from({ length: int(2, 4) }, () => ids(promptLen(maxTokens))) : one(),
    n, seed: maybe(0.5, () => int(0, 2 ** 31 - 1)), temperature: pick([0, 0.7, 1, 2]), top_p: maybe(0.5, () => pick([0.01, 0.5, 1])),
    top_k: maybe(0.5, () => pick([-1, 1, 50, 31999])), min_p: maybe(0.3, () => pick([0, 0.1, 1])),
    logprobs: maybe(0.4, () => pick([0, 1, 5, 20])), prompt_logprobs: maybe(0.3, () => pick([0, 1, 20])), echo: maybe(0.3, () => g.random() < 0.5),
    stop: maybe(0.3, () => pick([["the"], ["\n", "!", "zz"], Array.from({ length: 64 }, (_, i) => `s${i}`)])),
    ignore_eos: maybe(0.5, () => true), min_tokens: maybe(0.2, () => Math.min(maxTokens, pick([0, 1, maxTokens]))),
    presence_penalty: maybe(0.2, () => pick([-2, 2])), frequency_penalty: maybe(0.2, () => pick([-2, 2])), repetition_penalty: maybe(0.2, () => pick([0.5, 2])),
    stream: maybe(0.3, () => true),
  });
}

function chatBody(): Record<string, unknown> {
  const maxTokens = pick([1, int(1, 8)]);
  return clean({
    model: MODEL_NAME, max_tokens: maxTokens, messages: [{ role: "system", content: words(int(0, 10)) }, { role: "user", content: words(int(1, 40)) }],
    n: pick([1, 1, 2, 4]), seed: maybe(0.5, () => int(0, 1000)), temperature: pick([0, 1, 2]),
    logprobs: maybe(0.4, () => true), top_logprobs: maybe(0.4, () => pick([0, 5, 20])), stop: maybe(0.3, () => ["the", "!"]),
    stream: maybe(0.3, () => true), stream_options: undefined,
  });
}

function clean(o: Record<string, unknown>): Record<string, unknown> {
  for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
  if (o.top_logprobs !== undefined && o.logprobs === undefined) o.logprobs = true;
  return o;
}

async function blast(s: TestServer, count: number, concurrency: number) {
  const statuses = new Map<number, number>();
  const failures: string[] = [];
  const slowest = { ms: 0, body: "" };
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next++;
      const chat = g.random() < 0.3;
      const body = chat ? chatBody() : completionBody();
      const t0 = performance.now();
      const res = await Promise.race([post(`${s.url}/v1/${chat ? "chat/" : ""}completions`, body),
        Bun.sleep(60_000).then(() => ({ status: 0, text: "no answer within 60 s", json: null }))]);
      const ms = performance.now() - t0;
      if (ms > slowest.ms) Object.assign(slowest, { ms, body: JSON.stringify(body).slice(0, 200) });
      if (next % 100 === 0) console.log(`heavy-valid: ${next}/${count} sent (slowest so far ${slowest.ms.toFixed(0)} ms)`);
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      const ok = res.status === 200 || (res.status >= 400 && res.status < 500 && typeof res.json?.error?.message === "string");
      if (!ok || (res.status !== 200 && failures.length < 5)) failures.push(`${res.status} ${res.text.slice(0, 300)} for ${JSON.stringify(body).slice(0, 300)}`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  console.log(`heavy-valid: slowest ${slowest.ms.toFixed(0)} ms: ${slowest.body}`);
  return { statuses, failures };
}

async function expectIdleAndHealthy(s: TestServer) {
  expect((await fetch(`${s.url}/health`)).status).toBe(200);
  const sched = s.state.llm.engine.engineCore.scheduler;
  expect(sched.numUnfinished).toBe(0);
  expect(sched.kv.pool.numFreeBlocks).toBe(sched.kv.pool.numBlocks);
  const m = await metrics(s.url);
  expect(metricValue(m, "vllm:num_requests_running")).toBe(0);
  expect(metricValue(m, "vllm:num_requests_waiting")).toBe(0);
}

describe("heavy valid requests", () => {
  for (const [name, server, count] of [["small limits (8 seqs, 64 tokens a step)", small, Number(process.env.HEAVY_N ?? 500)], ["default limits", defaults, Number(process.env.HEAVY_N ?? 520)]] as const) {
    test(`${count} random requests at the bounds, 24 at a time, on ${name}: all served, nothing left behind`, async () => {
      const { statuses, failures } = await blast(server, count, 24);
      const served = statuses.get(200) ?? 0;
      console.log(`heavy-valid ${name}: ${[...statuses].map(([k, v]) => `${k}×${v}`).join(", ")}`);
      expect(failures.filter((f) => !f.startsWith("4"))).toEqual([]);
      expect(served).toBe(count); // every request here is valid: none may be refused
      await expectIdleAndHealthy(server);
    }, 600_000);
  }

  test("the request that once killed the engine: a 300-word prompt with prompt_logprobs at --max-num-seqs 8, while another decodes", async () => {
    const prompt = Array.from({ length: 300 }, (_, i) => ["river", "blue", "stone", "light"][i % 4]).join(" ");
    const decoding = post(`${repro.url}/v1/completions`, { model: MODEL_NAME, prompt: "hello", max_tokens: 40, ignore_eos: true });
    const res = await post(`${repro.url}/v1/completions`, { model: MODEL_NAME, prompt, max_tokens: 4, prompt_logprobs: 1 });
    expect(res.status).toBe(200);
    const lp = res.json.choices[0].prompt_logprobs as unknown[];
    expect(lp[0]).toBeNull();
    expect(lp.length).toBe(res.json.usage.prompt_tokens);
    expect(lp.slice(1).every((x) => x !== null && Object.keys(x as object).length >= 1)).toBe(true);
    expect((await decoding).status).toBe(200);
    // And later requests are served.
    expect((await post(`${repro.url}/v1/completions`, { model: MODEL_NAME, prompt: "next", max_tokens: 2 })).status).toBe(200);
    await expectIdleAndHealthy(repro);
  }, 120_000);
});
