/**
 * CORS as vLLM serves it (Starlette's CORSMiddleware under --allowed-origins, --allowed-methods,
 * --allowed-headers, --allow-credentials): a preflight is answered here, before auth; every other response to
 * a request with an Origin header gets the allow headers.
 */

/** The CORS flags; vLLM's defaults allow any origin, method and header, without credentials. */
export interface CorsConfig {
  allowedOrigins: readonly string[];
  allowedMethods: readonly string[];
  allowedHeaders: readonly string[];
  allowCredentials: boolean;
}

export const DEFAULT_CORS: CorsConfig = { allowedOrigins: ["*"], allowedMethods: ["*"], allowedHeaders: ["*"], allowCredentials: false };

const ALL_METHODS = ["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"];
// Headers a browser may always send; a listed-headers policy allows them too.
const SAFELISTED_HEADERS = ["Accept", "Accept-Language", "Content-Language", "Content-Type"];
const MAX_AGE_S = 600;

export class Cors {
  private readonly anyOrigin: boolean;
  private readonly anyHeader: boolean;
  private readonly methods: readonly string[];
  private readonly headers: ReadonlySet<string>;
  /** With credentials, or a list of origins, the answer names the request's origin instead of "*". */
  private readonly explicitOrigin: boolean;
  private readonly preflightHeaders: Record<string, string>;
  private readonly simpleHeaders: Record<string, string>;

  constructor(private readonly config: CorsConfig) {
    this.anyOrigin = config.allowedOrigins.includes("*");
    this.anyHeader = config.allowedHeaders.includes("*");
    this.methods = config.allowedMethods.includes("*") ? ALL_METHODS : config.allowedMethods;
    this.explicitOrigin = !this.anyOrigin || config.allowCredentials;
    const listed = [...new Set([...SAFELISTED_HEADERS, ...config.allowedHeaders])].sort();
    this.headers = new Set(listed.map((h) => h.toLowerCase()));
    this.simpleHeaders = {
      ...(this.anyOrigin ? { "access-control-allow-origin": "*" } : {}),
      ...(config.allowCredentials ? { "access-control-allow-credentials": "true" } : {}),
    };
    this.preflightHeaders = {
      ...(this.explicitOrigin ? { vary: "Origin" } : { "access-control-allow-origin": "*" }),
      "access-control-allow-methods": this.methods.join(", "),
      "access-control-max-age": String(MAX_AGE_S),
      ...(this.anyHeader ? {} : { "access-control-allow-headers": listed.join(", ") }),
      ...(config.allowCredentials ? { "access-control-allow-credentials": "true" } : {}),
    };
  }

  /** The answer to a preflight (OPTIONS with Origin and Access-Control-Request-Method), else null. */
  preflight(request: Request): Response | null {
    const origin = request.headers.get("origin");
    const method = request.headers.get("access-control-request-method");
    if (request.method !== "OPTIONS" || origin === null || method === null) return null;
    const headers: Record<string, string> = { ...this.preflightHeaders };
    const failures: string[] = [];
    if (!this.allowsOrigin(origin)) failures.push("origin");
    else if (this.explicitOrigin) headers["access-control-allow-origin"] = origin;
    if (!this.methods.includes(method)) failures.push("method");
    const asked = request.headers.get("access-control-request-headers");
    if (asked !== null) {
      if (this.anyHeader) headers["access-control-allow-headers"] = asked;
      else if (asked.split(",").some((h) => !this.headers.has(h.trim().toLowerCase()))) failures.push("headers");
    }
    const body = failures.length > 0 ? `Disallowed CORS ${failures.join(", ")}` : "OK";
    return new Response(body, { status: failures.length > 0 ? 400 : 200, headers: { ...headers, "content-type": "text/plain; charset=utf-8" } });
  }

  /** Adds the allow headers to the response of a request that carries an Origin header. */
  apply(request: Request, response: Response): Response {
    const origin = request.headers.get("origin");
    if (origin === null) return response;
    // A fresh Response: the app may hand out one Response object (a static page) for many requests.
    const headers = new Headers(response.headers);
    for (const [k, v] of Object.entries(this.simpleHeaders)) headers.set(k, v);
    // A request with cookies must not be answered with "*"; a list of origins mirrors the one that matched.
    const mirror = this.anyOrigin ? request.headers.has("cookie") : this.allowsOrigin(origin);
    if (mirror) {
      headers.set("access-control-allow-origin", origin);
      const vary = headers.get("vary");
      if (vary === null) headers.set("vary", "Origin");
      else if (!vary.split(",").some((v) => v.trim().toLowerCase() === "origin")) headers.set("vary", `${vary}, Origin`);
    }
    return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
  }

  private allowsOrigin(origin: string): boolean {
    return this.anyOrigin || this.config.allowedOrigins.includes(origin);
  }
}
