/* The step between the fused qkv projection and attention, in one launch: optional per-head q/k RMSNorm
 * (Qwen3), rotary embedding of q and k, q written out contiguous for attention, k and v written to the
 * paged cache. Replaces (rms_norm q, rms_norm k,) rope_and_cache and the split of the qkv rows.
 *
 * One warp per (token, head) over the n_q + 2 * n_kv heads of a qkv row; lane l owns rotary pairs
 * (i, i + half) for i = l, l + 32, ... Rounding follows rms_norm.cu then rope.cu step for step; only the
 * order of the norm's sum of squares differs from the unfused calls (without norms they agree bit for bit). */
#include "common.cuh"

#define WARPS_PER_BLOCK 8
#define MAX_PAIRS_PER_LANE 4 /* head_dim <= 256 */

struct QkvArgs {
  bf16 *q_out, *k_cache, *v_cache;
  const bf16* qkv;
  const void *q_norm, *k_norm;
  int norm_dtype;
  float eps;
  const int32_t *positions, *slot_mapping;
  const float* inv_freq;
  int n_tokens, n_q_heads, n_kv_heads, head_dim;
};

__global__ void qkv_rope_and_cache_kernel(QkvArgs a) {
  int64_t w = (int64_t)blockIdx.x * WARPS_PER_BLOCK + threadIdx.x / 32;
  int lane = threadIdx.x & 31, heads = a.n_q_heads + 2 * a.n_kv_heads;
  if (w >= (int64_t)a.n_tokens * heads) return;
  int t = (int)(w / heads), h = (int)(w % heads), D = a.head_dim, half = D / 2;
  const bf16* src = a.qkv + ((int64_t)t * heads + h) * D;
  int64_t kv_row = (int64_t)a.n_kv_heads * D, slot = a.slot_mapping[t]; /* negative slot: padding, not cached */

  if (h >= a.n_q_heads + a.n_kv_heads) { /* a v head: copied to the cache, 16 bytes a lane */
    if (slot < 0) return;
    bf16* dst = a.v_cache + slot * kv_row + (int64_t)(h - a.n_q_heads - a.n_kv_heads) * D;
    for (int e = lane * 8; e < D; e += 32 * 8)
      *reinterpret_cast<uint4*>(dst + e) = *reinterpret_cast<const uint4*>(src + e);
    return;
  }
  bool is_q = h < a.n_q_heads;
  float lo[MAX_PAIRS_PER_LANE], hi[MAX_PAIRS_PER_LANE];
  float ss = 0.f;
#pragma unroll
  for (int j = 0; j < MAX_PAIRS_PER_LANE; j++) {
    int i = lane + 32 * j;
    lo[j] = hi[j] = 0.f;
    if (i < half) lo[j] = vk_to_f32(src[i]), hi[j] = vk_to_f32(src[i + half]);
    ss += lo[j] * lo[j] + hi[j] * hi[j];
  }
  const void* norm = is_q ? a.q_norm : a.k_norm;
  if (norm) {
    float inv = rsqrtf(vk_warp_sum(ss) / D + a.eps);
#pragma unroll
    for (int j = 0; j < MAX_PAIRS_PER_LANE; j++) {
      int i = lane + 32 * j;
      if (i >= half) continue;
      lo[j] = vk_round_bf16(vk_round_bf16(lo[j] * inv) * vk_load_weight(norm, a.norm_dtype, i));
      hi[j] = vk_round_bf16(vk_round_bf16(hi[j] * inv) * vk_load_weight(norm, a.norm_dtype, i + half));
    }
  }
  bf16* dst = is_q ? a.q_out + ((int64_t)t * a.n_q_heads + h) * D
                   : (slot < 0 ? nullptr : a.k_cache + slot * kv_row + (int64_t)(h - a.n_q_heads) * D);
  if (!dst) return;
  float pos = (float)a.positions[t];
#pragma unroll
  for (int j = 0; j < MAX_PAIRS_PER_LANE; j++) {
    int i = lane + 32 * j;
    if (i >= half) continue;
    float sn, cs;
    sincosf(pos * a.inv_freq[i], &sn, &cs);
    float c = vk_round_bf16(cs), s = vk_round_bf16(sn);
    dst[i] = vk_to_bf16(vk_round_bf16(lo[j] * c) + vk_round_bf16(-hi[j] * s));
    dst[i + half] = vk_to_bf16(vk_round_bf16(hi[j] * c) + vk_round_bf16(lo[j] * s));
  }
}

void vk_qkv_rope_and_cache(bf16* q_out, bf16* k_cache, bf16* v_cache, const bf16* qkv, const void* q_norm,
                           const void* k_norm, int norm_dtype, float eps, const int32_t* positions,
                           const int32_t* slot_mapping, const float* inv_freq, int n_tokens, int n_q_heads,
                           int n_kv_heads, int head_dim) {
  cudaStream_t s = vk_stream();
  if (!s || n_tokens <= 0) return;
  if (head_dim % 16 != 0 || head_dim > 2 * 32 * MAX_PAIRS_PER_LANE) {
    vk_fail("vk_qkv_rope_and_cache: head_dim %d is not a multiple of 16 up to %d", head_dim, 2 * 32 * MAX_PAIRS_PER_LANE);
    return;
  }
  if ((q_norm == nullptr) != (k_norm == nullptr)) {
    vk_fail("vk_qkv_rope_and_cache: q_norm and k_norm must both be given or both be NULL");
    return;
  }
  QkvArgs a = {q_out, k_cache, v_cache, qkv, q_norm, k_norm, norm_dtype, eps, positions, slot_mapping, inv_freq,
               n_tokens, n_q_heads, n_kv_heads, head_dim};
  int64_t warps = (int64_t)n_tokens * (n_q_heads + 2 * n_kv_heads);
  qkv_rope_and_cache_kernel<<<vk_blocks(warps, WARPS_PER_BLOCK), WARPS_PER_BLOCK * 32, 0, s>>>(a);
  VK_CHECK_LAUNCH("vk_qkv_rope_and_cache");
}
