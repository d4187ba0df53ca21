/** A real server on a loopback port with a tiny model, an OpenAI SDK client for it, and small helpers. */
import OpenAI from "openai";
import type { EngineArgs } from "../../src/config/engine_args";
import { createEngine } from "../../src/entrypoints/from_engine_args";
import { DEFAULT_LIMITS } from "../../src/engine/sampling_params";
import { type RunningServer, startServer } from "../../src/server/api_server";
import { Logger } from "../../src/server/logger";
import { DEFAULT_MAX_BODY_BYTES, type ServerConfig, ServerState } from "../../src/server/state";
import { testEngineArgs } from "../support/engine_args";
import { type TinyModelName, tinyModelDir } from "../support/tiny_models";

export const MODEL_NAME = "tiny";

export interface TestServer {
  state: ServerState;
  running: RunningServer;
  url: string;
  client: OpenAI;
  close(): Promise<void>;
}

export function serverConfig(over: Partial<ServerConfig> = {}): ServerConfig {
  return {
    servedModelNames: [MODEL_NAME], apiKey: null, chatTemplate: null, generationConfig: "auto", maxNumQueuedReqs: null,
    maxLogprobs: 20, enableLogRequests: false, maxBodyBytes: DEFAULT_MAX_BODY_BYTES, maxN: DEFAULT_LIMITS.maxN,
    maxStopStrings: DEFAULT_LIMITS.maxStopStrings, ...over,
  };
}

/** A ServerState over a fresh engine (no socket). */
export interface StateOptions {
  model?: TinyModelName;
  /** A model directory instead of a tiny model. */
  modelDir?: string;
  engine?: Partial<EngineArgs>;
  config?: Partial<ServerConfig>;
  log?: Logger;
}

export function makeState(opts: StateOptions = {}): ServerState {
  const loaded = createEngine(testEngineArgs(opts.modelDir ?? tinyModelDir(opts.model ?? "mistral"), opts.engine));
  return new ServerState(loaded, serverConfig(opts.config), opts.log ?? Logger.silent());
}

/** Listens on 127.0.0.1 with a free port. */
export function startTestServer(opts: StateOptions = {}): TestServer {
  const state = makeState(opts);
  const running = startServer(state, { host: "127.0.0.1", port: 0, logStats: false });
  const client = new OpenAI({ baseURL: `${running.url}/v1`, apiKey: opts.config?.apiKey ?? "unused", maxRetries: 0 });
  return { state, running, url: running.url, client, close: () => running.shutdown(0) };
}

/** POSTs a JSON body (or a raw string) and returns status, headers and parsed JSON (or text). */
export async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; json: any; text: string }> {
  const res = await fetch(url, {
    method: "POST", headers: { "content-type": "application/json", ...headers }, body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: any = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, json, text };
}

/** Parses an SSE body into its data payloads (the final "[DONE]" kept as a string). */
export function parseSse(text: string): unknown[] {
  return text.split("\n\n").filter((e) => e.startsWith("data: ")).map((e) => {
    const data = e.slice(6);
    return data === "[DONE]" ? data : JSON.parse(data);
  });
}

/** Reads one metric's value for the model from the Prometheus text. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number | null {
  for (const line of text.split("\n")) {
    if (!line.startsWith(name + "{") && !line.startsWith(name + " ")) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    return Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return null;
}

export async function metrics(url: string): Promise<string> {
  return (await fetch(`${url}/metrics`)).text();
}

/** Sends one raw HTTP/1.1 request over TCP (any Host header, any request target) and returns status and body. */
export async function rawHttp(url: string, requestLine: string, headers: Record<string, string>, body = ""): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(url);
  const { connect } = await import("node:net");
  const sock = connect(Number(port), hostname);
  const chunks: Buffer[] = [];
  sock.on("data", (d: Buffer) => chunks.push(d));
  const lines = [requestLine, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), `Content-Length: ${Buffer.byteLength(body)}`, "Connection: close", "", body];
  sock.write(lines.join("\r\n"));
  await new Promise<void>((resolve, reject) => { sock.on("close", () => resolve()); sock.on("error", reject); });
  const text = Buffer.concat(chunks).toString("utf8");
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
  return { status, body: text.slice(text.indexOf("\r\n\r\n") + 4) };
}
