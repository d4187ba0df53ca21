/** Error statuses and OpenAI's error shape, through raw fetch and the SDK's error classes. */
import { afterAll, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import { makeSamplingParams } from "../../src/engine/sampling_params";
import { MODEL_NAME, parseSse, post, startTestServer } from "./support";

const s = startTestServer();
const small = startTestServer({ config: { maxBodyBytes: 2048 } });
afterAll(async () => { await s.close(); await small.close(); });

const chat = (body: Record<string, unknown>) => post(`${s.url}/v1/chat/completions`, { model: MODEL_NAME, messages: [{ role: "user", content: "Hi" }], max_tokens: 2, ...body });
const completion = (body: Record<string, unknown>) => post(`${s.url}/v1/completions`, { model: MODEL_NAME, prompt: "Hi", max_tokens: 2, ...body });

function expectError(res: { status: number; json: any }, status: number, param?: string | null) {
  expect(res.status).toBe(status);
  expect(Object.keys(res.json)).toEqual(["error"]);
  const e = res.json.error;
  expect(Object.keys(e).sort()).toEqual(["code", "message", "param", "type"]);
  expect(typeof e.message).toBe("string");
  expect(e.message.length).toBeGreaterThan(0);
  expect(typeof e.type).toBe("string");
  expect(e.code).toBe(status);
  if (param !== undefined) expect(e.param).toBe(param);
}

describe("400: the request is wrong", () => {
  test("invalid JSON, an empty body, a non-object body", async () => {
    expectError(await post(`${s.url}/v1/chat/completions`, "{not json"), 400, null);
    expectError(await post(`${s.url}/v1/completions`, ""), 400, null);
    expectError(await post(`${s.url}/v1/completions`, "[1, 2]"), 400, null);
    expectError(await post(`${s.url}/tokenize`, "null"), 400);
  });

  test("wrong types name the field", async () => {
    expectError(await chat({ temperature: "hot" }), 400, "temperature");
    expectError(await chat({ messages: "hello" }), 400, "messages");
    expectError(await chat({ messages: [{ role: "user", content: 5 }] }), 400, "messages.0.content");
    expectError(await completion({ prompt: { text: "x" } }), 400, "prompt");
    expectError(await completion({ max_tokens: 1.5 }), 400, "max_tokens");
    expectError(await completion({ stop: [1, 2] }), 400, "stop");
  });

  test("bad values name the field", async () => {
    expectError(await chat({ temperature: -1 }), 400, "temperature");
    expectError(await chat({ top_p: 2 }), 400, "top_p");
    expectError(await chat({ max_tokens: 0 }), 400, "max_tokens");
    expectError(await chat({ presence_penalty: 3 }), 400, "presence_penalty");
    expectError(await chat({ logit_bias: { abc: 1 } }), 400, "logit_bias");
    expectError(await chat({ logit_bias: { "5": 500 } }), 400, "logit_bias");
    expectError(await chat({ logit_bias: { "99999999": 1 } }), 400, "logit_bias");
    expectError(await chat({ stop_token_ids: [-1] }), 400, "stop_token_ids");
    expectError(await chat({ top_logprobs: 2 }), 400, "top_logprobs");
    expectError(await chat({ messages: [] }), 400, "messages");
    expectError(await chat({ messages: [{ role: "wizard", content: "x" }] }), 400, "messages.0.role");
    expectError(await chat({ messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "x" } }] }] }), 400, "messages.0.content");
    expectError(await completion({ prompt: [] }), 400, "prompt");
    expectError(await completion({ prompt: [5, 32000] }), 400, "prompt");
    expectError(await completion({ prompt: [[1, 2], []] }), 400, "prompt");
    expectError(await completion({ request_id: "has space" }), 400, "request_id");
    expectError(await post(`${s.url}/detokenize`, { tokens: [1, -3] }), 400, "tokens");
  });

  test("features not supported yet are refused, not ignored", async () => {
    // tools default to tool_choice "auto", which needs --enable-auto-tool-choice and --tool-call-parser.
    expectError(await chat({ tools: [{ type: "function", function: { name: "f", parameters: {} } }] }), 400, "tool_choice");
    expectError(await chat({ response_format: { type: "structural_tag" } }), 400, "response_format.type");
    expectError(await chat({ structured_outputs: { structural_tag: {} } }), 400, "structured_outputs.structural_tag");
    expectError(await chat({ tool_choice: "required" }), 400, "tool_choice");
    expectError(await completion({ suffix: "end" }), 400, "suffix");
    expectError(await completion({ best_of: 3 }), 400, "best_of");
    expectError(await completion({ use_beam_search: true }), 400, "use_beam_search");
    expect((await chat({ response_format: { type: "text" }, tool_choice: "none", some_unknown_field: 1 })).status).toBe(200);
  });

  test("limits: n, logprobs, stop strings, body size", async () => {
    expectError(await chat({ n: 129 }), 400, "n");
    expectError(await chat({ logprobs: true, top_logprobs: 21 }), 400, "top_logprobs");
    expectError(await completion({ logprobs: 21 }), 400, "logprobs");
    expectError(await completion({ stop: Array.from({ length: 65 }, (_, i) => `s${i}`) }), 400, "stop");
    const big = { model: MODEL_NAME, prompt: "x".repeat(4096) };
    const res = await post(`${small.url}/v1/completions`, big);
    expectError(res, 400, null);
    expect(res.json.error.message).toContain("2048 bytes");
    // Without a content-length the cap holds while streaming the body in.
    const chunked = await fetch(`${small.url}/v1/completions`, {
      method: "POST",
      body: new ReadableStream({ start(c) { for (let i = 0; i < 8; i++) c.enqueue(new TextEncoder().encode("x".repeat(1024))); c.close(); } }),
    });
    expect(chunked.status).toBe(400);
  });

  test("a prompt plus max_tokens over the context is a 400 naming the maximum context length", async () => {
    const long = "hello ".repeat(300);
    const res = await completion({ prompt: long, max_tokens: 300 });
    expectError(res, 400);
    expect(res.json.error.message).toStartWith("This model's maximum context length is 512 tokens.");
    const tooLongAlone = await completion({ prompt: Array.from({ length: 600 }, () => 100) });
    expect(tooLongAlone.json.error.message).toStartWith("This model's maximum context length is 512 tokens.");
    const chatRes = await chat({ messages: [{ role: "user", content: long }], max_tokens: 300 });
    expect(chatRes.json.error.message).toStartWith("This model's maximum context length is 512 tokens.");
    // Without max_tokens a chat request gets what the context has left.
    const fits = await chat({ messages: [{ role: "user", content: "hello ".repeat(250) }], max_tokens: undefined, ignore_eos: true });
    expect(fits.status).toBe(200);
    expect(fits.json.usage.total_tokens).toBe(512);
  });

  test("the SDK sees BadRequestError", async () => {
    const err = await s.client.chat.completions.create({ model: MODEL_NAME, messages: [{ role: "user", content: "Hi" }], temperature: -2 }).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect(err.status).toBe(400);
    expect(err.param).toBe("temperature");
  });
});

