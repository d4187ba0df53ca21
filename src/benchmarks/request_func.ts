/**
 * One streamed request to an OpenAI-compatible endpoint, timed as vLLM's benchmark times it: TTFT at the
 * first chunk that carries a choice, one inter-token latency per later chunk, end-to-end latency at the
 * last such chunk, and the output length from the server's usage report when it sends one.
 */
import { SseReader } from "./sse_reader";

export const BACKENDS = ["openai", "openai-chat"] as const;
export type Backend = (typeof BACKENDS)[number];

export interface RequestFuncInput {
  backend: Backend;
  apiUrl: string;
  /** The `model` field sent. */
  model: string;
  prompt: string;
  promptLen: number;
  outputLen: number;
  ignoreEos: boolean;
  extraBody: Record<string, unknown>;
  headers: Record<string, string>;
  requestId: string;
}

export interface RequestFuncOutput {
  generatedText: string;
  success: boolean;
  /** Seconds from sending to the last token chunk. */
  latency: number;
  /** From the usage report; 0 when the server sent none (the caller then tokenizes the text). */
  outputTokens: number;
  ttft: number;
  itl: number[];
  promptLen: number;
  error: string;
  /** performance.now() / 1000 when the request was sent. */
  startTime: number;
}

interface Timing { start: number; last: number; gotToken: boolean }

export async function requestFunc(input: RequestFuncInput): Promise<RequestFuncOutput> {
  const out: RequestFuncOutput = {
    generatedText: "", success: false, latency: 0, outputTokens: 0, ttft: 0, itl: [], promptLen: input.promptLen, error: "", startTime: 0,
  };
  const t: Timing = { start: now(), last: 0, gotToken: false };
  out.startTime = t.last = t.start;
  try {
    const res = await fetch(input.apiUrl, { method: "POST", headers: requestHeaders(input), body: JSON.stringify(payload(input)) });
    if (res.status !== 200) {
      out.error = `HTTP ${res.status} ${res.statusText}: ${errorMessage(await res.text())}`;
      return out;
    }
    await readStream(res, input.backend, out, t);
    if (out.error === "" && !t.gotToken) out.error = "Never received a valid chunk to calculate TTFT.";
    out.success = out.error === "";
    out.latency = t.last - t.start;
  } catch (e) {
    out.error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  }
  return out;
}

function payload(input: RequestFuncInput): Record<string, unknown> {
  const common = { model: input.model, stream: true, stream_options: { include_usage: true } };
  const body = input.backend === "openai"
    ? { ...common, prompt: input.prompt, max_tokens: input.outputLen, repetition_penalty: 1.0 }
    : { ...common, messages: [{ role: "user", content: input.prompt }], max_completion_tokens: input.outputLen };
  return { ...body, ...(input.ignoreEos ? { ignore_eos: true } : {}), ...input.extraBody };
}

function requestHeaders(input: RequestFuncInput): Record<string, string> {
  return { "content-type": "application/json", ...authHeaders(input.headers), "x-request-id": input.requestId };
}

/** The bearer token from OPENAI_API_KEY (as vLLM's benchmark reads it), then the --header pairs. */
export function authHeaders(headers: Record<string, string>): Record<string, string> {
  const key = process.env.OPENAI_API_KEY;
  return { ...(key ? { authorization: `Bearer ${key}` } : {}), ...headers };
}

async function readStream(res: Response, backend: Backend, out: RequestFuncOutput, t: Timing): Promise<void> {
  const sse = new SseReader();
  const reader = res.body!.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    const events = done ? sse.flush() : sse.push(value);
    const at = now();
    for (const data of events) if (data !== "[DONE]") onChunk(JSON.parse(data), backend, out, t, at);
    if (done) return;
  }
}

function onChunk(chunk: any, backend: Backend, out: RequestFuncOutput, t: Timing, at: number): void {
  if (chunk?.error) {
    out.error = `stream error: ${errorMessage(JSON.stringify(chunk))}`;
    return;
  }
  if (chunk?.usage) {
    if (Number.isInteger(chunk.usage.completion_tokens)) out.outputTokens = chunk.usage.completion_tokens;
    if (Number.isInteger(chunk.usage.prompt_tokens)) out.promptLen = chunk.usage.prompt_tokens;
  }
  const choice = Array.isArray(chunk?.choices) ? chunk.choices[0] : undefined;
  if (choice === undefined) return;
  const text = backend === "openai" ? choice.text : choice.delta?.content;
  // A chat stream may announce the role before any token exists; that chunk is not a token.
  if (backend === "openai-chat" && !text && !choice.delta?.reasoning_content && !choice.delta?.tool_calls && choice.finish_reason == null) return;
  if (t.gotToken) out.itl.push(at - t.last);
  else out.ttft = at - t.start;
  t.gotToken = true;
  t.last = at;
  out.generatedText += typeof text === "string" ? text : "";
}

/** The `message` of an OpenAI-style error body, else the body itself (shortened). */
function errorMessage(body: string): string {
  try {
    const j = JSON.parse(body);
    const m = j?.error?.message ?? j?.message;
    if (typeof m === "string") return m;
  } catch { /* not JSON */ }
  return body.length > 500 ? `${body.slice(0, 500)}…` : body;
}

function now(): number {
  return performance.now() / 1000;
}
