/**
 * Tool calling through the real server: tool_choice "required" and a named function are enforced by the
 * grammar, so even the tiny random-weight model always gives valid calls; "auto" needs the serve flags
 * and reads calls with the configured parser; tool history renders through the chat template.
 */
import { afterAll, describe, expect, test } from "bun:test";
import Ajv2020 from "ajv/dist/2020";
import type OpenAI from "openai";
import { ArgError } from "../../src/cli/arg_parser";
import { runServe, serveHelp } from "../../src/cli/serve";
import type { CompletionOutput } from "../../src/engine/outputs";
import { ChoiceToolStream, choiceMessage } from "../../src/server/chat_completion/tool_output";
import type { ToolMode } from "../../src/server/chat_completion/tools";
import { applyChatTemplate } from "../../src/tokenizer/chat_template";
import { hermesToolParser } from "../../src/tool_parsers/hermes";
import { MODEL_NAME, parseSse, post, startTestServer } from "./support";

// "auto" is enabled (hermes parser) on a llama3 server, whose template ignores tools; qwen3's template renders
// tools and tool messages. (The random qwen3 model rarely closes a "required" list by itself.)
const auto = startTestServer({ model: "llama3", config: { enableAutoToolChoice: true, toolCallParser: "hermes" } });
const plain = startTestServer({ model: "qwen3" });
afterAll(async () => {
  for (const s of [auto, plain]) {
    await s.close();
    s.state.llm.engine.structuredOutputManager?.close();
  }
});

const ajv = new Ajv2020({ strict: false, allErrors: true });
const extra = (o: Record<string, unknown>) => o as {};
const messages = [{ role: "user" as const, content: "What is the weather in Paris?" }];
const WEATHER = {
  type: "object",
  properties: { city: { type: "string", enum: ["Paris", "Rome", "Oslo"] }, days: { type: "integer", minimum: 1, maximum: 7 } },
  required: ["city", "days"],
};
const TIME = { type: "object", properties: { tz: { type: "string", pattern: "^[A-Z]{3}$" } }, required: ["tz"] };
const tools: OpenAI.ChatCompletionTool[] = [
  { type: "function", function: { name: "get_weather", description: "Weather forecast", parameters: WEATHER } },
  { type: "function", function: { name: "get_time", parameters: TIME } },
];
const validators: Record<string, ReturnType<typeof ajv.compile>> = { get_weather: ajv.compile(WEATHER), get_time: ajv.compile(TIME) };
// Compact JSON: with any whitespace allowed, random weights mostly pick whitespace until max_tokens.
const COMPACT = extra({ structured_outputs: { disable_any_whitespace: true } });
const chat = (s: typeof auto, body: Record<string, unknown>) => post(`${s.url}/v1/chat/completions`, { model: MODEL_NAME, messages, max_tokens: 100, ...body });

interface Call { name: string; arguments: string }

function expectValidCalls(calls: Call[], names = Object.keys(validators)): void {
  expect(calls.length).toBeGreaterThanOrEqual(1);
  for (const c of calls) {
    expect(names).toContain(c.name);
    expect(validators[c.name](JSON.parse(c.arguments))).toBe(true);
  }
}

/** Joins streamed tool-call deltas by index; checks each call's first delta carries id, type and name. */
function reassemble(chunks: OpenAI.ChatCompletionChunk[], choice = 0): { calls: Call[]; content: string; finish: string | null } {
  const calls: Call[] = [];
  let content = "";
  let finish: string | null = null;
  for (const c of chunks) {
    for (const ch of c.choices.filter((x) => x.index === choice)) {
      content += ch.delta.content ?? "";
      finish = ch.finish_reason ?? finish;
      for (const d of ch.delta.tool_calls ?? []) {
        if (calls[d.index] === undefined) {
          expect(d.id).toStartWith("chatcmpl-tool-");
          expect(d.type).toBe("function");
          calls[d.index] = { name: d.function!.name!, arguments: "" };
        } else expect(d.id).toBeUndefined();
        calls[d.index].arguments += d.function?.arguments ?? "";
      }
    }
  }
  return { calls, content, finish };
}

