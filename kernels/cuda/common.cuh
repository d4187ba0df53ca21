/* Internal helpers shared by the CUDA kernels: the library's stream and device facts, failure
 * recording (the ABI never aborts; see vk_last_error), bf16 conversion and launch checks. */
#ifndef VK_CUDA_COMMON_CUH
#define VK_CUDA_COMMON_CUH
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdint.h>

#define VK_ACT_T __nv_bfloat16
/* Built with -fvisibility=hidden: only the ABI in the headers is exported. */
#pragma GCC visibility push(default)
#include "vk_core.h"
#include "vk_device.h"
#pragma GCC visibility pop

typedef __nv_bfloat16 bf16;

/* The stream every op is queued on; created (with the device context) on first use. NULL when the
 * runtime could not start, in which case the failure is already recorded. */
cudaStream_t vk_stream(void);
int vk_sm_count(void);
int vk_max_smem_optin(void); /* bytes of shared memory one block may opt in to */

/* Records the first failure (printf-style); later ones are dropped until vk_clear_error(). */
void vk_fail(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
int vk_failed(void);

/* Records `err` against `what`; returns 1 when it was a failure. */
int vk_check(cudaError_t err, const char* what);
/* After a launch: records a launch failure (bad configuration, no kernel image for the device). */
#define VK_CHECK_LAUNCH(what) vk_check(cudaGetLastError(), what)

/* A bad id found by a kernel: vk_last_error() turns the report into the recorded failure (runtime.cu
 * formats it by `kind`). The first reporter wins a claim word in device memory (no atomics on host
 * memory, which PCIe may not offer) and writes the report to mapped host memory, so the host reads it
 * without a copy. Both are reset by vk_clear_error(). */
enum { VK_FAULT_EMBEDDING_ID = 1, VK_FAULT_SAMPLE_ROW, VK_FAULT_SAMPLE_FORCED, VK_FAULT_SAMPLE_OP_TOKEN, VK_FAULT_SAMPLE_MASK_ROW };
struct vk_fault_report {
  int ready; /* written last, so a host that sees it sees the fields */
  int kind, index, value, limit;
};
struct vk_fault {
  int* claimed;            /* device memory; NULL when the runtime could not start */
  vk_fault_report* report; /* mapped host memory (its device address equals the host one) */
};
/* Where kernels report, passed to them by value. */
vk_fault vk_fault_record(void);

/* Records `value` (of entry or token `index`) outside [0, limit); any thread may call it. */
__device__ __forceinline__ void vk_report_fault(vk_fault f, int kind, int index, int value, int limit) {
  if (!f.claimed || atomicCAS(f.claimed, 0, 1) != 0) return;
  volatile vk_fault_report* r = f.report;
  r->kind = kind, r->index = index, r->value = value, r->limit = limit;
  __threadfence_system();
  r->ready = 1;
}

/* Device scratch that only grows (attention partials); NULL (failure recorded) if it cannot. Slots
 * keep independent buffers. Growing waits for queued work, so it happens only in the first steps. */
void* vk_workspace(int slot, size_t nbytes);
enum { VK_WS_ATTENTION = 0, VK_WS_MATMUL = 1, VK_WS_COUNT = 2 };

__device__ __forceinline__ float vk_to_f32(bf16 x) { return __bfloat162float(x); }
__device__ __forceinline__ float vk_to_f32(__half x) { return __half2float(x); }
__device__ __forceinline__ float vk_to_f32(float x) { return x; }
__device__ __forceinline__ bf16 vk_to_bf16(float x) { return __float2bfloat16_rn(x); }
/* x rounded to bf16 and back: the rounding a torch bf16 tensor op applies to its result. */
__device__ __forceinline__ float vk_round_bf16(float x) { return __bfloat162float(__float2bfloat16_rn(x)); }

/* Element i of a weight in any ABI dtype, as f32. */
__device__ __forceinline__ float vk_load_weight(const void* w, int dtype, int64_t i) {
  if (dtype == VK_BF16) return __bfloat162float(((const bf16*)w)[i]);
  if (dtype == VK_F16) return __half2float(((const __half*)w)[i]);
  return ((const float*)w)[i];
}

/* Eight consecutive bf16 (one 16-byte access) unpacked to f32 and packed back. */
__device__ __forceinline__ void vk_unpack8(uint4 u, float* f) {
  const __nv_bfloat162* h = reinterpret_cast<const __nv_bfloat162*>(&u);
#pragma unroll
  for (int i = 0; i < 4; i++) {
    float2 p = __bfloat1622float2(h[i]);
    f[2 * i] = p.x;
    f[2 * i + 1] = p.y;
  }
}
__device__ __forceinline__ uint4 vk_pack8(const float* f) {
  uint4 u;
  __nv_bfloat162* h = reinterpret_cast<__nv_bfloat162*>(&u);
#pragma unroll
  for (int i = 0; i < 4; i++) h[i] = __floats2bfloat162_rn(f[2 * i], f[2 * i + 1]);
  return u;
}

template <typename T>
__device__ __forceinline__ T vk_warp_sum(T v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float vk_warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

/* Block-wide sum for blockDim.x a multiple of 32 (up to 1024); every thread gets the result.
 * `scratch` holds 32 values; the call ends with the scratch free for reuse. */
template <typename T>
__device__ __forceinline__ T vk_block_sum(T v, T* scratch) {
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, n_warps = blockDim.x >> 5;
  v = vk_warp_sum(v);
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < n_warps ? scratch[lane] : T(0);
  v = vk_warp_sum(v);
  __syncthreads();
  return v;
}
__device__ __forceinline__ float vk_block_max(float v, float* scratch) {
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, n_warps = blockDim.x >> 5;
  v = vk_warp_max(v);
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < n_warps ? scratch[lane] : -INFINITY;
  v = vk_warp_max(v);
  __syncthreads();
  return v;
}

static inline unsigned vk_blocks(int64_t n, int per_block) { return (unsigned)((n + per_block - 1) / per_block); }

#endif
