/* Mixture-of-experts routing: one warp per token. The token's router logits are softmaxed in f32 in shared
 * memory, then k rounds of a warp argmax (larger p, then lower id) pick its experts. */
#include "common.cuh"

#define WARPS 4
#define MAX_EXPERTS 2048

__global__ void moe_route_kernel(int32_t* ids, float* weights, const bf16* logits, int n_tokens, int n_experts, int top_k,
                                 int renormalize) {
  extern __shared__ float probs[];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, t = blockIdx.x * WARPS + warp;
  if (t >= n_tokens) return;
  float* p = probs + warp * n_experts;
  const bf16* x = logits + (int64_t)t * n_experts;
  float max = -INFINITY;
  for (int e = lane; e < n_experts; e += 32) max = fmaxf(max, p[e] = vk_to_f32(x[e]));
  max = vk_warp_max(max);
  float sum = 0.f;
  for (int e = lane; e < n_experts; e += 32) sum += (p[e] = expf(p[e] - max));
  sum = vk_warp_sum(sum);
  for (int e = lane; e < n_experts; e += 32) p[e] = p[e] / sum;
  __syncwarp();
  float kept = 0.f, mine = 0.f;
  for (int s = 0; s < top_k; s++) {
    float best = -INFINITY;
    int arg = n_experts;
    for (int e = lane; e < n_experts; e += 32)
      if (p[e] > best) best = p[e], arg = e;
    for (int o = 16; o > 0; o >>= 1) {
      float ob = __shfl_xor_sync(0xffffffffu, best, o);
      int oa = __shfl_xor_sync(0xffffffffu, arg, o);
      if (ob > best || (ob == best && oa < arg)) best = ob, arg = oa;
    }
    if (arg == n_experts) arg = 0, best = 0.f; /* only NaN left: keep the id in range */
    kept += best;
    if (lane == s) mine = best;
    if (lane == 0) {
      ids[(int64_t)t * top_k + s] = arg;
      p[arg] = -INFINITY;
    }
    __syncwarp();
  }
  if (lane < top_k) weights[(int64_t)t * top_k + lane] = renormalize ? mine / kept : mine;
}

void vk_moe_route(int32_t* topk_ids, float* topk_weights, const bf16* router_logits, int n_tokens, int n_experts, int top_k,
                  int renormalize) {
  cudaStream_t s = vk_stream();
  if (!s || n_tokens <= 0) return;
  if (top_k < 1 || top_k > n_experts || top_k > 32 || n_experts > MAX_EXPERTS) {
    vk_fail("vk_moe_route: top_k %d with %d experts is not supported (top_k in [1, min(32, n_experts)], at most %d experts)",
            top_k, n_experts, MAX_EXPERTS);
    return;
  }
  size_t smem = (size_t)WARPS * n_experts * sizeof(float);
  moe_route_kernel<<<vk_blocks(n_tokens, WARPS), WARPS * 32, smem, s>>>(topk_ids, topk_weights, router_logits, n_tokens,
                                                                       n_experts, top_k, renormalize);
  VK_CHECK_LAUNCH("vk_moe_route");
}
