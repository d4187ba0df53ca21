/* Scatter of new bf16 keys/values into the paged KV cache. */
#include "common.cuh"

/* One block per token; `row` is n_kv_heads * head_dim elements, moved 8 at a time when it allows. */
template <bool VEC>
__global__ void reshape_and_cache_kernel(bf16* k_cache, bf16* v_cache, const bf16* k, const bf16* v,
                                         const int32_t* slot_mapping, int row) {
  int64_t slot = slot_mapping[blockIdx.x];
  if (slot < 0) return; /* padding token */
  int64_t src = (int64_t)blockIdx.x * row, dst = slot * row;
  if (VEC) {
    for (int i = threadIdx.x; i < row / 8; i += blockDim.x) {
      reinterpret_cast<uint4*>(k_cache + dst)[i] = reinterpret_cast<const uint4*>(k + src)[i];
      reinterpret_cast<uint4*>(v_cache + dst)[i] = reinterpret_cast<const uint4*>(v + src)[i];
    }
  } else {
    for (int i = threadIdx.x; i < row; i += blockDim.x) {
      k_cache[dst + i] = k[src + i];
      v_cache[dst + i] = v[src + i];
    }
  }
}

void vk_reshape_and_cache(bf16* k_cache, bf16* v_cache, const bf16* k, const bf16* v, const int32_t* slot_mapping,
                          int n_tokens, int n_kv_heads, int head_dim) {
  cudaStream_t s = vk_stream();
  if (!s || n_tokens <= 0) return;
  int row = n_kv_heads * head_dim;
  bool vec = row % 8 == 0 && ((uintptr_t)k | (uintptr_t)v | (uintptr_t)k_cache | (uintptr_t)v_cache) % 16 == 0;
  if (vec) reshape_and_cache_kernel<true><<<n_tokens, 128, 0, s>>>(k_cache, v_cache, k, v, slot_mapping, row);
  else reshape_and_cache_kernel<false><<<n_tokens, 128, 0, s>>>(k_cache, v_cache, k, v, slot_mapping, row);
  VK_CHECK_LAUNCH("vk_reshape_and_cache");
}