async function collect(stream: AsyncIterable<OpenAI.ChatCompletionChunk>): Promise<OpenAI.ChatCompletionChunk[]> {
  const chunks = [];
  for await (const c of stream) chunks.push(c);
  return chunks;
}

describe("tool_choice required and named (enforced by the grammar)", () => {
  test("required: every sample is a list of valid calls, streamed or not", async () => {
    const body = { model: MODEL_NAME, messages, tools, tool_choice: "required" as const, max_tokens: 150, temperature: 1, n: 3, seed: 7, ...COMPACT };
    const full = await auto.client.chat.completions.create(body);
    const chunks = await collect(await auto.client.chat.completions.create({ ...body, stream: true }));
    for (const choice of full.choices) {
      expect(choice.finish_reason).toBe("tool_calls");
      expect(choice.message.content).toBeNull();
      const calls = choice.message.tool_calls!.map((c) => {
        expect(c.type).toBe("function");
        expect(c.id).toStartWith("chatcmpl-tool-");
        return (c as OpenAI.ChatCompletionMessageFunctionToolCall).function;
      });
      expectValidCalls(calls);
      const streamed = reassemble(chunks, choice.index);
      expect(streamed.calls).toEqual(calls);
      expect(streamed.finish).toBe("tool_calls");
    }
  });

  test("a named function: the output is a valid call to it, streamed or not", async () => {
    const body = { model: MODEL_NAME, messages, tools, tool_choice: { type: "function" as const, function: { name: "get_time" } }, temperature: 1, seed: 3, ...COMPACT };
    const full = await plain.client.chat.completions.create(body);
    const call = (full.choices[0].message.tool_calls![0] as OpenAI.ChatCompletionMessageFunctionToolCall).function;
    expect(full.choices[0].message.tool_calls!.length).toBe(1);
    expectValidCalls([call], ["get_time"]);
    expect(full.choices[0].finish_reason).toBe("tool_calls");
    const streamed = reassemble(await collect(await plain.client.chat.completions.create({ ...body, stream: true })));
    expect(streamed.calls).toEqual([call]);
    expect(streamed.content).toBe("");
    expect(streamed.finish).toBe("tool_calls");
  });

  test("several seeds of each kind all give valid calls", async () => {
    const asks = [1, 2, 3, 4].flatMap((seed) => [
      chat(auto, { tools, tool_choice: "required", temperature: 1, seed, max_tokens: 150, ...COMPACT }),
      chat(plain, { tools, tool_choice: { type: "function", function: { name: "get_weather" } }, temperature: 1, seed, ...COMPACT }),
    ]);
    for (const r of await Promise.all(asks)) {
      expect(r.status).toBe(200);
      expectValidCalls(r.json.choices[0].message.tool_calls.map((c: any) => c.function));
    }
  });

  test("parallel_tool_calls: false gives exactly one call", async () => {
    const r = await chat(plain, { tools, tool_choice: "required", parallel_tool_calls: false, temperature: 1, seed: 12, n: 3, max_tokens: 150, ...COMPACT });
    for (const c of r.json.choices) expect(c.message.tool_calls.length).toBe(1);
  });
});

