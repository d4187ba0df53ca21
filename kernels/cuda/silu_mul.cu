/* out = silu(gate) * up over bf16 rows of [gate | up], rounded as HF's bf16 SiLU and product are. */
#include "common.cuh"

__global__ void silu_mul_kernel(bf16* out, const bf16* gate_up, int inter, int64_t total) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
    int64_t t = i / inter, j = i - t * inter;
    const bf16* row = gate_up + t * 2 * inter;
    float g = vk_to_f32(row[j]), u = vk_to_f32(row[inter + j]);
    float act = vk_round_bf16(g / (1.f + expf(-g)));
    out[i] = vk_to_bf16(act * u);
  }
}

void vk_silu_mul(bf16* out, const bf16* gate_up, int n_tokens, int inter) {
  cudaStream_t s = vk_stream();
  if (!s || n_tokens <= 0) return;
  int64_t total = (int64_t)n_tokens * inter;
  unsigned grid = (unsigned)(total / 256 + 1 < 65536 ? total / 256 + 1 : 65536);
  silu_mul_kernel<<<grid, 256, 0, s>>>(out, gate_up, inter, total);
  VK_CHECK_LAUNCH("vk_silu_mul");
}
