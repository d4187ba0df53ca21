// The tokenizer stored in GGUF metadata (tokenizer.ggml.*), rebuilt as the tokenizer.json and
// tokenizer_config.json a Hugging Face checkpoint of the same model carries, then loaded by Tokenizer.
// "gpt2" is byte-level BPE with merges; the pre-tokenizer name selects the split regex. "llama" is
// SentencePiece BPE with scores: merges are derived from the scores the way the reference converter
// derives them, which reproduces sentencepiece's highest-score-first merging.
import type { GgufFile } from "../model_loader/gguf";
import { GgufMetadata } from "../model_loader/gguf_metadata";
import { Tokenizer, TokenizerError } from "./tokenizer";
import { GGUF_PRE_TOKENIZERS, GgufTokenType, SPM_SPACE } from "./gguf_vocab";

type Json = Record<string, unknown>;

/** tokenizer.json and tokenizer_config.json objects equivalent to the file's tokenizer metadata. */
export interface GgufTokenizerFiles {
  tokenizerJson: Json;
  tokenizerConfig: Json;
}

export function ggufTokenizer(file: GgufFile): Tokenizer {
  const { tokenizerJson, tokenizerConfig } = ggufTokenizerFiles(file);
  return Tokenizer.fromJson(tokenizerJson, tokenizerConfig, file.path);
}

export function ggufTokenizerFiles(file: GgufFile): GgufTokenizerFiles {
  const m = new GgufMetadata(file);
  const kind = m.string("tokenizer.ggml.model");
  const tokens = m.strings("tokenizer.ggml.tokens");
  const types = m.numbers("tokenizer.ggml.token_type", true) ?? tokens.map(() => GgufTokenType.NORMAL);
  if (types.length !== tokens.length) m.fail("tokenizer.ggml.token_type", `has ${types.length} entries for ${tokens.length} tokens`);
  const vocab = vocabMap(tokens);
  let json: Json;
  if (kind === "gpt2") json = byteLevelJson(m, vocab);
  else if (kind === "llama") json = sentencePieceJson(m, tokens, vocab, types);
  else throw new TokenizerError(`${file.path}: tokenizer model '${kind}' is not supported (supported: gpt2, llama)`);
  json.added_tokens = addedTokens(tokens, types);
  return { tokenizerJson: json, tokenizerConfig: tokenizerConfig(m, tokens, kind) };
}

/** token → id; a repeated token string keeps its first id (as a lookup in the reference loader would). */
function vocabMap(tokens: string[]): Map<string, number> {
  const vocab = new Map<string, number>();
  tokens.forEach((t, id) => {
    if (!vocab.has(t)) vocab.set(t, id);
  });
  return vocab;
}

function bpeModel(vocab: Map<string, number>, merges: [string, string][], extra: Json): Json {
  return {
    type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
    fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab: Object.fromEntries(vocab), merges, ...extra,
  };
}

function byteLevelJson(m: GgufMetadata, vocab: Map<string, number>): Json {
  const preName = m.string("tokenizer.ggml.pre", true) ?? "default";
  const pre = GGUF_PRE_TOKENIZERS[preName];
  if (pre === undefined) {
    throw new TokenizerError(`${m.path}: pre-tokenizer '${preName}' is not supported (supported: ${Object.keys(GGUF_PRE_TOKENIZERS).join(", ")})`);
  }
  const merges = m.strings("tokenizer.ggml.merges").map((line, i): [string, string] => {
    const at = line.indexOf(" ");
    if (at <= 0 || at === line.length - 1) m.fail("tokenizer.ggml.merges", `entry ${i} ${JSON.stringify(line)} is not "left right"`);
    return [line.slice(0, at), line.slice(at + 1)];
  });
  const byteLevel = { type: "ByteLevel", add_prefix_space: false, trim_offsets: false, use_regex: false };
  return {
    version: "1.0", truncation: null, padding: null,
    normalizer: pre.nfc ? { type: "NFC" } : null,
    pre_tokenizer: { type: "Sequence", pretokenizers: [{ type: "Split", pattern: { Regex: pre.regex }, behavior: "Isolated", invert: false }, byteLevel] },
    post_processor: null,
    decoder: byteLevel,
    model: bpeModel(vocab, merges, { ignore_merges: pre.ignoreMerges }),
  };
}

