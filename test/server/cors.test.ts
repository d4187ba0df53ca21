/** CORS through the real server: vLLM's defaults (anything, no credentials), listed origins with credentials, preflights before auth. */
import { afterAll, describe, expect, test } from "bun:test";
import { MODEL_NAME, parseSse, startTestServer } from "./support";

const open = startTestServer({ model: "llama3", config: { apiKey: "sk-1" } });
const strict = startTestServer({
  model: "llama3",
  config: { cors: { allowedOrigins: ["https://app.example.com"], allowedMethods: ["GET", "POST"], allowedHeaders: ["Authorization"], allowCredentials: true } },
});
afterAll(async () => {
  await open.close();
  await strict.close();
});

const preflight = (url: string, origin: string, method: string, headers?: string) =>
  fetch(url, { method: "OPTIONS", headers: { origin, "access-control-request-method": method, ...(headers ? { "access-control-request-headers": headers } : {}) } });

describe("vLLM's defaults", () => {
  test("a preflight is answered before auth, allowing every method and mirroring the asked headers", async () => {
    const r = await preflight(`${open.url}/v1/chat/completions`, "https://x.test", "POST", "authorization, content-type");
    expect(r.status).toBe(200);
    expect(await r.text()).toBe("OK");
    expect(r.headers.get("access-control-allow-origin")).toBe("*");
    expect(r.headers.get("access-control-allow-methods")).toBe("DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT");
    expect(r.headers.get("access-control-allow-headers")).toBe("authorization, content-type");
    expect(r.headers.get("access-control-max-age")).toBe("600");
    expect(r.headers.get("access-control-allow-credentials")).toBeNull();
  });

  test("answers to a request with an Origin say *, even errors; without Origin there are no CORS headers", async () => {
    const auth = { authorization: "Bearer sk-1" };
    const ok = await fetch(`${open.url}/v1/models`, { headers: { ...auth, origin: "https://x.test" } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get("access-control-allow-origin")).toBe("*");
    expect(ok.headers.get("vary")).toBeNull();
    const denied = await fetch(`${open.url}/v1/models`, { headers: { origin: "https://x.test" } });
    expect(denied.status).toBe(401);
    expect(denied.headers.get("access-control-allow-origin")).toBe("*");
    const plain = await fetch(`${open.url}/v1/models`, { headers: auth });
    expect(plain.headers.get("access-control-allow-origin")).toBeNull();
    // An OPTIONS that is not a preflight goes to the routes like any request.
    expect((await fetch(`${open.url}/v1/models`, { method: "OPTIONS", headers: auth })).status).toBe(404);
  });

  test("with cookies the answer names the origin, and a stream passes through whole", async () => {
    const r = await fetch(`${open.url}/v1/completions`, {
      method: "POST",
      headers: { authorization: "Bearer sk-1", origin: "https://x.test", cookie: "a=1", "content-type": "application/json" },
      body: JSON.stringify({ model: MODEL_NAME, prompt: "Hi", max_tokens: 4, stream: true }),
    });
    expect(r.headers.get("access-control-allow-origin")).toBe("https://x.test");
    expect(r.headers.get("vary")).toBe("Origin");
    expect(r.headers.get("content-type")).toContain("text/event-stream");
    expect(parseSse(await r.text()).at(-1)).toBe("[DONE]");
  });
});

describe("listed origins, methods and headers, with credentials", () => {
  const url = () => `${strict.url}/v1/chat/completions`;

  test("an allowed preflight names the origin and lists the allowed headers with the always-safe ones", async () => {
    const r = await preflight(url(), "https://app.example.com", "POST", "Authorization, Content-Type");
    expect(r.status).toBe(200);
    expect(r.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
    expect(r.headers.get("vary")).toBe("Origin");
    expect(r.headers.get("access-control-allow-credentials")).toBe("true");
    expect(r.headers.get("access-control-allow-methods")).toBe("GET, POST");
    expect(r.headers.get("access-control-allow-headers")).toBe("Accept, Accept-Language, Authorization, Content-Language, Content-Type");
  });

  test("a preflight with another origin, method or header is a 400 saying which", async () => {
    const cases: [string, string, string | undefined, string][] = [
      ["https://evil.test", "POST", undefined, "Disallowed CORS origin"],
      ["https://app.example.com", "PUT", undefined, "Disallowed CORS method"],
      ["https://app.example.com", "POST", "x-custom", "Disallowed CORS headers"],
      ["https://evil.test", "DELETE", "x-custom", "Disallowed CORS origin, method, headers"],
    ];
    for (const [origin, method, headers, text] of cases) {
      const r = await preflight(url(), origin, method, headers);
      expect(r.status).toBe(400);
      expect(await r.text()).toBe(text);
      // A listed origin is still named (the browser then refuses on the method or headers).
      expect(r.headers.get("access-control-allow-origin")).toBe(origin === "https://evil.test" ? null : origin);
    }
  });

  test("a simple request from a listed origin is mirrored; from another it gets no allow-origin", async () => {
    const ok = await fetch(`${strict.url}/v1/models`, { headers: { origin: "https://app.example.com" } });
    expect(ok.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
    expect(ok.headers.get("access-control-allow-credentials")).toBe("true");
    expect(ok.headers.get("vary")).toBe("Origin");
    const other = await fetch(`${strict.url}/v1/models`, { headers: { origin: "https://evil.test" } });
    expect(other.status).toBe(200);
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
  });
});
