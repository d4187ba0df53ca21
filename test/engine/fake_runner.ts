/**
 * A model executor without a model: each sampled token is a pure function of the request's tokens. It keeps
 * its own copy of every request's tokens from the plain SchedulerOutput, as the real runner's InputBatch does,
 * and returns only a ModelRunnerOutput; everything else is the real EngineCore and Scheduler.
 */
import { EngineCore, type ModelExecutor } from "../../src/engine/core";
import { KVCacheManager } from "../../src/engine/kv_cache_manager";
import type { ModelRunnerOutput, SchedulerOutput } from "../../src/engine/outputs";
import type { EngineCoreRequest } from "../../src/engine/request";
import { makeSamplingParams } from "../../src/engine/sampling_params";
import { Scheduler, type SchedulerConfig } from "../../src/engine/scheduler";

export function fakeNextToken(tokens: readonly number[]): number {
  let h = tokens.length * 2654435761;
  for (let i = Math.max(0, tokens.length - 4); i < tokens.length; i++) h = (h ^ tokens[i]) * 16777619;
  return (h >>> 0) % 1000;
}

export function makeRequest(id: string, prompt: number[], maxTokens: number, salt: string | null = null): EngineCoreRequest {
  return { reqId: id, promptTokenIds: prompt, samplingParams: makeSamplingParams({ maxTokens, temperature: 0 }), eosTokenIds: [], cacheSalt: salt, arrivalTime: 0 };
}

export class FakeExecutor implements ModelExecutor {
  private readonly tokens = new Map<string, number[]>();
  private pending: SchedulerOutput | null = null;
  lastSchedule: SchedulerOutput | null = null;

  executeModel(so: SchedulerOutput): void {
    for (const id of so.removedReqIds) this.tokens.delete(id);
    for (const r of so.newRequests) this.tokens.set(r.reqId, [...r.tokenIds]);
    for (const s of so.scheduled) if (!this.tokens.has(s.reqId)) throw new Error(`scheduled ${s.reqId} before it was added`);
    this.pending = this.lastSchedule = so;
  }

  sampleTokens(): ModelRunnerOutput {
    const out: ModelRunnerOutput = { sampledTokenIds: new Map(), logprobs: new Map(), promptLogprobs: new Map() };
    for (const s of this.pending?.scheduled ?? []) {
      if (!s.samples) continue;
      const toks = this.tokens.get(s.reqId)!;
      if (s.numComputedTokens + s.numNewTokens !== toks.length) throw new Error(`${s.reqId} samples before its tokens are computed`);
      const t = fakeNextToken(toks);
      toks.push(t);
      out.sampledTokenIds.set(s.reqId, t);
    }
    this.pending = null;
    return out;
  }
}

/** The real core over a fake executor, collecting each request's outputs. */
export class FakeEngine {
  readonly executor = new FakeExecutor();
  readonly core: EngineCore;
  readonly outputs = new Map<string, { tokens: number[]; numCachedTokens: number; finishReason: string | null }>();

  constructor(readonly scheduler: Scheduler) {
    this.core = new EngineCore(scheduler, this.executor, null);
  }

  add(r: EngineCoreRequest): void {
    this.core.addRequest(r);
    this.outputs.set(r.reqId, { tokens: [], numCachedTokens: 0, finishReason: null });
  }

  tokens(id: string): number[] {
    return this.outputs.get(id)!.tokens;
  }

  /** One step; returns the schedule so tests can inspect it. */
  step(): SchedulerOutput {
    const { outputs } = this.core.step();
    for (const o of outputs) {
      const r = this.outputs.get(o.reqId)!;
      r.tokens.push(...o.newTokenIds);
      r.numCachedTokens = o.numCachedTokens;
      r.finishReason = o.finishReason;
    }
    return this.executor.lastSchedule!;
  }

  runAll(maxSteps = 10000, onStep?: (so: SchedulerOutput) => void): number {
    let steps = 0;
    const s = this.scheduler;
    while (this.core.hasUnfinishedRequests()) {
      if (++steps > maxSteps) throw new Error(`scheduler made no progress: waiting=${s.waiting.map((r) => `${r.requestId}:${r.numComputedTokens}/${r.numTokens}`)} running=${s.running.map((r) => `${r.requestId}:${r.numComputedTokens}/${r.numTokens}`)} free=${s.kv.pool.numFreeBlocks}`);
      const so = this.step();
      onStep?.(so);
    }
    return steps;
  }
}

export function makeEngine(cfg: Partial<SchedulerConfig> & { numBlocks: number; blockSize?: number; caching?: boolean }): FakeEngine {
  const kv = new KVCacheManager(cfg.numBlocks, cfg.blockSize ?? 4, cfg.caching ?? true);
  const maxNumSeqs = cfg.maxNumSeqs ?? 8;
  return new FakeEngine(new Scheduler({
    maxNumBatchedTokens: cfg.maxNumBatchedTokens ?? 64, maxNumSeqs, maxNumLogitsRows: cfg.maxNumLogitsRows ?? maxNumSeqs,
    maxModelLen: cfg.maxModelLen ?? 1024, enableChunkedPrefill: cfg.enableChunkedPrefill ?? true,
  }, kv));
}
