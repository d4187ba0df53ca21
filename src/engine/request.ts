/** Request: the plain state of one sequence as it moves through the scheduler (vLLM v1's Request). */
import type { SamplingParams } from "./sampling_params";
import { Generator } from "../sample/generator";
import type { RequestGrammar } from "../structured_output/request_grammar";

export enum RequestStatus { WAITING, RUNNING, PREEMPTED, FINISHED_STOPPED, FINISHED_LENGTH, FINISHED_ABORTED }

export type FinishReason = "stop" | "length" | "abort";

/** One generated token's logprob record: the sampled token first, then the top-K (best first). */
export interface TokenLogprobs {
  tokenId: number;
  logprob: number;
  rank: number; // 1-based rank of the sampled token under the model's distribution
  top: [number, number][]; // [tokenId, logprob]
}

export class Request {
  status = RequestStatus.WAITING;
  readonly outputTokenIds: number[] = [];
  readonly outputLogprobs: TokenLogprobs[] = [];
  promptLogprobs: (TokenLogprobs | null)[] | null = null;
  numComputedTokens = 0;
  /** Tokens matched in the prefix cache when the request was first scheduled. */
  numCachedTokens = 0;
  numPreemptions = 0;
  stopReason: number | string | null = null;
  readonly generator: Generator | null;
  /** Chained hashes of the request's full blocks, filled lazily by the KV cache manager. */
  readonly blockHashes: string[] = [];
  // Timestamps (seconds, performance clock) for the per-request latency stats.
  readonly arrivalTime: number;
  firstScheduledTime: number | null = null;
  firstTokenTime: number | null = null;
  lastTokenTime: number | null = null;
  /** The request's structured-output grammar state, when it has a constraint (issue 6). */
  grammar: RequestGrammar | null = null;

  constructor(
    readonly requestId: string,
    readonly promptTokenIds: readonly number[],
    readonly samplingParams: SamplingParams,
    readonly eosTokenIds: readonly number[],
    readonly cacheSalt: string | null = null,
    arrivalTime = performance.now() / 1000,
  ) {
    this.arrivalTime = arrivalTime;
    this.generator = samplingParams.seed === null ? null : new Generator(samplingParams.seed);
  }

  get numPromptTokens(): number { return this.promptTokenIds.length; }
  get numTokens(): number { return this.promptTokenIds.length + this.outputTokenIds.length; }
  get isFinished(): boolean { return this.status >= RequestStatus.FINISHED_STOPPED; }

  tokenAt(i: number): number {
    const p = this.promptTokenIds.length;
    return i < p ? this.promptTokenIds[i] : this.outputTokenIds[i - p];
  }

  get finishReason(): FinishReason | null {
    switch (this.status) {
      case RequestStatus.FINISHED_STOPPED: return "stop";
      case RequestStatus.FINISHED_LENGTH: return "length";
      case RequestStatus.FINISHED_ABORTED: return "abort";
      default: return null;
    }
  }
}
