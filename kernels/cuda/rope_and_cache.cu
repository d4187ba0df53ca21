/* Rotary embedding of q and k fused with the scatter of the rotated k and of v into the paged KV
 * cache: one launch where vk_rope + vk_reshape_and_cache take two, and k is not read back.
 *
 * The rounding is rope.cu's step for step (bf16 cos/sin, each product and the sum rounded), so the
 * results equal the two-call path bit for bit. */
#include "common.cuh"

/* Rotates pair (i, i + half) of one head in place and, when `cached` is not NULL, stores it there too. */
__device__ __forceinline__ void rotate_and_store(bf16* x, bf16* cached, int half, int i, float c, float s) {
  float a = vk_to_f32(x[i]), b = vk_to_f32(x[i + half]);
  bf16 lo = vk_to_bf16(vk_round_bf16(a * c) + vk_round_bf16(-b * s));
  bf16 hi = vk_to_bf16(vk_round_bf16(b * c) + vk_round_bf16(a * s));
  x[i] = lo;
  x[i + half] = hi;
  if (cached) {
    cached[i] = lo;
    cached[i + half] = hi;
  }
}

/* One block per token: each thread owns frequencies i across every head, then the block copies v. */
__global__ void rope_and_cache_kernel(bf16* q, bf16* k, bf16* k_cache, bf16* v_cache, const bf16* v,
                                      const int32_t* positions, const int32_t* slot_mapping, const float* inv_freq,
                                      int n_q_heads, int n_kv_heads, int head_dim) {
  int t = blockIdx.x, half = head_dim / 2;
  int64_t row = (int64_t)n_kv_heads * head_dim, slot = slot_mapping[t];
  bf16* k_dst = slot < 0 ? nullptr : k_cache + slot * row; /* negative slot: padding, not cached */
  float pos = (float)positions[t];
  for (int i = threadIdx.x; i < half; i += blockDim.x) {
    float angle = pos * inv_freq[i], sn, cs;
    sincosf(angle, &sn, &cs);
    float c = vk_round_bf16(cs), s = vk_round_bf16(sn);
    for (int h = 0; h < n_q_heads; h++)
      rotate_and_store(q + ((int64_t)t * n_q_heads + h) * head_dim, nullptr, half, i, c, s);
    for (int h = 0; h < n_kv_heads; h++)
      rotate_and_store(k + t * row + (int64_t)h * head_dim, k_dst ? k_dst + (int64_t)h * head_dim : nullptr, half, i, c,
                       s);
  }
  if (slot < 0) return;
  for (int64_t j = threadIdx.x; j < row; j += blockDim.x) v_cache[slot * row + j] = v[t * row + j];
}

void vk_rope_and_cache(bf16* q, bf16* k, bf16* k_cache, bf16* v_cache, const bf16* v, const int32_t* positions,
                       const int32_t* slot_mapping, const float* inv_freq, int n_tokens, int n_q_heads, int n_kv_heads,
                       int head_dim) {
  cudaStream_t s = vk_stream();
  if (!s || n_tokens <= 0) return;
  int threads = head_dim / 2 < 32 ? 32 : (head_dim / 2 > 256 ? 256 : head_dim / 2);
  rope_and_cache_kernel<<<n_tokens, threads, 0, s>>>(q, k, k_cache, v_cache, v, positions, slot_mapping, inv_freq,
                                                     n_q_heads, n_kv_heads, head_dim);
  VK_CHECK_LAUNCH("vk_rope_and_cache");
}
