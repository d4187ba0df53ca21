/**
 * Scheduler (vLLM v1 semantics): no prefill or decode phases. Each step every request's computed tokens
 * catch up with its known tokens under one token budget: running requests first, then waiting ones in
 * arrival order, long prompts chunked. When blocks run out the youngest running request is preempted and
 * later recomputed.
 */
import type { KVCacheManager } from "./kv_cache_manager";
import { type Request, RequestStatus } from "./request";

export interface SchedulerConfig {
  maxNumBatchedTokens: number;
  maxNumSeqs: number;
  maxModelLen: number;
  enableChunkedPrefill: boolean;
}

/** Prompt-logprob rows one step may request (each needs a full logits row). */
export const MAX_PROMPT_LOGPROB_ROWS = 256;

/** One request's share of a step. */
export interface ScheduledRequest {
  request: Request;
  numNewTokens: number; // tokens computed this step, starting at request.numComputedTokens
  blockIds: readonly number[];
}

/** Plain-data result of Scheduler.schedule(), consumed by the model runner. */
export interface SchedulerOutput {
  scheduled: ScheduledRequest[];
  totalNumScheduledTokens: number;
  preempted: string[];
}

export class Scheduler {
  readonly waiting: Request[] = [];
  readonly running: Request[] = [];
  numPreemptions = 0;

  constructor(readonly config: SchedulerConfig, readonly kv: KVCacheManager) {}

  addRequest(req: Request): void {
    this.waiting.push(req);
  }

  get numUnfinished(): number {
    return this.waiting.length + this.running.length;
  }

  schedule(): SchedulerOutput {
    const c = this.config;
    let budget = c.maxNumBatchedTokens;
    let promptRows = MAX_PROMPT_LOGPROB_ROWS;
    const capPromptRows = (req: Request, n: number) => {
      if (req.samplingParams.promptLogprobs === null || req.numComputedTokens >= req.numPromptTokens) return n;
      n = Math.min(n, promptRows);
      promptRows -= n;
      return n;
    };
    const scheduled: ScheduledRequest[] = [];
    const preempted: string[] = [];
    const now = performance.now() / 1000;

    for (let i = 0; i < this.running.length && budget > 0; ) {
      const req = this.running[i];
      const numNew = capPromptRows(req, Math.min(req.numTokens - req.numComputedTokens, budget, c.maxModelLen - req.numComputedTokens));
      if (numNew <= 0) { i++; continue; }
      let blockIds = this.kv.allocateSlots(req, numNew);
      while (blockIds === null) {
        const victim = this.running.pop()!;
        this.preempt(victim);
        preempted.push(victim.requestId);
        if (victim === req) break;
        blockIds = this.kv.allocateSlots(req, numNew);
      }
      if (blockIds === null) break;
      scheduled.push({ request: req, numNewTokens: numNew, blockIds });
      budget -= numNew;
      i++;
    }

    while (preempted.length === 0 && this.waiting.length > 0 && budget > 0 && this.running.length < c.maxNumSeqs) {
      const req = this.waiting[0];
      const hit = req.numComputedTokens === 0 ? this.kv.getComputedBlocks(req) : { blocks: [], numTokens: 0 };
      let numNew = req.numTokens - req.numComputedTokens - hit.numTokens;
      if (numNew > budget) {
        if (!c.enableChunkedPrefill) break;
        numNew = budget;
      }
      numNew = capPromptRows(req, numNew);
      if (numNew <= 0) break;
      const blockIds = this.kv.allocateSlots(req, numNew, hit);
      if (blockIds === null) break;
      this.waiting.shift();
      if (req.firstScheduledTime === null) {
        req.firstScheduledTime = now;
        req.numCachedTokens = hit.numTokens;
      }
      req.numComputedTokens += hit.numTokens;
      req.status = RequestStatus.RUNNING;
      this.running.push(req);
      scheduled.push({ request: req, numNewTokens: numNew, blockIds });
      budget -= numNew;
    }

    return { scheduled, totalNumScheduledTokens: c.maxNumBatchedTokens - budget, preempted };
  }

  /** Advances computed counts after the model ran; returns requests that reached the end of their known tokens. */
  updateFromOutput(out: SchedulerOutput): Request[] {
    const sampled: Request[] = [];
    for (const s of out.scheduled) {
      s.request.numComputedTokens += s.numNewTokens;
      if (s.request.numComputedTokens === s.request.numTokens) sampled.push(s.request);
    }
    return sampled;
  }

  /** Removes a request wherever it is and frees its blocks at once. */
  finishRequest(req: Request, status: RequestStatus): void {
    req.status = status;
    removeFrom(this.running, req) || removeFrom(this.waiting, req);
    this.kv.free(req);
  }

  private preempt(req: Request): void {
    this.kv.free(req);
    req.status = RequestStatus.PREEMPTED;
    req.numComputedTokens = 0;
    req.numPreemptions++;
    this.numPreemptions++;
    this.waiting.unshift(req);
  }
}

function removeFrom(list: Request[], req: Request): boolean {
  const i = list.indexOf(req);
  if (i < 0) return false;
  list.splice(i, 1);
  return true;
}
