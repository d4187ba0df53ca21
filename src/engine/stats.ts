/**
 * The stats record the front end publishes after every step (and after an abort): a plain SchedulerStats
 * snapshot plus what the step did. Metrics and the log line subscribe to it; none of them reads engine state.
 */
import type { SchedulerStats } from "./outputs";

/** Latencies of one finished request, in seconds. */
export interface FinishedRequestStats {
  finishReason: string;
  numPromptTokens: number;
  numGenerationTokens: number;
  queueTime: number;
  timeToFirstToken: number | null;
  e2eLatency: number;
  interTokenLatencies: number[];
}

export interface IterationStats {
  /** Prompt tokens of requests that got their first token this step. */
  numPromptTokens: number;
  numGenerationTokens: number;
  finished: FinishedRequestStats[];
}

export interface EngineStepStats {
  scheduler: SchedulerStats;
  iteration: IterationStats;
}

export type StatsListener = (s: EngineStepStats) => void;

export function emptyIterationStats(): IterationStats {
  return { numPromptTokens: 0, numGenerationTokens: 0, finished: [] };
}
