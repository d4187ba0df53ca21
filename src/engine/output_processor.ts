/**
 * OutputProcessor: the front end's state of each sequence (tokens, logprobs, text, times), built from the
 * core's per-step outputs. It detokenizes incrementally, finds stop strings (text that could still become one
 * is held back from deltas), and measures the latencies the metrics report.
 */
import type { Tokenizer } from "../tokenizer/tokenizer";
import { IncrementalDetokenizer } from "../tokenizer/detokenizer";
import type { CompletionOutput, EngineCoreOutput, FinishReason, TokenLogprobs } from "./outputs";
import type { SamplingParams } from "./sampling_params";
import type { FinishedRequestStats, IterationStats } from "./stats";
import { findStopString } from "./stop_checker";

/** One sequence as the front end sees it. */
export interface RequestState {
  readonly reqId: string;
  readonly index: number; // position among the n outputs of a parent request
  readonly params: SamplingParams;
  readonly promptTokenIds: readonly number[];
  readonly outputTokenIds: number[];
  readonly logprobs: TokenLogprobs[];
  promptLogprobs: (TokenLogprobs | null)[] | null;
  finishReason: FinishReason | null;
  stopReason: number | string | null;
  readonly arrivalTime: number;
  firstScheduledTime: number | null;
  firstTokenTime: number | null;
  lastTokenTime: number | null;
  numCachedTokens: number;
  detok: IncrementalDetokenizer;
  text: string; // text so far, cut at a stop string
  sentChars: number;
  sentTokens: number;
  sentLogprobs: number;
  cumulativeLogprob: number;
  readonly holdBack: number;
  readonly itl: number[];
}

export class OutputProcessor {
  private readonly states = new Map<string, RequestState>();

  constructor(private readonly tokenizer: Tokenizer) {}

  addRequest(reqId: string, index: number, promptTokenIds: readonly number[], params: SamplingParams, arrivalTime: number): RequestState {
    const holdBack = params.includeStopStrInOutput || params.stop.length === 0 ? 0 : Math.max(...params.stop.map((s) => s.length)) - 1;
    const st: RequestState = {
      reqId, index, params, promptTokenIds, outputTokenIds: [], logprobs: [], promptLogprobs: null, finishReason: null, stopReason: null,
      arrivalTime, firstScheduledTime: null, firstTokenTime: null, lastTokenTime: null, numCachedTokens: 0,
      detok: new IncrementalDetokenizer(this.tokenizer, { skipSpecialTokens: params.skipSpecialTokens, promptIds: promptTokenIds }),
      text: "", sentChars: 0, sentTokens: 0, sentLogprobs: 0, cumulativeLogprob: 0, holdBack, itl: [],
    };
    this.states.set(reqId, st);
    return st;
  }

  get(reqId: string): RequestState | undefined {
    return this.states.get(reqId);
  }

  /**
   * Applies one core output. Returns the stop string when one now ends the request (the core must be told
   * if it had not finished the request itself).
   * A stop token that finished the request stays out of the text, as in vLLM, unless include_stop_str_in_output.
   */
  processOutput(o: EngineCoreOutput, now: number, it: IterationStats): string | null {
    const st = this.states.get(o.reqId)!;
    st.firstScheduledTime ??= o.firstScheduledTime;
    st.numCachedTokens = o.numCachedTokens;
    if (o.newPromptLogprobs) (st.promptLogprobs ??= [null]).push(...o.newPromptLogprobs);
    if (o.newTokenIds.length === 0) return null;
    if (st.firstTokenTime === null) { st.firstTokenTime = now; it.numPromptTokens += st.promptTokenIds.length; }
    else if (st.lastTokenTime !== null) st.itl.push(now - st.lastTokenTime);
    st.lastTokenTime = now;
    it.numGenerationTokens += o.newTokenIds.length;
    st.outputTokenIds.push(...o.newTokenIds);
    if (o.newLogprobs) st.logprobs.push(...o.newLogprobs);
    st.finishReason = o.finishReason;
    st.stopReason = o.stopReason;
    const hideLast = o.finishReason === "stop" && !st.params.includeStopStrInOutput;
    const delta = st.detok.push(st.outputTokenIds.slice(st.detok.tokenIds.length, hideLast ? -1 : undefined));
    st.text += delta;
    const p = st.params;
    if (o.finishReason === "stop" || o.finishReason === "abort" || p.stop.length === 0 || st.outputTokenIds.length < p.minTokens) return null;
    const hit = findStopString(st.text, delta.length, p.stop, p.includeStopStrInOutput);
    if (!hit) return null;
    st.text = st.text.slice(0, hit.cut);
    st.finishReason = "stop";
    st.stopReason = hit.stop;
    return hit.stop;
  }

  /** Marks a request aborted (unless it already finished). */
  abort(reqId: string): void {
    const st = this.states.get(reqId);
    if (st && st.finishReason === null) st.finishReason = "abort";
  }

  /** The request's output for this step; forgets the request once it is finished and records its stats. */
  makeOutput(reqId: string, it: IterationStats): CompletionOutput {
    const st = this.states.get(reqId)!;
    const finished = st.finishReason !== null;
    // A finished request's text includes any incomplete character held back, unless a stop string cut it.
    if (finished && typeof st.stopReason !== "string") st.text += st.detok.flush();
    const visible = finished ? st.text.length : Math.max(st.sentChars, st.text.length - st.holdBack);
    const textDelta = st.text.slice(st.sentChars, visible);
    st.sentChars = visible;
    const newTokenIds = st.outputTokenIds.slice(st.sentTokens);
    st.sentTokens = st.outputTokenIds.length;
    const wantLogprobs = st.params.logprobs !== null;
    const newLogprobs = wantLogprobs ? st.logprobs.slice(st.sentLogprobs) : null;
    st.sentLogprobs = st.logprobs.length;
    for (const lp of newLogprobs ?? []) st.cumulativeLogprob += lp.logprob;
    if (finished) {
      this.states.delete(reqId);
      it.finished.push(finishedStats(st));
    }
    return {
      index: st.index, text: st.text.slice(0, visible), textDelta, tokenIds: st.outputTokenIds.slice(), newTokenIds,
      logprobs: wantLogprobs ? st.logprobs.slice() : null, newLogprobs,
      cumulativeLogprob: wantLogprobs ? st.cumulativeLogprob : null, finishReason: st.finishReason, stopReason: st.stopReason,
    };
  }
}

function finishedStats(st: RequestState): FinishedRequestStats {
  const now = performance.now() / 1000;
  return {
    finishReason: st.finishReason ?? "abort", numPromptTokens: st.promptTokenIds.length, numGenerationTokens: st.outputTokenIds.length,
    queueTime: (st.firstScheduledTime ?? now) - st.arrivalTime,
    timeToFirstToken: st.firstTokenTime === null ? null : st.firstTokenTime - st.arrivalTime,
    e2eLatency: now - st.arrivalTime, interTokenLatencies: st.itl,
  };
}
