/**
 * Llama 3.1/3.2 JSON tool calls: the whole output is `{"name": ..., "parameters": {...}}`, optionally after
 * `<|python_tag|>`, with several calls separated by ";". Any other output is plain content.
 */
import { isPartialPrefix, scanCallObject, skipWs } from "./json_scan";
import { isJson, type ToolParser, type ToolParseView } from "./tool_parser";

const PYTHON_TAG = "<|python_tag|>";
const ARG_KEYS = ["parameters", "arguments"];

export const llama3JsonToolParser: ToolParser = {
  name: "llama3_json",
  needsSpecialTokens: false,
  parse(text: string, final: boolean): ToolParseView {
    let i = skipWs(text, 0);
    if (!final && (i === text.length || isPartialPrefix(text.slice(i), PYTHON_TAG))) return { content: "", calls: [] };
    if (text.startsWith(PYTHON_TAG, i)) i = skipWs(text, i + PYTHON_TAG.length);
    else if (text[i] !== "{") return { content: text, calls: [] };
    const view: ToolParseView = { content: "", calls: [] };
    const fail = () => (final ? { content: text, calls: [] } : view);
    while (i < text.length) {
      const scan = scanCallObject(text, i, ARG_KEYS);
      if (scan.end === -2) return fail();
      view.calls.push({ name: scan.name, arguments: scan.args ?? (scan.end >= 0 ? "{}" : "") });
      if (scan.end < 0) return fail();
      if (scan.name === null || (scan.args !== null && !isJson(scan.args))) return fail();
      i = skipWs(text, scan.end);
      if (i === text.length) break;
      if (text[i] !== ";") return fail();
      i = skipWs(text, i + 1);
    }
    if (final && view.calls.length === 0) return { content: text, calls: [] };
    return view;
  },
};
