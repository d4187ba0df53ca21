/**
 * Writes a file under a temporary name and renames it into place, so a reader that still maps an older
 * file at the path keeps a valid mapping, and a failed write leaves nothing behind.
 */
import { closeSync, openSync, renameSync, rmSync, writeSync } from "node:fs";

/** `fill` receives `put`, which appends bytes; any throw removes the temporary file. */
export function writeFileAtomically(path: string, fill: (put: (bytes: Uint8Array) => void) => void): void {
  const tmp = `${path}.partial-${process.pid}`;
  const fd = openSync(tmp, "w");
  const put = (buf: Uint8Array) => {
    let off = 0;
    while (off < buf.byteLength) off += writeSync(fd, buf, off, buf.byteLength - off);
  };
  try {
    fill(put);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
}
