/**
 * The tokenizer `bench serve` counts with: --tokenizer, else the model when it names a local directory
 * (or the built-in demo), else the directory the server reports as the model's root. There is no model
 * hub here, so a remote name needs --tokenizer.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { ensureDemoModel } from "../demo/demo_model";
import { Tokenizer } from "../tokenizer/tokenizer";

export interface TokenizerChoice {
  tokenizer: Tokenizer;
  /** What the result JSON records as `tokenizer_id`. */
  id: string;
}

/** `candidates` in order of preference; `explicit` (from --tokenizer) must work if given. */
export function loadBenchTokenizer(explicit: string | null, candidates: readonly (string | null)[]): TokenizerChoice {
  if (explicit !== null) {
    const dir = localDir(explicit);
    if (dir === null) throw new Error(`--tokenizer ${explicit}: not a directory with tokenizer.json`);
    return { tokenizer: Tokenizer.fromDir(dir), id: explicit };
  }
  for (const c of candidates) {
    const dir = c === null ? null : localDir(c);
    if (dir !== null) return { tokenizer: Tokenizer.fromDir(dir), id: c! };
  }
  throw new Error(`--tokenizer: no local tokenizer for model ${candidates.filter(Boolean).join(" / ")}; pass --tokenizer DIR (a directory with tokenizer.json)`);
}

export function hasLocalTokenizer(name: string): boolean {
  return localDir(name) !== null;
}

function localDir(name: string): string | null {
  if (name === "demo") return ensureDemoModel();
  return existsSync(join(name, "tokenizer.json")) ? name : null;
}
