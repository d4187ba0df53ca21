/* out[m, n] = x[m, k] @ w[n, k]^T (+ bias) through cuBLASLt: bf16 inputs, f32 accumulation, bf16
 * or f32 output.
 *
 * Row-major out is column-major out^T [n, m], so cuBLASLt computes out^T = W^T^T . X^T: A = w with
 * op T, B = x with op N, both with leading dimension k. A plan (descriptors and the heuristic's
 * algorithm) is cached per (m, n, k, output type): decode steps reuse a handful of shapes. */
#include <cublasLt.h>
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

static void matmul(void* out, int out_f32, const bf16* x, const void* w, int wdtype, const float* bias, int m, int n,
                   int k) {
  cudaStream_t s = vk_stream();
  if (!s || m <= 0 || n <= 0) return;
  if (wdtype != VK_BF16) {
    vk_fail("vk_matmul: weights must be bf16 in the CUDA library (got dtype %d; convert at upload)", wdtype);
    return;
  }
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
