// Tokenizer metadata in GGUF: the token types, the byte-level pre-tokenizers by llama.cpp's name, and
// the export of a Hugging Face tokenizer (tokenizer.json + tokenizer_config.json) into tokenizer.ggml.*
// keys, which gguf_tokenizer.ts reads back.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { GgufValueType } from "../model_loader/gguf_types";
import type { GgufKV } from "../model_loader/gguf_writer";
import { Tokenizer, TokenizerError } from "./tokenizer";

export enum GgufTokenType {
  NORMAL = 1, UNKNOWN = 2, CONTROL = 3, USER_DEFINED = 4, UNUSED = 5, BYTE = 6,
}

/** sentencepiece's visible space. */
export const SPM_SPACE = "\u2581";

export interface PreTokenizer {
  regex: string;
  nfc: boolean;
  ignoreMerges: boolean;
}

const LLAMA3_REGEX = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN2_REGEX = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const GPT2_REGEX = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/** tokenizer.ggml.pre values whose split rules equal a Hugging Face pre-tokenizer. */
export const GGUF_PRE_TOKENIZERS: Record<string, PreTokenizer> = {
  "llama-bpe": { regex: LLAMA3_REGEX, nfc: false, ignoreMerges: true },
  llama3: { regex: LLAMA3_REGEX, nfc: false, ignoreMerges: true },
  qwen2: { regex: QWEN2_REGEX, nfc: true, ignoreMerges: false },
  "gpt-2": { regex: GPT2_REGEX, nfc: false, ignoreMerges: false },
};

type Json = Record<string, any>;

/** The tokenizer.ggml.* and tokenizer.chat_template keys for the tokenizer in `dir`, padded to `vocabSize` tokens. */
export function ggufTokenizerKVs(dir: string, vocabSize: number, ids: { bosTokenId: number | null; eosTokenIds: readonly number[] }): GgufKV[] {
  const json = JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8")) as Json;
  const tokenizer = Tokenizer.fromDir(dir);
  const { tokens, types } = tokenTable(json, vocabSize);
  const spm = json.model?.type === "BPE" && json.model.byte_fallback === true;
  const kvs: GgufKV[] = [
    str("tokenizer.ggml.model", spm ? "llama" : "gpt2"),
    { key: "tokenizer.ggml.tokens", type: GgufValueType.ARRAY, itemType: GgufValueType.STRING, value: tokens },
    { key: "tokenizer.ggml.token_type", type: GgufValueType.ARRAY, itemType: GgufValueType.INT32, value: Int32Array.from(types) },
  ];
  const merges = mergeList(json);
  if (spm) kvs.push(...sentencePieceKVs(json, tokens, types, merges));
  else kvs.push(str("tokenizer.ggml.pre", preTokenizerName(json)), { key: "tokenizer.ggml.merges", type: GgufValueType.ARRAY, itemType: GgufValueType.STRING, value: merges.map(([a, b]) => `${a} ${b}`) });
  kvs.push(...specialTokenKVs(tokenizer, ids.bosTokenId, ids.eosTokenIds));
  if (tokenizer.chatTemplate !== null) kvs.push(str("tokenizer.chat_template", tokenizer.chatTemplate));
  return kvs;
}

function str(key: string, value: string): GgufKV {
  return { key, type: GgufValueType.STRING, value };
}

function u32(key: string, value: number): GgufKV {
  return { key, type: GgufValueType.UINT32, value };
}

function bool(key: string, value: boolean): GgufKV {
  return { key, type: GgufValueType.BOOL, value };
}

// Ids the tokenizer lacks (embedding rows padded past the vocabulary) become unused placeholders.
function tokenTable(json: Json, vocabSize: number): { tokens: string[]; types: number[] } {
  const tokens = new Array<string | undefined>(vocabSize).fill(undefined);
  const types = new Array<number>(vocabSize).fill(GgufTokenType.UNUSED);
  const vocab: [string, number][] = Array.isArray(json.model.vocab) ? json.model.vocab.map(([t]: [string], i: number) => [t, i]) : Object.entries(json.model.vocab);
  for (const [token, id] of vocab) {
    if (id >= vocabSize) throw new TokenizerError(`tokenizer.json: token ${JSON.stringify(token)} has id ${id}, past the model's vocab_size ${vocabSize}`);
    tokens[id] = token;
    types[id] = /^<0x[0-9A-F]{2}>$/.test(token) && json.model.byte_fallback ? GgufTokenType.BYTE : GgufTokenType.NORMAL;
  }
  for (const t of (json.added_tokens ?? []) as Json[]) {
    if (t.id >= vocabSize) throw new TokenizerError(`tokenizer.json: added token ${JSON.stringify(t.content)} has id ${t.id}, past the model's vocab_size ${vocabSize}`);
    tokens[t.id] = t.content;
    types[t.id] = t.content === json.model.unk_token ? GgufTokenType.UNKNOWN : t.special ? GgufTokenType.CONTROL : GgufTokenType.USER_DEFINED;
  }
  return { tokens: tokens.map((t, id) => t ?? `[PAD${id}]`), types };
}

