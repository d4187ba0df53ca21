import { BadRequestError } from "./errors";

/** The slice of a route's context the serving code needs: the request, and the response headers it may set. */

export interface HttpContext {
  request: Request;
  set: { headers: Record<string, unknown> };
}

export const REQUEST_ID_HEADER = "x-request-id";

/** The one rule for request ids, from the X-Request-Id header or the body's request_id. */
export const REQUEST_ID_RULE = "1 to 256 printable ASCII characters without spaces";
const REQUEST_ID_PATTERN = /^[\x21-\x7e]{1,256}$/;

export function isValidRequestId(id: string): boolean {
  return REQUEST_ID_PATTERN.test(id);
}

/**
 * The request's id for logs and responses: the client's X-Request-Id, else the body's `request_id`
 * (a vLLM extra), else the id generated on arrival. The response echoes it.
 */
export function resolveRequestId(ctx: HttpContext, bodyRequestId?: string | null): string {
  if (bodyRequestId && !isValidRequestId(bodyRequestId)) throw new BadRequestError(`request_id must be ${REQUEST_ID_RULE}`, "request_id");
  const fromHeader = ctx.request.headers.get(REQUEST_ID_HEADER);
  const id = fromHeader || bodyRequestId || String(ctx.set.headers[REQUEST_ID_HEADER]);
  ctx.set.headers[REQUEST_ID_HEADER] = id;
  return id;
}
