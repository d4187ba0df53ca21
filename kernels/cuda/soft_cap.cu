/* Logit soft-capping in place over f32 rows (Gemma 2's final logits): x = cap * tanh(x / cap). */
#include "common.cuh"

__global__ void soft_cap_kernel(float* x, int64_t total, float cap) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x)
    x[i] = cap * tanhf(x[i] / cap);
}

void vk_soft_cap(float* x, int n_rows, int n_cols, float cap) {
  cudaStream_t s = vk_stream();
  if (!s || n_rows <= 0) return;
  if (!(cap > 0.f)) {
    vk_fail("vk_soft_cap: cap must be > 0, got %g", (double)cap);
    return;
  }
  int64_t total = (int64_t)n_rows * n_cols;
  unsigned grid = (unsigned)(total / 256 + 1 < 65536 ? total / 256 + 1 : 65536);
  soft_cap_kernel<<<grid, 256, 0, s>>>(x, total, cap);
  VK_CHECK_LAUNCH("vk_soft_cap");
}
