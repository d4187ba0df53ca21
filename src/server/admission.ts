/**
 * Admission against --max-num-queued-reqs, counted in sequences (prompts × n), not HTTP requests. A request
 * joins the count the moment it is admitted, so simultaneous arrivals see each other even before the engine
 * has them (the engine learns of a request only when its stream is first read). Queued means beyond what
 * --max-num-seqs runs at once: with --max-num-seqs 1 and a cap of 1, one sequence runs, one waits, and the
 * next request gets a 503.
 */
import { BadRequestError, ServiceUnavailableError } from "./errors";

/** What admission reads of the engine (LLMEngine's public counters). */
export interface EngineLoad {
  /** Sequences admitted and not running as of the last step. */
  readonly numWaitingSequences: number;
  readonly schedulerStats: { numRunningReqs: number } | null;
}

/** One request's hold on the count, from admission until it ends. */
export interface Reservation {
  /** `n` of its sequences are in the engine now, which counts them itself from here on. */
  inEngine(n: number): void;
  /** The request ended; whatever it still holds is given back. Safe to call twice. */
  release(): void;
}

export class Admission {
  /** Admitted sequences the engine does not know of yet. */
  private notInEngine = 0;

  constructor(private readonly engine: EngineLoad, readonly maxNumSeqs: number, readonly maxNumQueued: number | null) {}

  /** Sequences admitted and not finished: the engine's own plus those on their way to it. */
  get numAdmitted(): number {
    return this.engine.numWaitingSequences + (this.engine.schedulerStats?.numRunningReqs ?? 0) + this.notInEngine;
  }

  /** Throws a 503 when `numSeqs` more sequences would queue past the cap (a 400 when they never could fit). */
  check(numSeqs: number): void {
    const cap = this.maxNumQueued;
    if (cap === null) return;
    const room = this.maxNumSeqs + cap;
    if (numSeqs > room)
      throw new BadRequestError(`the request needs ${numSeqs} sequences; at most ${room} are ever admitted at once (--max-num-seqs ${this.maxNumSeqs} + --max-num-queued-reqs ${cap})`, "n");
    const admitted = this.numAdmitted;
    if (admitted + numSeqs - this.maxNumSeqs <= cap) return;
    const queued = Math.max(0, admitted - this.maxNumSeqs);
    throw new ServiceUnavailableError(`the request queue is full (${queued} sequences wait beyond the ${this.maxNumSeqs} that run at once; --max-num-queued-reqs ${cap}); retry later`);
  }

  /** Checks, then counts `numSeqs` sequences until the reservation is released. */
  reserve(numSeqs: number): Reservation {
    this.check(numSeqs);
    this.notInEngine += numSeqs;
    let held = numSeqs;
    return {
      inEngine: (n) => {
        const k = Math.min(n, held);
        held -= k;
        this.notInEngine -= k;
      },
      release: () => {
        this.notInEngine -= held;
        held = 0;
      },
    };
  }
}
