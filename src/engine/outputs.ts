/**
 * The plain-data records that cross the engine's boundaries (vLLM's v1/outputs.py): scheduler → runner
 * (`SchedulerOutput`), runner → scheduler (`ModelRunnerOutput`), core → front end (`EngineCoreOutputs`), and
 * front end → caller (`RequestOutput`). A leaf module: it imports nothing, and nothing in it is live state.
 */
import type { SamplingParams } from "./sampling_params";

export type FinishReason = "stop" | "length" | "abort";

/** One token's logprob record: the token first, then the top-K (best first). */
export interface TokenLogprobs {
  tokenId: number;
  logprob: number;
  rank: number; // 1-based rank of the token under the model's distribution
  top: [number, number][]; // [tokenId, logprob]
}

/** A request the runner has not seen, or sees again after a preemption (then `tokenIds` includes its outputs). */
export interface NewRequestData {
  reqId: string;
  tokenIds: readonly number[];
  numPromptTokens: number;
  samplingParams: SamplingParams;
  eosTokenIds: readonly number[];
}

/** One request's share of a step. */
export interface ScheduledRequest {
  reqId: string;
  /** Tokens computed this step, starting at `numComputedTokens`. */
  numNewTokens: number;
  numComputedTokens: number;
  /** The request's whole block table after this step's allocation. */
  blockIds: readonly number[];
  /** The step reaches the end of the known tokens: one logits row samples the next token. */
  samples: boolean;
  /** Positions [from, to) whose logits score the next prompt token (prompt_logprobs); null: none. */
  promptLogprobs: { from: number; to: number } | null;
}

/** What Scheduler.schedule() decided (plain data). Logits rows = sampling rows + prompt-logprob rows. */
export interface SchedulerOutput {
  newRequests: NewRequestData[];
  scheduled: ScheduledRequest[];
  totalNumScheduledTokens: number;
  numLogitsRows: number;
  /** Requests that left the running set since the last step (finished, aborted, preempted): the runner drops their state. */
  removedReqIds: string[];
}

/** One step's results from the runner, keyed by request id. */
export interface ModelRunnerOutput {
  sampledTokenIds: Map<string, number>;
  logprobs: Map<string, TokenLogprobs>;
  promptLogprobs: Map<string, TokenLogprobs[]>;
}

/** What one request gained in a step, as the core reports it. */
export interface EngineCoreOutput {
  reqId: string;
  newTokenIds: number[];
  newLogprobs: TokenLogprobs[] | null;
  newPromptLogprobs: TokenLogprobs[] | null;
  finishReason: FinishReason | null;
  stopReason: number | string | null;
  numCachedTokens: number;
  firstScheduledTime: number | null;
}

/** A plain snapshot of the scheduler after a step, for metrics and logs (vLLM's SchedulerStats). */
export interface SchedulerStats {
  numRunningReqs: number;
  numWaitingReqs: number;
  kvCacheUsage: number;
  numBlocks: number;
  blockSize: number;
  /** Cumulative, in tokens. */
  prefixCacheQueries: number;
  prefixCacheHits: number;
  numPreemptions: number;
  /** This step's token budget used and logits rows used. */
  numScheduledTokens: number;
  numLogitsRows: number;
}

export interface EngineCoreOutputs {
  outputs: EngineCoreOutput[];
  schedulerStats: SchedulerStats;
}

// ---- front end → caller ----

export interface CompletionOutput {
  index: number;
  text: string; // cumulative, stop string handling applied
  textDelta: string; // new since the previous output of this request
  tokenIds: number[]; // cumulative
  newTokenIds: number[];
  logprobs: TokenLogprobs[] | null; // cumulative, when requested
  newLogprobs: TokenLogprobs[] | null;
  cumulativeLogprob: number | null;
  finishReason: FinishReason | null;
  stopReason: number | string | null;
}

export interface RequestMetrics {
  arrivalTime: number;
  firstScheduledTime: number | null;
  firstTokenTime: number | null;
  lastTokenTime: number | null;
  finishedTime: number | null;
  numCachedTokens: number;
}

export interface RequestOutput {
  requestId: string;
  promptTokenIds: readonly number[];
  /** One entry per prompt token; the first is null (nothing scores it). */
  promptLogprobs: (TokenLogprobs | null)[] | null;
  outputs: CompletionOutput[];
  finished: boolean;
  metrics: RequestMetrics;
}
