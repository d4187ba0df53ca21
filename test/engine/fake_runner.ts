/** Drives a Scheduler without a model: each step's sampled token is a pure function of the request's tokens. */
import { KVCacheManager } from "../../src/engine/kv_cache_manager";
import { Request, RequestStatus } from "../../src/engine/request";
import { makeSamplingParams } from "../../src/engine/sampling_params";
import { Scheduler, type SchedulerConfig, type SchedulerOutput } from "../../src/engine/scheduler";

export function fakeNextToken(req: Request): number {
  let h = req.numTokens * 2654435761;
  for (let i = Math.max(0, req.numTokens - 4); i < req.numTokens; i++) h = (h ^ req.tokenAt(i)) * 16777619;
  return (h >>> 0) % 1000;
}

export function makeRequest(id: string, prompt: number[], maxTokens: number, salt: string | null = null): Request {
  return new Request(id, prompt, makeSamplingParams({ maxTokens, temperature: 0 }), [], salt);
}

export function makeScheduler(cfg: Partial<SchedulerConfig> & { numBlocks: number; blockSize?: number; caching?: boolean }) {
  const kv = new KVCacheManager(cfg.numBlocks, cfg.blockSize ?? 4, cfg.caching ?? true);
  return new Scheduler({
    maxNumBatchedTokens: cfg.maxNumBatchedTokens ?? 64, maxNumSeqs: cfg.maxNumSeqs ?? 8,
    maxModelLen: cfg.maxModelLen ?? 1024, enableChunkedPrefill: cfg.enableChunkedPrefill ?? true,
  }, kv);
}

/** One engine-like step; returns the schedule so tests can inspect it. */
export function fakeStep(s: Scheduler): SchedulerOutput {
  const so = s.schedule();
  for (const r of s.updateFromOutput(so)) {
    r.outputTokenIds.push(fakeNextToken(r));
    if (r.outputTokenIds.length >= r.samplingParams.maxTokens) s.finishRequest(r, RequestStatus.FINISHED_LENGTH);
  }
  return so;
}

export function runAll(s: Scheduler, maxSteps = 10000, onStep?: (so: SchedulerOutput) => void): number {
  let steps = 0;
  while (s.numUnfinished > 0) {
    if (++steps > maxSteps) throw new Error(`scheduler made no progress: waiting=${s.waiting.map((r) => `${r.requestId}:${r.numComputedTokens}/${r.numTokens}`)} running=${s.running.map((r) => `${r.requestId}:${r.numComputedTokens}/${r.numTokens}`)} free=${s.kv.pool.numFreeBlocks}`);
    const so = fakeStep(s); // evaluated even when no callback is given
    onStep?.(so);
  }
  return steps;
}
