/**
 * The tokenizer files of a model directory: tokenizer.json, tokenizer_config.json and chat_template.jinja,
 * read with the model loader's regular-file and size checks, parsed, and with the chat template's file
 * recorded so template errors can name it.
 */
import { join } from "node:path";
import { ModelLoadError } from "../model_loader/errors";
import { MAX_TOKENIZER_FILE_BYTES, readModelFile } from "../model_loader/model_file";
import { TokenizerError } from "./tokenizer_error";

export const TOKENIZER_FILE = "tokenizer.json";
export const TOKENIZER_CONFIG_FILE = "tokenizer_config.json";
export const CHAT_TEMPLATE_FILE = "chat_template.jinja";

export interface TokenizerFiles {
  tokenizerJson: unknown;
  tokenizerConfig: Record<string, unknown>;
  /** Paths of the two JSON files, for error messages. */
  tokenizerJsonPath: string;
  tokenizerConfigPath: string;
  /** The file the chat template came from (chat_template.jinja wins over tokenizer_config.json); null without one. */
  chatTemplatePath: string | null;
}

export function readTokenizerFiles(dir: string): TokenizerFiles {
  const tokenizerJsonPath = join(dir, TOKENIZER_FILE);
  const tokenizerConfigPath = join(dir, TOKENIZER_CONFIG_FILE);
  const tokenizerJson = readJson(tokenizerJsonPath, MAX_TOKENIZER_FILE_BYTES);
  if (tokenizerJson === undefined) throw new TokenizerError(`missing tokenizer file: ${tokenizerJsonPath}`);
  const raw = readJson(tokenizerConfigPath) ?? {};
  if (typeof raw !== "object" || raw === null || Array.isArray(raw))
    throw new TokenizerError(`bad tokenizer file ${tokenizerConfigPath}: must hold a JSON object`);
  const tokenizerConfig = raw as Record<string, unknown>;
  let chatTemplatePath: string | null = tokenizerConfig.chat_template == null ? null : tokenizerConfigPath;
  const templateFile = join(dir, CHAT_TEMPLATE_FILE);
  const template = readText(templateFile);
  if (template !== undefined) {
    tokenizerConfig.chat_template = template;
    chatTemplatePath = templateFile;
  }
  return { tokenizerJson, tokenizerConfig, tokenizerJsonPath, tokenizerConfigPath, chatTemplatePath };
}

function readJson(path: string, maxBytes?: number): unknown {
  const text = readText(path, maxBytes);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new TokenizerError(`bad tokenizer file ${path}: ${(err as Error).message}`);
  }
}

// The loader's checks (regular file, size cap, UTF-8), reported as tokenizer errors.
function readText(path: string, maxBytes?: number): string | undefined {
  try {
    return readModelFile(path, maxBytes);
  } catch (err) {
    if (err instanceof ModelLoadError) throw new TokenizerError(`bad tokenizer file ${err.message}`);
    throw err;
  }
}
