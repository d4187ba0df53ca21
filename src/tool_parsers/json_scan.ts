/**
 * Scanning JSON that may still be arriving: where a value ends, or that the text ran out first. The
 * tool-call parsers use it to find the raw text of each call's arguments, which streams out unchanged, so
 * the streamed arguments always join into exactly the non-streamed ones.
 */
import { isJson, type ToolParseView } from "./tool_parser";

/** The text ran out inside the value. */
export const INCOMPLETE = -1;
/** The text cannot be JSON here. */
export const INVALID = -2;

export function skipWs(text: string, i: number): number {
  while (i < text.length && (text[i] === " " || text[i] === "\n" || text[i] === "\r" || text[i] === "\t")) i++;
  return i;
}

/** End (exclusive) of the JSON string starting at `i` (a quote), or INCOMPLETE / INVALID. */
export function scanString(text: string, i: number): number {
  if (text[i] !== '"') return INVALID;
  for (let j = i + 1; j < text.length; j++) {
    const c = text[j];
    if (c === "\\") j++;
    else if (c === '"') return j + 1;
    else if (c < " ") return INVALID;
  }
  return INCOMPLETE;
}

/**
 * End (exclusive) of the JSON value starting at `i`, or INCOMPLETE / INVALID. Structure is checked
 * loosely (brackets, strings, literal characters); callers that need certainty parse the span.
 */
export function scanValue(text: string, i: number): number {
  if (i >= text.length) return INCOMPLETE;
  const c = text[i];
  if (c === '"') return scanString(text, i);
  if (c === "{" || c === "[") return scanContainer(text, i);
  // A number or literal may always continue, so it ends only at a delimiter.
  let j = i;
  while (j < text.length && /[0-9a-zA-Z.+\-]/.test(text[j])) j++;
  if (j === i) return INVALID;
  return j === text.length ? INCOMPLETE : j;
}

function scanContainer(text: string, i: number): number {
  const stack: string[] = [];
  for (let j = i; j < text.length; j++) {
    const c = text[j];
    if (c === '"') {
      const end = scanString(text, j);
      if (end < 0) return end;
      j = end - 1;
    } else if (c === "{" || c === "[") stack.push(c === "{" ? "}" : "]");
    else if (c === "}" || c === "]") {
      if (stack.pop() !== c) return INVALID;
      if (stack.length === 0) return j + 1;
    }
  }
  return INCOMPLETE;
}

/** What is known so far about one `{"name": ..., "arguments": ...}` object. */
export interface CallScan {
  name: string | null; // set once its string is complete
  args: string | null; // the arguments value's raw text so far (a prefix while it is still arriving)
  argsDone: boolean;
  end: number; // end (exclusive) of the object, INCOMPLETE or INVALID
}

/**
 * Scans a tool-call object starting at `i`. `argKeys` name the arguments member ("arguments", and
 * "parameters" as Llama 3 writes it). Unknown members are skipped.
 */
export function scanCallObject(text: string, i: number, argKeys: readonly string[]): CallScan {
  const scan: CallScan = { name: null, args: null, argsDone: false, end: INCOMPLETE };
  if (i >= text.length) return scan;
  if (text[i] !== "{") return { ...scan, end: INVALID };
  let j = skipWs(text, i + 1);
  if (text[j] === "}") return { ...scan, end: j + 1 };
  while (j < text.length) {
    const keyEnd = scanString(text, j);
    if (keyEnd < 0) return { ...scan, end: keyEnd };
    const key = JSON.parse(text.slice(j, keyEnd)) as string;
    j = skipWs(text, keyEnd);
    if (j >= text.length) return scan;
    if (text[j] !== ":") return { ...scan, end: INVALID };
    j = skipWs(text, j + 1);
    if (j >= text.length) return scan;
    const valueEnd = scanValue(text, j);
    if (valueEnd === INVALID) return { ...scan, end: INVALID };
    if (argKeys.includes(key)) {
      scan.args = text.slice(j, valueEnd < 0 ? text.length : valueEnd);
      scan.argsDone = valueEnd >= 0;
    } else if (key === "name" && valueEnd >= 0) {
      const name = JSON.parse(text.slice(j, valueEnd));
      if (typeof name !== "string") return { ...scan, end: INVALID };
      scan.name = name;
    }
    if (valueEnd < 0) return scan;
    j = skipWs(text, valueEnd);
    if (j >= text.length) return scan;
    if (text[j] === "}") return { ...scan, end: j + 1 };
    if (text[j] !== ",") return { ...scan, end: INVALID };
    j = skipWs(text, j + 1);
  }
  return scan;
}

/** Whether `text` (all of it) could still grow into something that starts with `marker`. */
export function isPartialPrefix(text: string, marker: string): boolean {
  return text.length < marker.length && marker.startsWith(text);
}

/** Content that may stream before any call: all but a partial marker and trailing whitespace (dropped if a call follows). */
export function holdBackMarker(text: string, marker: string): string {
  return text.slice(0, text.length - partialMarkerSuffix(text, marker)).trimEnd();
}

/** Length of the longest suffix of `text` that is a proper prefix of `marker` (held back while streaming). */
export function partialMarkerSuffix(text: string, marker: string): number {
  for (let n = Math.min(marker.length - 1, text.length); n > 0; n--) if (text.endsWith(marker.slice(0, n))) return n;
  return 0;
}

/**
 * `[{...}, {...}]` (or one bare object) into `view.calls`; also used for tool_choice "required" output.
 * Returns false when the text is malformed or incomplete.
 */
export function parseJsonCalls(text: string, i: number, view: ToolParseView, argKeys: readonly string[] = ["arguments", "parameters"]): boolean {
  const array = text[i] === "[";
  let j = array ? skipWs(text, i + 1) : i;
  if (array && text[j] === "]") return true;
  while (j < text.length) {
    const scan = scanCallObject(text, j, argKeys);
    if (scan.end === INVALID) return false;
    view.calls.push({ name: scan.name, arguments: scan.args ?? (scan.end >= 0 ? "{}" : "") });
    if (scan.end === INCOMPLETE || scan.name === null || (scan.args !== null && !isJson(scan.args))) return false;
    j = skipWs(text, scan.end);
    if (!array) return j === text.length;
    if (text[j] === "]") return skipWs(text, j + 1) === text.length;
    if (text[j] !== ",") return false;
    j = skipWs(text, j + 1);
  }
  return false;
}
