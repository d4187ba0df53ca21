/**
 * Nesting depth of JSON text, measured without parsing it: a scan that skips strings and counts brackets,
 * fed piece by piece as a body arrives. Deep nesting is refused at the edge, before any recursive code
 * (schema → grammar, template values, tool_choice) could overflow the stack on it.
 */
import { BadRequestError } from "./errors";

/** JSON nested deeper than this is a 400: generous for real JSON schemas and tool arguments. */
export const MAX_JSON_DEPTH = 128;

/** The deepest nesting of objects and arrays seen so far, over text fed in any number of pieces. */
export class JsonDepthScanner {
  max = 0;
  private depth = 0;
  private inString = false;
  private escaped = false;

  feed(text: string): this {
    let { depth, max, inString, escaped } = this;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (inString) {
        if (escaped) escaped = false;
        else if (c === 0x5c) escaped = true; // backslash: the next character is escaped
        else if (c === 0x22) inString = false;
      } else if (c === 0x22) inString = true;
      else if (c === 0x7b || c === 0x5b) max = Math.max(max, ++depth);
      else if (c === 0x7d || c === 0x5d) depth--;
    }
    Object.assign(this, { depth, max, inString, escaped });
    return this;
  }
}

/** The deepest nesting of objects and arrays in `text` (0 for a scalar). */
export function jsonDepth(text: string): number {
  return new JsonDepthScanner().feed(text).max;
}

/** Throws a 400 naming `what` when `depth` (or the depth of `text`) is past MAX_JSON_DEPTH. */
export function checkJsonDepth(text: string | number, what: string, param: string | null = null): void {
  const depth = typeof text === "number" ? text : jsonDepth(text);
  if (depth > MAX_JSON_DEPTH) throw new BadRequestError(`${what} nests deeper than ${MAX_JSON_DEPTH} levels of objects and arrays`, param);
}
