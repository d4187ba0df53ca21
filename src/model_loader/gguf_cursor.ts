// Bounds-checked little-endian reads over a GGUF header mapping. Every length read from the file is
// checked against the bytes left before anything is allocated for it, so a corrupt count fails with a
// message instead of an out-of-memory or an out-of-range read.
import { ModelLoadError } from "./errors";

const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

export class GgufCursor {
  pos = 0;
  private readonly view: DataView;

  constructor(
    readonly path: string,
    private readonly bytes: Uint8Array,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get remaining(): number {
    return this.bytes.byteLength - this.pos;
  }

  /** Throws unless `n` more bytes exist; `what` says what was being read. */
  need(n: number | bigint, what: string, tensor: string | null = null): void {
    if (BigInt(n) > BigInt(this.remaining)) {
      throw new ModelLoadError(this.path, `${what} needs ${n} bytes at byte ${this.pos} but only ${this.remaining} remain (truncated or corrupt header)`, tensor);
    }
  }

  u8(what: string): number {
    this.need(1, what);
    return this.view.getUint8(this.pos++);
  }
  i8(what: string): number {
    this.need(1, what);
    return this.view.getInt8(this.pos++);
  }
  u16(what: string): number {
    this.need(2, what);
    const v = this.view.getUint16(this.pos, true);
    this.pos += 2;
    return v;
  }
  i16(what: string): number {
    this.need(2, what);
    const v = this.view.getInt16(this.pos, true);
    this.pos += 2;
    return v;
  }
  u32(what: string, tensor: string | null = null): number {
    this.need(4, what, tensor);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
  i32(what: string): number {
    this.need(4, what);
    const v = this.view.getInt32(this.pos, true);
    this.pos += 4;
    return v;
  }
  f32(what: string): number {
    this.need(4, what);
    const v = this.view.getFloat32(this.pos, true);
    this.pos += 4;
    return v;
  }
  f64(what: string): number {
    this.need(8, what);
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }
  u64(what: string, tensor: string | null = null): bigint {
    this.need(8, what, tensor);
    const v = this.view.getBigUint64(this.pos, true);
    this.pos += 8;
    return v;
  }
  i64(what: string): bigint {
    this.need(8, what);
    const v = this.view.getBigInt64(this.pos, true);
    this.pos += 8;
    return v;
  }

  /** A byte count that must fit in what is left of the header; returned as a plain number. */
  length(what: string, tensor: string | null = null): number {
    const n = this.u64(`${what} length`, tensor);
    this.need(n, what, tensor);
    return Number(n);
  }

  /** A gguf string: u64 byte length, then that many bytes of UTF-8. */
  string(what: string, tensor: string | null = null): string {
    const n = this.length(what, tensor);
    const start = this.pos;
    this.pos += n;
    // Vocabularies hold ~10^5 short strings; ASCII ones skip the decoder's per-call cost.
    if (n <= 64) {
      let ascii = true;
      for (let i = start; i < start + n && ascii; i++) ascii = this.bytes[i] < 0x80;
      if (ascii) return String.fromCharCode.apply(null, this.bytes.subarray(start, start + n) as unknown as number[]);
    }
    try {
      return UTF8.decode(this.bytes.subarray(start, start + n));
    } catch {
      throw new ModelLoadError(this.path, `${what} is not valid UTF-8`, tensor);
    }
  }

  /** `n` raw bytes copied out (so typed arrays over them are aligned). */
  copy(n: number, what: string): ArrayBuffer {
    this.need(n, what);
    const out = this.bytes.slice(this.pos, this.pos + n).buffer;
    this.pos += n;
    return out;
  }
}
