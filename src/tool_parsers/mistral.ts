/**
 * Mistral tool calls: text, then `[TOOL_CALLS]` followed by a JSON array of `{"name", "arguments"}` objects
 * (tokenizers before v11), or by `name[ARGS]{...}` / `name{...}` with one `[TOOL_CALLS]` per call (v11+).
 * `[TOOL_CALLS]` is a special token, so it only shows with skip_special_tokens = false.
 */
import { holdBackMarker, INVALID, parseJsonCalls, scanValue, skipWs } from "./json_scan";
import { isJson, type ToolParser, type ToolParseView } from "./tool_parser";

const MARKER = "[TOOL_CALLS]";
const ARGS = "[ARGS]";

export const mistralToolParser: ToolParser = {
  name: "mistral",
  needsSpecialTokens: true,
  parse(text: string, final: boolean): ToolParseView {
    const first = text.indexOf(MARKER);
    if (first < 0) return { content: final ? text : holdBackMarker(text, MARKER), calls: [] };
    const view: ToolParseView = { content: text.slice(0, first).trimEnd(), calls: [] };
    const i = skipWs(text, first + MARKER.length);
    const ok = text[i] === "[" || text[i] === "{" ? parseJsonCalls(text, i, view) : parseNamedCalls(text, i, view);
    if (final && (!ok || view.calls.length === 0)) return { content: text, calls: [] };
    return view;
  },
};

// name[ARGS]{...}[TOOL_CALLS]name2[ARGS]{...}; the name is known once "[ARGS]" or "{" follows it.
function parseNamedCalls(text: string, i: number, view: ToolParseView): boolean {
  while (i < text.length) {
    const argsAt = findArgsStart(text, i);
    if (argsAt === null) return false;
    const name = text.slice(i, argsAt.nameEnd).trim();
    if (!/^[A-Za-z0-9_.\-]+$/.test(name)) return false;
    const end = scanValue(text, argsAt.args);
    if (end === INVALID) return false;
    const args = text.slice(argsAt.args, end < 0 ? text.length : end);
    view.calls.push({ name, arguments: args });
    if (end < 0 || !isJson(args)) return false;
    i = skipWs(text, end);
    if (i === text.length) return true;
    if (!text.startsWith(MARKER, i)) return false; // garbage, or a marker still arriving
    i = skipWs(text, i + MARKER.length);
  }
  return false;
}

function findArgsStart(text: string, i: number): { nameEnd: number; args: number } | null {
  for (let j = i; j < text.length; j++) {
    if (text.startsWith(ARGS, j)) return { nameEnd: j, args: skipWs(text, j + ARGS.length) };
    if (text[j] === "{") return { nameEnd: j, args: j };
    if (text[j] === "[") return null; // "[ARGS]" still arriving, or garbage
  }
  return null;
}
