/**
 * The one parse of a request's URL. Elysia's router finds the path by skipping a fixed number of
 * characters past the scheme, which misreads short or empty Host headers (`Host: a`) and `https://`; so
 * every request is rebuilt on one fixed origin before it reaches the router, and auth reads the path
 * from that same URL. What auth checks is then exactly what the router dispatches.
 */
export const CANONICAL_ORIGIN = "http://vllm-bun.internal";

/** The request with its URL on the canonical origin (the same object when it already is). Keeps method, headers, body and signal. */
export function canonicalRequest(request: Request): Request {
  const u = new URL(request.url, CANONICAL_ORIGIN);
  const url = CANONICAL_ORIGIN + u.pathname + u.search;
  return url === request.url ? request : new Request(url, request);
}

/** The path of a canonical request URL, or null when the URL is not canonical (the router would misread it). */
export function canonicalPath(url: string): string | null {
  if (!url.startsWith(CANONICAL_ORIGIN + "/")) return null;
  const rest = url.slice(CANONICAL_ORIGIN.length);
  const q = rest.indexOf("?");
  return q < 0 ? rest : rest.slice(0, q);
}
