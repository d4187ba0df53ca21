import { BadRequestError } from "./errors";

/** The slice of a route's context the serving code needs: the request, and the response headers it may set. */

export interface HttpContext {
  request: Request;
  set: { headers: Record<string, unknown> };
}

export const REQUEST_ID_HEADER = "x-request-id";

/**
 * The request's id for logs and responses: the client's X-Request-Id, else the body's `request_id`
 * (a vLLM extra), else the id generated on arrival. The response echoes it.
 */
export function resolveRequestId(ctx: HttpContext, bodyRequestId?: string | null): string {
  if (bodyRequestId && !/^[\x21-\x7e]{1,256}$/.test(bodyRequestId))
    throw new BadRequestError("request_id must be 1 to 256 printable ASCII characters without spaces", "request_id");
  const fromHeader = ctx.request.headers.get(REQUEST_ID_HEADER);
  const id = fromHeader || bodyRequestId || String(ctx.set.headers[REQUEST_ID_HEADER]);
  ctx.set.headers[REQUEST_ID_HEADER] = id;
  return id;
}
