/**
 * HTTP errors in OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`. Handlers throw these;
 * the app's error hook turns any thrown value into one, so bad input never becomes a 500.
 */
import { EngineDeadError } from "../engine/async_llm";
import { SamplingParamsError } from "../engine/sampling_params";
import { StructuredOutputError } from "../structured_output/errors";
import { TokenizerError } from "../tokenizer/tokenizer";
import { ToolChoiceError } from "../tool_parsers/tool_choice";

/** An error with an HTTP status, rendered as OpenAI's error object. */
export class OpenAIError extends Error {
  constructor(readonly status: number, readonly type: string, message: string, readonly param: string | null = null) {
    super(message);
  }

  toJSON(): { error: { message: string; type: string; param: string | null; code: number } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.status } };
  }
}

export class BadRequestError extends OpenAIError {
  constructor(message: string, param: string | null = null) {
    super(400, "BadRequestError", message, param);
  }
}

export class AuthenticationError extends OpenAIError {
  constructor(message = "Unauthorized: a valid API key is required (Authorization: Bearer <key>)") {
    super(401, "AuthenticationError", message);
  }
}

export class RequestTimeoutError extends OpenAIError {
  constructor(message: string) {
    super(408, "RequestTimeoutError", message);
  }
}

export class NotFoundError extends OpenAIError {
  constructor(message: string, param: string | null = null) {
    super(404, "NotFoundError", message, param);
  }
}

export class ServiceUnavailableError extends OpenAIError {
  constructor(message: string) {
    super(503, "ServiceUnavailableError", message);
  }
}

export class InternalServerError extends OpenAIError {
  constructor(message: string) {
    super(500, "InternalServerError", message);
  }
}

/** The model named in a request is not one this server serves. */
export function modelNotFound(model: string): NotFoundError {
  return new NotFoundError(`The model \`${model}\` does not exist.`, "model");
}

/** Maps anything thrown while serving a request to an OpenAIError (unknown errors become a 500). */
export function toOpenAIError(e: unknown): OpenAIError {
  if (e instanceof OpenAIError) return e;
  if (e instanceof SamplingParamsError) return new BadRequestError(e.message, e.param);
  if (e instanceof TokenizerError) return new BadRequestError(e.message);
  if (e instanceof StructuredOutputError) return new BadRequestError(e.message);
  if (e instanceof ToolChoiceError) return new BadRequestError(e.message, "tool_choice");
  if (e instanceof EngineDeadError) return new ServiceUnavailableError(e.message);
  return new InternalServerError(e instanceof Error ? e.message : String(e));
}

/** A JSON Response carrying the error. */
export function errorResponse(e: OpenAIError, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(e), { status: e.status, headers: { "content-type": "application/json", ...headers } });
}
