import { ByteFallbackDecoder, Tokenizer as HfTokenizer } from "@huggingface/tokenizers";
import { checkTokenizerJson } from "./tokenizer_json_check";
import { TokenizerError } from "./tokenizer_error";
import { readTokenizerFiles } from "./tokenizer_files";

export { TokenizerError };

/** One chat message, in the OpenAI / transformers shape that chat templates consume. */
export interface ChatMessage {
  role: string;
  content: string | null | { type: string; text?: string }[];
  name?: string;
  tool_calls?: unknown[];
  tool_call_id?: string;
  [k: string]: unknown;
}

/**
 * How a tokenizer was built, as plain data: a worker thread rebuilds the same tokenizer from it (from the
 * directory's files again, or from the very objects it was given).
 */
export type TokenizerOrigin =
  | { kind: "dir"; dir: string }
  | { kind: "json"; tokenizerJson: unknown; tokenizerConfig: unknown; source: string };

type Json = Record<string, any>;
type Decoder = { decode_chain(tokens: string[]): string[]; decoders?: Decoder[] };

// transformers' named special-token attributes; their values join the special set.
const NAMED_SPECIAL_TOKENS = ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"];

/**
 * A Hugging Face tokenizer (tokenizer.json + tokenizer_config.json) that encodes and decodes exactly
 * as transformers' fast tokenizer does, including the class-specific pipeline transformers rebuilds.
 */
export class Tokenizer {
  readonly vocabSize: number;
  readonly bosTokenId: number | null;
  readonly eosTokenId: number | null;
  /** Ids that `skipSpecialTokens` drops: every special added token plus the named special tokens. */
  readonly allSpecialIds: ReadonlySet<number>;
  readonly chatTemplate: string | null;
  /** The file the chat template was read from (tokenizer_config.json or chat_template.jinja); null without a file. */
  readonly chatTemplatePath: string | null;
  readonly origin: TokenizerOrigin;
  /** The token strings transformers passes to chat templates (bos_token, eos_token, ...). */
  readonly specialTokenStrings: Readonly<Record<string, string>>;
  readonly source: string;
  private readonly hf: HfTokenizer;
  private readonly vocab: (string | undefined)[];
  private readonly cleanUpSpaces: boolean;

  /** Loads `dir/tokenizer.json` and, when present, `dir/tokenizer_config.json` and `dir/chat_template.jinja`. */
  static fromDir(dir: string): Tokenizer {
    const f = readTokenizerFiles(dir);
    return Tokenizer.build(f.tokenizerJson, f.tokenizerConfig, dir, f.tokenizerJsonPath, { kind: "dir", dir }, f.chatTemplatePath);
  }

  /** Builds a tokenizer from parsed tokenizer.json and tokenizer_config.json objects; `source` names them in errors. */
  static fromJson(tokenizerJson: unknown, tokenizerConfig: unknown, source: string): Tokenizer {
    return Tokenizer.build(tokenizerJson, tokenizerConfig, source, source, { kind: "json", tokenizerJson, tokenizerConfig, source }, null);
  }

  /** Rebuilds a tokenizer from its origin (in a worker thread). */
  static fromOrigin(origin: TokenizerOrigin): Tokenizer {
    return origin.kind === "dir" ? Tokenizer.fromDir(origin.dir) : Tokenizer.fromJson(origin.tokenizerJson, origin.tokenizerConfig, origin.source);
  }

  // `file` names the JSON in errors: the library's own failures are bare TypeErrors that name nothing.
  private static build(tokenizerJson: unknown, tokenizerConfig: unknown, source: string, file: string, origin: TokenizerOrigin, templatePath: string | null): Tokenizer {
    checkTokenizerJson(tokenizerJson, file);
    const config = isObject(tokenizerConfig) ? tokenizerConfig : {};
    try {
      return new Tokenizer(adaptToTransformers(tokenizerJson as Json, config), config, source, origin, templatePath);
    } catch (err) {
      if (err instanceof TokenizerError) throw err;
      throw new TokenizerError(`${file}: cannot build the tokenizer: ${(err as Error).message}`);
    }
  }

