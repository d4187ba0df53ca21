/**
 * Pythonic tool calls (Llama 3.2 / Llama 4 style): the whole output is a Python list of calls with keyword
 * arguments, `[get_weather(city="Paris", days=3), get_time()]`, optionally inside
 * `<|python_start|>…<|python_end|>`. Any other output is plain content.
 */
import { INCOMPLETE, isPartialPrefix } from "./json_scan";
import { parsePythonLiteral, skipPyWs } from "./python_literal";
import type { ToolParser, ToolParseView } from "./tool_parser";

const START_TAG = "<|python_start|>";
const END_TAG = "<|python_end|>";

export const pythonicToolParser: ToolParser = {
  name: "pythonic",
  needsSpecialTokens: false,
  parse(text: string, final: boolean): ToolParseView {
    let i = skipPyWs(text, 0);
    if (!final && (i === text.length || isPartialPrefix(text.slice(i), START_TAG))) return { content: "", calls: [] };
    if (text.startsWith(START_TAG, i)) i = skipPyWs(text, i + START_TAG.length);
    if (i === text.length && !final) return { content: "", calls: [] };
    if (text[i] !== "[") return { content: text, calls: [] };
    const view: ToolParseView = { content: "", calls: [] };
    const end = parseCallList(text, skipPyWs(text, i + 1), view);
    if (!final) return view;
    if (end < 0 || !isOnlyEnd(text.slice(end))) return { content: text, calls: [] };
    return view;
  },
};

function isOnlyEnd(rest: string): boolean {
  const r = rest.trim();
  return r === "" || r === END_TAG;
}

/** Calls into `view` up to the closing "]"; returns the index after it, or a negative number. */
function parseCallList(text: string, i: number, view: ToolParseView): number {
  while (i < text.length) {
    if (text[i] === "]") return i + 1;
    const name = /^[A-Za-z_][\w.]*/.exec(text.slice(i))?.[0];
    if (name === undefined) return -2;
    let j = skipPyWs(text, i + name.length);
    if (j >= text.length) return INCOMPLETE; // the name may still grow
    if (text[j] !== "(") return -2;
    const call = { name, arguments: "{" };
    view.calls.push(call);
    j = parseKeywordArgs(text, skipPyWs(text, j + 1), call);
    if (j < 0) return j;
    j = skipPyWs(text, j);
    if (text[j] === ",") j = skipPyWs(text, j + 1);
    else if (j < text.length && text[j] !== "]") return -2;
    i = j;
  }
  return INCOMPLETE;
}

// Each keyword argument joins `call.arguments` once its value is followed by "," or ")", so the
// arguments text only ever grows.
function parseKeywordArgs(text: string, i: number, call: { arguments: string }): number {
  let n = 0;
  while (i < text.length) {
    if (text[i] === ")") {
      call.arguments += "}";
      return i + 1;
    }
    const key = /^[A-Za-z_]\w*/.exec(text.slice(i))?.[0];
    if (key === undefined) return -2;
    let j = skipPyWs(text, i + key.length);
    if (j >= text.length) return INCOMPLETE;
    if (text[j] !== "=") return -2;
    const value = parsePythonLiteral(text, skipPyWs(text, j + 1));
    if (typeof value === "number") return value;
    j = skipPyWs(text, value.end);
    if (j >= text.length) return INCOMPLETE;
    if (text[j] !== "," && text[j] !== ")") return -2;
    call.arguments += `${n++ > 0 ? ", " : ""}${JSON.stringify(key)}: ${value.json}`;
    i = text[j] === "," ? skipPyWs(text, j + 1) : j;
  }
  return INCOMPLETE;
}