describe("tool_choice auto", () => {
  test("without --enable-auto-tool-choice and --tool-call-parser it is a 400 naming both", async () => {
    for (const body of [{ tools, tool_choice: "auto" }, { tools }]) {
      const r = await chat(plain, body);
      expect(r.status).toBe(400);
      expect(r.json.error.message).toContain("--enable-auto-tool-choice");
      expect(r.json.error.message).toContain("--tool-call-parser");
    }
  });

  // The random model never writes a call by itself; a regex makes it write a hermes call, which the
  // parser must then turn into tool_calls.
  const HERMES = '<tool_call>\\n\\{"name": "get_weather", "arguments": \\{"city": "(Paris|Rome)", "days": [1-7]\\}\\}\\n</tool_call>';

  test("with the hermes parser, a <tool_call> in the output becomes tool_calls, streamed or not", async () => {
    const body = { tools, tool_choice: "auto", structured_outputs: { regex: HERMES }, temperature: 1, seed: 5 };
    const full = await chat(auto, body);
    const choice = full.json.choices[0];
    expect(choice.finish_reason).toBe("tool_calls");
    expect(choice.message.content).toBeNull();
    expect(choice.message.tool_calls.length).toBe(1);
    expectValidCalls(choice.message.tool_calls.map((c: any) => c.function), ["get_weather"]);
    const chunks = parseSse((await chat(auto, { ...body, stream: true })).text).slice(0, -1) as OpenAI.ChatCompletionChunk[];
    const streamed = reassemble(chunks);
    expect(streamed.calls).toEqual(choice.message.tool_calls.map((c: any) => c.function));
    expect(streamed.content).toBe("");
    expect(streamed.finish).toBe("tool_calls");
  });

  test("with the hermes parser, output without a call is plain content", async () => {
    const r = await chat(auto, { tools, max_tokens: 8, temperature: 0 });
    const choice = r.json.choices[0];
    expect(choice.message.tool_calls).toEqual([]);
    expect(typeof choice.message.content).toBe("string");
    expect(choice.finish_reason).toBe("length");
  });
});

describe("tool requests that are refused", () => {
  test("an unknown function in a named tool_choice is a 400, and the server stays healthy", async () => {
    const r = await chat(plain, { tools, tool_choice: { type: "function", function: { name: "launch_rocket" } } });
    expect(r.status).toBe(400);
    expect(r.json.error.param).toBe("tool_choice");
    expect(r.json.error.message).toContain("launch_rocket");
    expect((await fetch(`${plain.url}/health`)).status).toBe(200);
  });

  test("bad tool_choice values, tool_choice without tools, and a tool constraint plus another constraint", async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ tools, tool_choice: "sometimes" }, "tool_choice"],
      [{ tools, tool_choice: { type: "function", function: {} } }, "tool_choice.function"],
      [{ tool_choice: "required" }, "tool_choice"],
      [{ tools: [{ type: "function", function: { name: "f", parameters: "x" } }], tool_choice: "none" }, "tools.0.function.parameters"],
      [{ tools, tool_choice: "required", guided_regex: "a" }, "tool_choice"],
    ];
    for (const [body, param] of cases) {
      const r = await chat(plain, body);
      expect([r.status, r.json.error.param]).toEqual([400, param]);
    }
  });
});

describe("tools in the prompt and tool history", () => {
  const toolDefs = tools.map((t) => ({ type: "function", function: (t as OpenAI.ChatCompletionFunctionTool).function }));
  const render = (msgs: any[], withTools: boolean) => plain.state.tokenizer.encode(
    applyChatTemplate(plain.state.tokenizer, msgs, { addGenerationPrompt: true, tools: withTools ? toolDefs : undefined }), { addSpecialTokens: false });

  test('tool_choice "none" still renders the tools, as vLLM does, and answers with content', async () => {
    const r = await chat(plain, { tools, tool_choice: "none", max_tokens: 4 });
    expect(r.status).toBe(200);
    expect(r.json.choices[0].message.tool_calls).toEqual([]);
    expect(r.json.usage.prompt_tokens).toBe(render(messages, true).length);
    expect(render(messages, true).length).toBeGreaterThan(render(messages, false).length);
  });

  test("assistant tool_calls (arguments as JSON text) and tool results render through the template", async () => {
    const history = [
      ...messages,
      { role: "assistant", content: null, tool_calls: [{ id: "call_1", type: "function", function: { name: "get_weather", arguments: '{"city": "Paris", "days": 2}' } }] },
      { role: "tool", tool_call_id: "call_1", content: "sunny, 24 C" },
    ];
    const r = await chat(plain, { messages: history, tools, tool_choice: "none", max_tokens: 4 });
    expect(r.status).toBe(200);
    // What the template makes of the same history with the arguments as an object, as vLLM passes them.
    const expected = render([
      ...messages,
      { role: "assistant", content: "", tool_calls: [{ id: "call_1", type: "function", function: { name: "get_weather", arguments: { city: "Paris", days: 2 } } }] },
      { role: "tool", tool_call_id: "call_1", content: "sunny, 24 C" },
    ], true);
    expect(r.json.usage.prompt_tokens).toBe(expected.length);
    const text = plain.state.tokenizer.decode(expected, { skipSpecialTokens: false });
    expect(text).toContain('<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}\n</tool_call>');
    expect(text).toContain("<tool_response>\nsunny, 24 C\n</tool_response>");
  });

  test("tool call arguments that are not JSON are a 400 naming the field", async () => {
    const history = [...messages, { role: "assistant", tool_calls: [{ id: "c", type: "function", function: { name: "get_weather", arguments: "{city: Paris" } }] }];
    const r = await chat(plain, { messages: history });
    expect([r.status, r.json.error.param]).toEqual([400, "messages.1.tool_calls.0.function.arguments"]);
  });
});

