/** API-key auth: `Authorization: Bearer <key>` on every route outside a public allowlist. */
import { createHash, timingSafeEqual } from "node:crypto";

/** Routes that answer without a key: probes, metrics and the API docs. */
export const PUBLIC_PATHS: ReadonlySet<string> = new Set(["/health", "/ping", "/version", "/metrics", "/docs", "/openapi.json"]);

export class ApiKeyChecker {
  private readonly digests: Buffer[];

  /** Any one of the keys is accepted. */
  constructor(apiKey: string | readonly string[]) {
    const keys = typeof apiKey === "string" ? [apiKey] : apiKey;
    if (keys.length === 0 || keys.some((k) => k.length === 0)) throw new Error("the API key must not be empty");
    this.digests = keys.map(sha256);
  }

  /** True when the path needs no key or the header carries the right one. */
  allows(path: string, authorization: string | null): boolean {
    if (PUBLIC_PATHS.has(path)) return true;
    const m = /^Bearer\s+(.+)$/i.exec(authorization ?? "");
    if (!m) return false;
    // Comparing fixed-length digests keeps the time independent of the key and of the guess.
    // Every key is compared, so the time says nothing about which one matched.
    const guess = sha256(m[1].trim());
    let ok = false;
    for (const d of this.digests) ok = timingSafeEqual(guess, d) || ok;
    return ok;
  }
}

function sha256(s: string): Buffer {
  return createHash("sha256").update(s, "utf8").digest();
}
