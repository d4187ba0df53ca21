/** Host-side dtype conversion for small tensors (biases), which kernels take in f32. */
import type { TensorInfo } from "./safetensors";
import { ModelLoadError } from "./errors";

export function tensorToF32(info: TensorInfo): Float32Array {
  const n = info.shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  const dv = new DataView(info.data.buffer, info.data.byteOffset, info.data.byteLength);
  switch (info.dtype) {
    case "F32":
      for (let i = 0; i < n; i++) out[i] = dv.getFloat32(i * 4, true);
      return out;
    case "BF16": {
      const u = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) u[i] = dv.getUint16(i * 2, true) << 16;
      return out;
    }
    case "F16":
      for (let i = 0; i < n; i++) out[i] = halfToFloat(dv.getUint16(i * 2, true));
      return out;
    default:
      throw new ModelLoadError(info.file, `dtype ${info.dtype} is not a float weight type`, info.name);
  }
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1, exp = (h >> 10) & 0x1f, frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}
