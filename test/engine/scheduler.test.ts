import { describe, expect, test } from "bun:test";
import { RequestStatus } from "../../src/engine/request";
import { fakeNextToken, fakeStep, makeRequest, makeScheduler, runAll } from "./fake_runner";

const prompt = (n: number, base = 0) => Array.from({ length: n }, (_, i) => (base + i * 7) % 997);

/** Output a request produces alone with unlimited resources. */
function alone(p: number[], maxTokens: number): number[] {
  const s = makeScheduler({ numBlocks: 512, maxNumBatchedTokens: 4096 });
  const r = makeRequest("solo", p, maxTokens);
  s.addRequest(r);
  runAll(s);
  return r.outputTokenIds;
}

function expectPoolFree(s: ReturnType<typeof makeScheduler>) {
  expect(s.kv.pool.numFreeBlocks).toBe(s.kv.pool.numBlocks);
  expect(s.kv.numRequests).toBe(0);
  for (const b of s.kv.pool.blocks) expect(b.refCnt).toBe(0);
}

describe("Scheduler", () => {
  test("respects the token budget and the sequence cap every step", () => {
    const s = makeScheduler({ numBlocks: 256, maxNumBatchedTokens: 32, maxNumSeqs: 3 });
    for (let i = 0; i < 10; i++) s.addRequest(makeRequest(`r${i}`, prompt(5 + i * 9, i), 6));
    let steps = 0;
    runAll(s, 10_000, (so) => {
      steps++;
      expect(so.totalNumScheduledTokens).toBeLessThanOrEqual(32);
      expect(so.scheduled.length).toBeLessThanOrEqual(3);
      expect(so.scheduled.reduce((a, x) => a + x.numNewTokens, 0)).toBe(so.totalNumScheduledTokens);
      expect(s.running.length).toBeLessThanOrEqual(3);
    });
    expect(steps).toBeGreaterThan(3);
    expectPoolFree(s);
  });

  test("chunks a long prompt in order, running requests first", () => {
    const s = makeScheduler({ numBlocks: 256, maxNumBatchedTokens: 16 });
    const a = makeRequest("a", prompt(10), 4);
    const b = makeRequest("b", prompt(40, 3), 2);
    s.addRequest(a);
    s.addRequest(b);
    const so1 = fakeStep(s);
    expect(so1.scheduled.map((x) => [x.request.requestId, x.numNewTokens])).toEqual([["a", 10], ["b", 6]]);
    const so2 = fakeStep(s);
    // a decodes first (running), then b's next chunk fills the rest of the budget.
    expect(so2.scheduled.map((x) => [x.request.requestId, x.numNewTokens])).toEqual([["a", 1], ["b", 15]]);
    expect(b.numComputedTokens).toBe(21);
    runAll(s);
    expect(b.outputTokenIds).toEqual(alone(prompt(40, 3), 2));
    expectPoolFree(s);
  });

  test("frees blocks on finish and on abort at any point", () => {
    const s = makeScheduler({ numBlocks: 64, maxNumBatchedTokens: 8 });
    const queued = makeRequest("queued", prompt(30), 5);
    const prefilling = makeRequest("prefilling", prompt(30, 1), 5);
    const decoding = makeRequest("decoding", prompt(3, 2), 50);
    s.addRequest(decoding);
    fakeStep(s);
    s.addRequest(prefilling);
    fakeStep(s);
    s.addRequest(queued);
    expect(prefilling.numComputedTokens).toBeGreaterThan(0);
    expect(prefilling.numComputedTokens).toBeLessThan(30);
    for (const r of [queued, prefilling, decoding]) s.finishRequest(r, RequestStatus.FINISHED_ABORTED);
    expect(s.numUnfinished).toBe(0);
    expectPoolFree(s);
  });

  test("preempts the youngest request when blocks run out and still gives each request its solo output", () => {
    const s = makeScheduler({ numBlocks: 12, blockSize: 4, maxNumBatchedTokens: 64, maxNumSeqs: 8, caching: false });
    const reqs = Array.from({ length: 6 }, (_, i) => makeRequest(`p${i}`, prompt(6 + i, i * 13), 12));
    for (const r of reqs) s.addRequest(r);
    runAll(s);
    expect(s.numPreemptions).toBeGreaterThan(0);
    for (let i = 0; i < reqs.length; i++) expect(reqs[i].outputTokenIds).toEqual(alone(prompt(6 + i, i * 13), 12));
    expectPoolFree(s);
  });

  test("a shared prefix is served from the cache and yields the same output", () => {
    const s = makeScheduler({ numBlocks: 64, blockSize: 4 });
    const shared = prompt(14);
    const first = makeRequest("first", shared, 3);
    s.addRequest(first);
    runAll(s);
    const second = makeRequest("second", [...shared.slice(0, 12), 5, 6, 7], 3);
    s.addRequest(second);
    runAll(s);
    expect(second.numCachedTokens).toBe(12);
    expect(s.kv.prefixCacheHits).toBe(12);
    expect(second.outputTokenIds).toEqual(alone([...shared.slice(0, 12), 5, 6, 7], 3));
    expectPoolFree(s);
  });

  test("a different cache_salt does not hit", () => {
    const s = makeScheduler({ numBlocks: 64, blockSize: 4 });
    s.addRequest(makeRequest("a", prompt(16), 1, "tenant-a"));
    runAll(s);
    const b = makeRequest("b", prompt(16), 1, "tenant-b");
    s.addRequest(b);
    runAll(s);
    expect(b.numCachedTokens).toBe(0);
    const c = makeRequest("c", prompt(16), 1, "tenant-a");
    s.addRequest(c);
    runAll(s);
    expect(c.numCachedTokens).toBe(12); // the last token is always recomputed
  });

  test("the fake model is deterministic per request", () => {
    const r = makeRequest("x", [1, 2, 3], 1);
    expect(fakeNextToken(r)).toBe(fakeNextToken(makeRequest("y", [1, 2, 3], 1)));
  });
});
