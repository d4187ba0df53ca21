/** RequestOutput: what the engine reports for a request after each step (cumulative, plus the step's delta). */
import type { FinishReason, TokenLogprobs } from "./request";

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
  promptLogprobs: (TokenLogprobs | null)[] | null;
  outputs: CompletionOutput[];
  finished: boolean;
  metrics: RequestMetrics;
}
