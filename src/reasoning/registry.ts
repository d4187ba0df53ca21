/** The --reasoning-parser names and their parsers, built against the served tokenizer. */
import { deepseekR1ReasoningParser } from "./deepseek_r1";
import { qwen3ReasoningParser } from "./qwen3";
import { type ReasoningParser, THINK_END, THINK_START, type ThinkTagIds } from "./reasoning_parser";

const PARSERS: Readonly<Record<string, (ids: ThinkTagIds) => ReasoningParser>> = {
  deepseek_r1: deepseekR1ReasoningParser,
  qwen3: qwen3ReasoningParser,
};

export const REASONING_PARSER_NAMES = Object.keys(PARSERS);

/** A --reasoning-parser that cannot serve this model; the message names the flag. */
export class ReasoningParserError extends Error {}

/** A token lookup, as the tokenizer offers it. */
export interface TokenVocab {
  tokenToId(token: string): number | undefined;
}

/**
 * The parser named by --reasoning-parser for this tokenizer. Like vLLM, it needs the think tags as tokens of
 * the vocabulary; an unknown name or a tokenizer without them throws naming the flag.
 */
export function createReasoningParser(name: string, vocab: TokenVocab): ReasoningParser {
  const make = PARSERS[name];
  if (make === undefined) throw new ReasoningParserError(`argument --reasoning-parser: unknown parser '${name}' (choose from ${REASONING_PARSER_NAMES.join(", ")})`);
  const start = vocab.tokenToId(THINK_START);
  const end = vocab.tokenToId(THINK_END);
  if (start === undefined || end === undefined)
    throw new ReasoningParserError(`argument --reasoning-parser: ${name} needs the tokens ${THINK_START} and ${THINK_END}, which this model's tokenizer does not have`);
  return make({ start, end });
}
