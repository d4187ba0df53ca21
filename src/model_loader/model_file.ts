/**
 * Reading the small files of a model directory (config.json, tokenizer.json, chat templates, ...) with the
 * same guards the safetensors reader has: the path must be a regular file under a size cap. A symlink to
 * /dev/zero, a FIFO or a multi-GB file is then an error naming the file, never a hang or unbounded memory.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";
import { ModelLoadError } from "./errors";

/** config.json, generation_config.json, tokenizer_config.json, chat templates, index files. */
export const MAX_CONFIG_FILE_BYTES = 64 * 1024 * 1024;
/** tokenizer.json: the largest published ones (256k-token vocabularies) are a few tens of MB. */
export const MAX_TOKENIZER_FILE_BYTES = 512 * 1024 * 1024;

const UTF8 = new TextDecoder("utf-8", { fatal: true });

/** The UTF-8 text of the regular file at `path`, or undefined when nothing is there; anything else is a ModelLoadError. */
export function readModelFile(path: string, maxBytes: number = MAX_CONFIG_FILE_BYTES): string | undefined {
  let fd: number;
  try {
    // Non-blocking, so opening a FIFO returns at once and fails the regular-file check below.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    if ((e as { code?: string }).code === "ENOENT") return undefined;
    throw new ModelLoadError(path, `cannot open: ${(e as Error).message}`);
  }
  try {
    // fstat on the opened descriptor: what is checked is what is read, even if the path is swapped meanwhile.
    const st = fstatSync(fd);
    if (!st.isFile()) throw new ModelLoadError(path, "not a regular file");
    if (st.size > maxBytes) throw new ModelLoadError(path, `is ${st.size} bytes, larger than the limit of ${maxBytes} bytes for this file`);
    return decode(path, readAll(fd, path, st.size));
  } finally {
    closeSync(fd);
  }
}

/** Like readModelFile, but a missing file is an error too. */
export function readRequiredModelFile(path: string, maxBytes?: number): string {
  const text = readModelFile(path, maxBytes);
  if (text === undefined) throw new ModelLoadError(path, "not found");
  return text;
}

// Reads exactly the size fstat reported: a file that grows while it is read cannot make the read unbounded.
function readAll(fd: number, path: string, size: number): Uint8Array {
  const out = new Uint8Array(size);
  let done = 0;
  while (done < size) {
    const n = readSync(fd, out, done, size - done, done);
    if (n === 0) throw new ModelLoadError(path, `unexpected end of file at byte ${done} of ${size}`);
    done += n;
  }
  return out;
}

function decode(path: string, bytes: Uint8Array): string {
  try {
    return UTF8.decode(bytes);
  } catch {
    throw new ModelLoadError(path, "is not valid UTF-8 text");
  }
}
