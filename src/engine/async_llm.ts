/**
 * AsyncLLM: the engine behind an async API for the server. One loop runs steps while requests are
 * pending and yields to the event loop between steps, so HTTP handlers keep running. A consumer that
 * stops iterating (client disconnect) aborts its request, which frees its KV blocks at once. A failed step
 * kills the engine (vLLM's EngineDeadError): every stream gets the error and `onDead` listeners run once.
 * With work pending but no token scheduled for `iterationTimeoutMs`, the engine reports itself stuck.
 */
import type { EngineInput, LLMEngine } from "./llm_engine";
import type { RequestOutput } from "./outputs";
import type { SamplingParams } from "./sampling_params";

export class EngineDeadError extends Error {}

/** vLLM's VLLM_ENGINE_ITERATION_TIMEOUT_S default: past this without progress, a busy engine is not healthy. */
export const DEFAULT_ITERATION_TIMEOUT_MS = 60_000;

interface Stream {
  items: RequestOutput[];
  wake: (() => void) | null;
  error: Error | null;
  done: boolean;
}

export class AsyncLLM {
  private readonly streams = new Map<string, Stream>();
  private running = false;
  /** Set when a step failed; the engine accepts no more work after that. */
  deadError: Error | null = null;
  private readonly deadListeners: ((e: Error) => void)[] = [];
  private lastProgress = performance.now();

  constructor(readonly engine: LLMEngine, private readonly iterationTimeoutMs = DEFAULT_ITERATION_TIMEOUT_MS) {}

  get isDead(): boolean {
    return this.deadError !== null;
  }

  /** Runs once when a step fails (the server drains and exits non-zero). */
  onDead(listener: (e: Error) => void): void {
    this.deadListeners.push(listener);
  }

  /** Work is pending, yet no step has scheduled a token for longer than the iteration timeout. */
  get isStuck(): boolean {
    return this.engine.hasUnfinishedRequests() && performance.now() - this.lastProgress > this.iterationTimeoutMs;
  }

  /** Seconds since a step last scheduled work (0 when idle). */
  get secondsWithoutProgress(): number {
    return this.engine.hasUnfinishedRequests() ? (performance.now() - this.lastProgress) / 1000 : 0;
  }

  /** Streams the request's outputs (one per step that changed it); the last one has finished = true. */
  async *generate(requestId: string, input: EngineInput, params: SamplingParams): AsyncGenerator<RequestOutput> {
    if (this.deadError) throw new EngineDeadError(`the engine is dead: ${this.deadError.message}`);
    if (this.streams.has(requestId)) throw new Error(`request id ${requestId} is already in use`);
    const stream: Stream = { items: [], wake: null, error: null, done: false };
    this.engine.addRequest(requestId, input, params);
    this.streams.set(requestId, stream);
    this.kick();
    try {
      while (true) {
        if (stream.items.length === 0 && !stream.error) await new Promise<void>((r) => (stream.wake = r));
        if (stream.error) throw stream.error;
        const out = stream.items.shift()!;
        yield out;
        if (out.finished) return;
      }
    } finally {
      if (!stream.done) this.abort(requestId);
      this.streams.delete(requestId);
    }
  }

  /** Aborts a request wherever it is; its stream ends with finish_reason "abort". */
  abort(requestId: string): void {
    const stream = this.streams.get(requestId);
    for (const out of this.engine.abortRequest([requestId])) this.push(out);
    if (stream) stream.done = true;
  }

  private push(out: RequestOutput): void {
    const s = this.streams.get(out.requestId);
    if (!s) return;
    s.items.push(out);
    if (out.finished) s.done = true;
    s.wake?.();
    s.wake = null;
  }

  private kick(): void {
    if (this.running) return;
    this.running = true;
    this.lastProgress = performance.now();
    setImmediate(() => this.loop());
  }

  private async loop(): Promise<void> {
    try {
      while (this.engine.hasUnfinishedRequests()) {
        for (const out of this.engine.step()) this.push(out);
        if ((this.engine.schedulerStats?.numScheduledTokens ?? 0) > 0) this.lastProgress = performance.now();
        await new Promise((r) => setImmediate(r));
      }
    } catch (e) {
      this.deadError = e instanceof Error ? e : new Error(String(e));
      for (const s of this.streams.values()) {
        s.error = new EngineDeadError(`the engine failed: ${this.deadError.message}`);
        s.wake?.();
      }
      for (const l of this.deadListeners) l(this.deadError);
    } finally {
      this.running = false;
    }
  }
}
