// GGUF v3 writer: header (metadata, tensor infos), padding to the alignment, then each tensor's bytes
// padded to the alignment, in the order given (the layout llama.cpp expects). Tensor bytes may be produced
// on demand, so converting a model holds one quantized tensor in memory at a time.
import { closeSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { ModelLoadError } from "./errors";
import { alignUp, type GgufValue } from "./gguf";
import {
  GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GGUF_MAX_NAME_BYTES, GgufValueType, ggmlType, type GgmlTypeName,
} from "./gguf_types";

export interface GgufKV {
  key: string;
  type: GgufValueType;
  itemType?: GgufValueType; // for arrays
  value: GgufValue;
}

export interface GgufTensorToWrite {
  name: string;
  type: GgmlTypeName;
  /** Row-major shape (outermost first); the file stores it reversed, as ggml dims. */
  shape: number[];
  data: Uint8Array | (() => Uint8Array);
}

const VERSION = 3;

/** Writes a GGUF file through a temporary file renamed into place. */
export function writeGguf(path: string, kvs: GgufKV[], tensors: GgufTensorToWrite[]): void {
  const alignment = GGUF_DEFAULT_ALIGNMENT;
  if (kvs.some((kv) => kv.key === "general.alignment")) throw new ModelLoadError(path, "cannot write: general.alignment is set by the writer");
  const header = new ByteBuilder();
  header.u32(GGUF_MAGIC).u32(VERSION).u64(BigInt(tensors.length)).u64(BigInt(kvs.length));
  for (const kv of kvs) writeKV(header, kv);
  let offset = 0;
  for (const t of tensors) {
    const nbytes = checkTensor(path, t);
    header.string(t.name).u32(t.shape.length);
    for (const d of [...t.shape].reverse()) header.u64(BigInt(d));
    header.u32(ggmlType(t.type).id).u64(BigInt(offset));
    offset = alignUp(offset + nbytes, alignment);
  }
  const tmp = `${path}.partial-${process.pid}`;
  const fd = openSync(tmp, "w");
  try {
    const head = header.bytes();
    writeAll(fd, head);
    writeAll(fd, new Uint8Array(alignUp(head.byteLength, alignment) - head.byteLength));
    for (const t of tensors) {
      const data = typeof t.data === "function" ? t.data() : t.data;
      if (data.byteLength !== checkTensor(path, t)) throw new ModelLoadError(path, `cannot write: produced ${data.byteLength} bytes`, t.name);
      writeAll(fd, data);
      writeAll(fd, new Uint8Array(alignUp(data.byteLength, alignment) - data.byteLength));
    }
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
}

function checkTensor(path: string, t: GgufTensorToWrite): number {
  const fail = (detail: string): never => {
    throw new ModelLoadError(path, `cannot write: ${detail}`, t.name);
  };
  if (new TextEncoder().encode(t.name).byteLength > GGUF_MAX_NAME_BYTES) fail(`name longer than ${GGUF_MAX_NAME_BYTES} bytes`);
  const type = ggmlType(t.type);
  const cols = t.shape[t.shape.length - 1];
  if (cols % type.blockSize !== 0) fail(`rows of ${cols} are not a multiple of the ${t.type} block size ${type.blockSize}`);
  const numel = t.shape.reduce((a, d) => a * d, 1);
  const nbytes = (numel / type.blockSize) * type.typeSize;
  if (typeof t.data !== "function" && t.data.byteLength !== nbytes) fail(`${t.type} [${t.shape}] needs ${nbytes} bytes, data has ${t.data.byteLength}`);
  return nbytes;
}

function writeKV(b: ByteBuilder, kv: GgufKV): void {
  b.string(kv.key).u32(kv.type);
  if (kv.type !== GgufValueType.ARRAY) {
    writeScalar(b, kv.type, kv.value);
    return;
  }
  const items = kv.value as ArrayLike<unknown>;
  b.u32(kv.itemType!).u64(BigInt(items.length));
  for (let i = 0; i < items.length; i++) writeScalar(b, kv.itemType!, items[i] as GgufValue);
}

function writeScalar(b: ByteBuilder, type: GgufValueType, v: GgufValue): void {
  switch (type) {
    case GgufValueType.UINT8: b.fixed(1, (dv) => dv.setUint8(0, v as number)); break;
    case GgufValueType.INT8: b.fixed(1, (dv) => dv.setInt8(0, v as number)); break;
    case GgufValueType.UINT16: b.fixed(2, (dv) => dv.setUint16(0, v as number, true)); break;
    case GgufValueType.INT16: b.fixed(2, (dv) => dv.setInt16(0, v as number, true)); break;
    case GgufValueType.UINT32: b.u32(v as number); break;
    case GgufValueType.INT32: b.fixed(4, (dv) => dv.setInt32(0, v as number, true)); break;
    case GgufValueType.FLOAT32: b.fixed(4, (dv) => dv.setFloat32(0, v as number, true)); break;
    case GgufValueType.UINT64: b.u64(BigInt(v as number | bigint)); break;
    case GgufValueType.INT64: b.fixed(8, (dv) => dv.setBigInt64(0, BigInt(v as number | bigint), true)); break;
    case GgufValueType.FLOAT64: b.fixed(8, (dv) => dv.setFloat64(0, v as number, true)); break;
    case GgufValueType.BOOL: b.fixed(1, (dv) => dv.setUint8(0, v ? 1 : 0)); break;
    case GgufValueType.STRING: b.string(v as string); break;
    default: throw new Error(`gguf writer: cannot write value type ${type}`);
  }
}

/** A growing little-endian byte buffer for the header. */
class ByteBuilder {
  private buf = new Uint8Array(1 << 16);
  private len = 0;
  private readonly enc = new TextEncoder();

  fixed(n: number, set: (dv: DataView) => void): this {
    this.reserve(n);
    set(new DataView(this.buf.buffer, this.len, n));
    this.len += n;
    return this;
  }
  u32(v: number): this {
    return this.fixed(4, (dv) => dv.setUint32(0, v, true));
  }
  u64(v: bigint): this {
    return this.fixed(8, (dv) => dv.setBigUint64(0, v, true));
  }
  string(s: string): this {
    const raw = this.enc.encode(s);
    this.u64(BigInt(raw.byteLength));
    this.reserve(raw.byteLength);
    this.buf.set(raw, this.len);
    this.len += raw.byteLength;
    return this;
  }
  bytes(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }
  private reserve(n: number): void {
    if (this.len + n <= this.buf.byteLength) return;
    const next = new Uint8Array(Math.max(this.buf.byteLength * 2, this.len + n));
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }
}

function writeAll(fd: number, buf: Uint8Array): void {
  let off = 0;
  while (off < buf.byteLength) off += writeSync(fd, buf, off, buf.byteLength - off);
}
