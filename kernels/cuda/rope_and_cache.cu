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

/* Thread (token, j): j < (n_q + n_kv) * half rotates pair j % half of head j / half (q heads, then k
 * heads; a k head also goes to the cache); the threads after those copy v into the cache, 8 values
 * each. Every (head, pair) has its own thread, so a token's work is spread over the whole launch. */
__global__ void rope_and_cache_kernel(bf16* q, bf16* k, bf16* k_cache, bf16* v_cache, const bf16* v,
                                      const int32_t* positions, const int32_t* slot_mapping, const float* inv_freq,
                                      int n_q_heads, int n_kv_heads, int head_dim, int blocks_per_token) {
  int t = blockIdx.x / blocks_per_token, j = (blockIdx.x % blocks_per_token) * blockDim.x + threadIdx.x;
  int half = head_dim / 2, rot = (n_q_heads + n_kv_heads) * half;
  int64_t row = (int64_t)n_kv_heads * head_dim, slot = slot_mapping[t]; /* negative slot: padding, not cached */
  if (j < rot) {
    int h = j / half, i = j % half;
    float angle = (float)positions[t] * inv_freq[i], sn, cs;
    sincosf(angle, &sn, &cs);
    float c = vk_round_bf16(cs), s = vk_round_bf16(sn);
    if (h < n_q_heads) {
      rotate_and_store(q + ((int64_t)t * n_q_heads + h) * head_dim, nullptr, half, i, c, s);
    } else {
      int64_t off = (int64_t)(h - n_q_heads) * head_dim;
      rotate_and_store(k + t * row + off, slot < 0 ? nullptr : k_cache + slot * row + off, half, i, c, s);
    }
    return;
  }
  int64_t e = (int64_t)(j - rot) * 8;
  if (slot < 0 || e >= row) return;
  *reinterpret_cast<uint4*>(v_cache + slot * row + e) = *reinterpret_cast<const uint4*>(v + t * row + e);
}

void vk_rope_and_cache(bf16* q, bf16* k, bf16* k_cache, bf16* v_cache, const bf16* v, const int32_t* positions,
                       const int32_t* slot_mapping, const float* inv_freq, int n_tokens, int n_q_heads, int n_kv_heads,
                       int head_dim) {
  cudaStream_t s = vk_stream();
  if (!s || n_tokens <= 0) return;
  if (head_dim % 16 != 0) { /* v moves in 16-byte vectors; every supported head_dim is a multiple of 16 */
    vk_fail("vk_rope_and_cache: head_dim %d is not a multiple of 16", head_dim);
    return;
  }
  const int threads = 256;
  int per_token = (n_q_heads + n_kv_heads) * (head_dim / 2) + n_kv_heads * head_dim / 8;
  int blocks_per_token = (per_token + threads - 1) / threads;
  rope_and_cache_kernel<<<(unsigned)n_tokens * blocks_per_token, threads, 0, s>>>(
      q, k, k_cache, v_cache, v, positions, slot_mapping, inv_freq, n_q_heads, n_kv_heads, head_dim, blocks_per_token);
  VK_CHECK_LAUNCH("vk_rope_and_cache");
}
