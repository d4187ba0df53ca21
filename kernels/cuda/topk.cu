/* Row-wise top-k of f32 values, largest first; ties keep the lower index first; NaN ranks below
 * every number. One block per row picks the k entries in k rounds: each round takes the best entry
 * ranking after the previous pick, so no per-row state beyond the last pick is needed. Meant for
 * the small k of logprobs (k rounds over the row). */
#include "common.cuh"

struct Entry {
  float v;
  int i; /* INT_MAX: none */
};

/* a ranks before b. */
__device__ __forceinline__ bool before(Entry a, Entry b) {
  if (b.i == INT_MAX) return a.i != INT_MAX;
  if (a.i == INT_MAX) return false;
  bool an = a.v != a.v, bn = b.v != b.v;
  if (an != bn) return bn;
  if (!an && a.v != b.v) return a.v > b.v;
  return a.i < b.i;
}

__device__ __forceinline__ Entry better(Entry a, Entry b) { return before(b, a) ? b : a; }

__global__ void topk_kernel(int32_t* out_ids, float* out_vals, const float* x, int n_cols, int k) {
  __shared__ Entry warp_best[32];
  __shared__ Entry pick;
  const float* row = x + (int64_t)blockIdx.x * n_cols;
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, n_warps = blockDim.x >> 5;
  Entry prev = {0.f, -1}; /* before every entry: the first round takes the overall best */
  for (int r = 0; r < k; r++) {
    Entry best = {0.f, INT_MAX};
    for (int i = threadIdx.x; i < n_cols; i += blockDim.x) {
      Entry e = {row[i], i};
      if ((prev.i < 0 || before(prev, e)) && before(e, best)) best = e;
    }
    for (int o = 16; o > 0; o >>= 1) {
      Entry other = {__shfl_xor_sync(0xffffffffu, best.v, o), __shfl_xor_sync(0xffffffffu, best.i, o)};
      best = better(best, other);
    }
    if (lane == 0) warp_best[warp] = best;
    __syncthreads();
    if (threadIdx.x == 0) {
      Entry b = warp_best[0];
      for (int w = 1; w < n_warps; w++) b = better(b, warp_best[w]);
      pick = b;
      int64_t o = (int64_t)blockIdx.x * k + r;
      out_ids[o] = b.i == INT_MAX ? -1 : b.i;
      out_vals[o] = b.i == INT_MAX ? -INFINITY : b.v;
    }
    __syncthreads();
    prev = pick;
    if (prev.i == INT_MAX) { /* fewer columns than k: the rest stay empty */
      for (int rr = r + 1 + threadIdx.x; rr < k; rr += blockDim.x) {
        out_ids[(int64_t)blockIdx.x * k + rr] = -1;
        out_vals[(int64_t)blockIdx.x * k + rr] = -INFINITY;
      }
      return;
    }
  }
}

void vk_topk(int32_t* out_ids, float* out_vals, const float* x, int n_rows, int n_cols, int k) {
  cudaStream_t s = vk_stream();
  if (!s || n_rows <= 0 || k <= 0) return;
  topk_kernel<<<n_rows, 1024, 0, s>>>(out_ids, out_vals, x, n_cols, k);
  VK_CHECK_LAUNCH("vk_topk");
}
