/**
 * InputBatch: the runner's own state of the requests it is running (vLLM's persistent InputBatch). The
 * scheduler sends a request's tokens and parameters once (`newRequests`) and ids and counts afterwards; the
 * runner appends the tokens it samples itself, and drops a request when the scheduler reports it removed.
 */
import type { NewRequestData, SchedulerOutput } from "../engine/outputs";
import { Generator } from "../sample/generator";
import { SAMPLING_EPS, type SamplingView } from "../sample/sampling_metadata";

export interface CachedRequestState extends SamplingView {
  readonly reqId: string;
  readonly tokenIds: number[];
}

export class InputBatch {
  private readonly requests = new Map<string, CachedRequestState>();

  /** Applies a step's removals and additions (removals first: a preempted request may come back in the same step). */
  update(so: SchedulerOutput): void {
    for (const id of so.removedReqIds) this.requests.delete(id);
    for (const r of so.newRequests) this.requests.set(r.reqId, cachedState(r));
  }

  get(reqId: string): CachedRequestState {
    const s = this.requests.get(reqId);
    if (s === undefined) throw new Error(`InputBatch: request ${reqId} was scheduled but never added`);
    return s;
  }

  get size(): number {
    return this.requests.size;
  }
}

function cachedState(r: NewRequestData): CachedRequestState {
  const seed = r.samplingParams.seed;
  const generator = seed === null ? null : new Generator(seed);
  // A resumed request's draws continue where they were: skip those its earlier output tokens took.
  if (generator && r.samplingParams.temperature >= SAMPLING_EPS) for (let i = r.numPromptTokens; i < r.tokenIds.length; i++) generator.random();
  return { reqId: r.reqId, tokenIds: [...r.tokenIds], numPromptTokens: r.numPromptTokens, samplingParams: r.samplingParams, eosTokenIds: r.eosTokenIds, generator };
}
