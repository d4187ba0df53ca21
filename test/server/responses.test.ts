/**
 * POST /v1/responses through the official openai client (responses.create, plain and streamed) and raw fetch:
 * text and message-list input, instructions, max_output_tokens, temperature/top_p, logprobs, text.format, the
 * usage block, the typed event sequence, and what vLLM refuses without its response store.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { MODEL_NAME, post, startTestServer } from "./support";

const s = startTestServer({ model: "mistral" });
afterAll(() => s.close());
const url = `${s.url}/v1/responses`;
const MAX_MODEL_LEN = 512;

async function chatText(messages: { role: string; content: string }[], maxTokens: number) {
  const r = await post(`${s.url}/v1/chat/completions`, { model: MODEL_NAME, messages, max_tokens: maxTokens, temperature: 0 });
  return { text: r.json.choices[0].message.content as string, usage: r.json.usage, finish: r.json.choices[0].finish_reason as string };
}

describe("POST /v1/responses (not streamed)", () => {
  test("a text input with instructions: the same tokens and text as the chat endpoint, and the usage block", async () => {
    const res = await s.client.responses.create({ model: MODEL_NAME, input: "Name a river.", instructions: "Answer briefly.", max_output_tokens: 12, temperature: 0 });
    expect(res.object).toBe("response");
    expect(res.id).toMatch(/^resp_/);
    const chat = await chatText([{ role: "system", content: "Answer briefly." }, { role: "user", content: "Name a river." }], 12);
    expect(res.output_text).toBe(chat.text);
    expect(res.usage!.input_tokens).toBe(chat.usage.prompt_tokens);
    expect(res.usage!.output_tokens).toBe(chat.usage.completion_tokens);
    expect(res.usage!.total_tokens).toBe(chat.usage.prompt_tokens + chat.usage.completion_tokens);
    expect(res.usage!.input_tokens_details.cached_tokens).toBeGreaterThanOrEqual(0);
    expect(res.usage!.output_tokens_details.reasoning_tokens).toBe(0);
    expect(res.status).toBe(chat.finish === "length" ? "incomplete" : "completed");
    if (res.status === "incomplete") expect(res.incomplete_details).toEqual({ reason: "max_output_tokens" });
    expect(res.instructions).toBe("Answer briefly.");
    expect(res.max_output_tokens).toBe(12);
    const msg = res.output[0] as any;
    expect(msg).toMatchObject({ type: "message", role: "assistant", content: [{ type: "output_text", annotations: [] }] });
    expect(msg.id).toMatch(/^msg_/);
  });

  test("a message list with input_text / output_text parts reads like the same chat conversation", async () => {
    const input = [
      { role: "system" as const, content: "Be terse." },
      { role: "user" as const, content: [{ type: "input_text" as const, text: "Hi" }] },
      { type: "message" as const, role: "assistant" as const, content: [{ type: "output_text" as const, text: "Hello", annotations: [] }] },
      { role: "user" as const, content: "Name a sea." },
    ];
    const res = await s.client.responses.create({ model: MODEL_NAME, input: input as any, max_output_tokens: 10, temperature: 0 });
    const chat = await chatText([{ role: "system", content: "Be terse." }, { role: "user", content: "Hi" }, { role: "assistant", content: "Hello" }, { role: "user", content: "Name a sea." }], 10);
    expect(res.output_text).toBe(chat.text);
    expect(res.usage!.input_tokens).toBe(chat.usage.prompt_tokens);
  });

  test("temperature and top_p are echoed and applied; seeded sampling repeats", async () => {
    const body = { model: MODEL_NAME, input: "Hi", max_output_tokens: 8, temperature: 1.5, top_p: 0.9, seed: 7 };
    const a = await post(url, body), b = await post(url, body);
    expect(a.status).toBe(200);
    expect(a.json.temperature).toBe(1.5);
    expect(a.json.top_p).toBe(0.9);
    expect(a.json.output[0]?.content[0].text).toBe(b.json.output[0]?.content[0].text);
  });

  test("max_output_tokens at what the context leaves, and past it; temperature and top_p past their bounds", async () => {
    const probe = await post(url, { model: MODEL_NAME, input: "Hi", max_output_tokens: 1 });
    const left = MAX_MODEL_LEN - probe.json.usage.input_tokens;
    const full = await post(url, { model: MODEL_NAME, input: "Hi", max_output_tokens: left, temperature: 0 });
    expect(full.status).toBe(200);
    expect(full.json.usage.output_tokens).toBeLessThanOrEqual(left);
    for (const [body, param] of [
      [{ max_output_tokens: left + 1 }, "max_output_tokens"], [{ max_output_tokens: 0 }, "max_output_tokens"],
      [{ top_p: 0 }, "top_p"], [{ top_p: 1.01 }, "top_p"], [{ temperature: -0.1 }, "temperature"], [{ max_output_tokens: 2.5 }, "max_output_tokens"],
    ] as const) {
      const r = await post(url, { model: MODEL_NAME, input: "Hi", ...body });
      expect(r.status).toBe(400);
      expect(r.json.error.param).toBe(param);
    }
  });

  test("output logprobs with include, at --max-logprobs and past it", async () => {
    const res = await post(url, { model: MODEL_NAME, input: "Hi", max_output_tokens: 5, temperature: 0, include: ["message.output_text.logprobs"], top_logprobs: 20 });
    expect(res.status).toBe(200);
    const lps = res.json.output[0].content[0].logprobs;
    expect(lps.length).toBe(res.json.usage.output_tokens);
    for (const lp of lps) {
      expect(lp.top_logprobs.length).toBe(20);
      expect(lp.bytes).toEqual(Array.from(new TextEncoder().encode(lp.token)));
    }
    const none = await post(url, { model: MODEL_NAME, input: "Hi", max_output_tokens: 2 });
    expect(none.json.output[0]?.content[0].logprobs ?? null).toBeNull();
    expect((await post(url, { model: MODEL_NAME, input: "Hi", include: ["message.output_text.logprobs"], top_logprobs: 21 })).json.error.param).toBe("top_logprobs");
  });

  test("text.format json_schema forces the schema; a bad schema is a 400 naming text.format", async () => {
    const schema = { type: "object", properties: { color: { enum: ["red", "blue"] } }, required: ["color"], additionalProperties: false };
    const res = await s.client.responses.create({ model: MODEL_NAME, input: "Pick a color.", max_output_tokens: 64, text: { format: { type: "json_schema", name: "pick", schema, strict: true } } });
    expect(["red", "blue"]).toContain(JSON.parse(res.output_text).color);
    const obj = await post(url, { model: MODEL_NAME, input: "JSON please", max_output_tokens: 64, text: { format: { type: "json_object" } } });
    expect(obj.status).toBe(200);
    const bad = await post(url, { model: MODEL_NAME, input: "x", text: { format: { type: "json_schema", name: "x", schema: { type: "no-such-type" } } } });
    expect(bad.status).toBe(400);
    expect(bad.json.error.param).toMatch(/^text\.format/);
  });
});

describe("POST /v1/responses (streamed)", () => {
  test("the SDK sees OpenAI's event sequence; deltas join into the plain answer's text", async () => {
    const body = { model: MODEL_NAME, input: "Tell me about rivers.", max_output_tokens: 16, temperature: 0 };
    const plain = await s.client.responses.create(body);
    const stream = await s.client.responses.create({ ...body, stream: true });
    const events: any[] = [];
    for await (const e of stream) events.push(e);
    const types = events.map((e) => e.type);
    const last = plain.status === "completed" ? "response.completed" : "response.incomplete";
    expect(types.slice(0, 4)).toEqual(["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"]);
    expect(types.slice(-4)).toEqual(["response.output_text.done", "response.content_part.done", "response.output_item.done", last]);
    expect(types.slice(4, -4).every((t) => t === "response.output_text.delta")).toBe(true);
    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
    const deltas = events.filter((e) => e.type === "response.output_text.delta");
    expect(deltas.map((e) => e.delta).join("")).toBe(plain.output_text);
    const itemId = events[2].item.id;
    for (const e of deltas) expect(e).toMatchObject({ item_id: itemId, output_index: 0, content_index: 0 });
    const done = events.at(-1).response;
    expect(done.output[0].content[0].text).toBe(plain.output_text);
    expect(done.usage).toEqual({ ...plain.usage!, input_tokens_details: done.usage.input_tokens_details });
    expect(events[0].response.status).toBe("in_progress");
  });

  test("the wire format: event: lines, no [DONE]; logprobs on deltas", async () => {
    const r = await post(url, { model: MODEL_NAME, input: "Hi", max_output_tokens: 4, temperature: 0, stream: true, include: ["message.output_text.logprobs"], top_logprobs: 2 });
    expect(r.headers.get("content-type")).toContain("text/event-stream");
    expect(r.text).not.toContain("[DONE]");
    const blocks = r.text.trim().split("\n\n");
    for (const b of blocks) {
      const [ev, data] = b.split("\n");
      expect(ev.startsWith("event: ")).toBe(true);
      expect(JSON.parse(data.slice("data: ".length)).type).toBe(ev.slice("event: ".length));
    }
    const deltas = blocks.map((b) => JSON.parse(b.split("\n")[1].slice(6))).filter((e) => e.type === "response.output_text.delta");
    const n = deltas.reduce((sum, d) => sum + d.logprobs.length, 0);
    expect(n).toBeGreaterThan(0);
    for (const d of deltas) for (const lp of d.logprobs) expect(lp.top_logprobs.length).toBe(2);
  });
});

describe("refusals and errors (OpenAI's error shape)", () => {
  test("what vLLM refuses without its response store, and what is not supported yet", async () => {
    const cases: [Record<string, unknown>, number, string][] = [
      [{ previous_response_id: "resp_abc" }, 404, "previous_response_id"],
      [{ background: true }, 400, "background"],
      [{ tools: [{ type: "function", name: "f", parameters: {} }] }, 400, "tools"],
      [{ input: [{ type: "function_call_output", call_id: "c", output: "x" }] }, 400, "input.0.type"],
      [{ input: [{ role: "user", content: [{ type: "input_image", image_url: "http://x" }] }] }, 400, "input.0.content.0"],
      [{ input: [{ role: "tool", content: "x" }] }, 400, "input.0.role"],
      [{ input: [] }, 400, "input"],
      [{ model: "nope" }, 404, "model"],
      [{ priority: 1 }, 400, "priority"],
      [{ input: "x".repeat(MAX_MODEL_LEN * 16 + 1) }, 400, "messages"],
      [{ input: Array.from({ length: 600 }, () => "word").join(" ") }, 400, "input"],
    ];
    for (const [body, status, param] of cases) {
      const r = await post(url, { model: MODEL_NAME, input: "Hi", ...body });
      expect([r.status, r.json.error.param]).toEqual([status, param]);
      expect(r.json.error.code).toBe(status);
    }
    expect((await post(url, { model: MODEL_NAME, input: "Hi", previous_response_id: "resp_abc" })).json.error.message).toBe("Response with id 'resp_abc' not found.");
    // store (true by default) is accepted and nothing is kept, as in vLLM.
    const stored = await post(url, { model: MODEL_NAME, input: "Hi", store: true, max_output_tokens: 2 });
    expect(stored.status).toBe(200);
    expect(stored.json.store).toBe(false);
    expect((await post(url, "{not json")).status).toBe(400);
  });

  test("listed in the OpenAPI document", async () => {
    const doc = (await (await fetch(`${s.url}/openapi.json`)).json()) as any;
    expect(doc.paths["/v1/responses"].post.requestBody).toBeDefined();
  });
});

describe("many at once", () => {
  test("40 concurrent requests, half streamed, long inputs among them, all answer in full", async () => {
    const long = Array.from({ length: 100 }, (_, i) => `w${i}`).join(" ");
    const jobs = Array.from({ length: 40 }, async (_, i) => {
      const body = { model: MODEL_NAME, input: i % 4 === 0 ? long : `Question ${i}`, max_output_tokens: 8, temperature: 0 };
      if (i % 2 === 0) return (await s.client.responses.create(body)).usage!.output_tokens;
      let tokens = -1;
      for await (const e of await s.client.responses.create({ ...body, stream: true })) if (e.type === "response.completed" || e.type === "response.incomplete") tokens = e.response.usage!.output_tokens;
      return tokens;
    });
    // Every request reached its final event with its usage (EOS may end one early).
    for (const n of await Promise.all(jobs)) {
      expect(n).toBeGreaterThanOrEqual(0);
      expect(n).toBeLessThanOrEqual(8);
    }
  });
});
