/**
 * vLLM's completion extras scoring clients rely on: `max_tokens: 0` with `echo` scores the prompt without
 * generating, `logprobs: true` reads as 1, and GET /v1/models/{id} (ids may hold a slash).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { MODEL_NAME, post, startTestServer } from "./support";

const s = startTestServer({ model: "mistral", config: { servedModelNames: [MODEL_NAME, "org/tiny-7b"] } });
afterAll(() => s.close());
const url = `${s.url}/v1/completions`;

describe("completions extras", () => {
  test("max_tokens 0 with echo returns the prompt's tokens, logprobs and text, and nothing generated", async () => {
    const prompt = "The river runs to the sea";
    const res = await post(url, { model: MODEL_NAME, prompt, max_tokens: 0, echo: true, logprobs: 1 });
    expect(res.status).toBe(200);
    const c = res.json.choices[0];
    expect(c.text).toBe(prompt);
    expect(c.finish_reason).toBe("length");
    expect(res.json.usage.completion_tokens).toBe(0);
    const n = res.json.usage.prompt_tokens;
    expect(c.logprobs.tokens.length).toBe(n);
    expect(c.logprobs.token_logprobs[0]).toBeNull();
    expect(c.logprobs.token_logprobs.slice(1).every((x: unknown) => typeof x === "number")).toBe(true);
    // The same prompt logprobs as a generating request's echo.
    const gen = await post(url, { model: MODEL_NAME, prompt, max_tokens: 2, echo: true, logprobs: 1, temperature: 0 });
    expect(gen.json.choices[0].logprobs.token_logprobs.slice(0, n)).toEqual(c.logprobs.token_logprobs);
    // Without echo, or streamed, max_tokens 0 is refused naming the field.
    for (const body of [{ max_tokens: 0 }, { max_tokens: 0, echo: true, stream: true }]) {
      const bad = await post(url, { model: MODEL_NAME, prompt, ...body });
      expect(bad.status).toBe(400);
      expect(bad.json.error.param).toBe("max_tokens");
    }
  });

  test("echoed token-id prompts keep their special tokens, so text_offset points into the text", async () => {
    const ids = [1, 415, 5565]; // <s> then two ordinary tokens in the Llama 2 tokenizer
    const res = await post(url, { model: MODEL_NAME, prompt: ids, max_tokens: 1, echo: true, logprobs: 0, temperature: 0 });
    expect(res.status).toBe(200);
    const c = res.json.choices[0];
    expect(c.text.startsWith("<s>")).toBe(true);
    const offsets = c.logprobs.text_offset as number[];
    expect(offsets[0]).toBe(0);
    expect(offsets[1]).toBe("<s>".length); // past the special token, which the text now holds
    offsets.forEach((o, i) => { expect(o).toBeLessThanOrEqual(c.text.length); if (i > 0) expect(o).toBeGreaterThanOrEqual(offsets[i - 1]); });
  });

  test("logprobs: true reads as 1, false as none", async () => {
    const yes = await post(url, { model: MODEL_NAME, prompt: "Hi", max_tokens: 2, logprobs: true });
    expect(yes.status).toBe(200);
    expect(yes.json.choices[0].logprobs.top_logprobs[0]).toBeDefined();
    expect(Object.keys(yes.json.choices[0].logprobs.top_logprobs[0]).length).toBeGreaterThanOrEqual(1);
    const no = await post(url, { model: MODEL_NAME, prompt: "Hi", max_tokens: 2, logprobs: false });
    expect(no.status).toBe(200);
    expect(no.json.choices[0].logprobs).toBeNull();
  });

  test("GET /v1/models/{id}: the card for a served id (slashes too), 404 otherwise", async () => {
    for (const id of [MODEL_NAME, "org/tiny-7b"]) {
      const res = await fetch(`${s.url}/v1/models/${id}`);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ id, object: "model", owned_by: "vllm" });
    }
    const missing = await fetch(`${s.url}/v1/models/nope`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as any).error.param).toBe("model");
  });
});
