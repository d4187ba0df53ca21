/**
 * POST /v1/messages (Anthropic's Messages API) over raw fetch, as Anthropic's clients send it: system prompt,
 * text blocks, max_tokens, stop_sequences, the event stream, count_tokens, x-api-key auth, and errors in
 * Anthropic's `{"type": "error", "error": {...}}` shape.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { MODEL_NAME, post, startTestServer } from "./support";

const KEY = "sk-ant-test";
const s = startTestServer({ model: "mistral", config: { apiKey: KEY } });
afterAll(() => s.close());
const url = `${s.url}/v1/messages`;
const auth = { "x-api-key": KEY, "anthropic-version": "2023-06-01" };
const bearer = { authorization: `Bearer ${KEY}` };
const MAX_MODEL_LEN = 512;
const messages = [{ role: "user", content: "Name a river." }];

function events(text: string): { event: string; data: any }[] {
  return text.trim().split("\n\n").map((b) => {
    const [ev, data] = b.split("\n");
    return { event: ev.slice("event: ".length), data: JSON.parse(data.slice("data: ".length)) };
  });
}

describe("POST /v1/messages", () => {
  test("a message with a system prompt: Anthropic's shape, the chat endpoint's tokens and text", async () => {
    const r = await post(url, { model: MODEL_NAME, max_tokens: 12, system: "Answer briefly.", messages, temperature: 0 }, auth);
    expect(r.status).toBe(200);
    const chat = await post(`${s.url}/v1/chat/completions`, { model: MODEL_NAME, max_tokens: 12, temperature: 0, messages: [{ role: "system", content: "Answer briefly." }, ...messages] }, bearer);
    expect(r.json).toMatchObject({ type: "message", role: "assistant", model: MODEL_NAME, content: [{ type: "text", text: chat.json.choices[0].message.content }] });
    expect(r.json.id).toMatch(/^msg_/);
    expect(r.json.usage).toEqual({ input_tokens: chat.json.usage.prompt_tokens, output_tokens: chat.json.usage.completion_tokens });
    expect(r.json.stop_reason).toBe(chat.json.choices[0].finish_reason === "length" ? "max_tokens" : "end_turn");
    // A system prompt as text blocks, and user content as blocks, read the same.
    const blocks = await post(url, { model: MODEL_NAME, max_tokens: 12, temperature: 0, system: [{ type: "text", text: "Answer briefly." }], messages: [{ role: "user", content: [{ type: "text", text: "Name a river." }] }] }, auth);
    expect(blocks.json.content).toEqual(r.json.content);
  });

  test("stop_sequences: a match ends with stop_reason stop_sequence naming it; max_tokens ends with max_tokens", async () => {
    const free = await post(url, { model: MODEL_NAME, max_tokens: 24, messages, temperature: 0 }, auth);
    const text: string = free.json.content[0].text;
    expect(text.length).toBeGreaterThan(8);
    const seq = text.slice(4, 7);
    const cut = await post(url, { model: MODEL_NAME, max_tokens: 24, messages, temperature: 0, stop_sequences: [seq] }, auth);
    expect(cut.json.stop_reason).toBe("stop_sequence");
    expect(cut.json.stop_sequence).toBe(seq);
    expect(cut.json.content[0].text).toBe(text.slice(0, text.indexOf(seq)));
    const short = await post(url, { model: MODEL_NAME, max_tokens: 1, messages, temperature: 0, top_k: 1 }, auth);
    expect(short.json.usage.output_tokens).toBe(1);
    if (short.json.stop_reason !== "end_turn") expect(short.json.stop_reason).toBe("max_tokens");
  });

  test("stream: message_start, content_block_start/delta/stop, message_delta, message_stop; deltas join into the text", async () => {
    const body = { model: MODEL_NAME, max_tokens: 16, messages, temperature: 0 };
    const plain = await post(url, body, auth);
    const r = await post(url, { ...body, stream: true }, auth);
    expect(r.headers.get("content-type")).toContain("text/event-stream");
    const evs = events(r.text);
    for (const e of evs) expect(e.data.type).toBe(e.event);
    const types = evs.map((e) => e.event);
    expect(types.slice(0, 2)).toEqual(["message_start", "content_block_start"]);
    expect(types.slice(-3)).toEqual(["content_block_stop", "message_delta", "message_stop"]);
    expect(types.slice(2, -3).every((t) => t === "content_block_delta")).toBe(true);
    expect(evs[0].data.message).toMatchObject({ type: "message", role: "assistant", content: [], stop_reason: null, usage: { input_tokens: plain.json.usage.input_tokens, output_tokens: 0 } });
    const deltas = evs.filter((e) => e.event === "content_block_delta");
    expect(deltas.every((e) => e.data.index === 0 && e.data.delta.type === "text_delta")).toBe(true);
    expect(deltas.map((e) => e.data.delta.text).join("")).toBe(plain.json.content[0].text);
    const md = evs.at(-2)!.data;
    expect(md.delta).toEqual({ stop_reason: plain.json.stop_reason, stop_sequence: plain.json.stop_sequence });
    expect(md.usage.output_tokens).toBe(plain.json.usage.output_tokens);
  });

  test("max_tokens at what the context leaves and past it; a bad temperature; all in Anthropic's error shape", async () => {
    const n = (await post(`${s.url}/v1/messages/count_tokens`, { model: MODEL_NAME, messages }, auth)).json.input_tokens;
    expect(n).toBeGreaterThan(0);
    const full = await post(url, { model: MODEL_NAME, max_tokens: MAX_MODEL_LEN - n, messages, temperature: 0 }, auth);
    expect(full.status).toBe(200);
    expect(full.json.usage.input_tokens).toBe(n);
    for (const [body, status, type] of [
      [{ max_tokens: MAX_MODEL_LEN - n + 1 }, 400, "invalid_request_error"],
      [{ max_tokens: 0 }, 400, "invalid_request_error"],
      [{ max_tokens: undefined }, 400, "invalid_request_error"],
      [{ temperature: -1 }, 400, "invalid_request_error"],
      [{ messages: [{ role: "system", content: "x" }] }, 400, "invalid_request_error"],
      [{ messages: [{ role: "user", content: [{ type: "image", source: {} }] }] }, 400, "invalid_request_error"],
      [{ tools: [{ name: "f", input_schema: {} }] }, 400, "invalid_request_error"],
      [{ model: "nope" }, 404, "not_found_error"],
    ] as const) {
      const r = await post(url, Object.assign({ model: MODEL_NAME, messages, max_tokens: 8 }, body), auth);
      expect(r.status).toBe(status);
      expect(r.json.type).toBe("error");
      expect(r.json.error.type).toBe(type);
      expect(typeof r.json.error.message).toBe("string");
    }
    const bad = await post(url, "{oops", auth);
    expect([bad.status, bad.json.type, bad.json.error.type]).toEqual([400, "error", "invalid_request_error"]);
  });

  test("auth: x-api-key or Authorization; a missing or wrong key is Anthropic's authentication_error", async () => {
    expect((await post(url, { model: MODEL_NAME, max_tokens: 2, messages }, bearer)).status).toBe(200);
    for (const headers of [{}, { "x-api-key": "wrong" }] as Record<string, string>[]) {
      const r = await post(url, { model: MODEL_NAME, max_tokens: 2, messages }, headers);
      expect(r.status).toBe(401);
      expect(r.json).toMatchObject({ type: "error", error: { type: "authentication_error" } });
    }
    // Other routes keep OpenAI's Bearer scheme and error shape.
    const other = await post(`${s.url}/v1/completions`, { prompt: "Hi" }, { "x-api-key": KEY });
    expect(other.status).toBe(401);
    expect(other.json.error.type).toBe("AuthenticationError");
  });

  test("count_tokens counts the rendered conversation", async () => {
    const one = (await post(`${s.url}/v1/messages/count_tokens`, { model: MODEL_NAME, messages }, auth)).json.input_tokens;
    const withSystem = (await post(`${s.url}/v1/messages/count_tokens`, { model: MODEL_NAME, system: "Be brief.", messages }, auth)).json.input_tokens;
    const tokenized = await post(`${s.url}/tokenize`, { messages: [{ role: "system", content: "Be brief." }, ...messages] }, bearer);
    expect(withSystem).toBe(tokenized.json.count);
    expect(withSystem).toBeGreaterThan(one);
    const r = await post(`${s.url}/v1/messages/count_tokens`, { model: MODEL_NAME }, auth);
    expect([r.status, r.json.type]).toEqual([400, "error"]);
  });

  test("many at once: 32 concurrent, half streamed, each answers in full", async () => {
    const jobs = Array.from({ length: 32 }, async (_, i) => {
      const body = { model: MODEL_NAME, max_tokens: 8, messages: [{ role: "user", content: `Question ${i} ${"long ".repeat(i * 4)}` }], temperature: 0 };
      const r = await post(url, { ...body, stream: i % 2 === 1 }, auth);
      expect(r.status).toBe(200);
      return i % 2 ? events(r.text).at(-1)!.event : r.json.type;
    });
    for (const last of await Promise.all(jobs)) expect(["message", "message_stop"]).toContain(last);
  });

  test("listed in the OpenAPI document", async () => {
    const doc = (await (await fetch(`${s.url}/openapi.json`)).json()) as any;
    expect(doc.paths["/v1/messages"].post).toBeDefined();
    expect(doc.paths["/v1/messages/count_tokens"].post).toBeDefined();
  });
});
