/** EngineStats: the counters and per-request latencies the server exports as vllm:* metrics. */
import type { Request } from "./request";
import type { Scheduler, SchedulerOutput } from "./scheduler";

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

export class EngineStats {
  promptTokens = 0;
  generationTokens = 0;
  numRequestsArrived = 0;
  readonly finishedByReason = new Map<string, number>();
  /** Called for each finished request (the server feeds its histograms from here). */
  onRequestFinished: ((s: FinishedRequestStats) => void) | null = null;
  /** Inter-token latencies waiting for their request to finish, per request id. */
  private readonly itl = new Map<string, number[]>();
  private numPreemptions = 0;

  onArrival(): void {
    this.numRequestsArrived++;
  }

  onStep(_so: SchedulerOutput, scheduler: Scheduler): void {
    this.numPreemptions = scheduler.numPreemptions;
  }

  /** Called before the request's first/last token times are updated. */
  onToken(req: Request, now: number): void {
    this.generationTokens++;
    if (req.firstTokenTime === null) this.promptTokens += req.numPromptTokens;
    if (req.lastTokenTime !== null) {
      const list = this.itl.get(req.requestId) ?? [];
      list.push(now - req.lastTokenTime);
      this.itl.set(req.requestId, list);
    }
  }

  onFinished(req: Request): void {
    const reason = req.finishReason ?? "abort";
    this.finishedByReason.set(reason, (this.finishedByReason.get(reason) ?? 0) + 1);
    const itl = this.itl.get(req.requestId) ?? [];
    this.itl.delete(req.requestId);
    const now = performance.now() / 1000;
    this.onRequestFinished?.({
      finishReason: reason,
      numPromptTokens: req.numPromptTokens,
      numGenerationTokens: req.outputTokenIds.length,
      queueTime: (req.firstScheduledTime ?? now) - req.arrivalTime,
      timeToFirstToken: req.firstTokenTime === null ? null : req.firstTokenTime - req.arrivalTime,
      e2eLatency: now - req.arrivalTime,
      interTokenLatencies: itl,
    });
  }

  get preemptions(): number {
    return this.numPreemptions;
  }
}
