/**
 * The bounds one HTTP request is held to before any expensive work starts, each with its flag: body size,
 * prompt characters, sequences per request. The engine's own limits (context length, --max-num-seqs) are
 * the engine's; these only keep a request from costing far more than it could ever be served for.
 */
import { BadRequestError } from "./errors";

export const DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024;

/**
 * Text longer than max_model_len × this many characters is refused before it is tokenized. Real text runs
 * 3 to 5 characters a token; only long runs of one repeated character pack more, and no prompt needs them.
 */
export const MAX_CHARS_PER_TOKEN = 16;

/** --max-seqs-per-request: prompts × n of one request. */
export const DEFAULT_MAX_SEQS_PER_REQUEST = 1024;

/** The longest prompt text (raw or rendered) the server tokenizes for a model of this context length. */
export function maxPromptChars(maxModelLen: number): number {
  return maxModelLen * MAX_CHARS_PER_TOKEN;
}

/** Throws a 400 when `length` characters could not fit `maxModelLen` tokens, before any tokenizing. */
export function checkPromptChars(length: number, maxModelLen: number, param: "prompt" | "messages", what = "the prompt"): void {
  const max = maxPromptChars(maxModelLen);
  if (length > max)
    throw new BadRequestError(`${what} has ${length} characters, more than the ${max} (max_model_len ${maxModelLen} × ${MAX_CHARS_PER_TOKEN}) this server tokenizes; shorten the ${param}`, param);
}

/** Throws a 400 when prompts × n exceeds --max-seqs-per-request. */
export function checkSequenceCount(numPrompts: number, n: number, max: number): void {
  if (numPrompts * n > max)
    throw new BadRequestError(`the request asks for ${numPrompts} prompt(s) × n=${n} = ${numPrompts * n} sequences, more than the ${max} allowed per request (--max-seqs-per-request)`, numPrompts > 1 ? "prompt" : "n");
}
