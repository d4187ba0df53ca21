/**
 * GrammarSpec: a request's structured-output constraint as plain data that can cross to the compile worker,
 * plus the cache key that identifies its compiled grammar.
 */
import type { StructuredOutputsParams } from "../engine/sampling_params";

export type GrammarSpec =
  | { kind: "json_schema"; schema: string; anyWhitespace: boolean }
  | { kind: "json_object" }
  | { kind: "regex"; pattern: string }
  | { kind: "choice"; choices: string[] }
  | { kind: "ebnf"; grammar: string };

/** The spec of validated structured-output params (exactly one constraint kind is set). */
export function grammarSpecFromParams(p: StructuredOutputsParams): GrammarSpec {
  if (p.json !== undefined && p.json !== null) {
    let schema = typeof p.json === "string" ? p.json : JSON.stringify(p.json);
    if (p.disableAdditionalProperties) schema = withoutAdditionalProperties(schema);
    return { kind: "json_schema", schema, anyWhitespace: !p.disableAnyWhitespace };
  }
  if (p.jsonObject) return { kind: "json_object" };
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
function withoutAdditionalProperties(schema: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(schema);
  } catch {
    return schema;
  }
  closeObjects(parsed);
  return JSON.stringify(parsed);
}

const SUBSCHEMA_MAPS = ["properties", "patternProperties", "$defs", "definitions", "dependentSchemas"];
const SUBSCHEMA_LISTS = ["anyOf", "oneOf", "allOf", "prefixItems"];
const SUBSCHEMAS = ["items", "additionalItems", "not", "if", "then", "else", "contains", "unevaluatedItems"];

function closeObjects(node: unknown): void {
  if (typeof node !== "object" || node === null || Array.isArray(node)) return;
  const s = node as Record<string, unknown>;
  if (s.type === "object" || (Array.isArray(s.type) && s.type.includes("object")) || "properties" in s) s.additionalProperties = false;
  for (const key of SUBSCHEMA_MAPS) {
    const m = s[key];
    if (typeof m === "object" && m !== null) for (const v of Object.values(m)) closeObjects(v);
  }
  for (const key of SUBSCHEMA_LISTS) if (Array.isArray(s[key])) for (const v of s[key] as unknown[]) closeObjects(v);
  for (const key of SUBSCHEMAS) closeObjects(s[key]);
}
