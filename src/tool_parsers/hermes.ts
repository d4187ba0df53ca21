/**
 * Hermes-style tool calls (Qwen 2.5/3, Hermes 2/3): text, then one or more
 * `<tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call>` blocks. Text after the last block is dropped.
 */
import { holdBackMarker, isPartialPrefix, scanCallObject, skipWs } from "./json_scan";
import { isJson, type ToolParser, type ToolParseView } from "./tool_parser";

const START = "<tool_call>";
const END = "</tool_call>";

export const hermesToolParser: ToolParser = {
  name: "hermes",
  needsSpecialTokens: false,
  parse(text: string, final: boolean): ToolParseView {
    const first = text.indexOf(START);
    if (first < 0) return { content: final ? text : holdBackMarker(text, START), calls: [] };
    const view: ToolParseView = { content: text.slice(0, first).trimEnd(), calls: [] };
    // A malformed call makes a complete output plain content; while streaming, it just stops the view.
    const fail = () => (final ? { content: text, calls: [] } : view);
    for (let i = first; text.startsWith(START, i); i = skipWs(text, i)) {
      const scan = scanCallObject(text, skipWs(text, i + START.length), ["arguments"]);
      if (scan.end === -2) return fail();
      view.calls.push({ name: scan.name, arguments: scan.args ?? (scan.end >= 0 ? "{}" : "") });
      if (scan.end < 0) return fail();
      if (scan.name === null || (scan.args !== null && !isJson(scan.args))) return fail();
      const j = skipWs(text, scan.end);
      if (!text.startsWith(END, j)) return isPartialPrefix(text.slice(j), END) && !final ? view : fail();
      i = j + END.length;
    }
    return view;
  },
};
