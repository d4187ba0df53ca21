/* out[m, n] = x[m, k] @ w[n, k]^T (+ bias), f32 accumulation, w in f32/f16/bf16.
 *
 * Two paths:
 * - skinny (m <= MR, decode): memory-bound, so every weight row is streamed once and converted
 *   in registers while MR x rows reuse it; threads split n.
 * - blocked (prefill): each task converts an NB x KC weight block to f32 scratch once and reuses it
 *   for every MR-row strip of its MC rows of x; an MR x NR register tile of dot-product
 *   accumulators keeps one x strip and NR weight rows in L1. Tasks are (n block, m block) pairs. */
#include "common.h"

#if VK_W >= 16
#define MR 6 /* 24 accumulators + 4 weight vectors + 1 x vector of 32 zmm */
#define NR 4
#define SK_NR(mr) 4
#elif VK_W == 8
#define MR 4 /* 12 accumulators + 3 weight vectors + 1 x vector of 16 ymm */
#define NR 3
#define SK_NR(mr) ((mr) <= 2 ? 4 : 3)
#else
#define MR 3 /* no FMA: keeps a spare register for the product */
#define NR 3
#define SK_NR(mr) ((mr) <= 2 ? 4 : 3)
#endif
#define KC 512    /* k block: an MR-row x strip plus NR converted rows fit in L1 */
#define NB 48     /* weight rows per task; NB * KC f32 of scratch stays in L2 */
#define MC_MAX 128 /* x rows per task; bounds the x block re-read per weight block */

typedef struct {
  float* out;
  const float* x;
  const void* w;
  int wdtype;
  const float* bias;
  int m, n, k;
  int n_blocks, mc; /* blocked path: tasks = n_blocks * ceil(m / mc) */
} mm_job;

/* ---- skinny path ---- */

VK_INLINE void skinny_tile(const mm_job* j, int n0, const int mr, const int nr, const int dtype) {
  const int64_t k = j->k;
  vkf acc[MR][4];
  for (int r = 0; r < mr; r++)
    for (int c = 0; c < nr; c++) acc[r][c] = vkf_zero();
  int64_t kk = 0;
  for (; kk + VK_W <= k; kk += VK_W) {
    vkf wv[4];
    for (int c = 0; c < nr; c++) wv[c] = vk_load_w(j->w, (n0 + c) * k + kk, dtype);
    for (int r = 0; r < mr; r++) {
      vkf xv = vkf_load(j->x + r * k + kk);
      for (int c = 0; c < nr; c++) acc[r][c] = vkf_fma(xv, wv[c], acc[r][c]);
    }
  }
  for (int r = 0; r < mr; r++) {
    for (int c = 0; c < nr; c++) {
      float s = vkf_hsum(acc[r][c]);
      for (int64_t t = kk; t < k; t++) s += j->x[r * k + t] * vk_load_w1(j->w, (n0 + c) * k + t, dtype);
      if (j->bias) s += j->bias[n0 + c];
      j->out[(int64_t)r * j->n + n0 + c] = s;
    }
  }
}

VK_INLINE void skinny_cols(const mm_job* j, int n0, int n1, const int mr, const int dtype) {
  int c = n0;
  for (; c + SK_NR(mr) <= n1; c += SK_NR(mr)) skinny_tile(j, c, mr, SK_NR(mr), dtype);
  for (; c < n1; c++) skinny_tile(j, c, mr, 1, dtype);
}

VK_INLINE void skinny_typed(const mm_job* j, int n0, int n1, const int dtype) {
  switch (j->m) {
    case 1: skinny_cols(j, n0, n1, 1, dtype); break;
    case 2: skinny_cols(j, n0, n1, 2, dtype); break;
    case 3: skinny_cols(j, n0, n1, 3, dtype); break;
#if MR >= 4
    case 4: skinny_cols(j, n0, n1, 4, dtype); break;
#endif
#if MR >= 6
    case 5: skinny_cols(j, n0, n1, 5, dtype); break;
    case 6: skinny_cols(j, n0, n1, 6, dtype); break;
#endif
  }
}

static void skinny_range(void* arg, int n0, int n1) {
  const mm_job* j = arg;
  if (j->wdtype == VK_BF16) skinny_typed(j, n0, n1, VK_BF16);
  else if (j->wdtype == VK_F16) skinny_typed(j, n0, n1, VK_F16);
  else skinny_typed(j, n0, n1, VK_F32);
}

/* ---- blocked path ---- */

/* out[mr, nr] (=|+=) x[mr, kc] . w[nr, kc]^T with f32 rows; kc is a multiple of VK_W except in the
 * last k block, whose tail is summed in scalar. */
VK_INLINE void gemm_tile(float* out, int64_t ldo, const float* x, int64_t ldx, const float* w, int64_t ldw, int kc,
                         const int mr, const int nr, int accumulate) {
  vkf acc[MR][NR];
  for (int r = 0; r < mr; r++)
    for (int c = 0; c < nr; c++) acc[r][c] = vkf_zero();
  int kk = 0;
  for (; kk + VK_W <= kc; kk += VK_W) {
    vkf wv[NR];
    for (int c = 0; c < nr; c++) wv[c] = vkf_load(w + c * ldw + kk);
    for (int r = 0; r < mr; r++) {
      vkf xv = vkf_load(x + r * ldx + kk);
      for (int c = 0; c < nr; c++) acc[r][c] = vkf_fma(xv, wv[c], acc[r][c]);
    }
  }
  for (int r = 0; r < mr; r++) {
    for (int c = 0; c < nr; c++) {
      float s = vkf_hsum(acc[r][c]);
      for (int t = kk; t < kc; t++) s += x[r * ldx + t] * w[c * ldw + t];
      float* o = out + r * ldo + c;
      *o = accumulate ? *o + s : s;
    }
  }
}

