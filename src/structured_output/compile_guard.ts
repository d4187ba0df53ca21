/**
 * CompileGuard: runs each compilation in the compile worker under a time limit, one at a time. A failure
 * or a timeout rejects with StructuredOutputError carrying xgrammar's message, and the worker is replaced
 * (an aborted or stuck instance is never reused). The engine's own thread never waits on it.
 */
import type { CompileWorkerReply, CompileWorkerRequest } from "./compile_worker";
import { StructuredOutputError } from "./errors";
import type { GrammarSpec } from "./grammar_spec";
import type { TokenizerInfoSpec } from "./tokenizer_info";

interface Job {
  spec: GrammarSpec;
  resolve: (ms: number) => void;
  reject: (e: Error) => void;
}

const INIT_TIMEOUT_MS = 120_000;
// A compiled binary embeds each entry point under /$bunfs/root by its path from the repo root (scripts/build.mjs
// must list compile_worker.ts as an entry point); from source the worker sits next to this file.
const WORKER_URL = import.meta.url.includes("/$bunfs/")
  ? "/$bunfs/root/src/structured_output/compile_worker.ts"
  : new URL("./compile_worker.ts", import.meta.url).href;

export class CompileGuard {
  private worker: Worker | null = null;
  private ready: Promise<void> | null = null;
  private readonly queue: Job[] = [];
  private busy = false;
  private nextId = 1;
  private onReply: ((r: CompileWorkerReply) => void) | null = null;
  private abandon: ((e: Error) => void) | null = null; // rejects the request in flight

  constructor(private readonly tokenizerInfo: () => TokenizerInfoSpec, readonly timeoutMs: number) {
    if (!(timeoutMs > 0)) throw new Error(`CompileGuard: timeoutMs must be positive, got ${timeoutMs}`);
  }

  /** Compiles `spec` in the worker; resolves with the milliseconds it took. */
  check(spec: GrammarSpec): Promise<number> {
    return new Promise((resolve, reject) => {
      this.queue.push({ spec, resolve, reject });
      void this.runNext();
    });
  }

  /** Stops the worker; the running and queued checks are rejected. */
  close(): void {
    const closed = new StructuredOutputError("the grammar compiler was shut down");
    for (const job of this.queue.splice(0)) job.reject(closed);
    this.abandon?.(closed);
    this.stopWorker();
  }

  private async runNext(): Promise<void> {
    if (this.busy || this.queue.length === 0) return;
    this.busy = true;
    const job = this.queue.shift()!;
    try {
      job.resolve(await this.runJob(job.spec));
    } catch (e) {
      job.reject(e as Error);
    } finally {
      this.busy = false;
      if (this.queue.length === 0) this.worker?.unref();
      void this.runNext();
    }
  }

  private async runJob(spec: GrammarSpec): Promise<number> {
    await this.startWorker();
    const id = this.nextId++;
    const reply = await this.request({ type: "compile", id, spec }, this.timeoutMs, () =>
      `compiling the structured output grammar took longer than ${fmtSeconds(this.timeoutMs)}`);
    if (reply.type === "compiled" && reply.id === id) return reply.ms;
    this.stopWorker(); // a failed compile aborted the worker's WASM instance
    const message = reply.type === "failed" ? reply.message : `unexpected reply ${reply.type}`;
    throw new StructuredOutputError(`invalid structured output constraint: ${message}`);
  }

  private startWorker(): Promise<void> {
    if (this.worker !== null && this.ready !== null) {
      this.worker.ref();
      return this.ready;
    }
    this.worker = new Worker(WORKER_URL);
    this.worker.onmessage = (ev: MessageEvent<CompileWorkerReply>) => this.onReply?.(ev.data);
    this.worker.onerror = (ev: ErrorEvent) => this.onReply?.({ type: "failed", id: -1, message: `compile worker crashed: ${ev.message}` });
    this.ready = this.request({ type: "init", tokenizerInfo: this.tokenizerInfo() }, INIT_TIMEOUT_MS, () => "the grammar compiler did not start")
      .then((r) => {
        if (r.type !== "ready") throw new StructuredOutputError(`the grammar compiler did not start: ${r.type === "failed" ? r.message : r.type}`);
      });
    this.ready.catch(() => this.stopWorker());
    return this.ready;
  }

  // One request is in flight at a time, so the next reply is its answer.
  private request(msg: CompileWorkerRequest, timeoutMs: number, timeoutMessage: () => string): Promise<CompileWorkerReply> {
    const worker = this.worker!;
    return new Promise((resolve, reject) => {
      const settle = () => {
        clearTimeout(timer);
        this.onReply = null;
        this.abandon = null;
      };
      const timer = setTimeout(() => {
        settle();
        this.stopWorker();
        reject(new StructuredOutputError(timeoutMessage(), true));
      }, timeoutMs);
      this.onReply = (r) => (settle(), resolve(r));
      this.abandon = (e) => (settle(), reject(e));
      worker.postMessage(msg);
    });
  }

  private stopWorker(): void {
    this.worker?.terminate();
    this.worker = null;
    this.ready = null;
  }
}

function fmtSeconds(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(ms % 1000 === 0 ? 0 : 1)} s` : `${ms} ms`;
}
