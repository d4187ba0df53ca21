/**
 * Bounded whitespace for JSON grammars. xgrammar's JSON grammars let whitespace runs grow without limit in
 * places its own max-whitespace option does not reach (the builtin JSON grammar, and any-value parts of a
 * schema), and a weak model then fills the output with newlines until max_tokens. The grammar text is
 * rewritten so every whitespace run between JSON elements holds at most `max` characters.
 */
import * as xg from "@mlc-ai/web-xgrammar";

const UNBOUNDED_WS = "[ \\n\\t]*";

export function boundWhitespace(ebnf: string, max: number): string {
  return ebnf.replaceAll(UNBOUNDED_WS, `[ \\n\\t]{0,${max}}`);
}

/** EBNF of any JSON value (xgrammar's builtin grammar) with bounded whitespace. */
export async function boundedJsonEbnf(max: number): Promise<string> {
  const g = await xg.Grammar.builtinJSONGrammar();
  try { return boundWhitespace(g.toString(), max); } finally { g.dispose(); }
}

/** EBNF of a JSON schema (any-whitespace form) with bounded whitespace. */
export async function boundedJsonSchemaEbnf(schema: string, max: number): Promise<string> {
  const g = await xg.Grammar.fromJSONSchema(schema, true, -1, undefined, true, max);
  try { return boundWhitespace(g.toString(), max); } finally { g.dispose(); }
}
