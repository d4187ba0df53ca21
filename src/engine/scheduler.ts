/**
 * Scheduler (vLLM v1 semantics): no prefill or decode phases. Each step every request's computed tokens
 * catch up with its known tokens under one token budget and one logits-row budget (both reported by the
 * runner): running requests first, then waiting ones in arrival order, long prompts chunked. When blocks run
 * out the youngest running request is preempted and later recomputed. The scheduler also owns the update half
 * of the step: it appends sampled tokens, applies stop decisions and frees blocks. It alone sets a request's status.
 */
import type { KVCacheManager } from "./kv_cache_manager";
import type { EngineCoreOutput, EngineCoreOutputs, ModelRunnerOutput, NewRequestData, ScheduledRequest, SchedulerOutput, SchedulerStats } from "./outputs";
import { type EngineCoreRequest, Request, RequestStatus } from "./request";
import { checkStopTokens, grammarStop, type StopDecision } from "./stop_checker";

export interface SchedulerConfig {
  maxNumBatchedTokens: number;
  maxNumSeqs: number;
  /** Logits rows one step may use: one per sampling request plus one per prompt-logprob position. */
  maxNumLogitsRows: number;
  maxModelLen: number;
  enableChunkedPrefill: boolean;
}

/** The structured-output side the scheduler consults (implemented by StructuredOutputManager). */
export interface GrammarVerifier {
  /** Advances the request's grammar by its newest token (requests without a grammar answer "ok"). */
  accept(reqId: string, tokenId: number): "ok" | "terminated" | "rejected";
  removeRequest(reqId: string): void;
}

export class Scheduler {
  readonly waiting: Request[] = [];
  readonly running: Request[] = [];
  private readonly requests = new Map<string, Request>();
  private removed: string[] = [];
  numPreemptions = 0;

  constructor(readonly config: SchedulerConfig, readonly kv: KVCacheManager, private readonly grammar: GrammarVerifier | null = null) {
    if (!(config.maxNumLogitsRows >= config.maxNumSeqs)) throw new Error("Scheduler: fewer logits rows than sequences per step");
  }

  addRequest(r: EngineCoreRequest): void {
    if (this.requests.has(r.reqId)) throw new Error(`request id ${r.reqId} is already in use`);
    const req = new Request(r);
    this.requests.set(r.reqId, req);
    this.waiting.push(req);
  }

  get numUnfinished(): number {
    return this.requests.size;
  }

  getRequest(reqId: string): Request | undefined {
    return this.requests.get(reqId);
  }

  schedule(): SchedulerOutput {
    const c = this.config, now = performance.now() / 1000;
    let tokens = c.maxNumBatchedTokens, rows = c.maxNumLogitsRows, preempted = false;
    const scheduled: ScheduledRequest[] = [], newRequests: NewRequestData[] = [];
    const take = (req: Request, n: number, blockIds: number[]) => {
      const s = scheduledRequest(req, n, blockIds);
      scheduled.push(s);
      tokens -= n;
      rows -= logitsRows(s);
    };

    for (let i = 0; i < this.running.length && tokens > 0 && rows > 0; ) {
      const req = this.running[i], start = req.numComputedTokens;
      const n = fitRows(req, start, Math.min(req.numTokens - start, tokens, c.maxModelLen - start), rows);
      if (n <= 0) { i++; continue; }
      let blockIds = this.kv.allocateSlots(req, n);
      while (blockIds === null) {
        const victim = this.running.pop()!;
        this.preempt(victim);
        preempted = true;
        if (victim === req) break;
        blockIds = this.kv.allocateSlots(req, n);
      }
      if (blockIds === null) break;
      take(req, n, blockIds);
      i++;
    }

    while (!preempted && this.waiting.length > 0 && tokens > 0 && rows > 0 && this.running.length < c.maxNumSeqs) {
      const req = this.waiting[0];
      const hit = req.numComputedTokens === 0 ? this.kv.getComputedBlocks(req) : { blocks: [], numTokens: 0 };
      const start = req.numComputedTokens + hit.numTokens;
      let n = req.numTokens - start;
      if (n > tokens) {
        if (!c.enableChunkedPrefill) break;
        n = tokens;
      }
      n = fitRows(req, start, n, rows);
      if (n <= 0) break;
      const blockIds = this.kv.allocateSlots(req, n, hit);
      if (blockIds === null) break;
      this.waiting.shift();
      if (req.firstScheduledTime === null) {
        req.firstScheduledTime = now;
        req.numCachedTokens = hit.numTokens;
      }
      req.numComputedTokens = start;
      req.status = RequestStatus.RUNNING;
      this.running.push(req);
      newRequests.push({ reqId: req.requestId, tokenIds: [...req.promptTokenIds, ...req.outputTokenIds], numPromptTokens: req.numPromptTokens, samplingParams: req.samplingParams, eosTokenIds: req.eosTokenIds });
      take(req, n, blockIds);
    }

    const removedReqIds = this.removed;
    this.removed = [];
    return { newRequests, scheduled, totalNumScheduledTokens: c.maxNumBatchedTokens - tokens, numLogitsRows: c.maxNumLogitsRows - rows, removedReqIds };
  }

