/**
 * tool_choice "required" and a named function are enforced with a JSON schema (vLLM's approach): "required"
 * makes the output a JSON array of `{"name", "parameters"}` calls to declared tools, a named function makes
 * it that function's arguments. The two parsers here read those outputs back as tool calls.
 */
import { parseJsonCalls, skipWs } from "./json_scan";
import type { ToolParser, ToolParseView } from "./tool_parser";

/** An OpenAI `tools[]` entry. */
export interface ToolDefinition {
  type: "function";
  function: { name: string; description?: string; parameters?: Record<string, unknown>; strict?: boolean };
}

export type ToolChoice = "none" | "auto" | "required" | { type: "function"; function: { name: string } };

/** A tool_choice that cannot be honoured (HTTP 400). */
export class ToolChoiceError extends Error {
  override name = "ToolChoiceError";
  readonly status = 400;
}

const NO_PARAMETERS: Record<string, unknown> = { type: "object", properties: {} };

/** The schema that forces `choice`, or null for "none" and "auto". */
export function toolChoiceJsonSchema(tools: readonly ToolDefinition[], choice: ToolChoice): Record<string, unknown> | null {
  if (choice === "none" || choice === "auto") return null;
  if (choice === "required") {
    if (tools.length === 0) throw new ToolChoiceError('tool_choice "required" needs at least one tool in tools');
    const defs: Record<string, unknown> = {};
    const anyOf = tools.map((t) => {
      const { $defs, ...parameters } = t.function.parameters ?? NO_PARAMETERS;
      mergeDefs(defs, $defs, t.function.name);
      return { properties: { name: { type: "string", enum: [t.function.name] }, parameters }, required: ["name", "parameters"] };
    });
    const schema: Record<string, unknown> = { type: "array", minItems: 1, items: { type: "object", anyOf } };
    if (Object.keys(defs).length > 0) schema.$defs = defs;
    return schema;
  }
  const name = choice?.function?.name;
  const tool = tools.find((t) => t.function.name === name);
  if (tool === undefined) throw new ToolChoiceError(`tool_choice names the function ${JSON.stringify(name)}, which is not in tools`);
  return tool.function.parameters ?? NO_PARAMETERS;
}

// Every tool's $defs move to the root, where "#/$defs/..." references resolve.
function mergeDefs(into: Record<string, unknown>, defs: unknown, tool: string): void {
  if (typeof defs !== "object" || defs === null) return;
  for (const [k, v] of Object.entries(defs)) {
    if (k in into && JSON.stringify(into[k]) !== JSON.stringify(v))
      throw new ToolChoiceError(`tool ${JSON.stringify(tool)} defines $defs.${k} differently from another tool`);
    into[k] = v;
  }
}

/** Reads the output of tool_choice "required": `[{"name": ..., "parameters": {...}}, ...]`. */
export const requiredToolCallsParser: ToolParser = {
  name: "required",
  needsSpecialTokens: false,
  parse(text: string, final: boolean): ToolParseView {
    const view: ToolParseView = { content: "", calls: [] };
    const i = skipWs(text, 0);
    if (i === text.length && !final) return view;
    const ok = text[i] === "[" && parseJsonCalls(text, i, view, ["parameters"]);
    if (final && (!ok || view.calls.length === 0)) return { content: text, calls: [] };
    return view;
  },
};

/** Reads the output of a named tool_choice: the whole output is the function's arguments. */
export function namedToolCallParser(name: string): ToolParser {
  return {
    name: `named:${name}`,
    needsSpecialTokens: false,
    parse: (text: string) => ({ content: "", calls: [{ name, arguments: text.trim() === "" ? "" : text.trimStart() }] }),
  };
}
