/**
 * Issue 9, item 3: tokenization never stalls the server. Text that could not fit the context is refused by
 * its length before it is tokenized; text that can is tokenized in the worker pool, and /health keeps
 * answering meanwhile. (Before: one 16 MB /tokenize blocked /health for 124 s.)
 */
import { afterAll, describe, expect, test } from "bun:test";
import { MAX_CHARS_PER_TOKEN } from "../../src/server/request_limits";
import { configWith, healthDuring, modelVariant } from "./hardening_support";
import { post, startTestServer } from "./support";

// A long context, so that slow-to-tokenize text is still within the character bound.
const MAX_MODEL_LEN = 32768;
const variant = modelVariant("llama3", { "config.json": configWith("llama3", { max_position_embeddings: MAX_MODEL_LEN }) });
const s = startTestServer({ modelDir: variant.dir, engine: { maxModelLen: MAX_MODEL_LEN } });
afterAll(async () => {
  await s.close();
  variant.cleanup();
});

const HEALTH_BOUND_MS = 200;
const LIMIT = MAX_MODEL_LEN * MAX_CHARS_PER_TOKEN;
const SLOW_TEXT = "a".repeat(300_000); // one long word: ~1-2 s of BPE work, within the character bound

describe("tokenization off the event loop", () => {
  test("a slow /tokenize (300k characters) runs while /health keeps answering", async () => {
    await post(`${s.url}/tokenize`, { prompt: "warm up the workers" });
    const { result, maxHealthMs, polls } = await healthDuring(s.url, post(`${s.url}/tokenize`, { prompt: SLOW_TEXT }));
    expect(result.status).toBe(200);
    expect(result.json.count).toBe(s.state.tokenizer.encode(SLOW_TEXT).length);
    console.log(`/tokenize of ${SLOW_TEXT.length} chars: ${polls} /health polls meanwhile, slowest ${maxHealthMs.toFixed(0)} ms`);
    expect(polls).toBeGreaterThan(3);
    expect(maxHealthMs).toBeLessThan(HEALTH_BOUND_MS);
  });

  test("a slow chat message is rendered and tokenized while /health keeps answering, then refused for its token count", async () => {
    const body = { messages: [{ role: "user", content: SLOW_TEXT }], max_tokens: 1 };
    const { result, maxHealthMs } = await healthDuring(s.url, post(`${s.url}/v1/chat/completions`, body));
    // ~37.5k tokens: within the character bound, past the context, which only tokenizing can tell.
    expect(result.status).toBe(400);
    expect(result.json.error.message).toContain(`This model's maximum context length is ${MAX_MODEL_LEN} tokens`);
    expect(maxHealthMs).toBeLessThan(HEALTH_BOUND_MS);
  });

  // 4 MB bodies: parsing JSON that large is ~30 ms of the server's thread on a busy machine, unavoidably; the
  // point is that nothing slower (tokenizing) happens. Bodies are serialized before the clock starts: the
  // client shares this thread.
  test("a 4 MB /tokenize and a 4 MB chat message are refused by their length at once, naming the limit", async () => {
    const huge = "x".repeat(4_000_000);
    const tokenizeBody = JSON.stringify({ prompt: huge });
    const { result, maxHealthMs } = await healthDuring(s.url, post(`${s.url}/tokenize`, tokenizeBody));
    expect(result.status).toBe(400);
    expect(result.json.error.param).toBe("prompt");
    expect(result.json.error.message).toContain(`more than the ${LIMIT} (max_model_len ${MAX_MODEL_LEN} × ${MAX_CHARS_PER_TOKEN})`);
    expect(maxHealthMs).toBeLessThan(HEALTH_BOUND_MS);

    const chatBody = JSON.stringify({ messages: [{ role: "user", content: huge }] });
    const t0 = performance.now();
    const c = await healthDuring(s.url, post(`${s.url}/v1/chat/completions`, chatBody));
    expect(c.result.status).toBe(400);
    expect(c.result.json.error.param).toBe("messages");
    expect(c.result.json.error.message).toContain("the conversation has 4000000 characters");
    expect(c.maxHealthMs).toBeLessThan(HEALTH_BOUND_MS);
    expect(performance.now() - t0).toBeLessThan(5000);

    const completion = await post(`${s.url}/v1/completions`, { prompt: ["ok", huge.slice(0, LIMIT + 1)], max_tokens: 1 });
    expect(completion.status).toBe(400);
    expect(completion.json.error.message).toContain(`has ${LIMIT + 1} characters`);
  });
});
