/** Checkpoint tensors checked against the shapes config.json implies, and host-converted f32 tensors. */
import type { Backend, Tensor } from "../backend/backend";
import type { Checkpoint } from "../model_loader/checkpoint";
import { tensorToF32 } from "../model_loader/convert";
import type { TensorInfo } from "../model_loader/safetensors";

export function checkShape(ckpt: Checkpoint, name: string, shape: number[]): TensorInfo {
  const info = ckpt.get(name);
  if (info.shape.join(",") !== shape.join(","))
    throw new Error(`${info.file}: tensor ${name} has shape [${info.shape}], config.json implies [${shape}]`);
  return info;
}

/** Biases are added in f32 by the kernels: converted (and concatenated) on the host once. */
export function hostF32(backend: Backend, parts: TensorInfo[]): Tensor {
  const data = parts.map(tensorToF32);
  const out = new Float32Array(data.reduce((a, d) => a + d.length, 0));
  let off = 0;
  for (const d of data) { out.set(d, off); off += d.length; }
  const t = backend.empty([out.length], "f32");
  backend.write(t, out);
  return t;
}
