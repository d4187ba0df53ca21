/**
 * tools and tool_choice of a chat request, as vLLM reads them: which tools the template renders, the JSON
 * schema that enforces "required" or a named function, and the parser that reads calls from the output.
 */
import {
  namedToolCallParser, requiredToolCallsParser, type ToolChoice, type ToolDefinition, toolChoiceJsonSchema,
} from "../../tool_parsers/tool_choice";
import type { ToolParser } from "../../tool_parsers/tool_parser";
import { BadRequestError } from "../errors";
import type { ServerState } from "../state";
import type { ChatCompletionRequest, ToolInput } from "./protocol";

/** How one request uses tools. */
export interface ToolMode {
  /** Tools for the chat template; null renders none. */
  tools: ToolDefinition[] | null;
  /** Reads tool calls from the output; null leaves it all content. */
  parser: ToolParser | null;
  /** The JSON schema that forces the output into calls ("required" or a named function), else null. */
  schema: Record<string, unknown> | null;
  /** parallel_tool_calls: false keeps only the first call. */
  parallel: boolean;
}

const USAGE = 'use "none", "auto", "required" or {"type": "function", "function": {"name": "my_function"}}';

/** Resolves tools and tool_choice; a 400 for a choice that cannot be honoured. */
export function resolveToolMode(state: ServerState, req: ChatCompletionRequest): ToolMode {
  const tools = req.tools ? req.tools.map(toolDefinition) : null;
  const choice = parseToolChoice(req.tool_choice, tools);
  const rendered = tools && tools.length > 0 ? tools : null;
  const none: ToolMode = { tools: rendered, parser: null, schema: null, parallel: req.parallel_tool_calls !== false };
  if (choice === "none") return none;
  if (tools === null) throw new BadRequestError("When using `tool_choice`, `tools` must be set.", "tool_choice");
  if (choice === "auto") {
    if (state.autoToolParser === null)
      throw new BadRequestError('"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set', "tool_choice");
    return { ...none, parser: state.autoToolParser };
  }
  // OpenAI treats "required" with no tools as "none".
  if (choice === "required" && tools.length === 0) return none;
  // An unknown function name is a ToolChoiceError, which the error hook makes a 400 on tool_choice.
  const schema = toolChoiceJsonSchema(tools, choice)!;
  if (choice === "required") return { ...none, parser: requiredToolCallsParser, schema: none.parallel ? schema : { ...schema, maxItems: 1 } };
  return { ...none, parser: namedToolCallParser(choice.function.name), schema };
}

function toolDefinition(t: ToolInput): ToolDefinition {
  const f = t.function;
  const fn: ToolDefinition["function"] = { name: f.name };
  if (f.description !== null && f.description !== undefined) fn.description = f.description;
  if (f.parameters !== null && f.parameters !== undefined) fn.parameters = f.parameters;
  if (f.strict !== null && f.strict !== undefined) fn.strict = f.strict;
  return { type: "function", function: fn };
}

// Absent (or null) means "auto" when tools are given and "none" otherwise, as in OpenAI's API.
function parseToolChoice(raw: unknown, tools: ToolDefinition[] | null): ToolChoice {
  if (raw === undefined || raw === null) return tools && tools.length > 0 ? "auto" : "none";
  if (raw === "none" || raw === "auto" || raw === "required") return raw;
  if (typeof raw !== "object" || Array.isArray(raw)) throw new BadRequestError(`Invalid value for \`tool_choice\`: ${JSON.stringify(raw)}; ${USAGE}`, "tool_choice");
  const { type, function: fn } = raw as { type?: unknown; function?: unknown };
  if (type !== "function") throw new BadRequestError(`tool_choice.type must be "function"; ${USAGE}`, "tool_choice.type");
  const name = typeof fn === "object" && fn !== null ? (fn as { name?: unknown }).name : undefined;
  if (typeof name !== "string" || name === "") throw new BadRequestError(`tool_choice.function.name must be a non-empty string; ${USAGE}`, "tool_choice.function");
  return { type: "function", function: { name } };
}
