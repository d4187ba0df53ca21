/**
 * The OpenAI-compatible HTTP server: one Elysia app built from one plugin per endpoint group, and the
 * Bun listener around it with access logs and a graceful shutdown (stop accepting, drain, exit).
 */
import { swagger } from "@elysiajs/swagger";
import type { Server } from "bun";
import { Elysia } from "elysia";
import { VERSION } from "../version";
import { chatRouter } from "./chat_completion/router";
import { completionRouter } from "./completion/router";
import { Cors, DEFAULT_CORS } from "./cors";
import { AuthenticationError, BadRequestError, errorResponse, NotFoundError, type OpenAIError, ServiceUnavailableError, toOpenAIError } from "./errors";
import { healthRouter } from "./health/router";
import { bindConnection, DEFAULT_TIMEOUT_KEEP_ALIVE_S, defaultConcurrencyLimit, isHeld, PROBE_PATHS } from "./connection_limits";
import { isValidRequestId, REQUEST_ID_HEADER, REQUEST_ID_RULE } from "./http_context";
import { anthropicError, anthropicErrorResponse, isAnthropicPath } from "./messages/errors";
import { messagesRouter } from "./messages/router";
import { modelsRouter } from "./models/router";
import { openApiPaths } from "./openapi";
import { responsesRouter } from "./responses/router";
import { CANONICAL_ORIGIN, canonicalPath, canonicalRequest } from "./request_url";
import { randomRequestId, type ServerState } from "./state";
import { startStatLogger } from "./stat_logger";
import { tokenizeRouter } from "./tokenize/router";

/**
 * The app. Requests must reach it through `canonicalRequest()` (as `startServer` does); any other URL is
 * refused before auth or routing, so the two can never disagree on the path.
 */
export function buildApp(state: ServerState) {
  return new Elysia()
    .onRequest(({ request, set }) => {
      const fromClient = request.headers.get(REQUEST_ID_HEADER);
      // An invalid id is never echoed (nor logged): the 400 carries a fresh one.
      const requestId = fromClient && isValidRequestId(fromClient) ? fromClient : randomRequestId();
      set.headers[REQUEST_ID_HEADER] = requestId;
      const headers = { [REQUEST_ID_HEADER]: requestId };
      const path = canonicalPath(request.url);
      const anthropic = path !== null && isAnthropicPath(path);
      const fail = (e: OpenAIError) => (anthropic ? anthropicErrorResponse(e, headers) : errorResponse(e, headers));
      if (fromClient && requestId !== fromClient)
        return fail(new BadRequestError(`the X-Request-Id header must be ${REQUEST_ID_RULE}`, "X-Request-Id"));
      if (path === null) return fail(new BadRequestError("the request URL was not canonicalized"));
      if (state.auth && !state.auth.allows(path, authorization(request, anthropic))) return fail(new AuthenticationError());
      if (state.draining) return fail(new ServiceUnavailableError("the server is shutting down"));
    })
    .onError(({ code, error, request, set }) => {
      const e = code === "NOT_FOUND" ? new NotFoundError(`no route for ${request.method} ${pathOf(request.url)}`)
        : code === "PARSE" || code === "VALIDATION" ? new BadRequestError(String((error as Error).message))
        : toOpenAIError(error);
      if (e.status >= 500) state.log.error(`${request.method} ${pathOf(request.url)} failed: ${(error as Error)?.stack ?? error}`, String(set.headers[REQUEST_ID_HEADER]));
      set.status = e.status;
      set.headers["content-type"] = "application/json";
      return JSON.stringify(isAnthropicPath(pathOf(request.url)) ? anthropicError(e).body : e);
    })
    .use(swagger({
      path: "/docs",
      specPath: "/openapi.json",
      documentation: {
        info: { title: "vllm-bun", version: VERSION, description: "OpenAI-compatible API of vllm-bun (vLLM's endpoints, parameters and errors)." },
        paths: openApiPaths() as never,
        // Behind a proxy that strips --root-path, the document's "try it" requests must carry it (as FastAPI's root_path).
        ...(state.config.rootPath ? { servers: [{ url: state.config.rootPath }] } : {}),
      },
    }))
    .use(healthRouter(state))
    .use(modelsRouter(state))
    .use(tokenizeRouter(state))
    .use(completionRouter(state))
    .use(chatRouter(state))
    .use(responsesRouter(state))
    .use(messagesRouter(state));
}

export type App = ReturnType<typeof buildApp>;

export interface ListenOptions {
  host: string;
  port: number;
  /** Log the periodic engine stats line (off with --disable-log-stats). */
  logStats?: boolean;
}

export interface RunningServer {
  server: Server<undefined>;
  /** http://host:port as clients reach it. */
  url: string;
  /** Stops accepting (503), waits up to `timeoutMs` for in-flight requests, aborts the rest, closes the socket. */
  shutdown(timeoutMs: number): Promise<void>;
}

/**
 * Listens on host:port (port 0 picks a free one). Idle connections close after --timeout-keep-alive, a body
 * must arrive within --request-body-timeout, a generation's connection never times out while it runs (see
 * connection_limits.ts), and past --limit-concurrency requests in progress every request but a probe gets a 503.
 */
