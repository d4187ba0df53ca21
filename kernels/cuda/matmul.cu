/* out[m, n] = x[m, k] @ w[n, k]^T (+ bias) through cuBLASLt: bf16 inputs, f32 accumulation, bf16
 * or f32 output. Decode-sized m (up to VK_CUDA_GEMV_MAX_M, default 4; 0 turns it off) goes to our own
 * GEMV instead, which streams each weight row once with several 16-byte loads in flight per lane.
 *
 * Row-major out is column-major out^T [n, m], so cuBLASLt computes out^T = W^T^T . X^T: A = w with
 * op T, B = x with op N, both with leading dimension k. A plan (descriptors and the heuristic's
 * algorithm) is cached per (m, n, k, output type): decode steps reuse a handful of shapes. */
#include <cublasLt.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common.cuh"

#define WORKSPACE_BYTES ((size_t)32 << 20)
#define PLAN_SLOTS 4096

struct Plan {
  int m, n, k, out_f32, used;
  cublasLtMatmulDesc_t op;
  cublasLtMatrixLayout_t a, b, d;
  cublasLtMatmulAlgo_t algo;
  size_t workspace;
};

static cublasLtHandle_t handle;
static Plan plans[PLAN_SLOTS];

static int lt_check(cublasStatus_t st, const char* what, int m, int n, int k) {
  if (st == CUBLAS_STATUS_SUCCESS) return 0;
  vk_fail("vk_matmul (m=%d, n=%d, k=%d): %s failed: %s", m, n, k, what, cublasLtGetStatusString(st));
  return 1;
}

static void destroy(Plan* p) {
  if (p->op) cublasLtMatmulDescDestroy(p->op);
  if (p->a) cublasLtMatrixLayoutDestroy(p->a);
  if (p->b) cublasLtMatrixLayoutDestroy(p->b);
  if (p->d) cublasLtMatrixLayoutDestroy(p->d);
  memset(p, 0, sizeof *p);
}

static int build(Plan* p, int m, int n, int k, int out_f32) {
  memset(p, 0, sizeof *p);
  cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
  cudaDataType_t out_type = out_f32 ? CUDA_R_32F : CUDA_R_16BF;
  int ok = !lt_check(cublasLtMatmulDescCreate(&p->op, CUBLAS_COMPUTE_32F, CUDA_R_32F), "MatmulDescCreate", m, n, k) &&
           !lt_check(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta), "SetAttribute", m, n, k) &&
           !lt_check(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb), "SetAttribute", m, n, k) &&
           !lt_check(cublasLtMatrixLayoutCreate(&p->a, CUDA_R_16BF, k, n, k), "MatrixLayoutCreate", m, n, k) &&
           !lt_check(cublasLtMatrixLayoutCreate(&p->b, CUDA_R_16BF, k, m, k), "MatrixLayoutCreate", m, n, k) &&
           !lt_check(cublasLtMatrixLayoutCreate(&p->d, out_type, n, m, n), "MatrixLayoutCreate", m, n, k);
  if (!ok) {
    destroy(p);
    return 0;
  }
  cublasLtMatmulPreference_t pref = NULL;
  cublasLtMatmulHeuristicResult_t result;
  int found = 0;
  size_t ws = WORKSPACE_BYTES;
  ok = !lt_check(cublasLtMatmulPreferenceCreate(&pref), "PreferenceCreate", m, n, k) &&
       !lt_check(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws),
                 "PreferenceSetAttribute", m, n, k) &&
       !lt_check(cublasLtMatmulAlgoGetHeuristic(handle, p->op, p->a, p->b, p->d, p->d, pref, 1, &result, &found),
                 "AlgoGetHeuristic", m, n, k);
  if (pref) cublasLtMatmulPreferenceDestroy(pref);
  if (ok && found == 0) {
    vk_fail("vk_matmul (m=%d, n=%d, k=%d): cuBLASLt has no algorithm for this shape", m, n, k);
    ok = 0;
  }
  if (!ok) {
    destroy(p);
    return 0;
  }
  p->algo = result.algo;
  p->workspace = result.workspaceSize;
  p->m = m, p->n = n, p->k = k, p->out_f32 = out_f32, p->used = 1;
  return 1;
}

