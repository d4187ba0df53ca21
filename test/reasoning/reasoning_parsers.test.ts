/**
 * deepseek_r1 and qwen3 on the served tokenizer's think tags: the whole-output split, the stream of deltas
 * (tags whole in one delta as the tokenizer makes them, or split at every character), and the prompt and
 * enable_thinking rules that make an output all answer.
 */
import { describe, expect, test } from "bun:test";
import type { ReasoningSplit, RequestReasoning } from "../../src/reasoning/reasoning_parser";
import { createReasoningParser, REASONING_PARSER_NAMES } from "../../src/reasoning/registry";
import { Tokenizer } from "../../src/tokenizer/tokenizer";
import { tinyModelDir } from "../support/tiny_models";

const qwenTokenizer = Tokenizer.fromDir(tinyModelDir("qwen3"));
const START = qwenTokenizer.tokenToId("<think>")!;
const END = qwenTokenizer.tokenToId("</think>")!;
const plain = { promptTokenIds: [1, 2, 3], chatTemplateKwargs: null };

/** Streams `deltas` and joins what comes out, checking no delta carries an empty string. */
function streamed(r: RequestReasoning, deltas: string[]): ReasoningSplit {
  const s = r.stream();
  let reasoning: string | null = null;
  let content: string | null = null;
  const add = (d: ReasoningSplit) => {
    expect(d.reasoning).not.toBe("");
    expect(d.content).not.toBe("");
    if (d.reasoning !== null) reasoning = (reasoning ?? "") + d.reasoning;
    if (d.content !== null) content = (content ?? "") + d.content;
  };
  for (const d of deltas) add(s.push(d));
  add(s.finish());
  return { reasoning, content };
}

// The deltas a detokenizer would send for the text's tokens.
const tokenDeltas = (text: string) => qwenTokenizer.encode(text, { addSpecialTokens: false }).map((id) => qwenTokenizer.decode([id]));

const CASES: [string, string, ReasoningSplit][] = [
  ["both tags", "<think>\nabc\n</think>\n\nxyz", { reasoning: "\nabc\n", content: "\n\nxyz" }],
  ["no start tag: up to </think> is reasoning", "abc</think>xyz", { reasoning: "abc", content: "xyz" }],
  ["no end tag: all reasoning", "<think>abc def", { reasoning: "abc def", content: null }],
  ["no tags at all: all reasoning", "just text", { reasoning: "just text", content: null }],
  ["nothing after </think>", "<think>abc</think>", { reasoning: "abc", content: null }],
  ["a second block stays in the answer", "<think>a</think>b<think>c</think>d", { reasoning: "a", content: "b<think>c</think>d" }],
  ["tag-like text that is not a tag", "<th</thin>x</think>y", { reasoning: "<th</thin>x", content: "y" }],
];

describe.each(REASONING_PARSER_NAMES)("%s", (name) => {
  const parser = createReasoningParser(name, qwenTokenizer);
  const r = parser.forRequest(plain);

  test.each(CASES)("%s: whole, token by token and character by character agree", (_, text, want) => {
    expect(r.extract(text)).toEqual(want);
    expect(streamed(r, tokenDeltas(text))).toEqual(want);
    expect(streamed(r, [...text])).toEqual(want);
  });

  test("the tags are single tokens of the Qwen3 tokenizer, so a delta holds a whole tag", () => {
    expect(qwenTokenizer.encode("<think>a</think>", { addSpecialTokens: false })).toEqual([START, ...qwenTokenizer.encode("a", { addSpecialTokens: false }), END]);
  });

  test("a prompt whose last think tag is </think> makes the output all answer", () => {
    const closed = parser.forRequest({ promptTokenIds: [START, 5, END, 6], chatTemplateKwargs: null });
    expect(closed.extract("abc</think>xyz")).toEqual({ reasoning: null, content: "abc</think>xyz" });
    expect(streamed(closed, ["abc", "</think>", "xyz"])).toEqual({ reasoning: null, content: "abc</think>xyz" });
    const open = parser.forRequest({ promptTokenIds: [END, 5, START, 6], chatTemplateKwargs: null });
    expect(open.extract("abc</think>xyz")).toEqual({ reasoning: "abc", content: "xyz" });
  });

  test("a stream holds back only what may still be a tag, and releases it at the end", () => {
    const s = r.stream();
    expect(s.push("ab</th")).toEqual({ reasoning: "ab", content: null });
    expect(s.push("x")).toEqual({ reasoning: "</thx", content: null });
    expect(s.push("<")).toEqual({ reasoning: null, content: null });
    expect(s.finish()).toEqual({ reasoning: "<", content: null });
  });
});

test("qwen3 with enable_thinking false reads the output as all answer; deepseek_r1 ignores the switch", () => {
  const off = { promptTokenIds: [1], chatTemplateKwargs: { enable_thinking: false } };
  const qwen = createReasoningParser("qwen3", qwenTokenizer).forRequest(off);
  expect(qwen.extract("<think>a</think>b")).toEqual({ reasoning: null, content: "<think>a</think>b" });
  expect(streamed(qwen, ["<think>", "a", "</think>", "b"])).toEqual({ reasoning: null, content: "<think>a</think>b" });
  const r1 = createReasoningParser("deepseek_r1", qwenTokenizer).forRequest(off);
  expect(r1.extract("<think>a</think>b")).toEqual({ reasoning: "a", content: "b" });
  const on = createReasoningParser("qwen3", qwenTokenizer).forRequest({ promptTokenIds: [1], chatTemplateKwargs: { enable_thinking: true } });
  expect(on.extract("a</think>b")).toEqual({ reasoning: "a", content: "b" });
});

test("an unknown name, or a tokenizer without the think tokens, is an error naming --reasoning-parser", () => {
  expect(() => createReasoningParser("nope", qwenTokenizer)).toThrow(/--reasoning-parser: unknown parser 'nope' \(choose from deepseek_r1, qwen3\)/);
  const llama = Tokenizer.fromDir(tinyModelDir("llama3"));
  expect(() => createReasoningParser("deepseek_r1", llama)).toThrow(/--reasoning-parser: deepseek_r1 needs the tokens <think> and <\/think>/);
});