describe("404", () => {
  test("an unknown model", async () => {
    const res = await chat({ model: "gpt-nope" });
    expectError(res, 404, "model");
    expect(res.json.error.message).toBe("The model `gpt-nope` does not exist.");
    expectError(await completion({ model: "gpt-nope" }), 404);
    expectError(await post(`${s.url}/tokenize`, { model: "gpt-nope", prompt: "x" }), 404);
    const err = await s.client.completions.create({ model: "gpt-nope", prompt: "x" }).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
  });

  test("an unknown route", async () => {
    const res = await fetch(`${s.url}/v1/nothing-here`);
    expectError({ status: res.status, json: await res.json() }, 404);
  });
});

describe("503", () => {
  test("past --max-num-queued-reqs", async () => {
    const q = startTestServer({ engine: { maxNumSeqs: 1 }, config: { maxNumQueuedReqs: 1 } });
    try {
      // Requests added behind the server's back: one would run (--max-num-seqs 1), one waits, so the queue is full.
      for (const id of ["filler-0", "filler-1"]) q.state.llm.engine.addRequest(id, { promptTokenIds: [1, 2, 3] }, makeSamplingParams({ maxTokens: 1 }));
      const res = await post(`${q.url}/v1/completions`, { prompt: "Hi", max_tokens: 1 });
      expectError(res, 503);
      expect(res.json.error.message).toContain("--max-num-queued-reqs");
      q.state.llm.engine.abortRequest(["filler-0", "filler-1"]);
      expect((await post(`${q.url}/v1/completions`, { prompt: "Hi", max_tokens: 1 })).status).toBe(200);
    } finally {
      await q.close();
    }
  });

  test("once the engine is dead: a stream gets an error event, then /health and new requests are 503", async () => {
    const d = startTestServer();
    try {
      d.state.llm.engine.step = () => { throw new Error("injected step failure"); };
      const streamed = await post(`${d.url}/v1/completions`, { prompt: "Hi", max_tokens: 4, stream: true });
      expect(streamed.status).toBe(200);
      const events = parseSse(streamed.text) as any[];
      expect(events.at(-1)).toBe("[DONE]");
      expect(events.at(-2).error.code).toBe(503);
      expect(events.at(-2).error.message).toContain("injected step failure");
      expect((await fetch(`${d.url}/health`)).status).toBe(503);
      expectError(await post(`${d.url}/v1/chat/completions`, { messages: [{ role: "user", content: "x" }] }), 503);
      expect(d.state.inFlight).toBe(0);
    } finally {
      await d.close();
    }
  });
});
