/**
 * The load generator of `bench serve`: sends the sampled requests at their arrival times, at most
 * --max-concurrency in flight, and collects each one's timing. Failed requests are outputs too.
 */
import { Generator } from "../sample/generator";
import { arrivalOffsets } from "./arrivals";
import type { SampleRequest } from "./datasets";
import { ProgressBar } from "./progress";
import { type Backend, requestFunc, type RequestFuncInput, type RequestFuncOutput } from "./request_func";

export interface LoadConfig {
  backend: Backend;
  apiUrl: string;
  /** The `model` field of every request. */
  model: string;
  requestRate: number;
  burstiness: number;
  maxConcurrency: number | null;
  ignoreEos: boolean;
  extraBody: Record<string, unknown>;
  headers: Record<string, string>;
  seed: number;
  progress: boolean;
}

export interface LoadResult {
  outputs: RequestFuncOutput[];
  /** Seconds from the first send until the last request finished. */
  duration: number;
}

export async function runLoad(cfg: LoadConfig, requests: readonly SampleRequest[]): Promise<LoadResult> {
  const offsets = arrivalOffsets(new Generator(cfg.seed), requests.length, cfg.requestRate, cfg.burstiness);
  const slots = new Semaphore(cfg.maxConcurrency ?? Infinity);
  const bar = cfg.progress ? new ProgressBar(requests.length, "Requests") : null;
  const start = performance.now();
  const tasks: Promise<RequestFuncOutput>[] = [];
  for (let i = 0; i < requests.length; i++) {
    const wait = start + offsets[i] * 1000 - performance.now();
    if (wait > 0) await Bun.sleep(wait);
    tasks.push(slots.run(() => requestFunc(toInput(cfg, requests[i]))).finally(() => bar?.update()));
  }
  const outputs = await Promise.all(tasks);
  const duration = (performance.now() - start) / 1000;
  bar?.close();
  return { outputs, duration };
}

export function toInput(cfg: LoadConfig, r: SampleRequest): RequestFuncInput {
  return {
    backend: cfg.backend, apiUrl: cfg.apiUrl, model: cfg.model, prompt: r.prompt, promptLen: r.promptLen, outputLen: r.expectedOutputLen,
    ignoreEos: cfg.ignoreEos, extraBody: cfg.extraBody, headers: cfg.headers, requestId: r.requestId,
  };
}

/** Polls with the first request until it succeeds (a server still starting), or gives up after `timeoutS`. */
export async function waitForEndpoint(cfg: LoadConfig, first: SampleRequest, timeoutS: number): Promise<RequestFuncOutput> {
  const deadline = performance.now() + timeoutS * 1000;
  for (;;) {
    const out = await requestFunc(toInput(cfg, first));
    if (out.success || performance.now() >= deadline) return out;
    await Bun.sleep(Math.min(5000, Math.max(0, deadline - performance.now())));
  }
}

/** At most `limit` tasks at a time, started in the order they asked. */
class Semaphore {
  private active = 0;
  private readonly queue: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    // A released slot passes straight to the next waiter, so a newcomer can never overtake it.
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.queue.push(resolve));
    else this.active++;
    try {
      return await task();
    } finally {
      const next = this.queue.shift();
      if (next) next();
      else this.active--;
    }
  }
}