describe("serve flags", () => {
  test("--enable-auto-tool-choice needs --tool-call-parser, whose value must be a known parser", () => {
    expect(() => runServe(["--enable-auto-tool-choice"])).toThrow(/--enable-auto-tool-choice: requires --tool-call-parser/);
    expect(() => runServe(["--tool-call-parser", "nope"])).toThrow(ArgError);
    expect(() => runServe(["--tool-call-parser", "nope"])).toThrow(/--tool-call-parser: invalid choice: 'nope' \(choose from hermes, llama3_json, mistral, pythonic\)/);
    expect(serveHelp()).toContain("--enable-auto-tool-choice");
    expect(serveHelp()).toContain("--tool-call-parser");
  });
});

// Unit tests of the serving layer's tool output with fake engine outputs (no model).
describe("tool output shaping (fake outputs)", () => {
  const out = (text: string, finishReason: string | null = "stop"): CompletionOutput =>
    ({ index: 0, text, textDelta: text, tokenIds: [], newTokenIds: [], logprobs: null, newLogprobs: null, finishReason, stopReason: null } as unknown as CompletionOutput);
  const mode = (parallel: boolean): ToolMode => ({ tools: null, parser: hermesToolParser, schema: null, parallel });
  const TWO = 'Sure.\n<tool_call>\n{"name": "a", "arguments": {"x": 1}}\n</tool_call>\n<tool_call>\n{"name": "b", "arguments": {}}\n</tool_call>';

  test("calls, leftover content and finish_reason; parallel_tool_calls false keeps the first call", () => {
    const m = choiceMessage(mode(true), out(TWO));
    expect(m.content).toBe("Sure.");
    expect(m.toolCalls.map((c) => c.function)).toEqual([{ name: "a", arguments: '{"x": 1}' }, { name: "b", arguments: "{}" }]);
    expect(m.finishReason).toBe("tool_calls");
    expect(choiceMessage(mode(false), out(TWO)).toolCalls.map((c) => c.function.name)).toEqual(["a"]);
    expect(choiceMessage(mode(true), out(TWO, "length")).finishReason).toBe("length");
    expect(choiceMessage(mode(true), out("no calls here"))).toEqual({ content: "no calls here", toolCalls: [], finishReason: "stop" });
  });

  test("streamed deltas, split anywhere, join into the same calls; the final step flushes", () => {
    for (const size of [1, 3, 7, 1000]) {
      for (const parallel of [true, false]) {
        const stream = new ChoiceToolStream(hermesToolParser, parallel);
        const pieces = TWO.match(new RegExp(`[\\s\\S]{1,${size}}`, "g"))!;
        const deltas = pieces.map((p, i) => stream.step(p, i === pieces.length - 1));
        const content = deltas.map((d) => d.content ?? "").join("");
        const calls: Call[] = [];
        for (const d of deltas.flatMap((x) => x.toolCalls)) {
          calls[d.index] ??= { name: d.function.name!, arguments: "" };
          calls[d.index].arguments += d.function.arguments ?? "";
        }
        expect(content).toBe("Sure.");
        expect(calls.map((c) => c.name)).toEqual(parallel ? ["a", "b"] : ["a"]);
        expect(calls[0].arguments).toBe('{"x": 1}');
        expect(stream.finishReason("stop")).toBe("tool_calls");
      }
    }
  });
});
