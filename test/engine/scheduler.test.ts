import { describe, expect, test } from "bun:test";
import type { ModelRunnerOutput, SchedulerOutput } from "../../src/engine/outputs";
import { EngineCore } from "../../src/engine/core";
import { KVCacheManager, prefixCacheRootHash } from "../../src/engine/kv_cache_manager";
import { makeSamplingParams } from "../../src/engine/sampling_params";
import { Scheduler } from "../../src/engine/scheduler";
import { fakeNextToken, makeEngine, makeRequest } from "./fake_runner";

const prompt = (n: number, base = 0) => Array.from({ length: n }, (_, i) => (base + i * 7) % 997);

/** Output a request produces alone with unlimited resources. */
function alone(p: number[], maxTokens: number): number[] {
  const e = makeEngine({ numBlocks: 512, maxNumBatchedTokens: 4096 });
  e.add(makeRequest("solo", p, maxTokens));
  e.runAll();
  return e.tokens("solo");
}

function expectPoolFree(e: ReturnType<typeof makeEngine>) {
  const s = e.scheduler;
  expect(s.kv.pool.numFreeBlocks).toBe(s.kv.pool.numBlocks);
  expect(s.kv.numRequests).toBe(0);
  expect(s.numUnfinished).toBe(0);
  for (const b of s.kv.pool.blocks) expect(b.refCnt).toBe(0);
}

const ids = (so: SchedulerOutput) => so.scheduled.map((x) => [x.reqId, x.numNewTokens]);

