/**
 * TokenizerPool: tokenization and chat-template rendering off the server's thread. Up to `size` workers,
 * each with its own tokenizer, started on first use; jobs queue in arrival order. A chat render that runs
 * past the time limit has its worker terminated (a looping template never freezes the server, and its
 * memory goes with the worker) and fails with a TokenizerError; the next job gets a fresh worker.
 * With size 0, or when no worker can start (a build without the worker entry point), jobs run on the
 * calling thread: same results, no time limit.
 */
import { type ChatMessage, type Tokenizer, TokenizerError } from "./tokenizer";
import { type ChatJobOptions, type JobSettings, runTokenizerJob, type TokenizerJob, type TokenizerJobResult } from "./tokenizer_jobs";
import type { TokenizerWorkerReply, TokenizerWorkerRequest } from "./tokenizer_worker";

export interface TokenizerPoolOptions extends JobSettings {
  /** Worker threads; 0 runs every job on the calling thread. */
  size: number;
  /** How long rendering one chat prompt may take. */
  renderTimeoutMs: number;
  /** Told once when the pool falls back to the calling thread. */
  onWarning?: (message: string) => void;
  /** The worker script; the default is tokenizer_worker.ts, embedded or next to this file. */
  workerUrl?: string;
}

interface Pending {
  id: number;
  job: TokenizerJob;
  resolve: (r: TokenizerJobResult) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  ready: boolean;
  running: Pending | null;
  timer: ReturnType<typeof setTimeout> | null;
}

// A compiled binary embeds each entry point under /$bunfs/root by its path from the repo root (scripts/build.mjs
// must list tokenizer_worker.ts as an entry point); from source the worker sits next to this file.
const WORKER_URL = import.meta.url.includes("/$bunfs/")
  ? "/$bunfs/root/src/tokenizer/tokenizer_worker.ts"
  : new URL("./tokenizer_worker.ts", import.meta.url).href;

export class TokenizerPool {
  private readonly slots: Slot[] = [];
  private readonly queue: Pending[] = [];
  private nextId = 1;
  private inline: boolean;
  private everStarted = false;
  private closed = false;
  private readonly settings: JobSettings;

  constructor(private readonly tokenizer: Tokenizer, private readonly opts: TokenizerPoolOptions) {
    if (!(opts.size >= 0) || !Number.isInteger(opts.size)) throw new Error(`TokenizerPool: size must be a non-negative integer, got ${opts.size}`);
    if (!(opts.renderTimeoutMs > 0)) throw new Error(`TokenizerPool: renderTimeoutMs must be positive, got ${opts.renderTimeoutMs}`);
    this.inline = opts.size === 0;
    this.settings = { chatTemplate: opts.chatTemplate, maxPromptChars: opts.maxPromptChars };
  }

  encode(text: string, addSpecialTokens: boolean): Promise<number[]> {
    return this.run({ op: "encode", text, addSpecialTokens }).then((r) => (r as { ids: number[] }).ids);
  }

  /** The conversation rendered with the chat template (the pool's override, else the tokenizer's), then encoded. */
  applyChatTemplate(messages: ChatMessage[], options: ChatJobOptions, addSpecialTokens: boolean): Promise<number[]> {
    return this.run({ op: "chat", messages, options, addSpecialTokens }).then((r) => (r as { ids: number[] }).ids);
  }

  decode(ids: number[], skipSpecialTokens: boolean): Promise<string> {
    return this.run({ op: "decode", ids, skipSpecialTokens }).then((r) => (r as { text: string }).text);
  }

  /** Stops every worker; running and queued jobs are rejected. */
  close(): void {
    this.closed = true;
    const err = new TokenizerError("the tokenizer pool was shut down");
    for (const p of this.queue.splice(0)) p.reject(err);
    for (const slot of [...this.slots]) this.drop(slot, err);
  }

