// GGUF reader (versions 2 and 3): "GGUF", u32 version, u64 tensor count, u64 metadata count, the
// metadata key/value pairs, the tensor infos (name, dims, ggml type, offset), padding to the alignment,
// then the tensor data. The file is memory-mapped and tensors are zero-copy views of the mapping; every
// structural rule is checked up front, with 64-bit counts in BigInt, so later code can trust the views.
import { ModelLoadError } from "./errors";
import { GgufCursor } from "./gguf_cursor";
import {
  GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GGUF_MAX_DIMS, GGUF_MAX_NAME_BYTES, GGUF_VALUE_SIZES, GgufValueType,
  ggmlTypeById, type GgmlTypeInfo,
} from "./gguf_types";
import { MAX_MAPPING, dataViewer, statFileSize } from "./safetensors";

export type GgufArrayValue =
  | string[] | boolean[] | Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array
  | Float32Array | BigUint64Array | BigInt64Array | Float64Array;
export type GgufValue = number | bigint | boolean | string | GgufArrayValue;

/** One metadata value with its stored type (`itemType` for arrays). 64-bit integers are bigint. */
export interface GgufEntry {
  type: GgufValueType;
  itemType?: GgufValueType;
  value: GgufValue;
}

/** One tensor; `shape` is row-major (outermost first), i.e. ggml's `dims` reversed. */
export interface GgufTensorInfo {
  name: string;
  type: GgmlTypeInfo;
  dims: number[];
  shape: number[];
  numel: number;
  nbytes: number;
  /** Byte offset inside the data section. */
  offset: number;
  file: string;
  /** A view into the file mapping (byteLength = nbytes). */
  data: Uint8Array;
}

export interface GgufFile {
  path: string;
  version: number;
  alignment: number;
  /** Where the data section starts in the file. */
  dataOffset: number;
  metadata: Map<string, GgufEntry>;
  /** Tensors in the order the file lists them. */
  tensors: Map<string, GgufTensorInfo>;
}

const FIXED_HEADER_BYTES = 24; // magic, version, tensor count, metadata count
const MIN_KV_BYTES = 8 + 4 + 1; // empty key, value type, smallest value
const MIN_TENSOR_INFO_BYTES = 8 + 4 + 4 + 8; // empty name, n_dims, type, offset (dims counted separately)
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

interface RawTensor {
  name: string;
  type: GgmlTypeInfo;
  dims: number[];
  numel: number;
  nbytes: number;
  offset: bigint;
}

/** Maps and validates a GGUF file; throws ModelLoadError naming the file (and tensor or key) on any violation. */
export function openGguf(path: string): GgufFile {
  const fileSize = statFileSize(path);
  if (fileSize < FIXED_HEADER_BYTES) throw new ModelLoadError(path, `file is ${fileSize} bytes, too short for a GGUF header (${FIXED_HEADER_BYTES})`);
  const view = dataViewer(path, fileSize, 0);
  const c = new GgufCursor(path, view("header", 0, Math.min(fileSize, MAX_MAPPING)));
  const version = readPreamble(c);
  const tensorCount = c.u64("tensor count");
  const kvCount = c.u64("metadata count");
  c.need(kvCount * BigInt(MIN_KV_BYTES), `${kvCount} metadata entries`);
  const metadata = readMetadata(c, Number(kvCount));
  c.need(tensorCount * BigInt(MIN_TENSOR_INFO_BYTES), `${tensorCount} tensor infos`);
  const raw = readTensorInfos(c, Number(tensorCount));
  const alignment = readAlignment(path, metadata);
  const dataOffset = alignUp(c.pos, alignment);
  if (raw.length > 0 && dataOffset > fileSize) {
    throw new ModelLoadError(path, `data section would start at byte ${dataOffset}, past the end of the ${fileSize}-byte file (truncated?)`);
  }
  checkPlacement(path, raw, alignment, fileSize - dataOffset);
  const tensors = new Map<string, GgufTensorInfo>();
  for (const t of raw) {
    const offset = Number(t.offset);
    const data = view(t.name, dataOffset + offset, dataOffset + offset + t.nbytes);
    tensors.set(t.name, { ...t, offset, shape: [...t.dims].reverse(), file: path, data });
  }
  return { path, version, alignment, dataOffset, metadata, tensors };
}