function sentencePieceJson(m: GgufMetadata, tokens: string[], vocab: Map<string, number>, types: number[]): Json {
  const scores = m.numbers("tokenizer.ggml.scores")!;
  if (scores.length !== tokens.length) m.fail("tokenizer.ggml.scores", `has ${scores.length} entries for ${tokens.length} tokens`);
  const unkId = m.uint("tokenizer.ggml.unknown_token_id", true) ?? types.indexOf(GgufTokenType.UNKNOWN);
  const addSpacePrefix = m.bool("tokenizer.ggml.add_space_prefix") ?? true;
  const decoders: Json[] = [{ type: "Replace", pattern: { String: SPM_SPACE }, content: " " }, { type: "ByteFallback" }, { type: "Fuse" }];
  if (addSpacePrefix) decoders.push({ type: "Strip", content: " ", start: 1, stop: 0 });
  // sentencepiece's dummy prefix: "▁" before every piece of text, even one that starts with a space, and
  // again after each special token, as llama.cpp does (a Metaspace pre-tokenizer would skip the first case).
  const normalizers: Json[] = [{ type: "Replace", pattern: { String: " " }, content: SPM_SPACE }];
  if (addSpacePrefix) normalizers.unshift({ type: "Prepend", prepend: SPM_SPACE });
  return {
    version: "1.0", truncation: null, padding: null,
    normalizer: { type: "Sequence", normalizers },
    pre_tokenizer: null,
    post_processor: null,
    decoder: { type: "Sequence", decoders },
    model: bpeModel(vocab, mergesFromScores(tokens, scores, vocab), {
      byte_fallback: true, fuse_unk: true, unk_token: unkId >= 0 && unkId < tokens.length ? tokens[unkId] : null,
    }),
  };
}

/**
 * Every split of a token into two tokens is a merge, ranked by the merged token's score (highest
 * first); splits of one token are ordered by the ids of their halves. A stable sort keeps equal scores
 * in vocabulary order.
 */
export function mergesFromScores(tokens: string[], scores: number[], vocab: Map<string, number>): [string, string][] {
  const merges: { left: string; right: string; score: number }[] = [];
  tokens.forEach((piece, id) => {
    if (vocab.get(piece) !== id) return;
    const local: { left: string; right: string; l: number; r: number }[] = [];
    for (let i = 1; i < piece.length; i++) {
      const left = piece.slice(0, i), right = piece.slice(i);
      const l = vocab.get(left), r = vocab.get(right);
      if (l !== undefined && r !== undefined) local.push({ left, right, l, r });
    }
    local.sort((a, b) => a.l - b.l || a.r - b.r);
    for (const x of local) merges.push({ left: x.left, right: x.right, score: scores[id] });
  });
  merges.sort((a, b) => b.score - a.score);
  return merges.map((x) => [x.left, x.right]);
}

function addedTokens(tokens: string[], types: number[]): Json[] {
  const out: Json[] = [];
  types.forEach((type, id) => {
    const special = type === GgufTokenType.CONTROL || type === GgufTokenType.UNKNOWN;
    if (!special && type !== GgufTokenType.USER_DEFINED) return;
    out.push({ id, content: tokens[id], single_word: false, lstrip: false, rstrip: false, normalized: false, special });
  });
  return out;
}

function tokenizerConfig(m: GgufMetadata, tokens: string[], kind: string): Json {
  const text = (key: string): string | undefined => {
    const id = m.uint(`tokenizer.ggml.${key}_token_id`, true);
    if (id === null) return undefined;
    if (id >= tokens.length) m.fail(`tokenizer.ggml.${key}_token_id`, `is ${id}, past the ${tokens.length}-token vocabulary`);
    return tokens[id];
  };
  // Defaults when the keys are absent follow the reference loader: sentencepiece and Llama 3 add BOS.
  const pre = m.string("tokenizer.ggml.pre", true);
  const config: Json = {
    bos_token: text("bos"), eos_token: text("eos"), unk_token: text("unknown"), pad_token: text("padding"),
    add_bos_token: m.bool("tokenizer.ggml.add_bos_token") ?? (kind === "llama" || pre === "llama-bpe" || pre === "llama3"),
    add_eos_token: m.bool("tokenizer.ggml.add_eos_token") ?? false,
    clean_up_tokenization_spaces: false,
  };
  const template = m.string("tokenizer.chat_template", true);
  if (template !== null) config.chat_template = template;
  return config;
}
