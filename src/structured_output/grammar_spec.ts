/**
 * GrammarSpec: a request's structured-output constraint as plain data that can cross to the compile worker,
 * plus the cache key that identifies its compiled grammar.
 */
import type { StructuredOutputsParams } from "../engine/sampling_params";

export type GrammarSpec =
  | { kind: "json_schema"; schema: string; anyWhitespace: boolean; maxWhitespace: number | null }
  | { kind: "json_object"; maxWhitespace: number | null }
  | { kind: "regex"; pattern: string }
  | { kind: "choice"; choices: string[] }
  | { kind: "ebnf"; grammar: string };

/**
 * Whitespace characters allowed between JSON elements by default (--structured-outputs-max-whitespace).
 * Unbounded, weak or random models fill JSON with newlines until max_tokens; a small cap keeps JSON output
 * terminating while still allowing readable formatting.
 */
export const DEFAULT_MAX_JSON_WHITESPACE = 4;

/**
 * The spec of validated structured-output params (exactly one constraint kind is set). `maxWhitespace` caps
 * each whitespace run of JSON output (null: unbounded); disable_any_whitespace makes JSON compact instead.
 */
export function grammarSpecFromParams(p: StructuredOutputsParams, maxWhitespace: number | null = DEFAULT_MAX_JSON_WHITESPACE): GrammarSpec {
  if (p.json !== undefined && p.json !== null) {
    const schema = normalizeSchema(typeof p.json === "string" ? p.json : JSON.stringify(p.json), p.disableAdditionalProperties === true);
    const anyWhitespace = !p.disableAnyWhitespace;
    return { kind: "json_schema", schema, anyWhitespace, maxWhitespace: anyWhitespace ? maxWhitespace : null };
  }
  if (p.jsonObject) return { kind: "json_object", maxWhitespace };
  if (typeof p.regex === "string") return { kind: "regex", pattern: p.regex };
  if (Array.isArray(p.choice)) return { kind: "choice", choices: p.choice };
  if (typeof p.grammar === "string") return { kind: "ebnf", grammar: p.grammar };
  throw new Error("grammarSpecFromParams: no constraint set (params were not validated)");
}

/** A string that equals for two specs exactly when they compile to the same grammar. */
export function grammarKey(spec: GrammarSpec): string {
  return JSON.stringify(spec);
}

// A schema string that is not JSON is left alone: the compiler reports the parse error.
function normalizeSchema(schema: string, closeObjects: boolean): string {
  const boundedStrings = /"(minLength|maxLength)"/.test(schema);
  if (!closeObjects && !boundedStrings) return schema;
  let parsed: unknown;
  try {
    parsed = JSON.parse(schema);
  } catch {
    return schema;
  }
  visitSchemas(parsed, (s) => {
    if (closeObjects && isObjectSchema(s)) s.additionalProperties = false;
    if (boundedStrings) excludeControlChars(s);
  });
  return JSON.stringify(parsed);
}

function isObjectSchema(s: Record<string, unknown>): boolean {
  return s.type === "object" || (Array.isArray(s.type) && s.type.includes("object")) || "properties" in s;
}

// xgrammar 0.1.27 turns a length-bounded string into [^"\\\r\n]{min,max}, which admits raw control characters
// that no JSON parser accepts. The same bounds as a pattern over the valid characters give the right grammar.
function excludeControlChars(s: Record<string, unknown>): void {
  if (s.type !== "string" || s.pattern !== undefined || s.format !== undefined || s.enum !== undefined || s.const !== undefined) return;
  const min = typeof s.minLength === "number" ? s.minLength : 0;
  const max = typeof s.maxLength === "number" ? String(s.maxLength) : "";
  if (s.minLength === undefined && s.maxLength === undefined) return;
  s.pattern = `^[^"\\\\\\x00-\\x1f]{${min},${max}}$`;
  delete s.minLength;
  delete s.maxLength;
}

const SUBSCHEMA_MAPS = ["properties", "patternProperties", "$defs", "definitions", "dependentSchemas"];
const SUBSCHEMA_LISTS = ["anyOf", "oneOf", "allOf", "prefixItems"];
const SUBSCHEMAS = ["items", "additionalItems", "additionalProperties", "not", "if", "then", "else", "contains", "unevaluatedItems"];

function visitSchemas(node: unknown, fn: (s: Record<string, unknown>) => void): void {
  if (typeof node !== "object" || node === null || Array.isArray(node)) return;
  const s = node as Record<string, unknown>;
  for (const key of SUBSCHEMA_MAPS) {
    const m = s[key];
    if (typeof m === "object" && m !== null) for (const v of Object.values(m)) visitSchemas(v, fn);
  }
  for (const key of SUBSCHEMA_LISTS) if (Array.isArray(s[key])) for (const v of s[key] as unknown[]) visitSchemas(v, fn);
  for (const key of SUBSCHEMAS) visitSchemas(s[key], fn);
  fn(s);
}
