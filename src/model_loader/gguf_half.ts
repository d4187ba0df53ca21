/** IEEE half and bfloat16 conversions for GGUF blocks (round-to-nearest-even, as ggml converts). */

/** f16 bits → f32 value, for every bit pattern (block scales are read through it). */
export const HALF_TO_FLOAT: Float32Array = new Float32Array(new Float16Array(Uint16Array.from({ length: 65536 }, (_, i) => i).buffer));

const scratch = new Float16Array(1);
const scratchBits = new Uint16Array(scratch.buffer);

/** f32 value → f16 bits. */
export function floatToHalf(x: number): number {
  scratch[0] = x;
  return scratchBits[0];
}

/** f32 values → f16 bytes. */
export function toF16Bytes(x: Float32Array): Uint8Array {
  const h = new Float16Array(x);
  return new Uint8Array(h.buffer);
}

/** f32 values → bf16 bytes, round-to-nearest-even; NaNs stay quiet NaNs. */
export function toBf16Bytes(x: Float32Array): Uint8Array {
  const u = new Uint32Array(x.buffer, x.byteOffset, x.length);
  const out = new Uint16Array(x.length);
  for (let i = 0; i < u.length; i++) {
    const b = u[i];
    out[i] = (b & 0x7fffffff) > 0x7f800000 ? (b >>> 16) | 64 : (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
  }
  return new Uint8Array(out.buffer);
}
