/**
 * Issue 9, items 4 and 9: a request's fan-out (prompts × n) is bounded, and the queue cap counts sequences
 * from the moment a request is admitted. (Before: 1000 prompts × n=128 became 128,000 sequences; and of
 * 10 simultaneous requests under a cap of 1 only 1 was served.)
 */
import { afterAll, describe, expect, test } from "bun:test";
import { DEFAULT_MAX_SEQS_PER_REQUEST } from "../../src/server/request_limits";
import { post, startTestServer } from "./support";

// One sequence runs at a time and one may wait: the smallest queue there is.
const q = startTestServer({ engine: { maxNumSeqs: 1 }, config: { maxNumQueuedReqs: 1 } });
const open = startTestServer();
afterAll(async () => {
  await q.close();
  await open.close();
});

const LONG = { max_tokens: 400, ignore_eos: true };

describe("fan-out", () => {
  test("1000 prompts × n=128 is a 400 naming --max-seqs-per-request, before anything is tokenized or queued", async () => {
    const t0 = performance.now();
    const r = await post(`${open.url}/v1/completions`, { prompt: Array(1000).fill("a"), n: 128, max_tokens: 1 });
    expect(r.status).toBe(400);
    expect(r.json.error.message).toContain(`1000 prompt(s) × n=128 = 128000 sequences, more than the ${DEFAULT_MAX_SEQS_PER_REQUEST} allowed per request (--max-seqs-per-request)`);
    expect(r.json.error.param).toBe("prompt");
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(open.state.inFlight).toBe(0);
    expect(open.state.admission.numAdmitted).toBe(0);
    // Right at the bound is served.
    const ok = await post(`${open.url}/v1/completions`, { prompt: Array(8).fill("a"), n: 128, max_tokens: 1 });
    expect(ok.status).toBe(200);
    expect(ok.json.choices.length).toBe(1024);
  });

  test("sequences, not HTTP requests, count against --max-num-queued-reqs", async () => {
    // 3 sequences can never fit 1 running + 1 waiting: a 400 naming both flags, not a 503 to retry.
    const never = await post(`${q.url}/v1/completions`, { prompt: ["a", "b", "c"], max_tokens: 1 });
    expect(never.status).toBe(400);
    expect(never.json.error.message).toContain("(--max-num-seqs 1 + --max-num-queued-reqs 1)");
    const chatNever = await post(`${q.url}/v1/chat/completions`, { messages: [{ role: "user", content: "x" }], n: 3, max_tokens: 1 });
    expect(chatNever.status).toBe(400);
    // One request of n=2 fills the running slot and the queue: a second request of one sequence must wait outside.
    const pair = post(`${q.url}/v1/completions`, { prompt: "Hi", n: 2, ...LONG });
    await waitFor(() => q.state.admission.numAdmitted === 2);
    const refused = await post(`${q.url}/v1/completions`, { prompt: "Hi", max_tokens: 1 });
    expect(refused.status).toBe(503);
    expect(refused.json.error.message).toContain("--max-num-queued-reqs 1");
    expect((await pair).status).toBe(200);
    expect(q.state.admission.numAdmitted).toBe(0);
  });

  test("10 simultaneous requests under a cap of 1: 2 are served (1 running, 1 waiting) and 8 refused", async () => {
    const bodies = Array.from({ length: 10 }, (_, i) => JSON.stringify({ prompt: `Request ${i}`, ...LONG }));
    const results = await Promise.all(bodies.map((b) => post(`${q.url}/v1/completions`, b)));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 200, 503, 503, 503, 503, 503, 503, 503, 503]);
    for (const r of results.filter((x) => x.status === 200)) expect(r.json.usage.completion_tokens).toBe(400);
    expect(q.state.admission.numAdmitted).toBe(0);
    expect(q.state.inFlight).toBe(0);
  });
});

async function waitFor(cond: () => boolean, ms = 10_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error("condition not met in time");
    await Bun.sleep(5);
  }
}