function readPreamble(c: GgufCursor): number {
  const magic = c.u32("magic");
  if (magic !== GGUF_MAGIC) {
    throw new ModelLoadError(c.path, `not a GGUF file: magic is 0x${magic.toString(16).padStart(8, "0")}, expected "GGUF"`);
  }
  const version = c.u32("version");
  if (version === 2 || version === 3) return version;
  if (version === 1) throw new ModelLoadError(c.path, "GGUF version 1 is not supported (only 2 and 3); re-convert the model");
  if ((version & 0xffff) === 0 && version !== 0) throw new ModelLoadError(c.path, "is a big-endian GGUF file, which is not supported");
  throw new ModelLoadError(c.path, `GGUF version ${version} is not supported (only 2 and 3)`);
}

function readMetadata(c: GgufCursor, count: number): Map<string, GgufEntry> {
  const out = new Map<string, GgufEntry>();
  for (let i = 0; i < count; i++) {
    const key = c.string(`metadata key #${i}`);
    if (out.has(key)) throw new ModelLoadError(c.path, `metadata key '${key}' appears twice`);
    const type = c.u32(`type of metadata '${key}'`);
    out.set(key, readValue(c, key, type));
  }
  return out;
}

function readValue(c: GgufCursor, key: string, type: number): GgufEntry {
  if (type === GgufValueType.ARRAY) return readArray(c, key);
  if (!isScalarType(type)) throw new ModelLoadError(c.path, `metadata '${key}' has unknown value type ${type}`);
  return { type, value: readScalar(c, key, type) };
}

function isScalarType(t: number): t is GgufValueType {
  return t === GgufValueType.STRING || GGUF_VALUE_SIZES[t as GgufValueType] !== undefined;
}

function readScalar(c: GgufCursor, key: string, type: GgufValueType): GgufValue {
  const what = `metadata '${key}'`;
  switch (type) {
    case GgufValueType.UINT8: return c.u8(what);
    case GgufValueType.INT8: return c.i8(what);
    case GgufValueType.UINT16: return c.u16(what);
    case GgufValueType.INT16: return c.i16(what);
    case GgufValueType.UINT32: return c.u32(what);
    case GgufValueType.INT32: return c.i32(what);
    case GgufValueType.FLOAT32: return c.f32(what);
    case GgufValueType.UINT64: return c.u64(what);
    case GgufValueType.INT64: return c.i64(what);
    case GgufValueType.FLOAT64: return c.f64(what);
    case GgufValueType.BOOL: return readBool(c, what);
    case GgufValueType.STRING: return c.string(what);
    default: throw new ModelLoadError(c.path, `${what} has unknown value type ${type}`);
  }
}

function readBool(c: GgufCursor, what: string): boolean {
  const b = c.u8(what);
  if (b > 1) throw new ModelLoadError(c.path, `${what} is a bool stored as ${b} (must be 0 or 1)`);
  return b === 1;
}

function readArray(c: GgufCursor, key: string): GgufEntry {
  const itemType = c.u32(`item type of metadata '${key}'`);
  if (itemType === GgufValueType.ARRAY) throw new ModelLoadError(c.path, `metadata '${key}' is an array of arrays, which GGUF readers do not support`);
  if (!isScalarType(itemType)) throw new ModelLoadError(c.path, `metadata '${key}' is an array of unknown value type ${itemType}`);
  const n = c.u64(`item count of metadata '${key}'`);
  // Strings take at least their 8-byte length each; this bounds n before anything is allocated.
  const minItem = GGUF_VALUE_SIZES[itemType] ?? 8;
  c.need(n * BigInt(minItem), `metadata '${key}' (${n} items)`);
  const count = Number(n);
  return { type: GgufValueType.ARRAY, itemType, value: readItems(c, key, itemType, count) };
}

function readItems(c: GgufCursor, key: string, t: GgufValueType, n: number): GgufArrayValue {
  const bytes = (size: number) => c.copy(n * size, `metadata '${key}'`);
  switch (t) {
    case GgufValueType.UINT8: return new Uint8Array(bytes(1));
    case GgufValueType.INT8: return new Int8Array(bytes(1));
    case GgufValueType.UINT16: return new Uint16Array(bytes(2));
    case GgufValueType.INT16: return new Int16Array(bytes(2));
    case GgufValueType.UINT32: return new Uint32Array(bytes(4));
    case GgufValueType.INT32: return new Int32Array(bytes(4));
    case GgufValueType.FLOAT32: return new Float32Array(bytes(4));
    case GgufValueType.UINT64: return new BigUint64Array(bytes(8));
    case GgufValueType.INT64: return new BigInt64Array(bytes(8));
    case GgufValueType.FLOAT64: return new Float64Array(bytes(8));
    case GgufValueType.BOOL: return Array.from({ length: n }, (_, i) => readBool(c, `metadata '${key}'[${i}]`));
    case GgufValueType.STRING: return Array.from({ length: n }, (_, i) => c.string(`metadata '${key}'[${i}]`));
    default: throw new ModelLoadError(c.path, `metadata '${key}' has unknown item type ${t}`);
  }
}

