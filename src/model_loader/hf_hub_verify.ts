/**
 * Checks a downloaded file against the hub's etag. LFS files (the weights) are named by the sha256 of
 * their content; files kept in git by their git blob id, sha1("blob <size>\0" + content).
 */
import { createHash } from "node:crypto";
import { closeSync, openSync, readSync, statSync } from "node:fs";

export type EtagKind = "sha256" | "git-sha1";

/** How an etag was made, from its shape; null for one this engine cannot check (e.g. a mirror's own). */
export function etagKind(etag: string): EtagKind | null {
  if (/^[0-9a-f]{64}$/.test(etag)) return "sha256";
  if (/^[0-9a-f]{40}$/.test(etag)) return "git-sha1";
  return null;
}

/** The hash `kind` of a file's content, read in chunks so a 10 GB shard never sits in memory. */
export function fileDigest(path: string, kind: EtagKind): string {
  const size = statSync(path).size;
  const hash = createHash(kind === "sha256" ? "sha256" : "sha1");
  if (kind === "git-sha1") hash.update(`blob ${size}\0`);
  const buf = Buffer.allocUnsafe(8 << 20);
  const fd = openSync(path, "r");
  try {
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0; ) hash.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return hash.digest("hex");
}

/** Null when the file matches; else what differs, for an error that names the file. */
export function verifyDownload(path: string, etag: string, size: number): string | null {
  const actual = statSync(path).size;
  if (actual !== size) return `size ${actual} bytes, expected ${size}`;
  const kind = etagKind(etag);
  if (kind === null) return null;
  const digest = fileDigest(path, kind);
  return digest === etag ? null : `${kind} ${digest}, expected ${etag}`;
}
