/**
 * `--model ORG/NAME` → a local model directory, in vLLM's order: a directory of that name; the snapshot
 * in the Hugging Face cache that the revision points to; else (unless HF_HUB_OFFLINE=1) a download from
 * the hub into that cache, in the layout the Python tools use, so both share one copy.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fetchFileMetadata, fetchRepoInfo, type FileMetadata, type HubClient } from "./hf_hub_api";
import { HubCache } from "./hf_hub_cache";
import { downloadBlob, partialBytes } from "./hf_hub_download";
import { INDEX_FILE, selectFiles, snapshotMissing, weightsFromIndex } from "./hf_hub_files";
import { DownloadProgress, formatBytes, type ProgressSink, stderrSink } from "./hf_hub_progress";
import type { HubSettings } from "./hf_hub_settings";

export const BUILTIN_DEMO = "demo";

export interface ResolveOptions extends HubSettings {
  log?: (line: string) => void;
  progress?: ProgressSink;
  /** Extra attempts per file after a broken transfer (default 3). */
  retries?: number;
}

export interface ResolvedModel {
  /** A model directory, or "demo" for the built-in model. */
  dir: string;
  /** The name clients use by default: the model as given, never the snapshot path. */
  servedName: string;
  source: "builtin" | "local" | "cache" | "hub";
}

/** huggingface_hub's rule for repo ids: `NAME` or `ORG/NAME` of [\w.-], no `--` or `..`, at most 96 long. */
export function isRepoId(s: string): boolean {
  return /^(?:[\w.-]+\/)?[\w.-]{1,96}$/.test(s) && !/--|\.\./.test(s) && !/^[.-]|[.-]$|\/[.-]|[.-]\//.test(s) && !s.endsWith(".git");
}

/**
 * The model without the network: built-in, a local directory, or a complete cached snapshot. Null when
 * only the hub has it; throws when it cannot be had at all (not a directory nor a repo id, or offline).
 */
export function findModelLocally(model: string, settings: HubSettings): ResolvedModel | null {
  if (model === BUILTIN_DEMO) return { dir: model, servedName: model, source: "builtin" };
  if (existsSync(model) && statSync(model).isDirectory()) return { dir: model, servedName: model, source: "local" };
  if (model.toLowerCase().endsWith(".gguf") && existsSync(model) && statSync(model).isFile()) return { dir: model, servedName: model, source: "local" };
  if (!isRepoId(model)) throw new Error(`--model ${model}: no such model directory, and not a Hugging Face repo id (ORG/NAME)`);
  const cache = new HubCache(settings.cacheDir, model);
  const commit = cache.commitFor(settings.revision);
  const snapshot = commit === null ? null : cache.snapshotDir(commit);
  const missing = snapshot === null ? null : existsSync(snapshot) ? snapshotMissing(snapshot) : "the snapshot folder";
  if (snapshot !== null && missing === null) return { dir: snapshot, servedName: model, source: "cache" };
  if (!settings.offline) return null;
  const where = commit === null ? `no refs/${settings.revision} in ${cache.repoDir}` : `${snapshot} lacks ${missing}`;
  throw new Error(`--model ${model}: HF_HUB_OFFLINE is set and revision '${settings.revision}' is not in the Hugging Face cache (${where}); ` +
    `unset HF_HUB_OFFLINE to download it, or set HF_HUB_CACHE / --download-dir to the cache that has it`);
}

/** Resolves `model` to a loadable directory, downloading the snapshot when nothing local has it. */
export async function resolveModelPath(model: string, opts: ResolveOptions): Promise<ResolvedModel> {
  const local = findModelLocally(model, opts);
  if (local !== null) return local;
  return { dir: await downloadSnapshot(model, opts), servedName: model, source: "hub" };
}

async function downloadSnapshot(repo: string, opts: ResolveOptions): Promise<string> {
  const log = opts.log ?? (() => {});
  const client: HubClient = { endpoint: opts.endpoint, token: opts.token };
  const info = await fetchRepoInfo(client, repo, opts.revision);
  const cache = new HubCache(opts.cacheDir, repo);
  const snapshot = cache.snapshotDir(info.sha);
  log(`${repo}: revision '${opts.revision}' is commit ${info.sha} on ${opts.endpoint}; fetching into ${cache.repoDir}`);
  const sel = selectFiles(repo, info.files);
  const fetchInto = (files: string[]) => fetchFiles(client, cache, info.sha, files, opts, log);
  // The index names the shards, so it comes first; everything else then shares one progress bar.
  if (sel.index !== null) await fetchInto([sel.index]);
  const weights = sel.weights ?? weightsFromIndex(repo, readFileSync(join(snapshot, INDEX_FILE), "utf8"), info.files);
  await fetchInto([...sel.metadata, ...weights]);
  cache.writeRef(opts.revision, info.sha);
  const missing = snapshotMissing(snapshot);
  if (missing !== null) throw new Error(`${repo}: the downloaded snapshot ${snapshot} lacks ${missing}; the repository does not hold a loadable model`);
  return snapshot;
}

async function fetchFiles(client: HubClient, cache: HubCache, commit: string, files: string[], opts: ResolveOptions, log: (l: string) => void): Promise<void> {
  const metas = await Promise.all(files.map((f) => fetchFileMetadata(client, cache.repoId, commit, f)));
  const needed = uniqueBlobs(metas.filter((m) => !cache.hasBlob(m.etag)));
  if (needed.length > 0) {
    const total = needed.reduce((a, m) => a + m.size, 0);
    const kept = needed.reduce((a, m) => a + partialBytes(cache, m), 0);
    log(`${cache.repoId}: downloading ${needed.length} file(s), ${formatBytes(total)}${kept > 0 ? ` (${formatBytes(kept)} kept from an earlier run)` : ""}`);
    const progress = new DownloadProgress(opts.progress ?? stderrSink, total, needed.length, kept);
    const ctx = { client, cache, progress, retries: opts.retries ?? 3, log };
    for (const m of needed) await downloadBlob(ctx, m);
    progress.finish();
  }
  for (const m of metas) cache.linkFile(commit, m.file, m.etag);
}

// Two files with the same content share one blob; it is fetched once.
function uniqueBlobs(metas: FileMetadata[]): FileMetadata[] {
  const seen = new Set<string>();
  return metas.filter((m) => !seen.has(m.etag) && (seen.add(m.etag), true));
}