function readTensorInfos(c: GgufCursor, count: number): RawTensor[] {
  const names = new Set<string>();
  const out: RawTensor[] = [];
  for (let i = 0; i < count; i++) {
    const name = c.string(`name of tensor #${i}`);
    const fail = (detail: string): never => {
      throw new ModelLoadError(c.path, detail, name);
    };
    if (names.has(name)) fail("appears twice in the tensor infos");
    names.add(name);
    if (new TextEncoder().encode(name).byteLength > GGUF_MAX_NAME_BYTES) fail(`name is longer than ${GGUF_MAX_NAME_BYTES} bytes`);
    const nDims = c.u32("dimension count", name);
    if (nDims < 1 || nDims > GGUF_MAX_DIMS) fail(`has ${nDims} dimensions (must be 1 to ${GGUF_MAX_DIMS})`);
    const dims = Array.from({ length: nDims }, () => c.u64("dimension", name));
    const typeId = c.u32("type", name);
    const type = ggmlTypeById(typeId) ?? fail(`has unknown or unsupported ggml type id ${typeId}`);
    const offset = c.u64("data offset", name);
    out.push({ name, type, offset, ...sizeOf(dims, type, fail) });
  }
  return out;
}

function sizeOf(dims: bigint[], type: GgmlTypeInfo, fail: (d: string) => never): { dims: number[]; numel: number; nbytes: number } {
  let numel = 1n;
  for (const d of dims) {
    numel *= d;
    if (numel > MAX_SAFE) fail(`dims [${dims.join(", ")}] hold more than 2^53 elements`);
  }
  const block = BigInt(type.blockSize);
  if (dims[0] % block !== 0n) fail(`rows of ${dims[0]} elements are not a multiple of the ${type.name} block size ${type.blockSize}`);
  const nbytes = (numel / block) * BigInt(type.typeSize);
  if (nbytes > MAX_SAFE) fail(`${type.name} data of ${nbytes} bytes is too large`);
  return { dims: dims.map(Number), numel: Number(numel), nbytes: Number(nbytes) };
}

function readAlignment(path: string, metadata: Map<string, GgufEntry>): number {
  const e = metadata.get("general.alignment");
  if (e === undefined) return GGUF_DEFAULT_ALIGNMENT;
  const v = e.value;
  if (e.type !== GgufValueType.UINT32 || typeof v !== "number" || v === 0 || (v & (v - 1)) !== 0) {
    throw new ModelLoadError(path, `metadata 'general.alignment' must be a u32 power of two, got ${String(v)} (type ${e.type})`);
  }
  return v;
}

// Offsets must be aligned, inside the data section and disjoint: overlapping tensors would alias weights.
function checkPlacement(path: string, tensors: RawTensor[], alignment: number, dataLen: number): void {
  const a = BigInt(alignment);
  for (const t of tensors) {
    if (t.offset % a !== 0n) throw new ModelLoadError(path, `data offset ${t.offset} is not a multiple of the alignment ${alignment}`, t.name);
    if (t.offset + BigInt(t.nbytes) > BigInt(Math.max(dataLen, 0))) {
      throw new ModelLoadError(path, `data [${t.offset}, ${t.offset + BigInt(t.nbytes)}) runs past the ${Math.max(dataLen, 0)}-byte data section (truncated?)`, t.name);
    }
  }
  const sorted = [...tensors].sort((x, y) => (x.offset < y.offset ? -1 : x.offset > y.offset ? 1 : 0));
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1], cur = sorted[i];
    if (cur.offset < prev.offset + BigInt(prev.nbytes)) {
      throw new ModelLoadError(path, `data at offset ${cur.offset} overlaps tensor '${prev.name}' [${prev.offset}, ${prev.offset + BigInt(prev.nbytes)})`, cur.name);
    }
  }
}

export function alignUp(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}