describe("Scheduler", () => {
  test("respects the token budget and the sequence cap every step", () => {
    const e = makeEngine({ numBlocks: 256, maxNumBatchedTokens: 32, maxNumSeqs: 3 });
    for (let i = 0; i < 10; i++) e.add(makeRequest(`r${i}`, prompt(5 + i * 9, i), 6));
    let steps = 0;
    e.runAll(10_000, (so) => {
      steps++;
      expect(so.totalNumScheduledTokens).toBeLessThanOrEqual(32);
      expect(so.scheduled.length).toBeLessThanOrEqual(3);
      expect(so.scheduled.reduce((a, x) => a + x.numNewTokens, 0)).toBe(so.totalNumScheduledTokens);
      expect(e.scheduler.running.length).toBeLessThanOrEqual(3);
    });
    expect(steps).toBeGreaterThan(3);
    for (let i = 0; i < 10; i++) expect(e.tokens(`r${i}`)).toEqual(alone(prompt(5 + i * 9, i), 6));
    expectPoolFree(e);
  });

  test("chunks a long prompt in order, running requests first", () => {
    const e = makeEngine({ numBlocks: 256, maxNumBatchedTokens: 16 });
    e.add(makeRequest("a", prompt(10), 4));
    e.add(makeRequest("b", prompt(40, 3), 2));
    expect(ids(e.step())).toEqual([["a", 10], ["b", 6]]);
    // a decodes first (running), then b's next chunk fills the rest of the budget.
    expect(ids(e.step())).toEqual([["a", 1], ["b", 15]]);
    expect(e.scheduler.getRequest("b")!.numComputedTokens).toBe(21);
    e.runAll();
    expect(e.tokens("b")).toEqual(alone(prompt(40, 3), 2));
    expectPoolFree(e);
  });

  test("frees blocks on finish and on abort at any point", () => {
    const e = makeEngine({ numBlocks: 64, maxNumBatchedTokens: 8 });
    e.add(makeRequest("decoding", prompt(3, 2), 50));
    e.step();
    e.add(makeRequest("prefilling", prompt(30, 1), 5));
    e.step();
    e.add(makeRequest("queued", prompt(30), 5));
    const pre = e.scheduler.getRequest("prefilling")!;
    expect(pre.numComputedTokens).toBeGreaterThan(0);
    expect(pre.numComputedTokens).toBeLessThan(30);
    e.core.abortRequests(["queued", "prefilling", "decoding"]);
    expectPoolFree(e);
    // The executor is told to drop what it held.
    expect(e.step().removedReqIds.sort()).toEqual(["decoding", "prefilling", "queued"]);
  });

  test("preempts the youngest request when blocks run out and still gives each request its solo output", () => {
    const e = makeEngine({ numBlocks: 12, blockSize: 4, maxNumBatchedTokens: 64, maxNumSeqs: 8, caching: false });
    for (let i = 0; i < 6; i++) e.add(makeRequest(`p${i}`, prompt(6 + i, i * 13), 12));
    e.runAll();
    expect(e.scheduler.numPreemptions).toBeGreaterThan(0);
    for (let i = 0; i < 6; i++) expect(e.tokens(`p${i}`)).toEqual(alone(prompt(6 + i, i * 13), 12));
    expectPoolFree(e);
  });

  test("a shared prefix is served from the cache and yields the same output", () => {
    const e = makeEngine({ numBlocks: 64, blockSize: 4 });
    const shared = prompt(14);
    e.add(makeRequest("first", shared, 3));
    e.runAll();
    e.add(makeRequest("second", [...shared.slice(0, 12), 5, 6, 7], 3));
    e.runAll();
    expect(e.outputs.get("second")!.numCachedTokens).toBe(12);
    expect(e.scheduler.kv.prefixCacheHits).toBe(12);
    expect(e.tokens("second")).toEqual(alone([...shared.slice(0, 12), 5, 6, 7], 3));
    expectPoolFree(e);
  });

  test("a different cache_salt does not hit", () => {
    const e = makeEngine({ numBlocks: 64, blockSize: 4 });
    e.add(makeRequest("a", prompt(16), 1, "tenant-a"));
    e.runAll();
    e.add(makeRequest("b", prompt(16), 1, "tenant-b"));
    e.runAll();
    expect(e.outputs.get("b")!.numCachedTokens).toBe(0);
    e.add(makeRequest("c", prompt(16), 1, "tenant-a"));
    e.runAll();
    expect(e.outputs.get("c")!.numCachedTokens).toBe(12); // the last token is always recomputed
  });

  test("the prefix-cache root is random per process unless PYTHONHASHSEED fixes it", () => {
    expect(prefixCacheRootHash({})).not.toBe(prefixCacheRootHash({}));
    expect(prefixCacheRootHash({ PYTHONHASHSEED: "42" })).toBe(prefixCacheRootHash({ PYTHONHASHSEED: "42" }));
    expect(prefixCacheRootHash({ PYTHONHASHSEED: "42" })).not.toBe(prefixCacheRootHash({ PYTHONHASHSEED: "43" }));
    // Two managers with different roots never share a block hash for the same tokens.
    const hashes = (root: string) => {
      const kv = new KVCacheManager(8, 4, true, root);
      const e = makeEngine({ numBlocks: 8, blockSize: 4 });
      const s = new Scheduler(e.scheduler.config, kv);
      s.addRequest(makeRequest("x", prompt(9), 1));
      s.schedule();
      return s.getRequest("x")!.blockHashes;
    };
    expect(hashes("a")[0]).not.toBe(hashes("b")[0]);
    expect(hashes("a")).toEqual(hashes("a"));
  });

  test("logits rows are budgeted: prompt-logprob prefills are split to fit, and decodes keep their rows", () => {
    const e = makeEngine({ numBlocks: 256, maxNumBatchedTokens: 512, maxNumSeqs: 4, maxNumLogitsRows: 8 });
    e.add(makeRequest("d", prompt(5), 40));
    e.step();
    const scored = { ...makeRequest("p", prompt(300, 1), 3), samplingParams: makeSamplingParams({ maxTokens: 3, temperature: 0, promptLogprobs: 1 }) };
    // Answer prompt logprobs for whatever range the scheduler asks for.
    const real = e.executor.sampleTokens.bind(e.executor);
    e.executor.sampleTokens = (): ModelRunnerOutput => {
      const so = e.executor.lastSchedule!;
      const out = real();
      for (const s of so.scheduled) if (s.promptLogprobs) out.promptLogprobs.set(s.reqId, Array.from({ length: s.promptLogprobs.to - s.promptLogprobs.from }, () => ({ tokenId: 0, logprob: 0, rank: 1, top: [] })));
      return out;
    };
    e.add(scored);
    let covered = 0;
    e.runAll(10_000, (so) => {
      expect(so.numLogitsRows).toBeLessThanOrEqual(8);
      const rows = so.scheduled.reduce((a, s) => a + (s.samples ? 1 : 0) + (s.promptLogprobs ? s.promptLogprobs.to - s.promptLogprobs.from : 0), 0);
      expect(rows).toBe(so.numLogitsRows);
      for (const s of so.scheduled) if (s.promptLogprobs) { expect(s.promptLogprobs.from).toBe(covered); covered = s.promptLogprobs.to; }
    });
    expect(covered).toBe(299); // every prompt position but the last scores the next token
    expect(e.tokens("p")).toEqual(alone(prompt(300, 1), 3));
    expect(e.tokens("d")).toEqual(alone(prompt(5), 40));
    expectPoolFree(e);
  });

  test("a step with more logits rows than the runner holds is never formed, however many requests ask", () => {
    const e = makeEngine({ numBlocks: 512, maxNumBatchedTokens: 256, maxNumSeqs: 8, maxNumLogitsRows: 8 });
    for (let i = 0; i < 20; i++) e.add(makeRequest(`r${i}`, prompt(3 + i, i), 5));
    e.runAll(10_000, (so) => expect(so.numLogitsRows).toBeLessThanOrEqual(8));
    expectPoolFree(e);
  });

  test("the fake model is deterministic per token sequence", () => {
    expect(fakeNextToken([1, 2, 3])).toBe(fakeNextToken([1, 2, 3]));
    expect(new EngineCore(makeEngine({ numBlocks: 4 }).scheduler, makeEngine({ numBlocks: 4 }).executor, null).hasUnfinishedRequests()).toBe(false);
  });
});
