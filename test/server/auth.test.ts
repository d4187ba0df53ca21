/** API-key auth: every route but the public allowlist needs `Authorization: Bearer <key>`. */
import { afterAll, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import { ApiKeyChecker } from "../../src/server/auth";
import { MODEL_NAME, rawHttp, startTestServer } from "./support";

const KEY = "sk-test-key-123";
const s = startTestServer({ config: { apiKey: KEY } });
afterAll(() => s.close());

const GUARDED: [string, string, unknown?][] = [
  ["POST", "/v1/chat/completions", { model: MODEL_NAME, messages: [{ role: "user", content: "Hi" }], max_tokens: 1 }],
  ["POST", "/v1/completions", { model: MODEL_NAME, prompt: "Hi", max_tokens: 1 }],
  ["GET", "/v1/models"],
  ["POST", "/tokenize", { prompt: "Hi" }],
  ["POST", "/detokenize", { tokens: [1, 2] }],
  ["GET", "/load"],
  ["GET", "/v1/unknown-route"],
];
const PUBLIC: [string, string][] = [
  ["GET", "/health"], ["GET", "/ping"], ["POST", "/ping"], ["GET", "/version"], ["GET", "/metrics"], ["GET", "/docs"], ["GET", "/openapi.json"],
];

function call(method: string, path: string, body?: unknown, authorization?: string) {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (authorization !== undefined) headers.authorization = authorization;
  return fetch(`${s.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
}

describe("auth", () => {
  test("guarded routes answer 401 without the key or with a wrong one, and serve with it", async () => {
    for (const [method, path, body] of GUARDED) {
      for (const bad of [undefined, "Bearer wrong", `Bearer ${KEY}x`, KEY, "Basic abc", "Bearer "]) {
        const res = await call(method, path, body, bad);
        expect(res.status).toBe(401);
        const json = (await res.json()) as any;
        expect(json.error).toMatchObject({ type: "AuthenticationError", code: 401, param: null });
      }
      const ok = await call(method, path, body, `Bearer ${KEY}`);
      expect(ok.status).toBe(path === "/v1/unknown-route" ? 404 : 200);
    }
  });

  test("public routes need no key", async () => {
    for (const [method, path] of PUBLIC) expect((await call(method, path)).status).toBe(200);
  });

  test("the SDK authenticates with apiKey, and a wrong key is an AuthenticationError", async () => {
    const r = await s.client.completions.create({ model: MODEL_NAME, prompt: "Hi", max_tokens: 2 });
    expect(r.choices.length).toBe(1);
    const wrong = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: "nope", maxRetries: 0 });
    expect(await wrong.models.list().catch((e) => e)).toBeInstanceOf(OpenAI.AuthenticationError);
  });

  // Regression: the router once took the path as everything after "http://" plus 4 characters, while
  // auth parsed the URL properly; with `Host: a`, `/ping?/v1/chat/completions` passed auth as /ping and ran the completion.
  test("raw HTTP with 0- to 3-character Host headers: guarded routes need the key behind every public prefix, and still route with it", async () => {
    const hosts = ["a", "ai", "llm", "a:1", "ab:", ""];
    for (const host of hosts) {
      for (const [method, path, body] of GUARDED) {
        const json = body === undefined ? "" : JSON.stringify(body);
        const baseHeaders: Record<string, string> = { Host: host, "Content-Type": "application/json" };
        const direct = await rawHttp(s.url, `${method} ${path} HTTP/1.1`, baseHeaders, json);
        expect({ host, path, status: direct.status }).toEqual({ host, path, status: 401 });
        // Behind a public path the request must be that public route's own answer, never the guarded one.
        for (const [, pub] of PUBLIC) {
          for (const sep of ["?", "?x=", "#"]) {
            const res = await rawHttp(s.url, `${method} ${pub}${sep}${path} HTTP/1.1`, baseHeaders, json);
            const plain = await rawHttp(s.url, `${method} ${pub} HTTP/1.1`, baseHeaders, json);
            if (res.status !== plain.status || /"object":"(chat\.completion|text_completion|list)"|"tokens":\[|"prompt":"/.test(res.body))
              throw new Error(`Host ${JSON.stringify(host)} ${method} ${pub}${sep}${path}: ${res.status} ${res.body.slice(0, 200)}`);
          }
        }
        const ok = await rawHttp(s.url, `${method} ${path} HTTP/1.1`, { ...baseHeaders, Authorization: `Bearer ${KEY}` }, json);
        expect({ host, path, status: ok.status }).toEqual({ host, path, status: path === "/v1/unknown-route" ? 404 : 200 });
      }
      for (const [method, path] of PUBLIC) {
        const res = await rawHttp(s.url, `${method} ${path} HTTP/1.1`, { Host: host });
        expect({ host, path, status: res.status }).toEqual({ host, path, status: 200 });
      }
    }
  });

  test("the checker compares keys of any length", () => {
    const c = new ApiKeyChecker("k");
    expect(c.allows("/v1/models", "Bearer k")).toBe(true);
    expect(c.allows("/v1/models", "bearer k")).toBe(true);
    expect(c.allows("/v1/models", "Bearer kk")).toBe(false);
    expect(c.allows("/v1/models", "Bearer " + "k".repeat(10_000))).toBe(false);
    expect(c.allows("/v1/models", null)).toBe(false);
    expect(c.allows("/health", null)).toBe(true);
    expect(() => new ApiKeyChecker("")).toThrow();
  });
});
