/** Request: the engine core's state of one sequence as it moves through the scheduler (vLLM v1's Request). */
import type { FinishReason } from "./outputs";
import type { SamplingParams } from "./sampling_params";

export enum RequestStatus { WAITING, RUNNING, PREEMPTED, FINISHED_STOPPED, FINISHED_LENGTH, FINISHED_ABORTED }

/** What the front end hands the core for one sequence (plain data). */
export interface EngineCoreRequest {
  reqId: string;
  promptTokenIds: readonly number[];
  samplingParams: SamplingParams;
  eosTokenIds: readonly number[];
  cacheSalt: string | null;
  arrivalTime: number;
}

/** Only the scheduler changes a request's status, counts and tokens. */
export class Request {
  status = RequestStatus.WAITING;
  readonly outputTokenIds: number[] = [];
  numComputedTokens = 0;
  /** Tokens matched in the prefix cache when the request was first scheduled. */
  numCachedTokens = 0;
  numPreemptions = 0;
  /** Prompt positions already scored for prompt_logprobs (a recomputed prompt is not scored twice). */
  numPromptLogprobsDone = 0;
  stopReason: number | string | null = null;
  /** Chained hashes of the request's full blocks, filled lazily by the KV cache manager. */
  readonly blockHashes: string[] = [];
  firstScheduledTime: number | null = null;
  readonly requestId: string;
  readonly promptTokenIds: readonly number[];
  readonly samplingParams: SamplingParams;
  readonly eosTokenIds: readonly number[];
  readonly cacheSalt: string | null;
  readonly arrivalTime: number;

  constructor(r: EngineCoreRequest) {
    this.requestId = r.reqId;
    this.promptTokenIds = r.promptTokenIds;
    this.samplingParams = r.samplingParams;
    this.eosTokenIds = r.eosTokenIds;
    this.cacheSalt = r.cacheSalt;
    this.arrivalTime = r.arrivalTime;
  }

  get numPromptTokens(): number { return this.promptTokenIds.length; }
  get numTokens(): number { return this.promptTokenIds.length + this.outputTokenIds.length; }
  get isFinished(): boolean { return this.status >= RequestStatus.FINISHED_STOPPED; }

  tokenAt(i: number): number {
    const p = this.promptTokenIds.length;
    return i < p ? this.promptTokenIds[i] : this.outputTokenIds[i - p];
  }

  get finishReason(): FinishReason | null {
    return finishReasonOf(this.status);
  }
}

export function finishReasonOf(status: RequestStatus): FinishReason | null {
  switch (status) {
    case RequestStatus.FINISHED_STOPPED: return "stop";
    case RequestStatus.FINISHED_LENGTH: return "length";
    case RequestStatus.FINISHED_ABORTED: return "abort";
    default: return null;
  }
}