  private constructor(json: Json, config: Json, source: string, origin: TokenizerOrigin, chatTemplatePath: string | null) {
    this.origin = origin;
    this.chatTemplatePath = chatTemplatePath;
    this.source = source;
    this.hf = new HfTokenizer(json, config);
    const vocab = (this.hf.model as unknown as { vocab: (string | undefined)[] }).vocab;
    this.vocab = vocab;
    this.vocabSize = vocab.length;
    patchDecoder(this.hf.decoder as unknown as Decoder | null);

    this.specialTokenStrings = namedSpecialTokens(config);
    const special = new Set<number>();
    for (const t of json.added_tokens as Json[]) if (t.special) special.add(t.id);
    for (const token of Object.values(this.specialTokenStrings)) {
      const id = this.tokenToId(token);
      if (id !== undefined) special.add(id);
    }
    this.allSpecialIds = special;
    this.bosTokenId = this.idOf(this.specialTokenStrings.bos_token);
    this.eosTokenId = this.idOf(this.specialTokenStrings.eos_token);
    this.chatTemplate = pickChatTemplate(config.chat_template);
    // transformers skips the WordPiece-era space cleanup for BPE models even when the config asks for it.
    this.cleanUpSpaces = config.clean_up_tokenization_spaces === true && json.model.type !== "BPE";
  }

  /** Token ids of `text`; `addSpecialTokens` (default true) applies the post-processor (e.g. BOS). */
  encode(text: string, opts: { addSpecialTokens?: boolean } = {}): number[] {
    const ids = this.hf.encode(text, { add_special_tokens: opts.addSpecialTokens ?? true }).ids;
    for (const id of ids) assertId(id, text);
    return ids;
  }

  /** Text of `ids`; ids outside the vocabulary are dropped, as the reference decoder drops them. */
  decode(ids: readonly number[], opts: { skipSpecialTokens?: boolean; cleanUpTokenizationSpaces?: boolean } = {}): string {
    const tokens: string[] = [];
    for (const id of ids) {
      if (opts.skipSpecialTokens && this.allSpecialIds.has(id)) continue;
      const token = this.vocab[id];
      if (token !== undefined) tokens.push(token);
    }
    if (tokens.length === 0) return "";
    const decoder = this.hf.decoder as unknown as Decoder | null;
    const text = decoder ? decoder.decode_chain(tokens).join("") : tokens.join(" ");
    return (opts.cleanUpTokenizationSpaces ?? this.cleanUpSpaces) ? cleanUpTokenization(text) : text;
  }

  /** Whether decode() removes spaces before punctuation (never for BPE models). */
  get cleansUpTokenizationSpaces(): boolean {
    return this.cleanUpSpaces;
  }

  idToToken(id: number): string | undefined {
    return this.vocab[id];
  }

  tokenToId(token: string): number | undefined {
    return this.hf.token_to_id(token);
  }

  private idOf(token: string | undefined): number | null {
    return token === undefined ? null : (this.tokenToId(token) ?? null);
  }
}

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function tokenContent(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (isObject(v) && typeof v.content === "string") return v.content;
  return undefined;
}

function namedSpecialTokens(config: Json): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of NAMED_SPECIAL_TOKENS) {
    const content = tokenContent(config[key]);
    if (content !== undefined) out[key] = content;
  }
  return out;
}

function pickChatTemplate(v: unknown): string | null {
  if (typeof v === "string") return v;
  // Some configs hold named templates; "default" is the one transformers uses without tools.
  if (Array.isArray(v)) {
    const named = v.find((t) => isObject(t) && t.name === "default") ?? v[0];
    return isObject(named) && typeof named.template === "string" ? named.template : null;
  }
  return null;
}

function assertId(id: unknown, text: string): asserts id is number {
  if (!Number.isInteger(id)) throw new TokenizerError(`tokenizer produced no id for a piece of ${JSON.stringify(text.slice(0, 40))}`);
}

/**
 * transformers does not use tokenizer.json verbatim: some tokenizer classes rebuild their pipeline,
 * named special tokens become special added tokens, and add_bos_token/add_eos_token rebuild the
 * post-processor. Apply the same rewrites so ids match what AutoTokenizer produces.
 */
function adaptToTransformers(source: Json, config: Json): Json {
  const json: Json = { ...source, model: { ...source.model }, added_tokens: [...(source.added_tokens ?? [])] };
  for (const key of ["normalizer", "pre_tokenizer", "post_processor", "decoder"]) json[key] ??= null;
  const cls = String(config.tokenizer_class ?? "").replace(/Fast$/, "");
  if (cls === "LlamaTokenizer" && json.model.type === "BPE") rebuildLlamaPipeline(json, config);
  addConfigSpecialTokens(json, config);
  const bosEosExplicit = "add_bos_token" in config || "add_eos_token" in config;
  if (bosEosExplicit || json.post_processor === null) json.post_processor = bosEosTemplate(json, config);
  return json;
}

