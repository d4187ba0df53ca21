// Safetensors writer for generated checkpoints (test models, the built-in demo model).
// Streams each tensor straight to disk so a 1 GB model never exists twice in memory.
import { closeSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { ModelLoadError } from "./errors";
import { dtypeSize, isDtype, type SafetensorsDtype } from "./safetensors";

export interface TensorToWrite {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  data: Uint8Array;
}

const ALIGNMENT = 8;

/**
 * Writes `tensors` contiguously, in the given order, after a header padded with spaces so the data buffer
 * starts 8-byte aligned. Writes to a temporary file and renames it into place, so a reader that still maps
 * an older file at `path` keeps a valid mapping.
 */
export function writeSafetensors(path: string, tensors: TensorToWrite[], metadata?: Record<string, string>): void {
  const header = encodeHeader(path, tensors, metadata);
  const prefix = new Uint8Array(8);
  new DataView(prefix.buffer).setBigUint64(0, BigInt(header.byteLength), true);

  const tmp = `${path}.partial-${process.pid}`;
  const fd = openSync(tmp, "w");
  try {
    writeAll(fd, prefix);
    writeAll(fd, header);
    for (const t of tensors) writeAll(fd, t.data);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
}

function encodeHeader(path: string, tensors: TensorToWrite[], metadata?: Record<string, string>): Uint8Array {
  // Built by hand because a JS object would reorder integer-like tensor names ahead of the others.
  const parts: string[] = [];
  if (metadata !== undefined) parts.push(`"__metadata__":${JSON.stringify(metadata)}`);
  const names = new Set<string>();
  let offset = 0;
  for (const t of tensors) {
    checkTensor(path, t, names);
    const end = offset + t.data.byteLength;
    parts.push(`${JSON.stringify(t.name)}:${JSON.stringify({ dtype: t.dtype, shape: t.shape, data_offsets: [offset, end] })}`);
    offset = end;
  }
  const json = new TextEncoder().encode(`{${parts.join(",")}}`);
  const padded = new Uint8Array(Math.ceil(json.byteLength / ALIGNMENT) * ALIGNMENT).fill(0x20);
  padded.set(json);
  return padded;
}

function checkTensor(path: string, t: TensorToWrite, names: Set<string>): void {
  const fail = (detail: string): never => {
    throw new ModelLoadError(path, `cannot write: ${detail}`, t.name);
  };
  if (t.name === "__metadata__") fail("the name is reserved for metadata");
  if (names.has(t.name)) fail("duplicate tensor name");
  names.add(t.name);
  if (!isDtype(t.dtype)) fail(`unknown dtype ${String(t.dtype)}`);
  if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) fail(`bad shape [${t.shape}]`);
  const nbytes = t.shape.reduce((a, d) => a * d, dtypeSize(t.dtype));
  if (nbytes !== t.data.byteLength) fail(`shape [${t.shape}] of ${t.dtype} needs ${nbytes} bytes, data has ${t.data.byteLength}`);
}

function writeAll(fd: number, buf: Uint8Array): void {
  let off = 0;
  while (off < buf.byteLength) off += writeSync(fd, buf, off, buf.byteLength - off);
}
