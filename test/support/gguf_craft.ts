/**
 * Hand-assembled GGUF bytes for reader tests: every field can be set to a value no writer would
 * produce (wrong counts, lengths past the end, overlapping offsets), which the real writer refuses to do.
 */
import { writeFileSync } from "node:fs";

export class Bytes {
  private parts: number[] = [];
  u8(v: number): this { this.parts.push(v & 0xff); return this; }
  u32(v: number): this { for (let i = 0; i < 4; i++) this.parts.push((v >>> (8 * i)) & 0xff); return this; }
  u64(v: bigint | number): this {
    const b = BigInt.asUintN(64, BigInt(v));
    for (let i = 0n; i < 8n; i++) this.parts.push(Number((b >> (8n * i)) & 0xffn));
    return this;
  }
  f32(v: number): this { const a = new Uint8Array(new Float32Array([v]).buffer); a.forEach((x) => this.parts.push(x)); return this; }
  raw(bytes: ArrayLike<number>): this { for (let i = 0; i < bytes.length; i++) this.parts.push(bytes[i]); return this; }
  /** gguf string; `len` overrides the stored length. */
  str(s: string, len?: bigint | number): this { const e = new TextEncoder().encode(s); return this.u64(len ?? e.length).raw(e); }
  get length(): number { return this.parts.length; }
  bytes(): Uint8Array { return Uint8Array.from(this.parts); }
}

export interface CraftTensor {
  name: string;
  dims: (bigint | number)[];
  type: number; // ggml type id
  offset: bigint | number;
  nDims?: number; // overrides dims.length
}

export interface CraftSpec {
  magic?: number;
  version?: number;
  tensorCount?: bigint | number;
  kvCount?: bigint | number;
  /** Encoded key/value entries (see kv helpers). */
  kvs?: Uint8Array[];
  tensors?: CraftTensor[];
  alignment?: number; // padding used between header and data (default 32)
  dataBytes?: number; // size of the data section (zeros)
  truncateTo?: number; // cut the file after this many bytes
}

export function craft(path: string, spec: CraftSpec): string {
  const kvs = spec.kvs ?? [];
  const tensors = spec.tensors ?? [];
  const b = new Bytes().u32(spec.magic ?? 0x46554747).u32(spec.version ?? 3)
    .u64(spec.tensorCount ?? tensors.length).u64(spec.kvCount ?? kvs.length);
  for (const kv of kvs) b.raw(kv);
  for (const t of tensors) {
    b.str(t.name).u32(t.nDims ?? t.dims.length);
    for (const d of t.dims) b.u64(d);
    b.u32(t.type).u64(t.offset);
  }
  const align = spec.alignment ?? 32;
  while (b.length % align !== 0) b.u8(0);
  b.raw(new Uint8Array(spec.dataBytes ?? 0));
  const bytes = b.bytes();
  writeFileSync(path, spec.truncateTo === undefined ? bytes : bytes.subarray(0, spec.truncateTo));
  return path;
}

export const kv = {
  u32: (key: string, v: number) => new Bytes().str(key).u32(4).u32(v).bytes(),
  string: (key: string, v: string, len?: bigint | number) => new Bytes().str(key).u32(8).str(v, len).bytes(),
  bool: (key: string, v: number) => new Bytes().str(key).u32(7).u8(v).bytes(),
  f32: (key: string, v: number) => new Bytes().str(key).u32(6).f32(v).bytes(),
  /** Array header only (item type, count) followed by `items`. */
  array: (key: string, itemType: number, count: bigint | number, items: Uint8Array = new Uint8Array(0)) =>
    new Bytes().str(key).u32(9).u32(itemType).u64(count).raw(items).bytes(),
  raw: (key: string, type: number, value: ArrayLike<number>) => new Bytes().str(key).u32(type).raw(value).bytes(),
};
