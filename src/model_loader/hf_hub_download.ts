/**
 * Fetches one file into the cache's blobs/: bytes go to `<etag>.incomplete`, a broken transfer resumes
 * from its end with a Range request, and only a file that matches the hub's etag is renamed into place.
 */
import { closeSync, existsSync, mkdirSync, openSync, renameSync, rmSync, statSync, truncateSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { authHeaders, type FileMetadata, type HubClient, HubError, hubFetch } from "./hf_hub_api";
import type { HubCache } from "./hf_hub_cache";
import { acquireBlobLock } from "./hf_hub_lock";
import type { DownloadProgress } from "./hf_hub_progress";
import { verifyDownload } from "./hf_hub_verify";

export interface DownloadContext {
  client: HubClient;
  cache: HubCache;
  progress: DownloadProgress;
  /** Extra attempts after a broken transfer within this run; each resumes where the last stopped. */
  retries: number;
  log: (line: string) => void;
}

export function incompletePath(cache: HubCache, etag: string): string {
  return `${cache.blobPath(etag)}.incomplete`;
}

export function partialBytes(cache: HubCache, meta: FileMetadata): number {
  const p = incompletePath(cache, meta.etag);
  return existsSync(p) ? Math.min(statSync(p).size, meta.size) : 0;
}

export async function downloadBlob(ctx: DownloadContext, meta: FileMetadata): Promise<void> {
  const lock = await acquireBlobLock(ctx.cache.lockPath(meta.etag), (p) => ctx.log(`waiting for another process downloading ${meta.file} (lock ${p})`));
  try {
    if (ctx.cache.hasBlob(meta.etag)) return; // the other process finished it
    mkdirSync(dirname(ctx.cache.blobPath(meta.etag)), { recursive: true });
    for (let attempt = 0; ; attempt++) {
      try {
        await transfer(ctx, meta, lock.touch);
        break;
      } catch (e) {
        if (!(e instanceof TransferBroken) || attempt >= ctx.retries) throw toUserError(ctx, meta, e);
        ctx.log(`${meta.file}: ${e.message}; resuming (attempt ${attempt + 2} of ${ctx.retries + 1})`);
        await Bun.sleep(Math.min(500 * 2 ** attempt, 4000));
      }
    }
    const part = incompletePath(ctx.cache, meta.etag);
    const bad = verifyDownload(part, meta.etag, meta.size);
    if (bad !== null) {
      rmSync(part, { force: true });
      throw new HubError(`${meta.file}: the download does not match the hub (${bad}); the partial file was removed, run again`, null);
    }
    renameSync(part, ctx.cache.blobPath(meta.etag));
  } finally {
    lock.release();
  }
}

/** A transfer that stopped midway: the bytes so far are kept and the next attempt resumes. */
class TransferBroken extends Error {}

async function transfer(ctx: DownloadContext, meta: FileMetadata, touch: () => void): Promise<void> {
  const part = incompletePath(ctx.cache, meta.etag);
  let offset = partialBytes(ctx.cache, meta);
  ctx.progress.startFile(meta.file, offset);
  if (offset === meta.size) return;
  const headers: Record<string, string> = { "Accept-Encoding": "identity", ...(meta.sameOrigin ? authHeaders(ctx.client) : {}) };
  if (offset > 0) headers.Range = `bytes=${offset}-`;
  const res = await hubFetch(meta.location, { headers }).catch((e: Error) => { throw new TransferBroken(e.message); });
  if (res.status === 200 && offset > 0) {
    ctx.progress.advance(-offset); // the server ignored the range: start over
    offset = 0;
  } else if (res.status === 206) {
    const start = Number(/^bytes (\d+)-/.exec(res.headers.get("content-range") ?? "")?.[1]);
    if (start !== offset) throw new HubError(`${meta.file}: asked to resume at byte ${offset}, the server answered from ${start}`, 206);
  } else if (!res.ok) {
    throw new HubError(`${meta.file}: HTTP ${res.status} downloading ${meta.location}`, res.status);
  }
  if (res.body === null) throw new TransferBroken("the answer had no body");
  await appendBody(res.body, part, offset, (n) => { ctx.progress.advance(n); touch(); });
  const have = statSync(part).size;
  if (have < meta.size) throw new TransferBroken(`the transfer stopped at ${have} of ${meta.size} bytes`);
}

async function appendBody(body: ReadableStream<Uint8Array>, path: string, offset: number, onBytes: (n: number) => void): Promise<void> {
  if (offset === 0 && existsSync(path)) truncateSync(path, 0);
  const fd = openSync(path, "a");
  try {
    for await (const chunk of body) {
      writeSync(fd, chunk);
      onBytes(chunk.length);
    }
  } catch (e) {
    throw new TransferBroken(`the transfer broke off (${(e as Error).message})`);
  } finally {
    closeSync(fd);
  }
}

function toUserError(ctx: DownloadContext, meta: FileMetadata, e: unknown): Error {
  if (!(e instanceof TransferBroken)) return e as Error;
  const kept = partialBytes(ctx.cache, meta);
  return new HubError(`${meta.file}: ${e.message}; ${kept} of ${meta.size} bytes are kept in ${incompletePath(ctx.cache, meta.etag)} and the next run resumes from there`, null);
}
