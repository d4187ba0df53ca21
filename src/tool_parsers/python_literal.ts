/**
 * Python literals (as in `f(a=1, b="x")` tool calls) converted to JSON text: strings, numbers, True / False /
 * None, lists and tuples (arrays), dicts (objects). JSON uses ", " and ": " as Python's json.dumps does.
 */
import { INCOMPLETE, INVALID } from "./json_scan";

export type LiteralResult = { json: string; end: number } | typeof INCOMPLETE | typeof INVALID;

const KEYWORDS: Record<string, string> = { True: "true", False: "false", None: "null" };
const ESCAPES: Record<string, string> = { n: "\n", t: "\t", r: "\r", "0": "\0", "\\": "\\", "'": "'", '"': '"', a: "\x07", b: "\b", f: "\f", v: "\v", "\n": "" };

/** The literal starting at `i` as JSON, INCOMPLETE when the text runs out inside it, INVALID otherwise. */
export function parsePythonLiteral(text: string, i: number): LiteralResult {
  if (i >= text.length) return INCOMPLETE;
  const c = text[i];
  if (c === '"' || c === "'") return parseString(text, i);
  if (c === "[" || c === "(") return parseSequence(text, i, c === "[" ? "]" : ")");
  if (c === "{") return parseDict(text, i);
  if (/[-+0-9.]/.test(c)) return parseNumber(text, i);
  const word = /^[A-Za-z_]\w*/.exec(text.slice(i))?.[0] ?? "";
  if (i + word.length === text.length) return Object.keys(KEYWORDS).some((k) => k.startsWith(word)) ? INCOMPLETE : INVALID;
  return word in KEYWORDS ? { json: KEYWORDS[word], end: i + word.length } : INVALID;
}

export function skipPyWs(text: string, i: number): number {
  while (i < text.length && /\s/.test(text[i])) i++;
  return i;
}

function parseString(text: string, i: number): LiteralResult {
  const quote = text[i];
  let out = "";
  for (let j = i + 1; j < text.length; j++) {
    const c = text[j];
    if (c === quote) return { json: JSON.stringify(out), end: j + 1 };
    if (c === "\n") return INVALID;
    if (c !== "\\") {
      out += c;
      continue;
    }
    if (j + 1 >= text.length) return INCOMPLETE;
    const e = text[++j];
    const hex = e === "x" ? 2 : e === "u" ? 4 : e === "U" ? 8 : 0;
    if (hex > 0) {
      const digits = text.slice(j + 1, j + 1 + hex);
      if (digits.length < hex) return /^[0-9a-fA-F]*$/.test(digits) ? INCOMPLETE : INVALID;
      if (!/^[0-9a-fA-F]+$/.test(digits)) return INVALID;
      out += String.fromCodePoint(parseInt(digits, 16));
      j += hex;
    } else out += ESCAPES[e] ?? `\\${e}`; // Python keeps unknown escapes as written
  }
  return INCOMPLETE;
}

function parseNumber(text: string, i: number): LiteralResult {
  const m = /^[-+]?(\d[\d_]*(\.[\d_]*)?|\.\d[\d_]*)([eE][-+]?\d+)?/.exec(text.slice(i));
  if (m === null) return i + 1 >= text.length ? INCOMPLETE : INVALID;
  const end = i + m[0].length;
  if (end === text.length) return INCOMPLETE; // more digits may follow
  const raw = m[0].replaceAll("_", "").replace(/^\+/, "");
  const json = /^-?(0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?$/.test(raw) ? raw : JSON.stringify(Number(raw));
  return { json, end };
}

function parseSequence(text: string, i: number, close: string): LiteralResult {
  const items: string[] = [];
  let j = skipPyWs(text, i + 1);
  while (j < text.length) {
    if (text[j] === close) return { json: `[${items.join(", ")}]`, end: j + 1 };
    const item = parsePythonLiteral(text, j);
    if (typeof item === "number") return item;
    items.push(item.json);
    j = skipPyWs(text, item.end);
    if (text[j] === ",") j = skipPyWs(text, j + 1);
    else if (j < text.length && text[j] !== close) return INVALID;
  }
  return INCOMPLETE;
}

function parseDict(text: string, i: number): LiteralResult {
  const members: string[] = [];
  let j = skipPyWs(text, i + 1);
  while (j < text.length) {
    if (text[j] === "}") return { json: `{${members.join(", ")}}`, end: j + 1 };
    const key = parsePythonLiteral(text, j);
    if (typeof key === "number") return key;
    j = skipPyWs(text, key.end);
    if (j >= text.length) return INCOMPLETE;
    if (text[j] !== ":") return INVALID;
    const value = parsePythonLiteral(text, skipPyWs(text, j + 1));
    if (typeof value === "number") return value;
    members.push(`${key.json.startsWith('"') ? key.json : JSON.stringify(key.json)}: ${value.json}`);
    j = skipPyWs(text, value.end);
    if (text[j] === ",") j = skipPyWs(text, j + 1);
    else if (j < text.length && text[j] !== "}") return INVALID;
  }
  return INCOMPLETE;
}
