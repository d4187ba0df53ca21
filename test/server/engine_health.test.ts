/**
 * Engine death and a stuck engine, as an orchestrator sees them. An injected kernel fault
 * (VLLM_BUN_FAULT_AFTER_STEPS) mid-generation gives every in-flight request an error in OpenAI's shape —
 * plain responses a 503, streams an error event before [DONE] — then /health answers 503 and new requests
 * are refused. A scheduler that makes no progress while work is pending turns /health to 503 after the
 * iteration timeout, and back to 200 once progress resumes.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { FAULT_ENV } from "../../src/entrypoints/fault_injection";
import { MODEL_NAME, parseSse, post, startTestServer, type TestServer } from "./support";

function withFault<T>(after: number, make: () => T): T {
  process.env[FAULT_ENV] = String(after);
  try { return make(); } finally { delete process.env[FAULT_ENV]; }
}

const dying = withFault(3, () => startTestServer({ model: "mistral" }));
const stuck = startTestServer({ model: "mistral", config: { engineIterationTimeoutMs: 300 } });
afterAll(() => Promise.all([dying.close(), stuck.close()]));

const completion = (s: TestServer, extra: Record<string, unknown> = {}) =>
  post(`${s.url}/v1/completions`, { model: MODEL_NAME, prompt: "hello there", max_tokens: 50, ignore_eos: true, ...extra });

describe("engine death", () => {
  test("a failing step errors every in-flight request, then /health is 503 and new requests are refused", async () => {
    expect((await fetch(`${dying.url}/health`)).status).toBe(200);
    const [plain, streamed, chat] = await Promise.all([
      completion(dying),
      completion(dying, { stream: true }),
      post(`${dying.url}/v1/chat/completions`, { model: MODEL_NAME, messages: [{ role: "user", content: "hi" }], max_tokens: 50, ignore_eos: true }),
    ]);
    for (const r of [plain, chat]) {
      expect(r.status).toBe(503);
      expect(r.json.error).toMatchObject({ type: "ServiceUnavailableError", code: 503 });
      expect(r.json.error.message).toContain("injected fault");
    }
    // A stream that started gets an error event; one that reached the engine after it died, a 503.
    if (streamed.status === 200) {
      const events = parseSse(streamed.text);
      expect(events.at(-1)).toBe("[DONE]");
      expect((events.at(-2) as any).error.message).toContain("injected fault");
    } else {
      expect(streamed.status).toBe(503);
      expect(streamed.json.error.message).toMatch(/injected fault|the engine is dead/);
    }
    const health = await fetch(`${dying.url}/health`);
    expect(health.status).toBe(503);
    expect(((await health.json()) as any).error.message).toContain("the engine is dead");
    const later = await completion(dying);
    expect(later.status).toBe(503);
    expect(later.json.error.message).toContain("the engine is dead");
  });
});

describe("stuck engine", () => {
  test("/health turns 503 while work is pending without progress, and 200 again once steps progress", async () => {
    const scheduler = stuck.state.llm.engine.engineCore.scheduler;
    const schedule = scheduler.schedule.bind(scheduler);
    const nothing = () => ({ newRequests: [], scheduled: [], totalNumScheduledTokens: 0, numLogitsRows: 0, removedReqIds: [] });
    scheduler.schedule = nothing;
    const pending = completion(stuck, { max_tokens: 3 });
    await Bun.sleep(100);
    expect((await fetch(`${stuck.url}/health`)).status).toBe(200); // within the timeout
    let status = 200;
    for (let i = 0; i < 50 && status === 200; i++) {
      await Bun.sleep(50);
      status = (await fetch(`${stuck.url}/health`)).status;
    }
    const res = await fetch(`${stuck.url}/health`);
    expect(res.status).toBe(503);
    expect(((await res.json()) as any).error.message).toContain("stuck");
    scheduler.schedule = schedule;
    expect((await pending).status).toBe(200);
    expect((await fetch(`${stuck.url}/health`)).status).toBe(200);
  });
});
