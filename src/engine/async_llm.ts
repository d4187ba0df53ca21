/**
 * AsyncLLM: the engine behind an async API for the server. One loop runs steps while requests are
 * pending and yields to the event loop between steps, so HTTP handlers keep running. A consumer that
 * stops iterating (client disconnect) aborts its request, which frees its KV blocks at once.
 */
import type { EngineInput, LLMEngine } from "./llm_engine";
import type { RequestOutput } from "./outputs";
import type { SamplingParams } from "./sampling_params";

export class EngineDeadError extends Error {}

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

  constructor(readonly engine: LLMEngine) {}

  get isDead(): boolean {
    return this.deadError !== null;
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
    setImmediate(() => this.loop());
  }

  private async loop(): Promise<void> {
    try {
      while (this.engine.hasUnfinishedRequests()) {
        for (const out of this.engine.step()) this.push(out);
        await new Promise((r) => setImmediate(r));
      }
    } catch (e) {
      this.deadError = e instanceof Error ? e : new Error(String(e));
      for (const s of this.streams.values()) {
        s.error = new EngineDeadError(`the engine failed: ${this.deadError.message}`);
        s.wake?.();
      }
    } finally {
      this.running = false;
    }
  }
}
