/**
 * Connection timeouts and the concurrency cap, as uvicorn has them. Bun's idle timer (--timeout-keep-alive)
 * closes quiet keep-alive connections. It is switched off while the app works on a request (a non-streamed
 * generation sends nothing until it is done), stays off while a generation streams (an SSE stream may be
 * silent for minutes), and is set back to the keep-alive timeout when the response ends. A request body
 * has its own deadline, --request-body-timeout; headers get Bun's fixed limit of about 10 s.
 */
import { readFileSync } from "node:fs";

/** uvicorn's --timeout-keep-alive default, which vLLM keeps (VLLM_HTTP_TIMEOUT_KEEP_ALIVE). */
export const DEFAULT_TIMEOUT_KEEP_ALIVE_S = 5;
export const DEFAULT_REQUEST_BODY_TIMEOUT_S = 30;
/** Bun's per-connection timer takes at most 255 s. */
export const MAX_TIMEOUT_S = 255;
/** Probes answer past --limit-concurrency: they are cheap, and an orchestrator must still see the server. */
export const PROBE_PATHS: ReadonlySet<string> = new Set(["/health", "/ping", "/version", "/metrics", "/load"]);

/** Sets the idle timeout of the request's connection, in seconds (0: none). */
type SetTimeout = (seconds: number) => void;

interface Binding {
  set: SetTimeout;
  keepAliveS: number;
  /** A generation is running: the connection must not time out. */
  held: boolean;
}

const bindings = new WeakMap<Request, Binding>();

/** Ties the request the app sees to its connection's timer (startServer does this for each request). */
export function bindConnection(request: Request, set: SetTimeout, keepAliveS: number): void {
  bindings.set(request, { set, keepAliveS, held: false });
}

/** No idle timeout from now on: a generation may send nothing for a long time. No-op for unbound requests. */
export function holdConnection(request: Request): void {
  const b = bindings.get(request);
  if (b === undefined) return;
  b.held = true;
  b.set(0);
}

/** The response is complete: the connection goes back to the keep-alive timeout. */
export function releaseConnection(request: Request): void {
  const b = bindings.get(request);
  if (b === undefined || !b.held) return;
  b.held = false;
  b.set(b.keepAliveS);
}

/** Whether a generation holds the request's connection open. */
export function isHeld(request: Request): boolean {
  return bindings.get(request)?.held ?? false;
}

/**
 * --limit-concurrency's default: three quarters of the open-file limit (`ulimit -n`), so requests past the
 * cap get a 503 while descriptors remain for accepting and answering them; 1024 where the limit is unknown.
 */
export function defaultConcurrencyLimit(): number {
  let soft = NaN;
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync("/proc/self/limits", "utf8"));
    if (m) soft = Number(m[1]);
  } catch {
    // not Linux: fall through to the fixed default
  }
  if (!Number.isFinite(soft)) return 1024;
  return Math.max(16, Math.min(4096, Math.floor(soft * 0.75)));
}
