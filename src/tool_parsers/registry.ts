/** The --tool-call-parser names and their parsers. */
import { hermesToolParser } from "./hermes";
import { llama3JsonToolParser } from "./llama3_json";
import { mistralToolParser } from "./mistral";
import { pythonicToolParser } from "./pythonic";
import type { ToolParser } from "./tool_parser";

export const TOOL_PARSERS: Readonly<Record<string, ToolParser>> = {
  hermes: hermesToolParser,
  llama3_json: llama3JsonToolParser,
  mistral: mistralToolParser,
  pythonic: pythonicToolParser,
};

export const TOOL_PARSER_NAMES = Object.keys(TOOL_PARSERS);

/** The parser named by --tool-call-parser; throws naming the known parsers otherwise. */
export function getToolParser(name: string): ToolParser {
  const parser = TOOL_PARSERS[name];
  if (parser === undefined) throw new Error(`unknown tool call parser ${JSON.stringify(name)} (known: ${TOOL_PARSER_NAMES.join(", ")})`);
  return parser;
}
