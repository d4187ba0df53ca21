/** The flat batch a model's forward pass consumes: many requests, prefill chunks and decode tokens mixed. */
import type { AttentionMetadata, Tensor } from "../backend/backend";

export interface ForwardBatch {
  numTokens: number;
  inputIds: Tensor; // [numTokens] i32
  positions: Tensor; // [numTokens] i32
  slotMapping: Tensor; // [numTokens] i32, KV slot each token is written to
  attn: AttentionMetadata;
  numLogits: number;
  logitsIndices: Tensor; // [numLogits] i32, flat rows whose logits are needed
}

/** One layer's paged KV cache: [numBlocks, blockSize, numKvHeads, headDim] for K and for V. */
export interface KVCache {
  k: Tensor;
  v: Tensor;
  blockSize: number;
}
