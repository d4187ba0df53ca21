/**
 * GET /tokenizer_info (vLLM's, behind --enable-tokenizer-info-endpoint): the tokenizer's settings as
 * transformers holds them (tokenizer_config.json without its file paths, added tokens as their text), plus
 * `tokenizer_class` and the chat template that serves.
 */
import { join } from "node:path";
import { MAX_CONFIG_FILE_BYTES, readModelFile } from "../../model_loader/model_file";
import type { Tokenizer } from "../../tokenizer/tokenizer";
import { TOKENIZER_CONFIG_FILE } from "../../tokenizer/tokenizer_files";

export type TokenizerInfo = Record<string, unknown> & { tokenizer_class: string };

// File paths say nothing a client can use (vLLM drops the first two; the third only names a local file).
const FILE_KEYS = ["vocab_file", "merges_file", "tokenizer_file"];

/** The response body; `chatTemplate` is the served one (--chat-template, else the tokenizer's). */
export function tokenizerInfo(tokenizer: Tokenizer, chatTemplate: string | null): TokenizerInfo {
  const config = { ...tokenizerConfig(tokenizer) };
  for (const k of FILE_KEYS) delete config[k];
  const out = asText(config) as Record<string, unknown>;
  out.tokenizer_class = fastClassName(config.tokenizer_class);
  if (chatTemplate) out.chat_template = chatTemplate;
  else delete out.chat_template;
  return out as TokenizerInfo;
}

function tokenizerConfig(t: Tokenizer): Record<string, unknown> {
  const o = t.origin;
  const raw = o.kind === "json" ? o.tokenizerConfig : parse(readModelFile(join(o.dir, TOKENIZER_CONFIG_FILE), MAX_CONFIG_FILE_BYTES));
  return isObject(raw) ? raw : {};
}

function parse(text: string | undefined): unknown {
  return text === undefined ? {} : JSON.parse(text);
}

// An AddedToken (an object with `content`) reads as its text, as vLLM serializes it.
function asText(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(asText);
  if (!isObject(v)) return v;
  if (typeof v.content === "string") return v.content;
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, asText(x)]));
}

// tokenizer.json is always what loads, so transformers would build the Fast class the config names.
function fastClassName(name: unknown): string {
  if (typeof name !== "string" || name === "") return "PreTrainedTokenizerFast";
  return name.endsWith("Fast") ? name : `${name}Fast`;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
