/**
 * The bun:ffi signatures of the ops every kernel library exports (native/include/vllm_kernels.h, outside
 * its "(optional)" section). Each library's ffi module adds its own extra symbols to these.
 */
import { FFIType } from "bun:ffi";

const { ptr, i32, i64, f32, cstring, void: v } = FFIType;

export const CORE_SYMBOLS = {
  vk_variant: { args: [], returns: cstring },
  vk_alloc: { args: [i64], returns: ptr },
  vk_free: { args: [ptr], returns: v },
  vk_embedding: { args: [ptr, ptr, i32, ptr, i32, i32], returns: v },
  vk_rms_norm: { args: [ptr, ptr, ptr, i32, i32, i32, f32], returns: v },
  vk_add_rms_norm: { args: [ptr, ptr, ptr, ptr, i32, i32, i32, f32], returns: v },
  vk_rope: { args: [ptr, ptr, ptr, ptr, i32, i32, i32, i32], returns: v },
  vk_silu_mul: { args: [ptr, ptr, i32, i32], returns: v },
  vk_matmul: { args: [ptr, ptr, ptr, i32, ptr, i32, i32, i32], returns: v },
  vk_reshape_and_cache: { args: [ptr, ptr, ptr, ptr, ptr, i32, i32, i32], returns: v },
  vk_paged_attention: { args: [ptr, ptr, ptr, ptr, ptr, i32, ptr, ptr, i32, i32, i32, i32, i32, f32], returns: v },
  vk_log_softmax: { args: [ptr, ptr, i32, i32], returns: v },
  vk_topk: { args: [ptr, ptr, ptr, i32, i32, i32], returns: v },
} as const;
