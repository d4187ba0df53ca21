/* out = gelu_tanh(gate) * up over bf16 rows of [gate | up] (Gemma's GeGLU, HF's gelu_pytorch_tanh),
 * rounded as HF's bf16 activation and product are. */
#include "common.cuh"

__global__ void gelu_tanh_mul_kernel(bf16* out, const bf16* gate_up, int inter, int64_t total) {
  const float k0 = 0.7978845608028654f, k1 = 0.044715f; /* sqrt(2 / pi), the cubic's coefficient */
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
    int64_t t = i / inter, j = i - t * inter;
    const bf16* row = gate_up + t * 2 * inter;
    float g = vk_to_f32(row[j]), u = vk_to_f32(row[inter + j]);
    float act = vk_round_bf16(0.5f * g * (1.f + tanhf(k0 * (g + k1 * g * g * g))));
    out[i] = vk_to_bf16(act * u);
  }
}

void vk_gelu_tanh_mul(bf16* out, const bf16* gate_up, int n_tokens, int inter) {
  cudaStream_t s = vk_stream();
  if (!s || n_tokens <= 0) return;
  int64_t total = (int64_t)n_tokens * inter;
  unsigned grid = (unsigned)(total / 256 + 1 < 65536 ? total / 256 + 1 : 65536);
  gelu_tanh_mul_kernel<<<grid, 256, 0, s>>>(out, gate_up, inter, total);
  VK_CHECK_LAUNCH("vk_gelu_tanh_mul");
}
