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
import { AuthenticationError, BadRequestError, errorResponse, NotFoundError, ServiceUnavailableError, toOpenAIError } from "./errors";
import { healthRouter } from "./health/router";
import { REQUEST_ID_HEADER } from "./http_context";
import { modelsRouter } from "./models/router";
import { openApiPaths } from "./openapi";
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
      const requestId = request.headers.get(REQUEST_ID_HEADER) || randomRequestId();
      set.headers[REQUEST_ID_HEADER] = requestId;
      const headers = { [REQUEST_ID_HEADER]: requestId };
      const path = canonicalPath(request.url);
      if (path === null) return errorResponse(new BadRequestError("the request URL was not canonicalized"), headers);
      if (state.auth && !state.auth.allows(path, request.headers.get("authorization")))
        return errorResponse(new AuthenticationError(), headers);
      if (state.draining) return errorResponse(new ServiceUnavailableError("the server is shutting down"), headers);
    })
    .onError(({ code, error, request, set }) => {
      const e = code === "NOT_FOUND" ? new NotFoundError(`no route for ${request.method} ${pathOf(request.url)}`)
        : code === "PARSE" || code === "VALIDATION" ? new BadRequestError(String((error as Error).message))
        : toOpenAIError(error);
      if (e.status >= 500) state.log.error(`${request.method} ${pathOf(request.url)} failed: ${(error as Error)?.stack ?? error}`, String(set.headers[REQUEST_ID_HEADER]));
      set.status = e.status;
      set.headers["content-type"] = "application/json";
      return JSON.stringify(e);
    })
    .use(swagger({
      path: "/docs",
      specPath: "/openapi.json",
      documentation: {
        info: { title: "vllm-bun", version: VERSION, description: "OpenAI-compatible API of vllm-bun (vLLM's endpoints, parameters and errors)." },
        paths: openApiPaths() as never,
      },
    }))
    .use(healthRouter(state))
    .use(modelsRouter(state))
    .use(tokenizeRouter(state))
    .use(completionRouter(state))
    .use(chatRouter(state));
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

/** Listens on host:port (port 0 picks a free one). */
export function startServer(state: ServerState, opts: ListenOptions): RunningServer {
  const app = buildApp(state);
  const server = Bun.serve({
    hostname: opts.host,
    port: opts.port,
    idleTimeout: 0, // a long non-streamed generation sends nothing until it is done
    // Ours answers a 400 first; Bun's own cap (a 413) only guards against bodies far past it.
    maxRequestBodySize: Math.max(128 * 1024 * 1024, 2 * state.config.maxBodyBytes),
    fetch: async (request, srv) => {
      let canonical: Request;
      try { canonical = canonicalRequest(request); } catch { return errorResponse(new BadRequestError("malformed request URL"), {}); }
      const response = await app.handle(canonical);
      const ip = srv.requestIP(request)?.address ?? "-";
      state.log.info(`${ip} "${request.method} ${pathOf(request.url)}" ${response.status}`, response.headers.get(REQUEST_ID_HEADER) ?? undefined);
      return response;
    },
  });
  const stopStats = opts.logStats === false ? () => {} : startStatLogger(state);
  const host = opts.host.includes(":") ? `[${opts.host}]` : opts.host;
  let stopping: Promise<void> | null = null;
  return {
    server,
    url: `http://${host}:${server.port}`,
    shutdown: (timeoutMs) => (stopping ??= drainAndStop(state, server, timeoutMs, stopStats)),
  };
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
  state.log.info("server stopped");
}

function pathOf(url: string): string {
  return new URL(url, CANONICAL_ORIGIN).pathname;
}
