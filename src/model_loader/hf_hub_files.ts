/**
 * Which files of a hub repo the engine needs: the configs, the tokenizer and the safetensors weights.
 * Repos often carry the same weights again as .bin / .pt / consolidated.* files; those are never fetched.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { GENERATION_CONFIG_FILE } from "./generation_config";

export const CONFIG_FILE = "config.json";
export const INDEX_FILE = "model.safetensors.index.json";
export const SINGLE_FILE = "model.safetensors";

/** Small files taken whenever the repo has them (tokenizer formats, chat templates, configs). */
export const METADATA_FILES = [
  CONFIG_FILE, GENERATION_CONFIG_FILE, "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
  "added_tokens.json", "tokenizer.model", "vocab.json", "merges.txt", "chat_template.jinja", "chat_template.json",
];

/** The files to fetch before the weight shards are known: metadata, and the index when there is one. */
export interface RepoSelection {
  metadata: string[];
  index: string | null;
  /** The weights when they follow from the listing alone; null when the index must be read first. */
  weights: string[] | null;
}

/** Picks what to fetch from a repo listing; the message names the repo and what it holds instead. */
export function selectFiles(repo: string, files: readonly string[]): RepoSelection {
  const present = new Set(files);
  const metadata = METADATA_FILES.filter((f) => present.has(f));
  if (!present.has(CONFIG_FILE)) throw new Error(`${repo}: the repository has no ${CONFIG_FILE}; it is not a Hugging Face model repository`);
  if (present.has(INDEX_FILE)) return { metadata, index: INDEX_FILE, weights: null };
  if (present.has(SINGLE_FILE)) return { metadata, index: null, weights: [SINGLE_FILE] };
  const weights = files.filter((f) => !f.includes("/") && f.endsWith(".safetensors") && !f.startsWith("consolidated")).sort();
  if (weights.length === 0) {
    const others = files.filter((f) => /\.(bin|pt|pth|gguf|safetensors)$/.test(f));
    throw new Error(`${repo}: no safetensors weights in the repository (it has ${others.join(", ") || "no weight files"}); vllm-bun loads safetensors only`);
  }
  return { metadata, index: null, weights };
}

/** The shard files an index names, in order; every one must be in the repo listing. */
export function weightsFromIndex(repo: string, indexText: string, files: readonly string[]): string[] {
  const shards = shardNames(repo, indexText);
  const listed = new Set(files);
  const missing = shards.filter((s) => !listed.has(s));
  if (missing.length > 0) throw new Error(`${repo}: ${INDEX_FILE} names shards the repository lacks: ${missing.join(", ")}`);
  return shards;
}

function shardNames(source: string, indexText: string): string[] {
  let map: unknown;
  try {
    map = (JSON.parse(indexText) as { weight_map?: unknown }).weight_map;
  } catch (e) {
    throw new Error(`${source}: ${INDEX_FILE} is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof map !== "object" || map === null) throw new Error(`${source}: ${INDEX_FILE} has no weight_map`);
  return [...new Set(Object.values(map as Record<string, unknown>).map(String))].sort();
}

/**
 * What keeps `dir` from loading: null when it has a config, a tokenizer and every weight file;
 * otherwise the first missing file. A snapshot a Python tool only half fetched fails here.
 */
export function snapshotMissing(dir: string): string | null {
  for (const f of [CONFIG_FILE, "tokenizer.json"]) if (!isFile(join(dir, f))) return f;
  const index = join(dir, INDEX_FILE);
  if (isFile(index)) {
    let shards: string[];
    try {
      shards = shardNames(dir, readFileSync(index, "utf8"));
    } catch {
      return INDEX_FILE;
    }
    return shards.find((s) => !isFile(join(dir, s))) ?? null;
  }
  const anyWeights = readdirSync(dir).some((n) => n.endsWith(".safetensors") && isFile(join(dir, n)));
  return anyWeights ? null : SINGLE_FILE;
}

// statSync follows the snapshot's symlinks: a link whose blob is gone counts as missing.
function isFile(path: string): boolean {
  return existsSync(path) && statSync(path).isFile();
}
