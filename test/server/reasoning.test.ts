/**
 * --reasoning-parser through the real server on the tiny Qwen3 model (whose tokenizer has <think> and
 * </think>). Its random weights think nothing, so a structured-output constraint forces the text; the parser
 * must split it in the message, in the stream, and ahead of the tool parser.
 */
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { MODEL_NAME, parseSse, post, startTestServer } from "./support";

// Each new constraint is compiled once before its first request.
setDefaultTimeout(60_000);

const s = startTestServer({ model: "qwen3", config: { reasoningParser: "deepseek_r1", enableAutoToolChoice: true, toolCallParser: "hermes" } });
const q = startTestServer({ model: "qwen3", config: { reasoningParser: "qwen3" } });
const none = startTestServer({ model: "qwen3" });
afterAll(async () => {
  for (const x of [s, q, none]) {
    await x.close();
    x.state.llm.engine.structuredOutputManager?.close();
  }
});

const messages = [{ role: "user", content: "Think, then answer." }];
const chat = (url: string, body: Record<string, unknown>) => post(`${url}/v1/chat/completions`, { model: MODEL_NAME, messages, max_tokens: 40, seed: 1, ...body });
const forced = (regex: string) => ({ structured_outputs: { regex } });

/** The stream's deltas joined per field, and how many chunks carried each. */
async function streamed(url: string, body: Record<string, unknown>) {
  const r = await chat(url, { ...body, stream: true });
  expect(r.status).toBe(200);
  const events = parseSse(r.text);
  expect(events.at(-1)).toBe("[DONE]");
  const deltas = (events.slice(0, -1) as any[]).map((e) => e.choices[0].delta);
  const joined = (k: string) => (deltas.some((d) => typeof d[k] === "string") ? deltas.map((d) => d[k] ?? "").join("") : null);
  // Reasoning and answer never share a token's delta unless the tag sits between them.
  return { reasoning: joined("reasoning"), reasoningContent: joined("reasoning_content"), content: joined("content"), deltas };
}

describe("deepseek_r1", () => {
  test("the think block becomes reasoning and reasoning_content, the rest content, streamed or not", async () => {
    const body = forced("<think>abc</think>xyz");
    const r = await chat(s.url, body);
    expect(r.status).toBe(200);
    const m = r.json.choices[0].message;
    expect(m).toMatchObject({ role: "assistant", reasoning: "abc", reasoning_content: "abc", content: "xyz", tool_calls: [] });
    expect(r.json.choices[0].finish_reason).toBe("stop");
    const st = await streamed(s.url, body);
    expect(st).toMatchObject({ reasoning: "abc", reasoningContent: "abc", content: "xyz" });
    // While inside the block the deltas carry reasoning only; after it, content only.
    const firstContent = st.deltas.findIndex((d) => d.content);
    expect(st.deltas.slice(firstContent + 1).every((d) => d.reasoning === undefined)).toBe(true);
    expect(st.deltas.slice(1, firstContent).every((d) => !d.content)).toBe(true);
  });

  test("without the start tag everything before </think> is reasoning; without the end tag it is all reasoning", async () => {
    const noStart = await chat(s.url, forced("ab c</think>done"));
    expect(noStart.json.choices[0].message).toMatchObject({ reasoning_content: "ab c", content: "done" });
    expect(await streamed(s.url, forced("ab c</think>done"))).toMatchObject({ reasoning: "ab c", content: "done" });
    const cut = await chat(s.url, { ...forced("<think>(ab)+"), max_tokens: 6 });
    expect(cut.json.choices[0].finish_reason).toBe("length");
    const m = cut.json.choices[0].message;
    expect(m.content).toBeNull();
    expect(m.reasoning_content).toMatch(/^(ab)*a?$/);
    expect(m.reasoning_content.length).toBeGreaterThan(0);
    const st = await streamed(s.url, { ...forced("<think>(ab)+"), max_tokens: 6 });
    expect(st.content === null || st.content === "").toBe(true);
    expect(st.reasoning).toBe(m.reasoning_content);
  });

  test("include_reasoning false drops the reasoning but keeps it out of content", async () => {
    const r = await chat(s.url, { ...forced("<think>abc</think>xyz"), include_reasoning: false });
    expect(r.json.choices[0].message).toMatchObject({ reasoning: null, reasoning_content: null, content: "xyz" });
    const st = await streamed(s.url, { ...forced("<think>abc</think>xyz"), include_reasoning: false });
    expect(st).toMatchObject({ reasoning: null, content: "xyz" });
  });

  test("tool calls are read from the answer only, after the think block", async () => {
    const tools = [{ type: "function", function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } } }];
    const call = '<tool_call>\\{"name": "get_weather", "arguments": \\{"city": "Oslo"\\}\\}</tool_call>';
    const body = { ...forced(`<think>I should call it</think>${call}`), tools, tool_choice: "auto", max_tokens: 60 };
    const r = await chat(s.url, body);
    expect(r.status).toBe(200);
    const c = r.json.choices[0];
    expect(c.message.reasoning_content).toBe("I should call it");
    expect(c.message.tool_calls.map((t: any) => [t.function.name, JSON.parse(t.function.arguments)])).toEqual([["get_weather", { city: "Oslo" }]]);
    expect(c.finish_reason).toBe("tool_calls");
    const st = await streamed(s.url, body);
    expect(st.reasoning).toBe("I should call it");
    const args = st.deltas.flatMap((d) => d.tool_calls ?? []).map((t: any) => t.function.arguments ?? "").join("");
    expect(JSON.parse(args)).toEqual({ city: "Oslo" });
  });
});

describe("qwen3", () => {
  test("splits the block as deepseek_r1 does", async () => {
    const r = await chat(q.url, forced("<think>\nhm\n</think>\n\nok"));
    expect(r.json.choices[0].message).toMatchObject({ reasoning_content: "\nhm\n", content: "\n\nok" });
    expect(await streamed(q.url, forced("<think>\nhm\n</think>\n\nok"))).toMatchObject({ reasoning: "\nhm\n", content: "\n\nok" });
  });

  test("enable_thinking false: the template closes the block in the prompt and the output is all content", async () => {
    const body = { ...forced("abc</think>xyz"), chat_template_kwargs: { enable_thinking: false } };
    const r = await chat(q.url, body);
    expect(r.json.choices[0].message).toMatchObject({ reasoning_content: null, content: "abc</think>xyz" });
    expect(await streamed(q.url, body)).toMatchObject({ reasoning: null, content: "abc</think>xyz" });
    // deepseek_r1 has no switch of its own, but sees the same closed block in the prompt.
    const r1 = await chat(s.url, body);
    expect(r1.json.choices[0].message).toMatchObject({ reasoning_content: null, content: "abc</think>xyz" });
  });
});

test("without --reasoning-parser the tags stay in content and the message has no reasoning fields", async () => {
  const r = await chat(none.url, forced("<think>abc</think>xyz"));
  expect(r.json.choices[0].message.content).toBe("<think>abc</think>xyz");
  expect("reasoning_content" in r.json.choices[0].message).toBe(false);
});
