/** Each tool parser on sample outputs, whole and streamed in every kind of split. */
import { describe, expect, test } from "bun:test";
import { getToolParser, TOOL_PARSER_NAMES } from "../../src/tool_parsers/registry";
import { namedToolCallParser, requiredToolCallsParser } from "../../src/tool_parsers/tool_choice";
import { type ExtractedToolCalls, extractToolCalls, makeToolCallId, type ToolParser } from "../../src/tool_parsers/tool_parser";
import { chunkings, streamJoin } from "./stream_check";

interface Case {
  label: string;
  text: string;
  want: ExtractedToolCalls;
  /** A malformed call: only the complete output is checked (a stream cannot take back deltas it sent). */
  malformed?: boolean;
}

const call = (name: string, args: string) => ({ name, arguments: args });
const contentOnly = (text: string): ExtractedToolCalls => ({ content: text, toolCalls: [] });

const CASES: Record<string, Case[]> = {
  hermes: [
    { label: "plain text", text: "Hello, world!\n", want: contentOnly("Hello, world!\n") },
    { label: "angle brackets that are no marker", text: "a < b and <tool> or <tool_cal", want: contentOnly("a < b and <tool> or <tool_cal") },
    {
      label: "content then one call",
      text: 'Let me check.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "unit": "c"}}\n</tool_call>',
      want: { content: "Let me check.", toolCalls: [call("get_weather", '{"city": "Paris", "unit": "c"}')] },
    },
    {
      label: "two calls, markers and braces inside strings, arguments before name",
      text: '<tool_call>{"name": "echo", "arguments": {"text": "}</tool_call>{\\"x"}}</tool_call>\n<tool_call>{"arguments": {"n": [1, {"m": 2}]}, "name": "count"}</tool_call>',
      want: { content: null, toolCalls: [call("echo", '{"text": "}</tool_call>{\\"x"}'), call("count", '{"n": [1, {"m": 2}]}')] },
    },
    { label: "no arguments", text: '<tool_call>{"name": "now"}</tool_call>', want: { content: null, toolCalls: [call("now", "{}")] } },
    {
      label: "unicode and escapes",
      text: 'Ok <tool_call>{"name": "say", "arguments": {"msg": "héllo \\"q\\" 日本 \\u00e9"}}</tool_call> trailing',
      want: { content: "Ok", toolCalls: [call("say", '{"msg": "héllo \\"q\\" 日本 \\u00e9"}')] },
    },
    { label: "unterminated call", text: 'Sure <tool_call>{"name": "f", "arguments": {"a": 1', want: contentOnly('Sure <tool_call>{"name": "f", "arguments": {"a": 1'), malformed: true },
    { label: "call that is not JSON", text: "<tool_call>{name: f}</tool_call>", want: contentOnly("<tool_call>{name: f}</tool_call>"), malformed: true },
  ],
  llama3_json: [
    { label: "one call", text: '{"name": "get_weather", "parameters": {"city": "SF"}}', want: { content: null, toolCalls: [call("get_weather", '{"city": "SF"}')] } },
    {
      label: "python tag, two calls, arguments key",
      text: '<|python_tag|>{"name": "a", "parameters": {}}; {"name": "b", "arguments": {"x": [1, 2]}}',
      want: { content: null, toolCalls: [call("a", "{}"), call("b", '{"x": [1, 2]}')] },
    },
    { label: "semicolon inside a string", text: '  \n{"name": "f", "parameters": {"q": "x; y"}}', want: { content: null, toolCalls: [call("f", '{"q": "x; y"}')] } },
    { label: "prose mentioning JSON", text: 'The answer is {"name": "f"}', want: contentOnly('The answer is {"name": "f"}') },
    { label: "object without a name", text: '{"not_a_call": 1}', want: contentOnly('{"not_a_call": 1}'), malformed: true },
    { label: "cut off", text: '{"name": "f", "parameters": ', want: contentOnly('{"name": "f", "parameters": '), malformed: true },
  ],
  mistral: [
    { label: "JSON array", text: '[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Paris"}}]', want: { content: null, toolCalls: [call("get_weather", '{"city": "Paris"}')] } },
    {
      label: "content, then two calls",
      text: 'Checking.[TOOL_CALLS] [{"name": "a", "arguments": {}}, {"name": "b", "arguments": {"k": "v]"}}]',
      want: { content: "Checking.", toolCalls: [call("a", "{}"), call("b", '{"k": "v]"}')] },
    },
    {
      label: "v11 name[ARGS]{...} calls",
      text: '[TOOL_CALLS]get_weather[ARGS]{"city": "Paris"}[TOOL_CALLS]get_time[ARGS]{}',
      want: { content: null, toolCalls: [call("get_weather", '{"city": "Paris"}'), call("get_time", "{}")] },
    },
    { label: "name{...} without [ARGS]", text: '[TOOL_CALLS]search{"q": "[ARGS] in text"}', want: { content: null, toolCalls: [call("search", '{"q": "[ARGS] in text"}')] } },
    { label: "no marker", text: "Mention of [TOOL without a marker", want: contentOnly("Mention of [TOOL without a marker") },
    { label: "broken array", text: '[TOOL_CALLS][{"name": "a", "arguments": {}} {"name": "b"}]', want: contentOnly('[TOOL_CALLS][{"name": "a", "arguments": {}} {"name": "b"}]'), malformed: true },
  ],
  pythonic: [
    { label: "one call", text: '[get_weather(city="Paris", days=3)]', want: { content: null, toolCalls: [call("get_weather", '{"city": "Paris", "days": 3}')] } },
    {
      label: "three calls with every literal kind",
      text: "[a(), b(x=[1, 2.5, -3e2], y={'k': None, 1: True}, z=(1,)), c(s='it\\'s \\u00e9\\n')]",
      want: { content: null, toolCalls: [call("a", "{}"), call("b", '{"x": [1, 2.5, -3e2], "y": {"k": null, "1": true}, "z": [1]}'), call("c", '{"s": "it\'s é\\n"}')] },
    },
    { label: "python tags", text: '<|python_start|>[f(q="x")]<|python_end|>', want: { content: null, toolCalls: [call("f", '{"q": "x"}')] } },
    { label: "prose", text: "I will call [f(x=1)]", want: contentOnly("I will call [f(x=1)]") },
    { label: "positional arguments", text: "[f(1, 2)]", want: contentOnly("[f(1, 2)]"), malformed: true },
    { label: "unterminated string", text: '[f(x="abc', want: contentOnly('[f(x="abc'), malformed: true },
  ],
};

