/**
 * RequestScope: the engine requests one HTTP request started. It counts the request as in flight, and
 * aborts its engine requests (freeing their KV blocks) when the client disconnects or the server gives up.
 */
import type { EngineInput } from "../engine/llm_engine";
import type { RequestOutput } from "../engine/outputs";
import type { SamplingParams } from "../engine/sampling_params";
import type { ServerState } from "./state";

export class RequestScope {
  private readonly engineIds: string[] = [];
  private closed = false;
  private readonly onDisconnect = () => {
    if (this.closed) return;
    this.state.log.info("client disconnected; aborting", this.requestId);
    this.abort();
  };

  /** `requestId` is the client-facing id (X-Request-Id); `responseId` prefixes the engine ids. */
  constructor(private readonly state: ServerState, readonly requestId: string, readonly responseId: string, private readonly signal: AbortSignal) {
    state.active.add(this);
    if (signal.aborted) queueMicrotask(this.onDisconnect);
    else signal.addEventListener("abort", this.onDisconnect, { once: true });
  }

  /** Starts one engine request; its stream yields an output per step that changed it. */
  generate(input: EngineInput, params: SamplingParams): AsyncGenerator<RequestOutput> {
    if (this.closed) throw new Error("RequestScope: generate after close");
    const id = this.state.engineRequestId(this.responseId);
    this.engineIds.push(id);
    return this.state.llm.generate(id, input, params);
  }

  /** Aborts every engine request of this scope that is still running. */
  abort(): void {
    for (const id of this.engineIds) this.state.llm.abort(id);
  }

  /** Ends the scope; anything still running is aborted. Safe to call more than once. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.signal.removeEventListener("abort", this.onDisconnect);
    this.abort();
    this.state.active.delete(this);
  }
}
