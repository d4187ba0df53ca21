/**
 * What xgrammar needs to know about a model's tokenizer: every token's encoded string, how to decode it
 * (byte-level for Llama 3 / Qwen, byte-fallback for Llama 2 / Mistral, raw otherwise), the logits width and the
 * stop tokens. Plain data, so the compile worker can build the same TokenizerInfo.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Tokenizer } from "../tokenizer/tokenizer";

export type VocabType = "byte_level" | "byte_fallback" | "raw";

export interface TokenizerInfoSpec {
  /** Token strings by id as tokenizer.json stores them; "" marks a special token the grammar never allows. */
  encodedVocab: string[];
  vocabType: VocabType;
  addPrefixSpace: boolean;
  /** The logits width (config.json's vocab_size); ids past the tokenizer's vocabulary are always masked. */
  vocabSize: number;
  stopTokenIds: number[];
}

type Json = Record<string, unknown>;

/** Builds the spec from a model directory's tokenizer.json and the loaded tokenizer. */
export function tokenizerInfoSpecFromDir(modelDir: string, tokenizer: Tokenizer, vocabSize: number, stopTokenIds: readonly number[]): TokenizerInfoSpec {
  const json = JSON.parse(readFileSync(join(modelDir, "tokenizer.json"), "utf8")) as Json;
  return tokenizerInfoSpec(json, tokenizer, vocabSize, stopTokenIds);
}

export function tokenizerInfoSpec(tokenizerJson: Json, tokenizer: Tokenizer, vocabSize: number, stopTokenIds: readonly number[]): TokenizerInfoSpec {
  const n = Math.min(tokenizer.vocabSize, vocabSize);
  const stops = new Set(stopTokenIds);
  const encodedVocab = new Array<string>(n);
  for (let id = 0; id < n; id++) {
    // Special tokens vanish from the detokenized text, so they must never count as grammar text.
    const special = tokenizer.allSpecialIds.has(id) && !stops.has(id);
    encodedVocab[id] = special ? "" : (tokenizer.idToToken(id) ?? "");
  }
  return {
    encodedVocab, vocabType: detectVocabType(tokenizerJson), addPrefixSpace: detectAddPrefixSpace(tokenizerJson),
    vocabSize, stopTokenIds: [...stops].filter((id) => id < vocabSize),
  };
}

/** ByteLevel anywhere in the decoder → byte-level; ByteFallback (or a byte-fallback BPE model) → byte-fallback. */
export function detectVocabType(json: Json): VocabType {
  const types = decoderTypes(json.decoder);
  if (types.includes("ByteLevel")) return "byte_level";
  if (types.includes("ByteFallback")) return "byte_fallback";
  const model = json.model as Json | undefined;
  if (model?.byte_fallback === true) return "byte_fallback";
  return "raw";
}

/** SentencePiece-style tokenizers prepend "▁" to the text (a Prepend normalizer, a Metaspace pre-tokenizer, or a decoder that strips it). */
export function detectAddPrefixSpace(json: Json): boolean {
  const normalizers = flatten(json.normalizer, "normalizers");
  if (normalizers.some((n) => n.type === "Prepend" && n.prepend === "\u2581")) return true;
  const pre = flatten(json.pre_tokenizer, "pretokenizers");
  if (pre.some((p) => p.type === "Metaspace" && (p.prepend_scheme === "always" || p.prepend_scheme === "first" || p.add_prefix_space === true))) return true;
  return flatten(json.decoder, "decoders").some((d) => d.type === "Strip" && d.content === " " && Number(d.start) > 0);
}

function decoderTypes(decoder: unknown): string[] {
  return flatten(decoder, "decoders").map((d) => String(d.type));
}

function flatten(node: unknown, listKey: string): Json[] {
  if (typeof node !== "object" || node === null) return [];
  const n = node as Json;
  if (n.type === "Sequence" && Array.isArray(n[listKey])) return (n[listKey] as unknown[]).flatMap((c) => flatten(c, listKey));
  return [n];
}
