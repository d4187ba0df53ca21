/**
 * One writer per blob: replicas that share a cache volume would otherwise append to the same
 * `.incomplete` file at once. The lock is a file created exclusively; its holder touches it while it
 * works, so a lock left by a killed process goes stale and is taken over.
 */
import { closeSync, mkdirSync, openSync, rmSync, statSync, utimesSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { dirname } from "node:path";

const STALE_MS = 60_000;
const POLL_MS = 500;

export interface BlobLock {
  /** Marks the holder alive; call it while the download makes progress. */
  touch(): void;
  release(): void;
}

export async function acquireBlobLock(path: string, onWait: (holder: string) => void = () => {}): Promise<BlobLock> {
  mkdirSync(dirname(path), { recursive: true });
  let told = false;
  for (;;) {
    if (tryCreate(path)) return heldLock(path);
    const age = lockAge(path);
    if (age === null) continue; // released between the two calls
    if (age > STALE_MS) {
      rmSync(path, { force: true });
      continue;
    }
    if (!told) { onWait(path); told = true; }
    await Bun.sleep(POLL_MS);
  }
}

function tryCreate(path: string): boolean {
  try {
    const fd = openSync(path, "wx");
    writeSync(fd, `${hostname()} ${process.pid}\n`);
    closeSync(fd);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw e;
  }
}

function lockAge(path: string): number | null {
  try {
    return Date.now() - statSync(path).mtimeMs;
  } catch {
    return null;
  }
}

function heldLock(path: string): BlobLock {
  let last = Date.now();
  return {
    touch() {
      const now = Date.now();
      if (now - last < STALE_MS / 6) return;
      last = now;
      try { utimesSync(path, now / 1000, now / 1000); } catch { /* a taken-over lock is the next holder's */ }
    },
    release: () => rmSync(path, { force: true }),
  };
}
