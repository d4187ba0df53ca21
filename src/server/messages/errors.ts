/** Errors on /v1/messages in Anthropic's shape, its error type chosen by HTTP status. */
import { type OpenAIError, toOpenAIError } from "../errors";
import type { AnthropicErrorBody } from "./protocol";

const TYPES: Record<number, string> = {
  400: "invalid_request_error", 401: "authentication_error", 403: "permission_error", 404: "not_found_error",
  408: "timeout_error", 413: "request_too_large", 429: "rate_limit_error", 503: "overloaded_error",
};

/** Routes whose errors take Anthropic's shape. */
export function isAnthropicPath(path: string): boolean {
  return path === "/v1/messages" || path === "/v1/messages/count_tokens";
}

export function anthropicError(e: unknown): { status: number; body: AnthropicErrorBody } {
  const err: OpenAIError = toOpenAIError(e);
  const where = err.param ? `${err.param}: ` : "";
  const message = err.message.startsWith(where) ? err.message : where + err.message;
  return { status: err.status, body: { type: "error", error: { type: TYPES[err.status] ?? "api_error", message } } };
}

/** A JSON Response carrying the error in Anthropic's shape. */
export function anthropicErrorResponse(e: unknown, headers: Record<string, string> = {}): Response {
  const { status, body } = anthropicError(e);
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });
}
