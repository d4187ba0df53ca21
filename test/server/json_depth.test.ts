/**
 * Issue 9, item 8: JSON nested 100k levels deep is a 400 at the edge, wherever it hides: the body itself,
 * tool_choice, a response_format schema, chat_template_kwargs, a schema sent as JSON text, or tool-call
 * arguments. (Before: a 500 "Maximum call stack size exceeded" from the grammar and tool_choice code.)
 */
import { afterAll, describe, expect, test } from "bun:test";
import { jsonDepth, MAX_JSON_DEPTH } from "../../src/server/json_depth";
import { post, startTestServer } from "./support";

const s = startTestServer();
afterAll(() => s.close());

const DEPTH = 100_000;
const deepArray = "[".repeat(DEPTH) + "]".repeat(DEPTH);
const deepObject = '{"a":'.repeat(DEPTH) + "1" + "}".repeat(DEPTH);
const chat = (extra: string) => `{"messages":[{"role":"user","content":"Hi"}],"max_tokens":1,${extra}}`;

describe("deeply nested JSON", () => {
  test("in the body, tool_choice, response_format, chat_template_kwargs or tools: a 400 naming the nesting", async () => {
    const bodies = [
      deepArray,
      chat(`"tool_choice":${deepObject}`),
      chat(`"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":${deepObject}}}`),
      chat(`"chat_template_kwargs":${deepObject}`),
      chat(`"tools":[{"type":"function","function":{"name":"f","parameters":${deepObject}}}]`),
      `{"prompt":"Hi","max_tokens":1,"guided_json":${deepObject}}`,
    ];
    for (const body of bodies) {
      const url = body.includes('"prompt"') ? `${s.url}/v1/completions` : `${s.url}/v1/chat/completions`;
      const r = await post(url, body);
      expect({ status: r.status, message: r.json?.error?.message }).toEqual({ status: 400, message: `the request body nests deeper than ${MAX_JSON_DEPTH} levels of objects and arrays` });
    }
    const t = await post(`${s.url}/tokenize`, `{"messages":[{"role":"user","content":"x"}],"chat_template_kwargs":${deepObject}}`);
    expect(t.status).toBe(400);
  });

  test("hidden in strings: a JSON-text schema and tool-call arguments are bounded too", async () => {
    const schemaText = JSON.stringify(deepObject);
    for (const field of ["guided_json", "structured_outputs"]) {
      const value = field === "guided_json" ? schemaText : `{"json":${schemaText}}`;
      const r = await post(`${s.url}/v1/completions`, `{"prompt":"Hi","max_tokens":1,"${field}":${value}}`);
      expect(r.status).toBe(400);
      expect(r.json.error.message).toContain(`nests deeper than ${MAX_JSON_DEPTH} levels`);
    }
    const messages = [
      { role: "user", content: "Hi" },
      { role: "assistant", content: null, tool_calls: [{ id: "c1", type: "function", function: { name: "f", arguments: deepObject } }] },
      { role: "tool", tool_call_id: "c1", content: "ok" },
    ];
    const r = await post(`${s.url}/v1/chat/completions`, { messages, max_tokens: 1 });
    expect(r.status).toBe(400);
    expect(r.json.error.param).toBe("messages.1.tool_calls.0.function.arguments");
    expect(r.json.error.message).toContain(`nests deeper than ${MAX_JSON_DEPTH} levels`);
  });

  test("nesting up to the bound is fine, and strings do not count", async () => {
    let schema: Record<string, unknown> = { type: "string" };
    for (let i = 0; i < 20; i++) schema = { type: "object", properties: { a: schema }, required: ["a"] };
    const r = await post(`${s.url}/v1/completions`, { prompt: "Hi", max_tokens: 2, guided_json: schema, ignore_eos: true });
    expect(r.status).toBe(200);
    expect(jsonDepth('{"a":"[[[[{{{{","b":[1,[2]],"c":"\\"]"}')).toBe(3);
    expect(jsonDepth("[".repeat(MAX_JSON_DEPTH) + "]".repeat(MAX_JSON_DEPTH))).toBe(MAX_JSON_DEPTH);
    expect(jsonDepth("42")).toBe(0);
    const ok = await post(`${s.url}/v1/completions`, { prompt: "[[[[{{{{ not json", max_tokens: 1 });
    expect(ok.status).toBe(200);
  });
});