/* The cached plan for a shape; a full table recycles the slot the key hashes to. */
static Plan* plan_for(int m, int n, int k, int out_f32) {
  uint32_t h = (uint32_t)m * 2654435761u ^ (uint32_t)n * 40503u ^ (uint32_t)k * 9973u ^ (uint32_t)out_f32;
  for (int probe = 0; probe < 8; probe++) {
    Plan* p = &plans[(h + probe) % PLAN_SLOTS];
    if (p->used && p->m == m && p->n == n && p->k == k && p->out_f32 == out_f32) return p;
    if (!p->used) return build(p, m, n, k, out_f32) ? p : NULL;
  }
  Plan* p = &plans[h % PLAN_SLOTS];
  destroy(p);
  return build(p, m, n, k, out_f32) ? p : NULL;
}

__global__ void add_bias_kernel(void* out, int out_f32, const float* bias, int n, int64_t total) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
    float b = bias[i % n];
    if (out_f32) ((float*)out)[i] += b;
    else ((bf16*)out)[i] = vk_to_bf16(vk_to_f32(((bf16*)out)[i]) + b);
  }
}

/* ---- GEMV for small m: a warp per GEMV_ROWS output rows; lanes stride over k in 8-element chunks ---- */

#define GEMV_WARPS 8
#define GEMV_ROWS 2
#define GEMV_UNROLL 4

__device__ __forceinline__ float dot8(uint4 a, const float* b) {
  float f[8];
  vk_unpack8(a, f);
  float s = 0.f;
#pragma unroll
  for (int i = 0; i < 8; i++) s += f[i] * b[i];
  return s;
}

/* Rounded as the cuBLAS path: the f32 sum to the output type, then the bias added to that. */
template <int M>
__global__ void __launch_bounds__(GEMV_WARPS * 32) gemv_kernel(void* out, int out_f32, const bf16* x, const bf16* w,
                                                               const float* bias, int n, int k) {
  int lane = threadIdx.x & 31;
  int n0 = (blockIdx.x * GEMV_WARPS + threadIdx.x / 32) * GEMV_ROWS;
  if (n0 >= n) return;
  const int chunks = k / 8;
  const uint4* wr[GEMV_ROWS];
#pragma unroll
  for (int r = 0; r < GEMV_ROWS; r++) wr[r] = reinterpret_cast<const uint4*>(w + (int64_t)min(n0 + r, n - 1) * k);
  const uint4* xr = reinterpret_cast<const uint4*>(x);
  float acc[GEMV_ROWS][M];
#pragma unroll
  for (int r = 0; r < GEMV_ROWS; r++)
#pragma unroll
    for (int i = 0; i < M; i++) acc[r][i] = 0.f;
  int c = lane;
  for (; c + 32 * (GEMV_UNROLL - 1) < chunks; c += 32 * GEMV_UNROLL) {
    uint4 wv[GEMV_UNROLL][GEMV_ROWS];
#pragma unroll
    for (int u = 0; u < GEMV_UNROLL; u++)
#pragma unroll
      for (int r = 0; r < GEMV_ROWS; r++) wv[u][r] = __ldcs(wr[r] + c + 32 * u); /* streamed once: no cache keep */
#pragma unroll
    for (int u = 0; u < GEMV_UNROLL; u++) {
#pragma unroll
      for (int i = 0; i < M; i++) {
        float xf[8];
        vk_unpack8(xr[(int64_t)i * chunks + c + 32 * u], xf);
#pragma unroll
        for (int r = 0; r < GEMV_ROWS; r++) acc[r][i] += dot8(wv[u][r], xf);
      }
    }
  }
  for (; c < chunks; c += 32) {
#pragma unroll
    for (int i = 0; i < M; i++) {
      float xf[8];
      vk_unpack8(xr[(int64_t)i * chunks + c], xf);
#pragma unroll
      for (int r = 0; r < GEMV_ROWS; r++) acc[r][i] += dot8(wr[r][c], xf);
    }
  }
#pragma unroll
  for (int r = 0; r < GEMV_ROWS; r++)
#pragma unroll
    for (int i = 0; i < M; i++) acc[r][i] = vk_warp_sum(acc[r][i]);
  if (lane != 0) return;
#pragma unroll
  for (int r = 0; r < GEMV_ROWS; r++) {
    int col = n0 + r;
    if (col >= n) break;
#pragma unroll
    for (int i = 0; i < M; i++) {
      int64_t o = (int64_t)i * n + col;
      if (out_f32) {
        ((float*)out)[o] = acc[r][i] + (bias ? bias[col] : 0.f);
      } else {
        float v = vk_round_bf16(acc[r][i]);
        ((bf16*)out)[o] = vk_to_bf16(bias ? v + bias[col] : v);
      }
    }
  }
}

