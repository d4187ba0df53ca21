/**
 * Issue 9, item 5: connections time out as uvicorn's do, without cutting a long generation. An idle
 * keep-alive connection closes after --timeout-keep-alive, a body that does not arrive within
 * --request-body-timeout gets a 408, and past --limit-concurrency requests get a 503 while probes answer.
 * A generation that sends nothing for longer than the keep-alive timeout (a long non-streamed answer, a
 * quiet SSE stream) still completes. (Before: idleTimeout 0, connections stayed open for ever.)
 */
import { afterAll, describe, expect, test } from "bun:test";
import { connect, type Socket } from "node:net";
import type { RequestOutput } from "../../src/engine/outputs";
import { post, startTestServer } from "./support";

const s = startTestServer({ config: { timeoutKeepAlive: 1, requestBodyTimeout: 1, limitConcurrency: 3 } });
afterAll(() => s.close());

// Bun checks idle timers on a coarse tick (a few seconds): a quiet spell must outlast it to prove anything.
const QUIET_MS = 6000;
const CLOSE_WITHIN_MS = 9000;

interface Conn { sock: Socket; data: () => string; closedAt: Promise<number> }

function open(): Promise<Conn> {
  const { hostname, port } = new URL(s.url);
  const sock = connect(Number(port), hostname);
  let text = "";
  sock.on("data", (d: Buffer) => { text += d.toString("utf8"); });
  sock.on("error", () => {});
  const closedAt = new Promise<number>((resolve) => sock.on("close", () => resolve(performance.now())));
  return new Promise((resolve) => sock.on("connect", () => resolve({ sock, data: () => text, closedAt })));
}

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > deadline) return false;
    await Bun.sleep(10);
  }
  return true;
}

/** Makes every generation wait `ms` before it starts: a slow model, silent meanwhile. */
function slowEngine(ms: number): () => void {
  const llm = s.state.llm;
  const generate = llm.generate;
  llm.generate = async function* (...args: Parameters<typeof generate>): AsyncGenerator<RequestOutput> {
    await Bun.sleep(ms);
    yield* generate.apply(llm, args);
  };
  return () => { llm.generate = generate; };
}

const completion = (extra: object) => JSON.stringify({ prompt: "Hi", max_tokens: 1, ignore_eos: true, ...extra });

function rawPost(c: Conn, path: string, body: string): void {
  c.sock.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}

describe("connection timeouts", () => {
  test("idle keep-alive closes; a slow body gets a 408; quiet generations (plain and SSE) survive and then go back to keep-alive", async () => {
    const restore = slowEngine(QUIET_MS);
    try {
      const idle = await open();
      idle.sock.write("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
      const slowBody = await open();
      slowBody.sock.write("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"prompt\":");
      const plain = await open();
      rawPost(plain, "/v1/completions", completion({}));
      const sse = await open();
      rawPost(sse, "/v1/completions", completion({ stream: true }));
      const t0 = performance.now();

      // The idle connection is closed once the keep-alive timeout has passed.
      expect(await until(() => idle.data().includes("200 OK"), 2000)).toBe(true);
      expect((await Promise.race([idle.closedAt, Bun.sleep(CLOSE_WITHIN_MS).then(() => Infinity)])) - t0).toBeLessThan(CLOSE_WITHIN_MS);
      // The body that stopped arriving gets a 408 naming the flag.
      expect(slowBody.data()).toContain("408");
      expect(slowBody.data()).toContain("--request-body-timeout");
      // Both generations were silent for longer than the keep-alive timeout, and completed.
      expect(await until(() => /"finish_reason":"length"/.test(plain.data()), 4 * QUIET_MS)).toBe(true);
      expect(await until(() => sse.data().includes("data: [DONE]"), 4 * QUIET_MS)).toBe(true);
      expect(sse.data()).toContain('"finish_reason":"length"');
      expect(performance.now() - t0).toBeGreaterThan(QUIET_MS);
      // Answered, they are ordinary keep-alive connections again: closed when idle.
      const answered = performance.now();
      for (const c of [plain, sse]) {
        const closed = await Promise.race([c.closedAt, Bun.sleep(CLOSE_WITHIN_MS).then(() => Infinity)]);
        expect(closed - answered).toBeLessThan(CLOSE_WITHIN_MS);
      }
    } finally {
      restore();
    }
  });

  test("past --limit-concurrency requests get a 503 with Connection: close; probes still answer", async () => {
    const restore = slowEngine(1500);
    try {
      const held = await Promise.all([open(), open(), open()]);
      for (const c of held) rawPost(c, "/v1/completions", completion({}));
      await until(() => s.running.server.pendingRequests >= 3, 2000);
      const refused = await post(`${s.url}/v1/completions`, completion({}));
      expect(refused.status).toBe(503);
      expect(refused.headers.get("connection")).toBe("close");
      expect(refused.json.error.message).toContain("--limit-concurrency");
      for (const probe of ["/health", "/ping", "/metrics", "/version", "/load"]) expect((await fetch(`${s.url}${probe}`)).status).toBe(200);
      for (const c of held) expect(await until(() => /"finish_reason":"length"/.test(c.data()), 20_000)).toBe(true);
      expect((await post(`${s.url}/v1/completions`, completion({}))).status).toBe(200);
      for (const c of held) c.sock.destroy();
    } finally {
      restore();
    }
  });
});
