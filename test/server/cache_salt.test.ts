/**
 * Issue 9, item 12 (HTTP half): vLLM's `cache_salt` request field. Requests share prefix-cache blocks only
 * when their salts match, so one tenant cannot probe another's prompts by timing cache hits.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { metrics, metricValue, post, startTestServer } from "./support";

const s = startTestServer();
afterAll(() => s.close());

// Several full 16-token blocks, so a second request can hit the cache.
const PROMPT = "The history of the printing press begins with movable type, which spread across Europe in the fifteenth century and changed how books were made.";

async function hits(): Promise<number> {
  return metricValue(await metrics(s.url), "vllm:prefix_cache_hits_total") ?? 0;
}

async function hitsOf(endpoint: "completions" | "chat", salt?: string): Promise<number> {
  const before = await hits();
  const extra = salt === undefined ? {} : { cache_salt: salt };
  const body = endpoint === "completions"
    ? { prompt: PROMPT, max_tokens: 1, ...extra }
    : { messages: [{ role: "user", content: PROMPT }], max_tokens: 1, ...extra };
  const r = await post(`${s.url}/v1/${endpoint === "chat" ? "chat/completions" : "completions"}`, body);
  expect(r.status).toBe(200);
  return (await hits()) - before;
}

describe("cache_salt", () => {
  for (const endpoint of ["completions", "chat"] as const) {
    test(`${endpoint}: the same prompt hits the cache only under the same salt`, async () => {
      await hitsOf(endpoint); // fills the cache without a salt
      expect(await hitsOf(endpoint)).toBeGreaterThan(0);
      expect(await hitsOf(endpoint, `${endpoint}-tenant-a`)).toBe(0);
      expect(await hitsOf(endpoint, `${endpoint}-tenant-b`)).toBe(0);
      expect(await hitsOf(endpoint, `${endpoint}-tenant-a`)).toBeGreaterThan(0);
    });
  }

  test("an empty salt, one past 1024 characters or a non-string is a 400 naming cache_salt", async () => {
    for (const salt of ["", "s".repeat(1025), 42]) {
      const r = await post(`${s.url}/v1/completions`, { prompt: "Hi", max_tokens: 1, cache_salt: salt });
      expect(r.status).toBe(400);
      expect(r.json.error.param).toBe("cache_salt");
    }
    expect((await post(`${s.url}/v1/completions`, { prompt: "Hi", max_tokens: 1, cache_salt: "s".repeat(1024) })).status).toBe(200);
  });
});