static int gemv_max_m(void) {
  static int max_m = -1;
  if (max_m < 0) {
    const char* e = getenv("VK_CUDA_GEMV_MAX_M");
    max_m = e ? atoi(e) : 4;
    if (max_m < 0) max_m = 0;
  }
  return max_m;
}

/* Returns 1 when the GEMV took the call. */
static int gemv(void* out, int out_f32, const bf16* x, const bf16* w, const float* bias, int m, int n, int k,
                cudaStream_t s) {
  /* Rows longer than 8192 (down_proj's 14336) stream better through cuBLASLt's split-K (H200: 32.8 vs 35.5 us). */
  if (m > gemv_max_m() || k > 8192 || k % 8 != 0 || ((uintptr_t)x | (uintptr_t)w) % 16 != 0) return 0;
  unsigned grid = (unsigned)((n + GEMV_WARPS * GEMV_ROWS - 1) / (GEMV_WARPS * GEMV_ROWS));
  switch (m) {
    case 1: gemv_kernel<1><<<grid, GEMV_WARPS * 32, 0, s>>>(out, out_f32, x, w, bias, n, k); break;
    case 2: gemv_kernel<2><<<grid, GEMV_WARPS * 32, 0, s>>>(out, out_f32, x, w, bias, n, k); break;
    case 3: gemv_kernel<3><<<grid, GEMV_WARPS * 32, 0, s>>>(out, out_f32, x, w, bias, n, k); break;
    case 4: gemv_kernel<4><<<grid, GEMV_WARPS * 32, 0, s>>>(out, out_f32, x, w, bias, n, k); break;
    case 5: gemv_kernel<5><<<grid, GEMV_WARPS * 32, 0, s>>>(out, out_f32, x, w, bias, n, k); break;
    case 6: gemv_kernel<6><<<grid, GEMV_WARPS * 32, 0, s>>>(out, out_f32, x, w, bias, n, k); break;
    case 7: gemv_kernel<7><<<grid, GEMV_WARPS * 32, 0, s>>>(out, out_f32, x, w, bias, n, k); break;
    case 8: gemv_kernel<8><<<grid, GEMV_WARPS * 32, 0, s>>>(out, out_f32, x, w, bias, n, k); break;
    default: return 0;
  }
  VK_CHECK_LAUNCH("vk_matmul: gemv");
  return 1;
}

static void matmul(void* out, int out_f32, const bf16* x, const void* w, int wdtype, const float* bias, int m, int n,
                   int k) {
  cudaStream_t s = vk_stream();
  if (!s || m <= 0 || n <= 0) return;
  if (wdtype != VK_BF16) {
    vk_fail("vk_matmul: weights must be bf16 in the CUDA library (got dtype %d; convert at upload)", wdtype);
    return;
  }
  if (gemv(out, out_f32, x, (const bf16*)w, bias, m, n, k, s)) return;
  if (!handle && lt_check(cublasLtCreate(&handle), "cublasLtCreate", m, n, k)) return;
  void* ws = vk_workspace(VK_WS_MATMUL, WORKSPACE_BYTES);
  Plan* p = ws ? plan_for(m, n, k, out_f32) : NULL;
  if (!p) return;
  const float alpha = 1.f, beta = 0.f;
  if (lt_check(cublasLtMatmul(handle, p->op, &alpha, w, p->a, x, p->b, &beta, out, p->d, out, p->d, &p->algo, ws,
                              p->workspace, s),
               "cublasLtMatmul", m, n, k))
    return;
  if (bias) {
    int64_t total = (int64_t)m * n;
    unsigned grid = (unsigned)(total / 256 + 1 < 65536 ? total / 256 + 1 : 65536);
    add_bias_kernel<<<grid, 256, 0, s>>>(out, out_f32, bias, n, total);
    VK_CHECK_LAUNCH("vk_matmul: bias");
  }
}

void vk_matmul(bf16* out, const bf16* x, const void* w, int wdtype, const float* bias, int m, int n, int k) {
  matmul(out, 0, x, w, wdtype, bias, m, n, k);
}

void vk_matmul_f32(float* out, const bf16* x, const void* w, int wdtype, const float* bias, int m, int n, int k) {
  matmul(out, 1, x, w, wdtype, bias, m, n, k);
}
