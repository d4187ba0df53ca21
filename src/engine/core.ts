/**
 * EngineCore: one step is schedule → execute the model → grammar bitmasks → sample → update (vLLM v1's
 * EngineCore.step). It takes plain requests in and gives plain per-request outputs and SchedulerStats out;
 * detokenization and the n > 1 fan-out live in the front end (LLMEngine).
 */
import type { EngineCoreOutputs, ModelRunnerOutput, SchedulerOutput, SchedulerStats } from "./outputs";
import type { EngineCoreRequest } from "./request";
import { RequestStatus } from "./request";
import type { Scheduler } from "./scheduler";
import type { StructuredOutputsParams } from "./sampling_params";

/** The model side of a step (ModelRunner, or a fake in tests). */
export interface ModelExecutor {
  executeModel(so: SchedulerOutput): void;
  sampleTokens(bitmasks: ReadonlyMap<string, Int32Array> | null): ModelRunnerOutput;
}

/** The structured-output side the core drives (StructuredOutputManager). */
export interface StructuredOutputBackend {
  addRequest(reqId: string, params: StructuredOutputsParams): void;
  removeRequest(reqId: string): void;
  grammarBitmask(so: SchedulerOutput): ReadonlyMap<string, Int32Array> | null;
}

export class EngineCore {
  constructor(readonly scheduler: Scheduler, readonly executor: ModelExecutor, readonly structuredOutput: StructuredOutputBackend | null) {}

  /** Queues one sequence. A constraint must be prepared first (StructuredOutputError otherwise). */
  addRequest(r: EngineCoreRequest): void {
    const so = r.samplingParams.structuredOutputs;
    if (so) {
      if (this.structuredOutput === null) throw new Error("structured outputs are not available on this engine");
      this.structuredOutput.addRequest(r.reqId, so);
    }
    try {
      this.scheduler.addRequest(r);
    } catch (e) {
      if (so) this.structuredOutput!.removeRequest(r.reqId);
      throw e;
    }
  }

  abortRequests(reqIds: readonly string[]): void {
    this.scheduler.finishRequests(reqIds, RequestStatus.FINISHED_ABORTED);
  }

  /** A stop string the front end found in the text ends the request as "stop". */
  stopRequests(reqIds: readonly string[], stopReason: string): void {
    this.scheduler.finishRequests(reqIds, RequestStatus.FINISHED_STOPPED, stopReason);
  }

  schedulerStats(): SchedulerStats {
    return this.scheduler.snapshotStats();
  }

  hasUnfinishedRequests(): boolean {
    return this.scheduler.numUnfinished > 0;
  }

  step(): EngineCoreOutputs {
    return this.finishStep(this.beginStep());
  }

  /** The first half of a step: schedule, then launch the forward pass (queued, on an asynchronous backend). */
  beginStep(): SchedulerOutput {
    const schedulerOutput = this.scheduler.schedule();
    this.executor.executeModel(schedulerOutput);
    return schedulerOutput;
  }

  /**
   * The second half: grammar bitmasks, sampling (which waits for the forward pass) and the update. Requests
   * finished in between (an abort, a stop string) are skipped by the update; their tokens are dropped.
   */
  finishStep(schedulerOutput: SchedulerOutput): EngineCoreOutputs {
    const bitmasks = this.structuredOutput?.grammarBitmask(schedulerOutput) ?? null;
    const runnerOutput = this.executor.sampleTokens(bitmasks);
    return this.scheduler.updateFromOutput(schedulerOutput, runnerOutput);
  }
}