// The Llama tokenizer class replaces the file's normalizer with a Metaspace pre-tokenizer.
function rebuildLlamaPipeline(json: Json, config: Json): void {
  const addPrefixSpace = config.add_prefix_space ?? true;
  const prependScheme = !addPrefixSpace ? "never" : config.legacy === false || config.legacy === undefined ? "first" : "always";
  json.model = { ...json.model, byte_fallback: true, fuse_unk: true, unk_token: null };
  json.normalizer = null;
  json.pre_tokenizer = { type: "Metaspace", replacement: "\u2581", prepend_scheme: prependScheme, split: false };
  const decoders: Json[] = [
    { type: "Replace", pattern: { String: "\u2581" }, content: " " },
    { type: "ByteFallback" },
    { type: "Fuse" },
  ];
  if (addPrefixSpace) decoders.push({ type: "Strip", content: " ", start: 1, stop: 0 });
  json.decoder = { type: "Sequence", decoders };
}

function addConfigSpecialTokens(json: Json, config: Json): void {
  const known = new Set((json.added_tokens as Json[]).map((t) => t.content));
  const vocab = json.model.vocab as Record<string, number> | [string, number][];
  const lookup = (content: string): number | undefined =>
    Array.isArray(vocab) ? vocab.findIndex(([t]) => t === content) : vocab[content];
  const add = (content: string, special: boolean, extra: Json = {}): void => {
    if (known.has(content)) return;
    const id = lookup(content);
    if (id === undefined || id < 0) return;
    known.add(content);
    json.added_tokens.push({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, ...extra, special });
  };
  for (const [id, t] of Object.entries((config.added_tokens_decoder ?? {}) as Json)) {
    if (isObject(t) && typeof t.content === "string" && !known.has(t.content)) {
      known.add(t.content);
      json.added_tokens.push({ ...t, id: Number(id), special: t.special ?? false });
    }
  }
  for (const content of Object.values(namedSpecialTokens(config))) add(content, true);
  const extras = [config.additional_special_tokens, config.extra_special_tokens].flatMap((v) => (Array.isArray(v) ? v : []));
  for (const t of extras) {
    const content = tokenContent(t);
    if (content !== undefined) add(content, true);
  }
}

function bosEosTemplate(json: Json, config: Json): Json {
  const named = namedSpecialTokens(config);
  const idOf = (content: string | undefined) => (json.added_tokens as Json[]).find((t) => t.content === content)?.id;
  const bosId = idOf(named.bos_token);
  const eosId = idOf(named.eos_token);
  const bos = config.add_bos_token === true && bosId !== undefined;
  const eos = config.add_eos_token === true && eosId !== undefined;
  const tok = (content: string, typeId: number) => ({ SpecialToken: { id: content, type_id: typeId } });
  const seq = (id: string, typeId: number) => ({ Sequence: { id, type_id: typeId } });
  const wrap = (id: string, typeId: number) => [
    ...(bos ? [tok(named.bos_token!, typeId)] : []),
    seq(id, typeId),
    ...(eos ? [tok(named.eos_token!, typeId)] : []),
  ];
  const specialTokens: Json = {};
  if (bos) specialTokens[named.bos_token!] = { id: named.bos_token, ids: [bosId], tokens: [named.bos_token] };
  if (eos) specialTokens[named.eos_token!] = { id: named.eos_token, ids: [eosId], tokens: [named.eos_token] };
  return { type: "TemplateProcessing", single: wrap("A", 0), pair: [...wrap("A", 0), ...wrap("B", 1)], special_tokens: specialTokens };
}

// Byte runs that are not valid UTF-8 become one U+FFFD per byte in the reference decoder.
function byteFallbackChain(tokens: string[]): string[] {
  const out: string[] = [];
  let bytes: number[] = [];
  const flush = () => {
    if (bytes.length === 0) return;
    try {
      out.push(STRICT_UTF8.decode(Uint8Array.from(bytes)));
    } catch {
      out.push("\uFFFD".repeat(bytes.length));
    }
    bytes = [];
  };
  for (const token of tokens) {
    const m = BYTE_TOKEN.exec(token);
    if (m) bytes.push(parseInt(m[1]!, 16));
    else {
      flush();
      out.push(token);
    }
  }
  flush();
  return out;
}
const BYTE_TOKEN = /^<0x([0-9A-Fa-f]{2})>$/;
const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function patchDecoder(decoder: Decoder | null): void {
  if (decoder === null) return;
  if (decoder instanceof ByteFallbackDecoder) decoder.decode_chain = byteFallbackChain;
  for (const child of (decoder as { decoders?: Decoder[] }).decoders ?? []) patchDecoder(child);
}

/** The space cleanup transformers applies after decoding when a (non-BPE) tokenizer asks for it. */
export function cleanUpTokenization(text: string): string {
  const rules: [string, string][] = [
    [" .", "."], [" ?", "?"], [" !", "!"], [" ,", ","], [" ' ", "'"],
    [" n't", "n't"], [" 'm", "'m"], [" 's", "'s"], [" 've", "'ve"], [" 're", "'re"],
  ];
  return rules.reduce((s, [from, to]) => s.replaceAll(from, to), text);
}
