/**
 * OutputProcessor: per-request detokenization and stop strings, producing RequestOutputs. Text that could
 * still turn into a stop string is held back from deltas until it is decided.
 */
import type { Tokenizer } from "../tokenizer/tokenizer";
import { IncrementalDetokenizer } from "../tokenizer/detokenizer";
import type { CompletionOutput, RequestOutput } from "./outputs";
import type { Request } from "./request";
import { RequestStatus } from "./request";
import { findStopString } from "./stop_checker";

interface RequestState {
  req: Request;
  index: number; // position among the n outputs of a parent request
  detok: IncrementalDetokenizer;
  text: string; // text so far, cut at a stop string
  sentChars: number; // characters already reported as deltas
  sentTokens: number;
  sentLogprobs: number;
  cumulativeLogprob: number;
  holdBack: number;
}

export class OutputProcessor {
  private readonly states = new Map<string, RequestState>();

  constructor(private readonly tokenizer: Tokenizer) {}

  addRequest(req: Request, index = 0): void {
    const p = req.samplingParams;
    const holdBack = p.includeStopStrInOutput || p.stop.length === 0 ? 0 : Math.max(...p.stop.map((s) => s.length)) - 1;
    this.states.set(req.requestId, {
      req, index, text: "", sentChars: 0, sentTokens: 0, sentLogprobs: 0, cumulativeLogprob: 0, holdBack,
      detok: new IncrementalDetokenizer(this.tokenizer, { skipSpecialTokens: p.skipSpecialTokens, promptIds: req.promptTokenIds }),
    });
  }

  /**
   * Detokenizes the request's new tokens; returns true when a stop string finished it. A stop token
   * (eos or stop_token_ids) that finished the request stays out of the text, as in vLLM, unless
   * include_stop_str_in_output is set.
   */
  processNewTokens(req: Request, stoppedByToken = false): boolean {
    const st = this.states.get(req.requestId)!;
    const hideLast = stoppedByToken && !req.samplingParams.includeStopStrInOutput;
    const newIds = req.outputTokenIds.slice(st.detok.tokenIds.length, hideLast ? -1 : undefined);
    const delta = st.detok.push(newIds);
    st.text += delta;
    const p = req.samplingParams;
    if (p.stop.length === 0 || req.outputTokenIds.length < p.minTokens) return false;
    const hit = findStopString(st.text, delta.length, p.stop, p.includeStopStrInOutput);
    if (!hit) return false;
    st.text = st.text.slice(0, hit.cut);
    req.status = RequestStatus.FINISHED_STOPPED;
    req.stopReason = hit.stop;
    return true;
  }

  /** The request's output for this step; forgets the request once it is finished. */
  makeOutput(req: Request): CompletionOutput {
    const st = this.states.get(req.requestId)!;
    const finished = req.isFinished;
    // A finished request's text includes any incomplete character held back (as decode() shows it),
    // unless a stop string already cut the text.
    if (finished && typeof req.stopReason !== "string") st.text += st.detok.flush();
    const visible = finished ? st.text.length : Math.max(st.sentChars, st.text.length - st.holdBack);
    const textDelta = st.text.slice(st.sentChars, visible);
    st.sentChars = visible;
    const newTokenIds = req.outputTokenIds.slice(st.sentTokens);
    st.sentTokens = req.outputTokenIds.length;
    const wantLogprobs = req.samplingParams.logprobs !== null;
    const newLogprobs = wantLogprobs ? req.outputLogprobs.slice(st.sentLogprobs) : null;
    st.sentLogprobs = req.outputLogprobs.length;
    for (const lp of newLogprobs ?? []) st.cumulativeLogprob += lp.logprob;
    if (finished) this.states.delete(req.requestId);
    return {
      index: st.index, text: st.text.slice(0, visible), textDelta, tokenIds: req.outputTokenIds.slice(), newTokenIds,
      logprobs: wantLogprobs ? req.outputLogprobs.slice() : null, newLogprobs,
      cumulativeLogprob: wantLogprobs ? st.cumulativeLogprob : null,
      finishReason: req.finishReason, stopReason: req.stopReason,
    };
  }

  has(requestId: string): boolean {
    return this.states.has(requestId);
  }
}

/** The parent request's output: `req` is its first child, which carries the shared prompt. */
export function requestOutput(requestId: string, req: Request, outputs: CompletionOutput[], finished: boolean): RequestOutput {
  return {
    requestId, promptTokenIds: req.promptTokenIds, promptLogprobs: req.promptLogprobs, outputs, finished,
    metrics: {
      arrivalTime: req.arrivalTime, firstScheduledTime: req.firstScheduledTime, firstTokenTime: req.firstTokenTime,
      lastTokenTime: req.lastTokenTime, finishedTime: finished ? performance.now() / 1000 : null, numCachedTokens: req.numCachedTokens,
    },
  };
}
