/**
 * A structural check of tokenizer.json before the tokenizer library sees it: the library assumes the shape
 * and fails with bare TypeErrors ("x.split is not a function") or builds a broken tokenizer. Each problem
 * here is a TokenizerError naming the file and the field.
 */
import { TokenizerError } from "./tokenizer_error";

type Json = Record<string, unknown>;

const MODEL_TYPES = ["BPE", "WordPiece", "WordLevel", "Unigram"];
const PIPELINE_FIELDS = ["normalizer", "pre_tokenizer", "post_processor", "decoder"];

/** Throws unless `json` has the shape a tokenizer can be built from; `file` names it in errors. */
export function checkTokenizerJson(json: unknown, file: string): void {
  const bad = (field: string, expected: string, got: unknown): never => {
    throw new TokenizerError(`${file}: field '${field}' must be ${expected}, got ${show(got)}`);
  };
  if (!isObject(json)) bad("(root)", "a JSON object", json);
  const root = json as Json;
  const model = root.model;
  if (!isObject(model)) bad("model", "an object", model);
  const m = model as Json;
  if (m.type !== undefined && !MODEL_TYPES.includes(m.type as string)) bad("model.type", `one of ${MODEL_TYPES.join(", ")}`, m.type);
  if (m.type === "Unigram" || (m.type === undefined && Array.isArray(m.vocab))) checkUnigramVocab(m.vocab, bad);
  else checkVocabMap(m.vocab, bad);
  if (m.type === "BPE" && m.merges !== undefined) checkMerges(m.merges, bad);
  if (root.added_tokens !== undefined && root.added_tokens !== null) checkAddedTokens(root.added_tokens, bad);
  for (const key of PIPELINE_FIELDS) {
    const v = root[key];
    if (v !== undefined && v !== null && !(isObject(v) && typeof v.type === "string")) bad(key, "null or an object with a string 'type'", v);
  }
}

type Bad = (field: string, expected: string, got: unknown) => never;

function checkVocabMap(vocab: unknown, bad: Bad): void {
  if (!isObject(vocab)) bad("model.vocab", "an object of token → id", vocab);
  for (const [token, id] of Object.entries(vocab as Json)) {
    if (!isTokenId(id)) bad(`model.vocab.${token}`, "a token id (non-negative integer)", id);
  }
}

function checkUnigramVocab(vocab: unknown, bad: Bad): void {
  if (!Array.isArray(vocab) || vocab.length === 0) bad("model.vocab", "a non-empty list of [token, score] pairs", vocab);
  (vocab as unknown[]).forEach((entry, i) => {
    const ok = Array.isArray(entry) && entry.length === 2 && typeof entry[0] === "string" && typeof entry[1] === "number";
    if (!ok) bad(`model.vocab.${i}`, "a [token, score] pair", entry);
  });
}

function checkMerges(merges: unknown, bad: Bad): void {
  if (!Array.isArray(merges)) bad("model.merges", "a list of merges", merges);
  (merges as unknown[]).forEach((merge, i) => {
    const pair = Array.isArray(merge) && merge.length === 2 && merge.every((p) => typeof p === "string");
    if (!pair && typeof merge !== "string") bad(`model.merges.${i}`, `a "left right" string or a [left, right] pair`, merge);
  });
}

function checkAddedTokens(tokens: unknown, bad: Bad): void {
  if (!Array.isArray(tokens)) bad("added_tokens", "a list", tokens);
  (tokens as unknown[]).forEach((t, i) => {
    if (!isObject(t)) bad(`added_tokens.${i}`, "an object", t);
    const token = t as Json;
    if (!isTokenId(token.id)) bad(`added_tokens.${i}.id`, "a token id (non-negative integer)", token.id);
    if (typeof token.content !== "string") bad(`added_tokens.${i}.content`, "a string", token.content);
  });
}

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isTokenId(v: unknown): boolean {
  return Number.isSafeInteger(v) && (v as number) >= 0;
}

function show(v: unknown): string {
  if (v === undefined) return "nothing";
  const s = JSON.stringify(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
