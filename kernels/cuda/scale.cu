/* x *= s in place over bf16 rows (Gemma's embedding scale; the caller passes s rounded to bf16, as HF's
 * normalizer tensor is), the product rounded to bf16. */
#include "common.cuh"

__global__ void scale_kernel(bf16* x, int64_t total, float s) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x)
    x[i] = vk_to_bf16(vk_to_f32(x[i]) * s);
}

void vk_scale(bf16* x, int n_rows, int n_cols, float s) {
  cudaStream_t st = vk_stream();
  if (!st || n_rows <= 0) return;
  int64_t total = (int64_t)n_rows * n_cols;
  unsigned grid = (unsigned)(total / 256 + 1 < 65536 ? total / 256 + 1 : 65536);
  scale_kernel<<<grid, 256, 0, st>>>(x, total, s);
  VK_CHECK_LAUNCH("vk_scale");
}
