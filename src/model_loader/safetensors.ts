// Safetensors reader: [u64 LE header length N][N bytes UTF-8 JSON header][data buffer].
// The file is memory-mapped and tensors are zero-copy views, so opening a multi-GB checkpoint touches
// only the header pages. Every structural rule is checked up front so later code can trust the views.
import { closeSync, openSync, readSync, statSync } from "node:fs";
import { ModelLoadError } from "./errors";

export type SafetensorsDtype =
  | "F64" | "F32" | "F16" | "BF16" | "I64" | "I32" | "I16" | "I8" | "U8" | "BOOL" | "F8_E4M3" | "F8_E5M2";

const DTYPE_SIZES: Record<SafetensorsDtype, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1, F8_E4M3: 1, F8_E5M2: 1,
};

/** Every dtype the reader accepts, in a stable order. */
export const SAFETENSORS_DTYPES = Object.keys(DTYPE_SIZES) as SafetensorsDtype[];

/** One tensor of a safetensors file; `data` is a view into the file mapping (byteLength = nbytes). */
export interface TensorInfo {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  file: string;
  data: Uint8Array;
}

/** An opened, fully validated safetensors file; tensors are in data-buffer order. */
export interface SafetensorsFile {
  path: string;
  metadata: Record<string, string>;
  tensors: Map<string, TensorInfo>;
}

/** Above this the header is treated as corrupt rather than parsed (same cap as the reference reader). */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;
const LENGTH_PREFIX_BYTES = 8;
const METADATA_KEY = "__metadata__";

interface TensorEntry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  begin: number;
  end: number;
}

/** Bytes per element of a dtype. */
export function dtypeSize(d: SafetensorsDtype): number {
  if (!isDtype(d)) throw new Error(`unknown safetensors dtype ${String(d)}`);
  return DTYPE_SIZES[d];
}

export function isDtype(d: unknown): d is SafetensorsDtype {
  return typeof d === "string" && Object.hasOwn(DTYPE_SIZES, d);
}

/** Maps and validates a safetensors file; throws ModelLoadError naming the file (and tensor) on any violation. */
export function openSafetensors(path: string): SafetensorsFile {
  const fileSize = statFileSize(path);
  if (fileSize < LENGTH_PREFIX_BYTES) {
    throw new ModelLoadError(path, `file is ${fileSize} bytes, too short to hold the 8-byte header length`);
  }
  const headerLen = readHeaderLength(path, readBytes(path, 0, LENGTH_PREFIX_BYTES), fileSize);
  const dataStart = LENGTH_PREFIX_BYTES + headerLen;
  const header = parseHeader(path, readBytes(path, LENGTH_PREFIX_BYTES, headerLen));
  const data = { byteLength: fileSize - dataStart };

  let metadata: Record<string, string> = {};
  const entries: TensorEntry[] = [];
  for (const [name, value] of Object.entries(header)) {
    if (name === METADATA_KEY) metadata = parseMetadata(path, value);
    else entries.push(parseEntry(path, name, value, data.byteLength));
  }
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  checkCoverage(path, entries, data.byteLength);

  const view = dataViewer(path, fileSize, dataStart);
  const tensors = new Map<string, TensorInfo>();
  for (const e of entries) {
    tensors.set(e.name, { name: e.name, dtype: e.dtype, shape: e.shape, file: path, data: view(e.name, e.begin, e.end) });
  }
  return { path, metadata, tensors };
}

/** Size of the regular file at `path`; a missing path or a non-file is a ModelLoadError. */
export function statFileSize(path: string): number {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    throw new ModelLoadError(path, `cannot open: ${(e as Error).message}`);
  }
  if (!st.isFile()) throw new ModelLoadError(path, "not a regular file");
  return st.size;
}

/** Bun.mmap maps at most 4 GiB - 1 at once; real checkpoints have shards past 4 GiB. */
export const MAX_MAPPING = 2 ** 32 - 1;
const MAP_ALIGN = 65536; // a multiple of every page size in use

/** Zero-copy views of tensor data: one mapping of the whole file, or one per tensor for files past 4 GiB. */
export function dataViewer(path: string, fileSize: number, dataStart: number): (name: string, begin: number, end: number) => Uint8Array {
  if (fileSize <= MAX_MAPPING) {
    const bytes = mapFile(path);
    return (_name, begin, end) => bytes.subarray(dataStart + begin, dataStart + end);
  }
  return (name, begin, end) => {
    const start = dataStart + begin;
    const offset = start - (start % MAP_ALIGN);
    if (dataStart + end - offset > MAX_MAPPING) throw new ModelLoadError(path, "is larger than 4 GiB, which cannot be mapped at once", name);
    if (end === begin) return new Uint8Array(0);
    return mapFile(path, { offset, size: dataStart + end - offset }).subarray(start - offset);
  };
}

function mapFile(path: string, range?: { offset: number; size: number }): Uint8Array {
  try {
    return range ? Bun.mmap(path, range) : Bun.mmap(path);
  } catch (e) {
    throw new ModelLoadError(path, `cannot memory-map: ${(e as Error).message}`);
  }
}

function readBytes(path: string, position: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  const fd = openSync(path, "r");
  try {
    let done = 0;
    while (done < length) {
      const n = readSync(fd, out, done, length - done, position + done);
      if (n === 0) throw new ModelLoadError(path, `unexpected end of file at byte ${position + done}`);
      done += n;
    }
  } finally {
    closeSync(fd);
  }
  return out;
}