  private run(job: TokenizerJob): Promise<TokenizerJobResult> {
    if (this.closed) return Promise.reject(new TokenizerError("the tokenizer pool was shut down"));
    return new Promise((resolve, reject) => {
      this.queue.push({ id: this.nextId++, job, resolve, reject });
      this.dispatch();
    });
  }

  private dispatch(): void {
    if (this.inline) return this.drainInline();
    for (const slot of this.slots) {
      if (this.queue.length === 0) return;
      if (slot.ready && slot.running === null) this.start(slot, this.queue.shift()!);
    }
    const starting = this.slots.filter((s) => !s.ready).length;
    if (this.queue.length > starting && this.slots.length < this.opts.size) this.spawn();
  }

  private start(slot: Slot, p: Pending): void {
    slot.running = p;
    slot.worker.ref();
    if (p.job.op === "chat") {
      slot.timer = setTimeout(() => this.drop(slot, new TokenizerError(
        `rendering the chat template took longer than ${this.opts.renderTimeoutMs / 1000} s (--chat-template-render-timeout); the template loops or the conversation is too large`)), this.opts.renderTimeoutMs);
    }
    slot.worker.postMessage({ type: "job", id: p.id, job: p.job } satisfies TokenizerWorkerRequest);
  }

  private spawn(): void {
    const worker = new Worker(this.opts.workerUrl ?? WORKER_URL);
    const slot: Slot = { worker, ready: false, running: null, timer: null };
    this.slots.push(slot);
    worker.onmessage = (ev: MessageEvent<TokenizerWorkerReply>) => this.onReply(slot, ev.data);
    worker.onerror = (ev: ErrorEvent) => this.onCrash(slot, ev.message);
    worker.postMessage({ type: "init", origin: this.tokenizer.origin, settings: this.settings } satisfies TokenizerWorkerRequest);
  }

  private onReply(slot: Slot, r: TokenizerWorkerReply): void {
    if (r.type === "ready") {
      slot.ready = true;
      this.everStarted = true;
      slot.worker.unref();
    } else if (r.type === "init-failed") {
      return this.onCrash(slot, r.message);
    } else if (r.type === "rendered") {
      this.clearTimer(slot);
      return;
    } else {
      const p = slot.running;
      if (p === null || p.id !== r.id) return;
      this.finish(slot);
      if (r.type === "done") p.resolve(r.result);
      else p.reject(r.tokenizerError ? new TokenizerError(r.message) : new Error(`tokenizer worker: ${r.message}`));
    }
    this.dispatch();
  }

  // A worker that never started means workers cannot run here; one that crashed later is just replaced.
  private onCrash(slot: Slot, message: string): void {
    const neverReady = !slot.ready;
    this.drop(slot, new Error(`the tokenizer worker failed: ${message}`));
    if (neverReady && !this.everStarted && !this.closed) {
      this.inline = true;
      this.opts.onWarning?.(`tokenizer workers cannot start (${message}); tokenizing on the server thread, without a chat template time limit`);
    }
    this.dispatch();
  }

  private drop(slot: Slot, err: Error): void {
    const p = slot.running;
    this.finish(slot);
    slot.worker.terminate();
    const i = this.slots.indexOf(slot);
    if (i >= 0) this.slots.splice(i, 1);
    p?.reject(err);
    if (!this.closed) queueMicrotask(() => this.dispatch());
  }

  private finish(slot: Slot): void {
    this.clearTimer(slot);
    slot.running = null;
    slot.worker.unref();
  }

  private clearTimer(slot: Slot): void {
    if (slot.timer !== null) clearTimeout(slot.timer);
    slot.timer = null;
  }

  // Each job in its own task, so a burst of inline jobs still lets other work run between them.
  private drainInline(): void {
    const p = this.queue.shift();
    if (p === undefined) return;
    setImmediate(() => {
      try {
        p.resolve(runTokenizerJob(this.tokenizer, p.job, this.settings));
      } catch (e) {
        p.reject(e as Error);
      }
      this.drainInline();
    });
  }
}
