/**
 * RequestScope: the engine requests one HTTP request started. It holds the request's place under the queue
 * cap from admission on, counts the request as in flight, keeps its connection from timing out while it
 * generates, and aborts its engine requests (freeing their KV blocks) when the client disconnects or the
 * server gives up.
 */
import type { EngineInput } from "../engine/llm_engine";
import type { RequestOutput } from "../engine/outputs";
import type { SamplingParams } from "../engine/sampling_params";
import type { Reservation } from "./admission";
import { holdConnection, releaseConnection } from "./connection_limits";
import type { ServerState } from "./state";

export class RequestScope {
  private readonly engineIds: string[] = [];
  private readonly reservation: Reservation;
  private closed = false;
  private readonly onDisconnect = () => {
    if (this.closed) return;
    this.state.log.info("client disconnected; aborting", this.requestId);
    this.abort();
  };

  /**
   * Admits `numSeqs` sequences (throws the 503 when the queue is full). `requestId` is the client-facing id
   * (X-Request-Id); `responseId` prefixes the engine ids.
   */
  constructor(private readonly state: ServerState, readonly requestId: string, readonly responseId: string, private readonly request: Request, numSeqs: number) {
    this.reservation = state.admit(numSeqs);
    state.active.add(this);
    holdConnection(request);
    const signal = request.signal;
    if (signal.aborted) queueMicrotask(this.onDisconnect);
    else signal.addEventListener("abort", this.onDisconnect, { once: true });
  }

  /** Starts one engine request; its stream yields an output per step that changed it. */
  generate(input: EngineInput, params: SamplingParams): AsyncGenerator<RequestOutput> {
    if (this.closed) throw new Error("RequestScope: generate after close");
    const id = this.state.engineRequestId(this.responseId);
    this.engineIds.push(id);
    return this.counted(this.state.llm.generate(id, input, params), params.n);
  }

  /** Aborts every engine request of this scope that is still running. */
  abort(): void {
    for (const id of this.engineIds) this.state.llm.abort(id);
  }

  /** Ends the scope; anything still running is aborted. Safe to call more than once. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.request.signal.removeEventListener("abort", this.onDisconnect);
    this.abort();
    this.reservation.release();
    this.state.active.delete(this);
    releaseConnection(this.request);
  }

  // The engine adds the request when its stream is first read; from then on the engine counts it.
  private async *counted(inner: AsyncGenerator<RequestOutput>, n: number): AsyncGenerator<RequestOutput> {
    const first = inner.next();
    this.reservation.inEngine(n);
    try {
      for (let r = await first; !r.done; r = await inner.next()) yield r.value;
    } finally {
      await inner.return(undefined);
    }
  }
}