function mergeList(json: Json): [string, string][] {
  return ((json.model.merges ?? []) as (string | [string, string])[]).map((m) => {
    if (Array.isArray(m)) return m;
    const at = m.indexOf(" ");
    return [m.slice(0, at), m.slice(at + 1)];
  });
}

/**
 * sentencepiece merges the adjacent pair whose merged token scores highest. Scoring each token by
 * minus the rank of the first merge that produces it makes that order the merge list's order.
 */
function sentencePieceKVs(json: Json, tokens: string[], types: number[], merges: [string, string][]): GgufKV[] {
  const rank = new Map<string, number>();
  merges.forEach(([a, b], i) => {
    if (!rank.has(a + b)) rank.set(a + b, i);
  });
  const scores = tokens.map((t, id) => (types[id] === GgufTokenType.NORMAL ? -(rank.get(t) ?? merges.length + id) : 0));
  const unk = tokens.indexOf(json.model.unk_token);
  const kvs: GgufKV[] = [
    { key: "tokenizer.ggml.scores", type: GgufValueType.ARRAY, itemType: GgufValueType.FLOAT32, value: Float32Array.from(scores) },
    bool("tokenizer.ggml.add_space_prefix", addsSpacePrefix(json)),
  ];
  if (unk >= 0) kvs.push(u32("tokenizer.ggml.unknown_token_id", unk));
  return kvs;
}

function addsSpacePrefix(json: Json): boolean {
  const flat = (n: Json | null, key: string): Json[] => (n === null || n === undefined ? [] : n.type === "Sequence" ? (n[key] as Json[]).flatMap((c) => flat(c, key)) : [n]);
  if (flat(json.normalizer, "normalizers").some((n) => n.type === "Prepend" && n.prepend === SPM_SPACE)) return true;
  return flat(json.pre_tokenizer, "pretokenizers").some((p) => p.type === "Metaspace" && p.prepend_scheme !== "never");
}

function preTokenizerName(json: Json): string {
  const pre = json.pre_tokenizer as Json | null;
  const split = pre?.type === "Sequence" ? (pre.pretokenizers as Json[]).find((p) => p.type === "Split") : null;
  const regex = split?.pattern?.Regex;
  const nfc = json.normalizer?.type === "NFC";
  const name = Object.entries(GGUF_PRE_TOKENIZERS).find(([, p]) => p.regex === regex && p.nfc === nfc)?.[0];
  if (name === undefined) throw new TokenizerError(`tokenizer.json: no GGUF pre-tokenizer name matches its split rules (known: ${Object.keys(GGUF_PRE_TOKENIZERS).join(", ")})`);
  return name;
}

// bos and eos come from the model config when the tokenizer names none, as in the reference converter.
function specialTokenKVs(tokenizer: Tokenizer, bosTokenId: number | null, eosTokenIds: readonly number[]): GgufKV[] {
  const kvs: GgufKV[] = [];
  const withSpecial = tokenizer.encode("", { addSpecialTokens: true });
  const bos = tokenizer.bosTokenId ?? bosTokenId;
  if (bos !== null) kvs.push(u32("tokenizer.ggml.bos_token_id", bos));
  // eos, then any further stop ids of the model as end-of-turn and end-of-message.
  const eos = [...new Set([...eosTokenIds, ...(tokenizer.eosTokenId === null ? [] : [tokenizer.eosTokenId])])];
  ["eos", "eot", "eom"].forEach((name, i) => {
    if (i < eos.length) kvs.push(u32(`tokenizer.ggml.${name}_token_id`, eos[i]));
  });
  const pad = tokenizer.specialTokenStrings.pad_token;
  const padId = pad === undefined ? undefined : tokenizer.tokenToId(pad);
  if (padId !== undefined) kvs.push(u32("tokenizer.ggml.padding_token_id", padId));
  kvs.push(bool("tokenizer.ggml.add_bos_token", withSpecial.length > 0 && withSpecial[0] === tokenizer.bosTokenId));
  kvs.push(bool("tokenizer.ggml.add_eos_token", withSpecial.length > 0 && withSpecial[withSpecial.length - 1] === tokenizer.eosTokenId && withSpecial[0] !== tokenizer.eosTokenId));
  return kvs;
}