  /** Applies the runner's results: computed counts, sampled tokens, prompt logprobs, stop decisions. */
  updateFromOutput(so: SchedulerOutput, ro: ModelRunnerOutput): EngineCoreOutputs {
    const outputs: EngineCoreOutput[] = [];
    for (const s of so.scheduled) {
      const req = this.requests.get(s.reqId);
      if (!req || req.isFinished) continue;
      req.numComputedTokens += s.numNewTokens;
      const promptLogprobs = ro.promptLogprobs.get(s.reqId) ?? null;
      if (s.promptLogprobs) {
        if (promptLogprobs?.length !== s.promptLogprobs.to - s.promptLogprobs.from) throw new Error(`runner returned the wrong prompt logprobs for ${s.reqId}`);
        req.numPromptLogprobsDone = s.promptLogprobs.to;
      }
      if (!s.samples && !promptLogprobs) continue;
      const out: EngineCoreOutput = {
        reqId: s.reqId, newTokenIds: [], newLogprobs: null, newPromptLogprobs: promptLogprobs, finishReason: null, stopReason: null,
        numCachedTokens: req.numCachedTokens, firstScheduledTime: req.firstScheduledTime,
      };
      if (s.samples) {
        const token = ro.sampledTokenIds.get(s.reqId);
        if (token === undefined) throw new Error(`runner returned no token for ${s.reqId}`);
        req.outputTokenIds.push(token);
        out.newTokenIds.push(token);
        const lp = ro.logprobs.get(s.reqId);
        if (lp) out.newLogprobs = [lp];
        const stop = grammarStop(this.grammar?.accept(s.reqId, token) ?? "ok") ?? checkStopTokens(req, this.config.maxModelLen);
        if (stop) {
          this.finish(req, stop);
          out.finishReason = req.finishReason;
          out.stopReason = req.stopReason;
        }
      }
      outputs.push(out);
    }
    return { outputs, schedulerStats: this.snapshotStats(so.totalNumScheduledTokens, so.numLogitsRows) };
  }

  /** Finishes requests wherever they are (abort, or a stop string the front end found) and frees their blocks. */
  finishRequests(reqIds: readonly string[], status: StopDecision["status"], stopReason: number | string | null = null): void {
    for (const id of reqIds) {
      const req = this.requests.get(id);
      if (req && !req.isFinished) this.finish(req, { status, stopReason });
    }
  }

  private finish(req: Request, d: StopDecision): void {
    req.status = d.status;
    req.stopReason = d.stopReason;
    if (!removeFrom(this.running, req)) removeFrom(this.waiting, req);
    this.kv.free(req);
    this.grammar?.removeRequest(req.requestId);
    this.requests.delete(req.requestId);
    this.removed.push(req.requestId);
  }

  private preempt(req: Request): void {
    this.kv.free(req);
    req.status = RequestStatus.PREEMPTED;
    req.numComputedTokens = 0;
    req.numPreemptions++;
    this.numPreemptions++;
    this.waiting.unshift(req);
    this.removed.push(req.requestId);
  }

  /** A plain snapshot; the step counts are those of the step just taken (0 outside a step). */
  snapshotStats(numScheduledTokens = 0, numLogitsRows = 0): SchedulerStats {
    return {
      numRunningReqs: this.running.length, numWaitingReqs: this.waiting.length, kvCacheUsage: this.kv.usage,
      numBlocks: this.kv.pool.numBlocks, blockSize: this.kv.blockSize,
      prefixCacheQueries: this.kv.prefixCacheQueries, prefixCacheHits: this.kv.prefixCacheHits, numPreemptions: this.numPreemptions,
      numScheduledTokens, numLogitsRows,
    };
  }
}

function scheduledRequest(req: Request, n: number, blockIds: number[]): ScheduledRequest {
  const start = req.numComputedTokens;
  return { reqId: req.requestId, numNewTokens: n, numComputedTokens: start, blockIds, samples: start + n === req.numTokens, promptLogprobs: promptRange(req, start, n) };
}

/** Positions in [start, start + n) still to score for prompt_logprobs (position p scores prompt token p + 1). */
function promptRange(req: Request, start: number, n: number): { from: number; to: number } | null {
  if (req.samplingParams.promptLogprobs === null) return null;
  const from = Math.max(start, req.numPromptLogprobsDone), to = Math.min(start + n, req.numPromptTokens - 1);
  return to > from ? { from, to } : null;
}

function logitsRows(s: ScheduledRequest): number {
  return (s.samples ? 1 : 0) + (s.promptLogprobs ? s.promptLogprobs.to - s.promptLogprobs.from : 0);
}

/** The most of `n` tokens from `start` whose logits rows fit in `rows` (a prompt-logprob prefill is split to fit). */
function fitRows(req: Request, start: number, n: number, rows: number): number {
  const need = (k: number) => {
    const r = promptRange(req, start, k);
    return (start + k === req.numTokens ? 1 : 0) + (r ? r.to - r.from : 0);
  };
  if (n <= 0 || need(n) <= rows) return n;
  let k = Math.min(n - 1, Math.max(start, req.numPromptLogprobsDone) + rows - start);
  while (k > 0 && need(k) > rows) k--;
  return k;
}

function removeFrom(list: Request[], req: Request): boolean {
  const i = list.indexOf(req);
  if (i < 0) return false;
  list.splice(i, 1);
  return true;
}
