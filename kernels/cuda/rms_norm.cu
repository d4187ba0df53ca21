/* RMSNorm and fused residual-add + RMSNorm over bf16 rows, in f32.
 *
 * Results are rounded where HF transformers' bf16 modules round them: the residual sum, the
 * normalized row (before the weight), and the weighted output. */
#include "common.cuh"

/* Rows of up to this many elements get one warp each (q/k norms); wider rows get a block. */
#define WARP_ROW_MAX 1024

struct Row {
  bf16* out;
  bf16* residual; /* NULL: plain rms_norm */
  const bf16* x;
  const void* w;
  int wdtype, hidden;
  float eps;
};

/* Pass 1 (this group's share): residual += x when fused; returns the sum of squares of the input. */
__device__ __forceinline__ float sum_squares(const Row& r, int64_t base, int lane, int width) {
  float ss = 0.f;
  for (int i = lane; i < r.hidden; i += width) {
    float v = vk_to_f32(r.x[base + i]);
    if (r.residual) {
      v = vk_round_bf16(v + vk_to_f32(r.residual[base + i]));
      r.residual[base + i] = vk_to_bf16(v);
    }
    ss += v * v;
  }
  return ss;
}

/* Pass 2: out = w * bf16(v * inv). Each element is re-read by the thread that wrote it in pass 1. */
__device__ __forceinline__ void normalize(const Row& r, int64_t base, int lane, int width, float inv) {
  const bf16* src = r.residual ? r.residual : r.x;
  for (int i = lane; i < r.hidden; i += width) {
    float v = vk_round_bf16(vk_to_f32(src[base + i]) * inv);
    r.out[base + i] = vk_to_bf16(v * vk_load_weight(r.w, r.wdtype, i));
  }
}

__global__ void rms_norm_warp_kernel(Row r, int n_rows) {
  int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x & 31;
  if (row >= n_rows) return;
  int64_t base = (int64_t)row * r.hidden;
  float ss = vk_warp_sum(sum_squares(r, base, lane, 32));
  normalize(r, base, lane, 32, rsqrtf(ss / r.hidden + r.eps));
}

__global__ void rms_norm_block_kernel(Row r) {
  __shared__ float scratch[32];
  int64_t base = (int64_t)blockIdx.x * r.hidden;
  float ss = vk_block_sum(sum_squares(r, base, threadIdx.x, blockDim.x), scratch);
  normalize(r, base, threadIdx.x, blockDim.x, rsqrtf(ss / r.hidden + r.eps));
}

static void launch(const Row& r, int n_rows, const char* what) {
  cudaStream_t s = vk_stream();
  if (!s || n_rows <= 0) return;
  if (r.hidden <= WARP_ROW_MAX) rms_norm_warp_kernel<<<vk_blocks(n_rows, 8), 256, 0, s>>>(r, n_rows);
  else rms_norm_block_kernel<<<n_rows, 512, 0, s>>>(r);
  VK_CHECK_LAUNCH(what);
}

void vk_rms_norm(bf16* out, const bf16* x, const void* w, int wdtype, int n_rows, int hidden, float eps) {
  launch(Row{out, NULL, x, w, wdtype, hidden, eps}, n_rows, "vk_rms_norm");
}

void vk_add_rms_norm(bf16* out, bf16* residual, const bf16* x, const void* w, int wdtype, int n_rows, int hidden,
                     float eps) {
  launch(Row{out, residual, x, w, wdtype, hidden, eps}, n_rows, "vk_add_rms_norm");
}
