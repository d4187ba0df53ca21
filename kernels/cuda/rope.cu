/* Rotary embedding in place, NeoX / HF rotate_half layout, on bf16 q and k.
 *
 * The angle is f32(position * inv_freq) and cos/sin are rounded to bf16 before use, and each
 * product and the sum are rounded as HF transformers' bf16 tensor ops round them. */
#include "common.cuh"

__device__ __forceinline__ void rotate(bf16* x, int half, int i, float c, float s) {
  float a = vk_to_f32(x[i]), b = vk_to_f32(x[i + half]);
  x[i] = vk_to_bf16(vk_round_bf16(a * c) + vk_round_bf16(-b * s));
  x[i + half] = vk_to_bf16(vk_round_bf16(b * c) + vk_round_bf16(a * s));
}

/* One block per token: each thread owns frequencies i and walks every head with them. */
__global__ void rope_kernel(bf16* q, bf16* k, const int32_t* positions, const float* inv_freq, int n_q_heads,
                            int n_kv_heads, int head_dim) {
  int t = blockIdx.x, half = head_dim / 2;
  float pos = (float)positions[t];
  for (int i = threadIdx.x; i < half; i += blockDim.x) {
    float angle = pos * inv_freq[i], sn, cs;
    sincosf(angle, &sn, &cs);
    float c = vk_round_bf16(cs), s = vk_round_bf16(sn);
    for (int h = 0; h < n_q_heads; h++) rotate(q + ((int64_t)t * n_q_heads + h) * head_dim, half, i, c, s);
    for (int h = 0; h < n_kv_heads; h++) rotate(k + ((int64_t)t * n_kv_heads + h) * head_dim, half, i, c, s);
  }
}

void vk_rope(bf16* q, bf16* k, const int32_t* positions, const float* inv_freq, int n_tokens, int n_q_heads,
             int n_kv_heads, int head_dim) {
  cudaStream_t s = vk_stream();
  if (!s || n_tokens <= 0) return;
  int threads = head_dim / 2 < 32 ? 32 : (head_dim / 2 > 256 ? 256 : head_dim / 2);
  rope_kernel<<<n_tokens, threads, 0, s>>>(q, k, positions, inv_freq, n_q_heads, n_kv_heads, head_dim);
  VK_CHECK_LAUNCH("vk_rope");
}