VK_INLINE void gemm_cols(float* out, int64_t ldo, const float* x, int64_t ldx, const float* w, int64_t ldw, int kc,
                         const int mr, int nb, int accumulate) {
  int c = 0;
  for (; c + NR <= nb; c += NR) gemm_tile(out + c, ldo, x, ldx, w + c * ldw, ldw, kc, mr, NR, accumulate);
  for (; c < nb; c++) gemm_tile(out + c, ldo, x, ldx, w + c * ldw, ldw, kc, mr, 1, accumulate);
}

static void gemm_strip(float* out, int64_t ldo, const float* x, int64_t ldx, const float* w, int64_t ldw, int kc,
                       int mr, int nb, int accumulate) {
  switch (mr) {
    case 1: gemm_cols(out, ldo, x, ldx, w, ldw, kc, 1, nb, accumulate); break;
    case 2: gemm_cols(out, ldo, x, ldx, w, ldw, kc, 2, nb, accumulate); break;
    case 3: gemm_cols(out, ldo, x, ldx, w, ldw, kc, 3, nb, accumulate); break;
#if MR >= 4
    case 4: gemm_cols(out, ldo, x, ldx, w, ldw, kc, 4, nb, accumulate); break;
#endif
#if MR >= 6
    case 5: gemm_cols(out, ldo, x, ldx, w, ldw, kc, 5, nb, accumulate); break;
    case 6: gemm_cols(out, ldo, x, ldx, w, ldw, kc, 6, nb, accumulate); break;
#endif
  }
}

static void gemm_task(void* arg, int t) {
  const mm_job* j = arg;
  const int64_t k = j->k, n = j->n;
  int n0 = (t % j->n_blocks) * NB, m0 = (t / j->n_blocks) * j->mc;
  int nb = VK_MIN(NB, j->n - n0), mc = VK_MIN(j->mc, j->m - m0);
  float* buf = j->wdtype == VK_F32 ? NULL : vk_scratch(0, (int64_t)NB * KC * sizeof(float));
  int64_t w_row_bytes = k * vk_dtype_size(j->wdtype);
  for (int64_t k0 = 0; k0 < k; k0 += KC) {
    int kc = (int)VK_MIN((int64_t)KC, k - k0);
    const float* wp = (const float*)j->w + n0 * k + k0;
    int64_t ldw = k;
    if (buf) {
      for (int r = 0; r < nb; r++) {
        const char* src = (const char*)j->w + (n0 + r) * w_row_bytes + k0 * 2;
        vk_convert_f32(buf + (int64_t)r * KC, src, j->wdtype, kc);
      }
      wp = buf, ldw = KC;
    }
    for (int i0 = 0; i0 < mc; i0 += MR) {
      gemm_strip(j->out + (m0 + i0) * n + n0, n, j->x + (m0 + i0) * k + k0, k, wp, ldw, kc, VK_MIN(MR, mc - i0), nb,
                 k0 > 0);
    }
  }
  if (j->bias) {
    for (int i = 0; i < mc; i++)
      for (int c = 0; c < nb; c++) j->out[(m0 + i) * n + n0 + c] += j->bias[n0 + c];
  }
}

/* m rows per task: at most MC_MAX, and fewer when n alone gives too few tasks to fill the pool. */
static int pick_mc(int m, int n_blocks) {
  int threads = vk_pool_size();
  int m_blocks = VK_MAX((m + MC_MAX - 1) / MC_MAX, (2 * threads + n_blocks - 1) / n_blocks);
  m_blocks = VK_MIN(m_blocks, (m + MR - 1) / MR);
  int mc = (m + m_blocks - 1) / m_blocks;
  return (mc + MR - 1) / MR * MR;
}

void vk_matmul(float* out, const float* x, const void* w, int wdtype, const float* bias, int m, int n, int k) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    for (int64_t i = 0; i < (int64_t)m * n; i++) out[i] = bias ? bias[i % n] : 0.0f;
    return;
  }
  mm_job j = {out, x, w, wdtype, bias, m, n, k, 0, 0};
  if (m <= MR) {
    vk_parallel_range(n, (int64_t)m * k + k, skinny_range, &j);
    return;
  }
  j.n_blocks = (n + NB - 1) / NB;
  if ((int64_t)m * n * k < 65536) {
    /* Too small to be worth waking the pool. */
    j.mc = (m + MR - 1) / MR * MR;
    for (int t = 0; t < j.n_blocks; t++) gemm_task(&j, t);
    return;
  }
  j.mc = pick_mc(m, j.n_blocks);
  int tasks = j.n_blocks * ((m + j.mc - 1) / j.mc);
  vk_parallel_for(tasks, gemm_task, &j);
}