function readHeaderLength(path: string, prefix: Uint8Array, fileSize: number): number {
  const n = new DataView(prefix.buffer, prefix.byteOffset, LENGTH_PREFIX_BYTES).getBigUint64(0, true);
  if (n === 0n) throw new ModelLoadError(path, "header length is 0");
  if (n > BigInt(MAX_HEADER_BYTES)) {
    throw new ModelLoadError(path, `header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit (corrupt file?)`);
  }
  const len = Number(n);
  if (LENGTH_PREFIX_BYTES + len > fileSize) {
    throw new ModelLoadError(path, `header length ${len} runs past the end of the ${fileSize}-byte file (truncated?)`);
  }
  return len;
}

function parseHeader(path: string, raw: Uint8Array): Record<string, unknown> {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(raw);
  } catch {
    throw new ModelLoadError(path, "header is not valid UTF-8");
  }
  if (!text.startsWith("{")) {
    throw new ModelLoadError(path, `header must start with '{', found ${JSON.stringify(text.slice(0, 16))}`);
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    throw new ModelLoadError(path, `header is not valid JSON: ${(e as Error).message}`);
  }
  // JSON.parse keeps the last of two equal keys; a checkpoint with two tensors of one name is corrupt.
  const dup = findDuplicateTopLevelKey(text);
  if (dup !== null) throw new ModelLoadError(path, "appears twice in the header", dup);
  return header as Record<string, unknown>;
}

/** First top-level key of a JSON object text that occurs twice; `text` must already be valid JSON. */
export function findDuplicateTopLevelKey(text: string): string | null {
  const seen = new Set<string>();
  let depth = 0;
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      const end = closingQuote(text, i);
      if (depth === 1 && expectKey) {
        const key = JSON.parse(text.slice(i, end + 1)) as string;
        if (seen.has(key)) return key;
        seen.add(key);
        expectKey = false;
      }
      i = end;
    } else if (c === "{" || c === "[") {
      depth++;
      if (depth === 1) expectKey = true;
    } else if (c === "}" || c === "]") {
      depth--;
    } else if (c === "," && depth === 1) {
      expectKey = true;
    }
  }
  return null;
}

function closingQuote(text: string, open: number): number {
  let j = open + 1;
  while (text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
  return j;
}

function parseMetadata(path: string, value: unknown): Record<string, string> {
  if (value === null) return {};
  if (typeof value !== "object" || Array.isArray(value)) {
    throw new ModelLoadError(path, `${METADATA_KEY} must be an object of strings`);
  }
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== "string") throw new ModelLoadError(path, `${METADATA_KEY}.${k} must be a string, got ${JSON.stringify(v)}`);
  }
  return value as Record<string, string>;
}

function parseEntry(path: string, name: string, value: unknown, dataLen: number): TensorEntry {
  const fail = (detail: string): never => {
    throw new ModelLoadError(path, detail, name);
  };
  if (typeof value !== "object" || value === null || Array.isArray(value)) fail("header entry must be an object");
  const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
  if (!isDtype(dtype)) fail(`unknown dtype ${JSON.stringify(dtype)} (known: ${SAFETENSORS_DTYPES.join(", ")})`);
  if (!Array.isArray(shape) || !shape.every(isCount)) {
    fail(`shape must be a list of non-negative integers, got ${JSON.stringify(shape)}`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
    fail(`data_offsets must be two non-negative integers, got ${JSON.stringify(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end) fail(`data_offsets begin ${begin} is after end ${end}`);
  const t = dtype as SafetensorsDtype;
  const nbytes = byteCount(shape as number[], DTYPE_SIZES[t]);
  if (nbytes === null) fail(`shape [${shape}] is too large`);
  if (nbytes !== end - begin) {
    fail(`shape [${shape}] of ${t} needs ${nbytes} bytes but data_offsets [${begin}, ${end}] span ${end - begin}`);
  }
  if (end > dataLen) fail(`data_offsets end ${end} is beyond the ${dataLen}-byte data buffer (truncated?)`);
  return { name, dtype: t, shape: shape as number[], begin, end };
}

function isCount(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

/** prod(shape) * elemSize, or null when it would not be exact in a double. */
function byteCount(shape: number[], elemSize: number): number | null {
  let n = elemSize;
  for (const d of shape) {
    n *= d;
    if (n > Number.MAX_SAFE_INTEGER) return null;
  }
  return n;
}

// Tensors must tile the data buffer exactly: overlaps alias weights, and holes or trailing bytes mean
// the header and data disagree (a torn write or a wrong header).
function checkCoverage(path: string, sorted: TensorEntry[], dataLen: number): void {
  let cursor = 0;
  let prev: TensorEntry | null = null;
  for (const e of sorted) {
    if (e.begin < cursor) {
      throw new ModelLoadError(path, `data [${e.begin}, ${e.end}) overlaps tensor '${prev!.name}' [${prev!.begin}, ${prev!.end})`, e.name);
    }
    if (e.begin > cursor) {
      throw new ModelLoadError(path, `data buffer bytes [${cursor}, ${e.begin}) before this tensor belong to no tensor`, e.name);
    }
    cursor = e.end;
    prev = e;
  }
  if (cursor !== dataLen) {
    throw new ModelLoadError(path, `data buffer has ${dataLen - cursor} trailing bytes [${cursor}, ${dataLen}) that belong to no tensor`);
  }
}
