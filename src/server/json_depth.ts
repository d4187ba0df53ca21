/**
 * Nesting depth of JSON text, measured without parsing it: a scan that skips strings and counts brackets.
 * Deep nesting is refused at the edge, before any recursive code (schema → grammar, template values,
 * tool_choice) could overflow the stack on it.
 */
import { BadRequestError } from "./errors";

/** JSON nested deeper than this is a 400: generous for real JSON schemas and tool arguments. */
export const MAX_JSON_DEPTH = 128;

/** The deepest nesting of objects and arrays in `text` (0 for a scalar); stops counting past `limit`. */
export function jsonDepth(text: string, limit = Infinity): number {
  let depth = 0, max = 0, inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max && (max = depth) > limit) return max;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return max;
}

/** Throws a 400 naming `what` when `text` nests deeper than MAX_JSON_DEPTH. */
export function checkJsonDepth(text: string, what: string, param: string | null = null): void {
  if (jsonDepth(text, MAX_JSON_DEPTH) > MAX_JSON_DEPTH)
    throw new BadRequestError(`${what} nests deeper than ${MAX_JSON_DEPTH} levels of objects and arrays`, param);
}
