/** The OpenAI-compatible endpoints through the official SDK on a loopback socket, with a tiny model. */
import { afterAll, describe, expect, test } from "bun:test";
import { MODEL_NAME, parseSse, post, startTestServer } from "./support";

const s = startTestServer();
afterAll(() => s.close());
const messages = [{ role: "user" as const, content: "Tell me a story about a dragon." }];
// vLLM's extras ride along the SDK's typed parameters.
const extra = (o: Record<string, unknown>) => o as {};
// The random-weight model is so peaked that only a high temperature makes samples differ.
const HOT = 20;

describe("chat completions", () => {
  test("streaming and non-streaming give the same text at temperature 0", async () => {
    const full = await s.client.chat.completions.create({ model: MODEL_NAME, messages, max_tokens: 12, temperature: 0 });
    expect(full.object).toBe("chat.completion");
    expect(full.id).toStartWith("chatcmpl-");
    const choice = full.choices[0];
    expect(choice.message.role).toBe("assistant");
    expect(choice.finish_reason).toBe("length");
    expect(full.usage!.completion_tokens).toBe(12);
    expect(full.usage!.total_tokens).toBe(full.usage!.prompt_tokens + 12);

    const stream = await s.client.chat.completions.create({
      model: MODEL_NAME, messages, max_tokens: 12, temperature: 0, stream: true, stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    expect(chunks[0].choices[0].delta.role).toBe("assistant");
    const withChoices = chunks.filter((c) => c.choices.length > 0);
    expect(withChoices.at(-1)!.choices[0].finish_reason).toBe("length");
    expect(withChoices.slice(0, -1).every((c) => c.choices[0].finish_reason === null)).toBe(true);
    const last = chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage).toEqual(full.usage!);
    expect(withChoices.map((c) => c.choices[0].delta.content ?? "").join("")).toBe(choice.message.content!);
  });

  test("the raw stream is data: lines ending with [DONE], without usage unless asked", async () => {
    const res = await post(`${s.url}/v1/chat/completions`, { messages, max_tokens: 3, stream: true });
    expect(res.headers.get("content-type")).toStartWith("text/event-stream");
    const events = parseSse(res.text);
    expect(events.at(-1)).toBe("[DONE]");
    expect(res.text.endsWith("data: [DONE]\n\n")).toBe(true);
    for (const e of events.slice(0, -1)) expect((e as any).usage).toBeUndefined();
  });

  test("n = 3 returns three choices; the same seed gives the same samples", async () => {
    const ask = (seed: number) => s.client.chat.completions.create({ model: MODEL_NAME, messages, max_tokens: 8, temperature: HOT, n: 3, seed });
    const a = await ask(42), b = await ask(42), c = await ask(7);
    expect(a.choices.map((x) => x.index)).toEqual([0, 1, 2]);
    expect(b.choices.map((x) => x.message.content)).toEqual(a.choices.map((x) => x.message.content));
    expect(c.choices.map((x) => x.message.content)).not.toEqual(a.choices.map((x) => x.message.content));
    expect(new Set(a.choices.map((x) => x.message.content)).size).toBeGreaterThan(1);
    expect(a.usage!.completion_tokens).toBe(24);
  });

  test("streamed n = 2: each choice opens with the role and ends with its finish_reason", async () => {
    const body = { model: MODEL_NAME, messages, max_tokens: 6, temperature: HOT, n: 2, seed: 11 };
    const full = await s.client.chat.completions.create(body);
    const stream = await s.client.chat.completions.create({ ...body, stream: true });
    const text = ["", ""];
    const roles = [0, 0];
    const finishes: (string | null)[] = [null, null];
    for await (const c of stream) {
      for (const ch of c.choices) {
        if (ch.delta.role === "assistant") roles[ch.index]++;
        text[ch.index] += ch.delta.content ?? "";
        finishes[ch.index] = ch.finish_reason ?? finishes[ch.index];
      }
    }
    expect(roles).toEqual([1, 1]);
    expect(finishes).toEqual(["length", "length"]);
    expect(text).toEqual(full.choices.map((c) => c.message.content!));
  });

  test("logprobs with top_logprobs, in the chat format", async () => {
    const r = await s.client.chat.completions.create({ model: MODEL_NAME, messages, max_tokens: 6, temperature: 0, logprobs: true, top_logprobs: 3 });
    const content = r.choices[0].logprobs!.content!;
    expect(content.length).toBe(6);
    for (const e of content) {
      expect(typeof e.token).toBe("string");
      expect(e.bytes).toEqual(Array.from(new TextEncoder().encode(e.token)));
      expect(e.top_logprobs.length).toBe(3);
      // Greedy picks the most likely token, so it heads its own top list.
      expect(e.logprob).toBeCloseTo(e.top_logprobs[0].logprob, 5);
      expect(e.top_logprobs[0].logprob).toBeGreaterThanOrEqual(e.top_logprobs[1].logprob);
      expect(e.logprob).toBeLessThanOrEqual(0);
    }
    const plain = await s.client.chat.completions.create({ model: MODEL_NAME, messages, max_tokens: 2 });
    expect(plain.choices[0].logprobs).toBeNull();
  });

  test("a stop string ends the text before it, with finish_reason stop and stop_reason set", async () => {
    const base = await s.client.chat.completions.create({ model: MODEL_NAME, messages, max_tokens: 24, temperature: 0, ...extra({ ignore_eos: true }) });
    const text = base.choices[0].message.content!;
    const stop = text.slice(Math.floor(text.length / 2), Math.floor(text.length / 2) + 3);
    const r = await s.client.chat.completions.create({ model: MODEL_NAME, messages, max_tokens: 24, temperature: 0, stop: [stop], ...extra({ ignore_eos: true }) });
    expect(r.choices[0].message.content).toBe(text.slice(0, text.indexOf(stop)));
    expect(r.choices[0].finish_reason).toBe("stop");
    expect((r.choices[0] as any).stop_reason).toBe(stop);
    const kept = await s.client.chat.completions.create({
      model: MODEL_NAME, messages, max_tokens: 24, temperature: 0, stop, ...extra({ ignore_eos: true, include_stop_str_in_output: true }),
    });
    expect(kept.choices[0].message.content).toBe(text.slice(0, text.indexOf(stop) + stop.length));
  });

  test("text content parts read like the same string; max_completion_tokens caps the output", async () => {
    const asString = await s.client.chat.completions.create({ model: MODEL_NAME, messages: [{ role: "user", content: "Hi there" }], max_completion_tokens: 5, temperature: 0 });
    const asParts = await s.client.chat.completions.create({
      model: MODEL_NAME, messages: [{ role: "user", content: [{ type: "text", text: "Hi there" }] }], max_completion_tokens: 5, temperature: 0,
    });
    expect(asParts.choices[0].message.content).toBe(asString.choices[0].message.content);
    expect(asParts.usage).toEqual(asString.usage);
    expect(asString.usage!.completion_tokens).toBeLessThanOrEqual(5);
  });

  test("X-Request-Id is echoed and names the response; without one an id is generated", async () => {
    const mine = await post(`${s.url}/v1/chat/completions`, { messages, max_tokens: 1 }, { "x-request-id": "req-abc-1" });
    expect(mine.headers.get("x-request-id")).toBe("req-abc-1");
    expect(mine.json.id).toBe("chatcmpl-req-abc-1");
    const generated = await post(`${s.url}/v1/chat/completions`, { messages, max_tokens: 1 });
    expect(generated.headers.get("x-request-id")).toMatch(/^[0-9a-f]{32}$/);
    expect(generated.json.id).toBe(`chatcmpl-${generated.headers.get("x-request-id")}`);
    const fromBody = await post(`${s.url}/v1/chat/completions`, { messages, max_tokens: 1, request_id: "body-id" });
    expect(fromBody.json.id).toBe("chatcmpl-body-id");
  });
});

describe("completions", () => {
  test("streaming and non-streaming give the same text at temperature 0", async () => {
    const full = await s.client.completions.create({ model: MODEL_NAME, prompt: "Once upon a time", max_tokens: 10, temperature: 0 });
    expect(full.object).toBe("text_completion");
    expect(full.id).toStartWith("cmpl-");
    const stream = await s.client.completions.create({
      model: MODEL_NAME, prompt: "Once upon a time", max_tokens: 10, temperature: 0, stream: true, stream_options: { include_usage: true },
    });
    let text = "";
    let usage = null;
    let finish = null;
    for await (const c of stream) {
      for (const ch of c.choices) { text += ch.text; finish = ch.finish_reason ?? finish; }
      if (c.usage) usage = c.usage;
    }
    expect(text).toBe(full.choices[0].text);
    expect(finish).toBe(full.choices[0].finish_reason);
    expect(usage).toEqual(full.usage!);
  });

  test("max_tokens defaults to 16", async () => {
    const r = await s.client.completions.create({ model: MODEL_NAME, prompt: "Hello", temperature: 0, ...extra({ ignore_eos: true }) });
    expect(r.usage!.completion_tokens).toBe(16);
  });

  test("prompts as a string list, a token-id list and a list of token-id lists; choices are indexed prompt-major", async () => {
    const ids = s.state.tokenizer.encode("Once upon a time");
    const byText = await s.client.completions.create({ model: MODEL_NAME, prompt: "Once upon a time", max_tokens: 5, temperature: 0 });
    const byIds = await s.client.completions.create({ model: MODEL_NAME, prompt: ids, max_tokens: 5, temperature: 0 });
    expect(byIds.choices[0].text).toBe(byText.choices[0].text);
    const batch = await s.client.completions.create({ model: MODEL_NAME, prompt: [ids, ids.slice(0, 2)], max_tokens: 5, temperature: 0, n: 2 });
    expect(batch.choices.map((c) => c.index).sort()).toEqual([0, 1, 2, 3]);
    const sorted = batch.choices.sort((a, b) => a.index - b.index);
    expect(sorted[0].text).toBe(byText.choices[0].text);
    expect(batch.usage!.prompt_tokens).toBe(ids.length + 2);
    const strings = await s.client.completions.create({ model: MODEL_NAME, prompt: ["Once upon a time", "The sky"], max_tokens: 5, temperature: 0 });
    expect(strings.choices.find((c) => c.index === 0)!.text).toBe(byText.choices[0].text);
    expect(strings.choices.length).toBe(2);
  });

  test("integer logprobs in the completions format, with echo", async () => {
    const r = await s.client.completions.create({ model: MODEL_NAME, prompt: "Once upon a time", max_tokens: 5, temperature: 0, logprobs: 2 });
    const lp = r.choices[0].logprobs!;
    expect(lp.tokens!.length).toBe(5);
    lp.tokens!.forEach((tok, i) => {
      const top = lp.top_logprobs![i]!;
      expect(top[tok]).toBeCloseTo(lp.token_logprobs![i]!, 5);
      expect(Object.keys(top).length).toBeGreaterThanOrEqual(2);
      expect(Object.keys(top).length).toBeLessThanOrEqual(3);
    });
    expect(lp.text_offset![0]).toBe(0);
    for (let i = 1; i < 5; i++) expect(lp.text_offset![i]).toBe(lp.text_offset![i - 1] + lp.tokens![i - 1].length);

    const echoed = await s.client.completions.create({ model: MODEL_NAME, prompt: "Once upon a time", max_tokens: 5, temperature: 0, logprobs: 1, echo: true });
    const promptLen = echoed.usage!.prompt_tokens;
    const e = echoed.choices[0];
    expect(e.text).toBe("Once upon a time" + r.choices[0].text);
    expect(e.logprobs!.tokens!.length).toBe(promptLen + 5);
    expect(e.logprobs!.token_logprobs![0]).toBeNull();
    expect(e.logprobs!.top_logprobs![0]).toBeNull();
    expect(e.logprobs!.token_logprobs!.slice(1).every((x) => typeof x === "number")).toBe(true);
    expect(e.logprobs!.token_logprobs!.slice(promptLen)).toEqual(lp.token_logprobs!.map((x) => expect.closeTo(x!, 5)) as any);
  });

  test("streamed logprobs add up to the non-streamed ones; prompt_logprobs score the prompt", async () => {
    const body = { model: MODEL_NAME, prompt: "Once upon a time", max_tokens: 6, temperature: 0, logprobs: 2 };
    const full = (await s.client.completions.create(body)).choices[0].logprobs!;
    const stream = await s.client.completions.create({ ...body, stream: true });
    const tokens: string[] = [];
    let sent = 0;
    for await (const c of stream) {
      for (const ch of c.choices) {
        tokens.push(...ch.logprobs!.tokens!);
        // As in vLLM, a streamed chunk's offsets start where the text sent so far ends.
        if (ch.logprobs!.tokens!.length > 0) expect(ch.logprobs!.text_offset![0]).toBe(sent);
        sent += ch.text.length;
      }
    }
    expect(tokens).toEqual(full.tokens!);

    const scored = await post(`${s.url}/v1/completions`, { ...body, prompt_logprobs: 1 });
    const ids = s.state.tokenizer.encode("Once upon a time");
    const pl = scored.json.choices[0].prompt_logprobs;
    expect(pl.length).toBe(ids.length);
    expect(pl[0]).toBeNull();
    ids.slice(1).forEach((id, i) => {
      const entry = pl[i + 1][String(id)];
      expect(entry.logprob).toBeLessThanOrEqual(0);
      expect(entry.rank).toBeGreaterThanOrEqual(1);
      expect(entry.decoded_token).toBe(s.state.tokenizer.decode([id]));
    });
  });

  test("seeded sampling is reproducible and a stop string cuts the text", async () => {
    const ask = (seed: number) => s.client.completions.create({ model: MODEL_NAME, prompt: "Hello", max_tokens: 10, temperature: HOT, seed });
    const [a, b, c] = [await ask(5), await ask(5), await ask(6)];
    expect(b.choices[0].text).toBe(a.choices[0].text);
    expect(c.choices[0].text).not.toBe(a.choices[0].text);
    const base = await s.client.completions.create({ model: MODEL_NAME, prompt: "Hello", max_tokens: 20, temperature: 0, ...extra({ ignore_eos: true }) });
    const text = base.choices[0].text;
    const stop = text.slice(8, 11);
    const cut = await s.client.completions.create({ model: MODEL_NAME, prompt: "Hello", max_tokens: 20, temperature: 0, stop: [stop, "never-there"], ...extra({ ignore_eos: true }) });
    expect(cut.choices[0].text).toBe(text.slice(0, text.indexOf(stop)));
    expect(cut.choices[0].finish_reason).toBe("stop");
  });
});

describe("models, tokenizer, health", () => {
  test("GET /v1/models lists the served model", async () => {
    const list = await s.client.models.list();
    expect(list.data.length).toBe(1);
    const m = list.data[0] as any;
    expect(m).toMatchObject({ id: MODEL_NAME, object: "model", owned_by: "vllm", root: s.state.modelPath, max_model_len: 512 });
    expect(typeof m.created).toBe("number");
  });

  test("/tokenize a prompt or messages, /detokenize back", async () => {
    const ids = s.state.tokenizer.encode("Hello world");
    const t = await post(`${s.url}/tokenize`, { model: MODEL_NAME, prompt: "Hello world" });
    expect(t.json).toEqual({ count: ids.length, max_model_len: 512, tokens: ids });
    const noSpecial = await post(`${s.url}/tokenize`, { prompt: "Hello world", add_special_tokens: false, return_token_strs: true });
    expect(noSpecial.json.tokens).toEqual(s.state.tokenizer.encode("Hello world", { addSpecialTokens: false }));
    expect(noSpecial.json.token_strs.length).toBe(noSpecial.json.count);
    const d = await post(`${s.url}/detokenize`, { model: MODEL_NAME, tokens: noSpecial.json.tokens });
    expect(d.json).toEqual({ prompt: "Hello world" });
    const chat = await post(`${s.url}/tokenize`, { model: MODEL_NAME, messages });
    const viaChat = await s.client.chat.completions.create({ model: MODEL_NAME, messages, max_tokens: 1 });
    expect(chat.json.count).toBe(viaChat.usage!.prompt_tokens);
    expect(chat.json.tokens[0]).toBe(s.state.tokenizer.bosTokenId);
  });

  test("/health, /ping, /version, /load, /docs, /openapi.json", async () => {
    const health = await fetch(`${s.url}/health`);
    expect(health.status).toBe(200);
    expect(await health.text()).toBe("");
    expect((await fetch(`${s.url}/ping`)).status).toBe(200);
    expect((await fetch(`${s.url}/ping`, { method: "POST" })).status).toBe(200);
    expect(await (await fetch(`${s.url}/version`)).json()).toEqual({ version: expect.any(String) });
    expect(await (await fetch(`${s.url}/load`)).json()).toEqual({ server_load: 0 });
    const docs = await fetch(`${s.url}/docs`);
    expect(docs.status).toBe(200);
    expect(docs.headers.get("content-type")).toContain("text/html");
    const spec = (await (await fetch(`${s.url}/openapi.json`)).json()) as any;
    for (const path of ["/v1/chat/completions", "/v1/completions", "/tokenize", "/detokenize"])
      expect(spec.paths[path].post.requestBody.content["application/json"].schema).toBeDefined();
    expect(spec.paths[`/v1/chat/completions`].post.requestBody.content["application/json"].schema.properties.messages).toBeDefined();
    for (const path of ["/v1/models", "/health", "/metrics", "/version"]) expect(spec.paths[path]).toBeDefined();
  });
});