const EXTRA: [ToolParser, Case[]][] = [
  [requiredToolCallsParser, [
    {
      label: "required: array of calls",
      text: '[{"name": "get_weather", "parameters": {"city": "Paris"}}, {"name": "get_time", "parameters": {}}]',
      want: { content: null, toolCalls: [call("get_weather", '{"city": "Paris"}'), call("get_time", "{}")] },
    },
  ]],
  [namedToolCallParser("get_weather"), [
    { label: "named: the output is the arguments", text: '{"city": "Paris", "days": 2}', want: { content: null, toolCalls: [call("get_weather", '{"city": "Paris", "days": 2}')] } },
  ]],
];

const ALL: [ToolParser, Case[]][] = [...Object.entries(CASES).map(([name, cases]) => [getToolParser(name), cases] as [ToolParser, Case[]]), ...EXTRA];

for (const [parser, cases] of ALL) {
  describe(parser.name, () => {
    for (const c of cases) {
      test(`${c.label}: whole output`, () => {
        expect(extractToolCalls(parser, c.text)).toEqual(c.want);
      });
      if (c.malformed) continue;
      test(`${c.label}: streamed in every split gives the same calls`, () => {
        for (const chunks of chunkings(c.text)) {
          const joined = streamJoin(parser, chunks);
          expect({ content: joined.content, toolCalls: joined.toolCalls }).toEqual(c.want);
          expect(joined.ids).toEqual(c.want.toolCalls.map((_, i) => `call_${i}`));
        }
      });
    }
  });
}

test("char-by-char streaming sends content early and arguments in pieces", () => {
  const text = 'Let me check the weather for you.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>';
  const joined = streamJoin(getToolParser("hermes"), [...text]);
  expect(joined.earlyContent).toBe("Let me check the weather for you.");
  expect(joined.argDeltas[0]).toBeGreaterThan(5);
  const py = streamJoin(getToolParser("pythonic"), [...'[f(a=1, b="two", c=[3])]']);
  expect(py.argDeltas[0]).toBe(4); // "{", then one piece per argument, then "}"
});

test("registry and ids", () => {
  expect(TOOL_PARSER_NAMES).toEqual(["hermes", "llama3_json", "mistral", "pythonic"]);
  expect(() => getToolParser("nope")).toThrow(/known: hermes, llama3_json, mistral, pythonic/);
  expect(getToolParser("mistral").needsSpecialTokens).toBe(true);
  expect(makeToolCallId()).toMatch(/^chatcmpl-tool-[0-9a-f]{32}$/);
  expect(makeToolCallId()).not.toBe(makeToolCallId());
});
