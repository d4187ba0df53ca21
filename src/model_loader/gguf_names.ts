/** Tensor names: GGUF (llama.cpp's) ↔ Hugging Face, for the Llama-family decoders. */

const GLOBAL: Record<string, string> = {
  "token_embd.weight": "model.embed_tokens.weight",
  "output_norm.weight": "model.norm.weight",
  "output.weight": "lm_head.weight",
};

const LAYER: Record<string, string> = {
  attn_norm: "input_layernorm",
  attn_q: "self_attn.q_proj",
  attn_k: "self_attn.k_proj",
  attn_v: "self_attn.v_proj",
  attn_output: "self_attn.o_proj",
  attn_q_norm: "self_attn.q_norm",
  attn_k_norm: "self_attn.k_norm",
  ffn_norm: "post_attention_layernorm",
  ffn_gate: "mlp.gate_proj",
  ffn_up: "mlp.up_proj",
  ffn_down: "mlp.down_proj",
};

const GLOBAL_INV = Object.fromEntries(Object.entries(GLOBAL).map(([g, h]) => [h, g]));
const LAYER_INV = Object.fromEntries(Object.entries(LAYER).map(([g, h]) => [h, g]));

/** The Hugging Face name of a GGUF tensor, or null when the decoder has no such tensor. */
export function hfTensorName(gguf: string): string | null {
  if (Object.hasOwn(GLOBAL, gguf)) return GLOBAL[gguf];
  const m = /^blk\.(\d+)\.([a-z_]+)\.(weight|bias)$/.exec(gguf);
  if (m === null || !Object.hasOwn(LAYER, m[2])) return null;
  return `model.layers.${m[1]}.${LAYER[m[2]]}.${m[3]}`;
}

/** The GGUF name of a Hugging Face tensor, or null when GGUF has no such tensor. */
export function ggufTensorName(hf: string): string | null {
  if (Object.hasOwn(GLOBAL_INV, hf)) return GLOBAL_INV[hf];
  const m = /^model\.layers\.(\d+)\.(.+)\.(weight|bias)$/.exec(hf);
  if (m === null || !Object.hasOwn(LAYER_INV, m[2])) return null;
  return `blk.${m[1]}.${LAYER_INV[m[2]]}.${m[3]}`;
}

/**
 * llama.cpp's converter reorders the rows of each Llama-family q/k head from [first half, second half]
 * (the rotate-half RoPE layout) to interleaved pairs (the GPT-J layout its llama graph uses). This maps
 * rows between the two: `toGguf` false undoes the converter's order. Rows are opaque byte ranges, so
 * quantized rows (whole blocks) move the same way.
 */
export function permuteHeadRows(src: Uint8Array, numHeads: number, rowBytes: number, toGguf: boolean): Uint8Array {
  const rows = src.byteLength / rowBytes;
  const headDim = rows / numHeads;
  if (!Number.isInteger(rows) || !Number.isInteger(headDim / 2)) throw new Error(`cannot permute ${rows} rows into ${numHeads} heads of even size`);
  const out = new Uint8Array(src.byteLength);
  const half = headDim / 2;
  for (let h = 0; h < numHeads; h++) {
    for (let j = 0; j < half; j++) {
      for (let p = 0; p < 2; p++) {
        const hfRow = h * headDim + p * half + j, ggufRow = h * headDim + 2 * j + p;
        const [from, to] = toGguf ? [hfRow, ggufRow] : [ggufRow, hfRow];
        out.set(src.subarray(from * rowBytes, (from + 1) * rowBytes), to * rowBytes);
      }
    }
  }
  return out;
}
