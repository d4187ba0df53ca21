/* Row-wise log-softmax of f32 logits: x - max - log(sum(exp(x - max))). One block per row. */
#include "common.cuh"

__global__ void log_softmax_kernel(float* out, const float* x, int n_cols) {
  __shared__ float scratch[32];
  const float* row = x + (int64_t)blockIdx.x * n_cols;
  float* dst = out + (int64_t)blockIdx.x * n_cols;
  float m = -INFINITY;
  for (int i = threadIdx.x; i < n_cols; i += blockDim.x) m = fmaxf(m, row[i]);
  m = vk_block_max(m, scratch);
  float sum = 0.f;
  for (int i = threadIdx.x; i < n_cols; i += blockDim.x) sum += expf(row[i] - m);
  float log_sum = logf(vk_block_sum(sum, scratch));
  /* out may alias x: every read of the row happened before the block sum's barriers. */
  for (int i = threadIdx.x; i < n_cols; i += blockDim.x) dst[i] = (row[i] - m) - log_sum;
}

void vk_log_softmax(float* out, const float* x, int n_rows, int n_cols) {
  cudaStream_t s = vk_stream();
  if (!s || n_rows <= 0) return;
  log_softmax_kernel<<<n_rows, 1024, 0, s>>>(out, x, n_cols);
  VK_CHECK_LAUNCH("vk_log_softmax");
}