export function startServer(state: ServerState, opts: ListenOptions, bound: Server<undefined> | null = null): RunningServer {
  const app = buildApp(state);
  const keepAlive = state.config.timeoutKeepAlive ?? DEFAULT_TIMEOUT_KEEP_ALIVE_S;
  const limit = state.config.limitConcurrency === undefined ? defaultConcurrencyLimit() : state.config.limitConcurrency;
  const cors = new Cors(state.config.cors ?? DEFAULT_CORS);
  const route = async (request: Request, srv: Server<undefined>): Promise<Response> => {
    let canonical: Request;
    try { canonical = canonicalRequest(request); } catch { return errorResponse(new BadRequestError("malformed request URL"), {}); }
    if (limit !== null && srv.pendingRequests > limit && !PROBE_PATHS.has(canonicalPath(canonical.url) ?? "")) return overLimit(srv, limit);
    // Browsers send preflights without credentials, so they are answered before auth.
    const preflight = cors.preflight(canonical);
    if (preflight !== null) return preflight;
    // While the app works on a request its connection may be silent (a body is bounded by its own deadline,
    // in request_body.ts); after the answer it idles under the keep-alive timeout, unless a stream holds it.
    bindConnection(canonical, (seconds) => srv.timeout(request, seconds), keepAlive);
    srv.timeout(request, 0);
    const response = await app.handle(canonical);
    if (!isHeld(canonical)) srv.timeout(request, keepAlive);
    const ip = srv.requestIP(request)?.address ?? "-";
    state.log.info(`${ip} "${request.method} ${pathOf(request.url)}" ${response.status}`, response.headers.get(REQUEST_ID_HEADER) ?? undefined);
    return response;
  };
  const handlers = { fetch: async (request: Request, srv: Server<undefined>) => cors.apply(request, await route(request, srv)) };
  const server = bound ?? bindListener({ host: opts.host, port: opts.port, keepAliveS: keepAlive, maxBodyBytes: state.config.maxBodyBytes });
  server.reload(handlers);
  const stopStats = opts.logStats === false ? () => {} : startStatLogger(state);
  const host = opts.host.includes(":") ? `[${opts.host}]` : opts.host;
  let stopping: Promise<void> | null = null;
  return {
    server,
    url: `http://${host}:${server.port}`,
    shutdown: (timeoutMs) => (stopping ??= drainAndStop(state, server, timeoutMs, stopStats)),
  };
}

export interface BindOptions {
  host: string;
  port: number;
  keepAliveS: number;
  maxBodyBytes: number;
}

/**
 * Binds the port before the model loads, so "address in use" fails at once and probes get an answer while
 * loading: every request is a 503 until startServer() swaps in the app.
 */
export function bindListener(o: BindOptions): Server<undefined> {
  try {
    return Bun.serve({
      hostname: o.host, port: o.port, idleTimeout: o.keepAliveS,
      // Ours answers a 400 first; Bun's own cap (a 413) only guards against bodies far past it.
      maxRequestBodySize: Math.max(128 * 1024 * 1024, 2 * o.maxBodyBytes),
      fetch: () => errorResponse(new ServiceUnavailableError("the server is starting: the model is loading"), { "retry-after": "5" }),
    });
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new Error(`cannot listen on ${o.host}:${o.port} (--host/--port): ${code === "EADDRINUSE" ? "the address is already in use" : (e as Error).message}`);
  }
}

// Idle keep-alive connections are shed too, so the descriptors they hold go to requests.
function overLimit(srv: Server<undefined>, limit: number): Response {
  srv.closeIdleConnections();
  const e = new ServiceUnavailableError(`the server is at its limit of ${limit} requests in progress (--limit-concurrency); retry later`);
  return errorResponse(e, { connection: "close" });
}

async function drainAndStop(state: ServerState, server: Server<undefined>, timeoutMs: number, stopStats: () => void): Promise<void> {
  state.draining = true;
  stopStats();
  if (state.inFlight > 0) state.log.info(`shutting down: waiting up to ${timeoutMs / 1000} s for ${state.inFlight} request(s) in flight`);
  const deadline = performance.now() + timeoutMs;
  while (state.inFlight > 0 && performance.now() < deadline) await Bun.sleep(20);
  if (state.inFlight > 0) {
    state.log.warning(`shutdown timeout: aborting ${state.inFlight} request(s) still in flight`);
    state.abortAll();
    // Give the aborted streams a moment to send their last chunk.
    const grace = performance.now() + 1000;
    while (state.inFlight > 0 && performance.now() < grace) await Bun.sleep(20);
  }
  await server.stop(true);
  state.tokenizers.close();
  state.log.info("server stopped");
}

// Anthropic's clients send the key as x-api-key; its routes accept that as well as Authorization.
function authorization(request: Request, anthropic: boolean): string | null {
  const header = request.headers.get("authorization");
  const key = anthropic ? request.headers.get("x-api-key") : null;
  return header ?? (key ? `Bearer ${key}` : null);
}

function pathOf(url: string): string {
  return new URL(url, CANONICAL_ORIGIN).pathname;
}
