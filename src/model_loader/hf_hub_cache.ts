/**
 * The Hugging Face cache layout, shared with the Python tools:
 *   <cache>/models--ORG--NAME/blobs/<etag>                 file contents, named by the hub's etag
 *   <cache>/models--ORG--NAME/snapshots/<commit>/<file>    symlinks to ../../blobs/<etag>
 *   <cache>/models--ORG--NAME/refs/<revision>              the commit a branch or tag pointed to
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";

const COMMIT_HASH = /^[0-9a-f]{40}$/;

export function isCommitHash(revision: string): boolean {
  return COMMIT_HASH.test(revision);
}

/** `models--ORG--NAME`: the repo's folder in the cache. */
export function repoFolderName(repoId: string): string {
  return ["models", ...repoId.split("/")].join("--");
}

export class HubCache {
  readonly repoDir: string;

  constructor(readonly cacheDir: string, readonly repoId: string) {
    this.repoDir = join(cacheDir, repoFolderName(repoId));
  }

  blobPath(etag: string): string {
    return join(this.repoDir, "blobs", etag);
  }

  hasBlob(etag: string): boolean {
    return existsSync(this.blobPath(etag));
  }

  /** Where a file's lock lives: beside the Python tools' `.locks/`, under a name of our own. */
  lockPath(etag: string): string {
    return join(this.cacheDir, ".locks", repoFolderName(this.repoId), `${etag}.vllm.lock`);
  }

  snapshotDir(commit: string): string {
    return join(this.repoDir, "snapshots", commit);
  }

  /** The commit `revision` names here: itself for a commit hash, else what refs/<revision> holds. */
  commitFor(revision: string): string | null {
    if (isCommitHash(revision)) return revision;
    const ref = join(this.repoDir, "refs", revision);
    if (!existsSync(ref) || !statSync(ref).isFile()) return null;
    const commit = readFileSync(ref, "utf8").trim();
    return isCommitHash(commit) ? commit : null;
  }

  writeRef(revision: string, commit: string): void {
    if (revision === commit) return;
    const ref = join(this.repoDir, "refs", revision);
    if (existsSync(ref) && readFileSync(ref, "utf8").trim() === commit) return; // a read-only cache stays usable
    mkdirSync(dirname(ref), { recursive: true });
    writeFileSync(ref, commit);
  }

  /** Points snapshots/<commit>/<file> at the blob with a relative link, so the cache can be moved. */
  linkFile(commit: string, file: string, etag: string): void {
    const link = join(this.snapshotDir(commit), ...file.split("/"));
    mkdirSync(dirname(link), { recursive: true });
    const target = relative(dirname(link), this.blobPath(etag));
    // A new link replaces the old one atomically, so a reader never sees the file missing.
    const tmp = `${link}.tmp-${process.pid}`;
    rmSync(tmp, { force: true });
    symlinkSync(target, tmp);
    renameSync(tmp, link);
  }
}
