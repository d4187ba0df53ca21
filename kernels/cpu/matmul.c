/* out[m, n] = x[m, k] @ w[n, k]^T (+ bias), f32 accumulation, w in f32/f16/bf16.
 *
 * Two paths:
 * - skinny (m <= SKINNY_M, decode): memory-bound, so every weight row is streamed once and
 *   converted in registers while the x rows reuse it, four at a time; threads split n.
 * - blocked (prefill): a task owns MC rows of x and NB rows of w. Per KC slice of k it converts its
 *   w rows to f32 and transposes them into panels of NR columns ([kk][NR]), then an MR x NR
 *   register tile of accumulators takes one broadcast x value and NR/VK_W panel vectors per kk
 *   (no horizontal sums); a panel stays in L1 while every MR-row strip of x passes over it.
 *   Tasks are (m block, n block) pairs. */
#include "common.h"

#if VK_W >= 16
#define MR 8 /* 16 zmm accumulators */
#define SK_NR(mr) 4
#elif VK_W == 8
#define MR 6 /* 12 ymm accumulators + 2 panel vectors + 1 broadcast */
#define SK_NR(mr) ((mr) <= 2 ? 4 : 3)
#elif VK_W == 4
#define MR 4 /* no FMA: leaves xmm registers for the products */
#define SK_NR(mr) ((mr) <= 2 ? 4 : 3)
#else
#define MR 4
#define SK_NR(mr) 4
#endif
#define NR (2 * VK_W) /* panel width: two vectors */
#define SKINNY_M 16 /* up to here, streaming w beats packing it (decode batches) */
#define SK_KC 1024  /* k chunk of the skinny path */
#define KC 256     /* a [KC][NR] panel plus an MR-row x strip fit in L1 */
#define NB (6 * NR) /* w rows per task: its packed panels stay in L2 */
#define MC_MAX 128 /* x rows per task: with the panels, fits in L2 */

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

/* acc[r][c] += x[r, k0:k0+len] * w[n0 + c, k0:k0+len] lane-wise, len a multiple of VK_W. */
VK_INLINE void skinny_block(vkf (*acc)[4], const float* x, int64_t k, const void* w, int64_t w0, int len,
                            const int mr, const int nr, const int dtype) {
  vkf a[4][4];
  for (int r = 0; r < mr; r++)
    for (int c = 0; c < nr; c++) a[r][c] = acc[r][c];
  for (int kk = 0; kk < len; kk += VK_W) {
    vkf wv[4];
    for (int c = 0; c < nr; c++) wv[c] = vk_load_w(w, w0 + c * k + kk, dtype);
    for (int r = 0; r < mr; r++) {
      vkf xv = vkf_load(x + r * k + kk);
      for (int c = 0; c < nr; c++) a[r][c] = vkf_fma(xv, wv[c], a[r][c]);
    }
  }
  for (int r = 0; r < mr; r++)
    for (int c = 0; c < nr; c++) acc[r][c] = a[r][c];
}

/* out[:, n0:n0+nr] for all m rows: each SK_KC chunk of the nr weight rows comes from memory once
 * and stays in L1 while the x rows pass over it four at a time. */
VK_INLINE void skinny_tile(const mm_job* j, int n0, const int nr, const int dtype) {
  const int64_t k = j->k, kv = k / VK_W * VK_W;
  vkf acc[SKINNY_M][4];
  for (int r = 0; r < j->m; r++)
    for (int c = 0; c < nr; c++) acc[r][c] = vkf_zero();
  for (int64_t k0 = 0; k0 < kv; k0 += SK_KC) {
    int len = (int)VK_MIN((int64_t)SK_KC, kv - k0);
    for (int g = 0; g < j->m; g += 4) {
      const float* x = j->x + g * k + k0;
      switch (VK_MIN(4, j->m - g)) {
        case 1: skinny_block(acc + g, x, k, j->w, n0 * k + k0, len, 1, nr, dtype); break;
        case 2: skinny_block(acc + g, x, k, j->w, n0 * k + k0, len, 2, nr, dtype); break;
        case 3: skinny_block(acc + g, x, k, j->w, n0 * k + k0, len, 3, nr, dtype); break;
        default: skinny_block(acc + g, x, k, j->w, n0 * k + k0, len, 4, nr, dtype); break;
      }
    }
  }
  for (int r = 0; r < j->m; r++) {
    for (int c = 0; c < nr; c++) {
      float s = vkf_hsum(acc[r][c]);
      for (int64_t t = kv; t < k; t++) s += j->x[r * k + t] * vk_load_w1(j->w, (n0 + c) * k + t, dtype);
      if (j->bias) s += j->bias[n0 + c];
      j->out[(int64_t)r * j->n + n0 + c] = s;
    }
  }
}

VK_INLINE void skinny_typed(const mm_job* j, int n0, int n1, const int dtype) {
  const int nr = j->m == 1 ? SK_NR(1) : SK_NR(4);
  int c = n0;
  if (nr == 4)
    for (; c + 4 <= n1; c += 4) skinny_tile(j, c, 4, dtype);
  else
    for (; c + 3 <= n1; c += 3) skinny_tile(j, c, 3, dtype);
  for (; c < n1; c++) skinny_tile(j, c, 1, dtype);
}

static void skinny_range(void* arg, int n0, int n1) {
  const mm_job* j = arg;
  if (j->wdtype == VK_BF16) skinny_typed(j, n0, n1, VK_BF16);
  else if (j->wdtype == VK_F16) skinny_typed(j, n0, n1, VK_F16);
  else skinny_typed(j, n0, n1, VK_F32);
}

/* ---- m == 1 (batch-1 decode) ---- */

/* Each thread owns a contiguous block of weight rows and streams it front to back, one row at a time
 * with four accumulators: one sequential stream per thread, which the hardware prefetcher follows even
 * when rows are short (k = 1024 rows are 2 KiB; four interleaved row streams lost a quarter of the
 * bandwidth there). */
VK_INLINE void gemv_typed(const mm_job* j, int n0, int n1, const int dtype) {
  const int64_t k = j->k, k4 = k / (4 * VK_W) * (4 * VK_W);
  const float* x = j->x;
  for (int r = n0; r < n1; r++) {
    const int64_t base = (int64_t)r * k;
    vkf a0 = vkf_zero(), a1 = vkf_zero(), a2 = vkf_zero(), a3 = vkf_zero();
    int64_t i = 0;
    for (; i < k4; i += 4 * VK_W) {
      a0 = vkf_fma(vkf_load(x + i), vk_load_w(j->w, base + i, dtype), a0);
      a1 = vkf_fma(vkf_load(x + i + VK_W), vk_load_w(j->w, base + i + VK_W, dtype), a1);
      a2 = vkf_fma(vkf_load(x + i + 2 * VK_W), vk_load_w(j->w, base + i + 2 * VK_W, dtype), a2);
      a3 = vkf_fma(vkf_load(x + i + 3 * VK_W), vk_load_w(j->w, base + i + 3 * VK_W, dtype), a3);
    }
    for (; i + VK_W <= k; i += VK_W) a0 = vkf_fma(vkf_load(x + i), vk_load_w(j->w, base + i, dtype), a0);
    float s = vkf_hsum(vkf_add(vkf_add(a0, a1), vkf_add(a2, a3)));
    for (; i < k; i++) s += x[i] * vk_load_w1(j->w, base + i, dtype);
    j->out[r] = j->bias ? s + j->bias[r] : s;
  }
}

static void gemv_range(void* arg, int n0, int n1) {
  const mm_job* j = arg;
  if (j->wdtype == VK_BF16) gemv_typed(j, n0, n1, VK_BF16);
  else if (j->wdtype == VK_F16) gemv_typed(j, n0, n1, VK_F16);
  else gemv_typed(j, n0, n1, VK_F32);
}

/* ---- blocked path ---- */

/* panel[kk * NR + c] = w[r0 + c, k0 + kk] as f32, for kk < kc; rows at or past n read as 0.
 * Conversion and transposition happen in registers, VK_TB rows x VK_TB columns at a time. */
VK_INLINE void pack_panel_typed(float* panel, const mm_job* j, int r0, int64_t k0, int kc, const int dtype) {
  const int64_t k = j->k;
  int valid = VK_MIN(NR, j->n - r0);
  int kk = 0;
  for (; kk + VK_TB <= kc && valid == NR; kk += VK_TB) {
    for (int c = 0; c < NR; c += VK_TB) {
      vkt rows[VK_TB];
      for (int r = 0; r < VK_TB; r++) rows[r] = vk_load_t(j->w, (r0 + c + r) * k + k0 + kk, dtype);
      vkt_transpose_store(rows, panel + kk * NR + c, NR);
    }
  }
  for (; kk < kc; kk++) {
    for (int c = 0; c < NR; c++) {
      panel[kk * NR + c] = c < valid ? vk_load_w1(j->w, (r0 + c) * k + k0 + kk, dtype) : 0.0f;
    }
  }
}

static void pack_panel(float* panel, const mm_job* j, int r0, int64_t k0, int kc) {
  if (j->wdtype == VK_BF16) pack_panel_typed(panel, j, r0, k0, kc, VK_BF16);
  else if (j->wdtype == VK_F16) pack_panel_typed(panel, j, r0, k0, kc, VK_F16);
  else pack_panel_typed(panel, j, r0, k0, kc, VK_F32);
}

/* c[mr, NR] (=|+=) x[mr, kc] . panel[kc, NR]; only the first nc columns of c are written. */
VK_INLINE void gemm_tile(float* c, int64_t ldc, int nc, const float* x, int64_t ldx, const float* panel, int kc,
                         const int mr, int accumulate) {
  vkf acc[MR][2];
  for (int r = 0; r < mr; r++) acc[r][0] = vkf_zero(), acc[r][1] = vkf_zero();
  for (int kk = 0; kk < kc; kk++) {
    vkf b0 = vkf_load(panel + kk * NR), b1 = vkf_load(panel + kk * NR + VK_W);
    for (int r = 0; r < mr; r++) {
      vkf a = vkf_set1(x[r * ldx + kk]);
      acc[r][0] = vkf_fma(a, b0, acc[r][0]);
      acc[r][1] = vkf_fma(a, b1, acc[r][1]);
    }
  }
  if (nc == NR) {
    for (int r = 0; r < mr; r++) {
      float* o = c + r * ldc;
      if (accumulate) acc[r][0] = vkf_add(acc[r][0], vkf_load(o)), acc[r][1] = vkf_add(acc[r][1], vkf_load(o + VK_W));
      vkf_store(o, acc[r][0]);
      vkf_store(o + VK_W, acc[r][1]);
    }
    return;
  }
  float tmp[NR];
  for (int r = 0; r < mr; r++) {
    vkf_store(tmp, acc[r][0]);
    vkf_store(tmp + VK_W, acc[r][1]);
    float* o = c + r * ldc;
    for (int i = 0; i < nc; i++) o[i] = accumulate ? o[i] + tmp[i] : tmp[i];
  }
}

static void gemm_strip(float* c, int64_t ldc, int nc, const float* x, int64_t ldx, const float* panel, int kc, int mr,
                       int accumulate) {
  switch (mr) {
#define CASE(R) \
  case R: gemm_tile(c, ldc, nc, x, ldx, panel, kc, R, accumulate); break;
    CASE(1) CASE(2) CASE(3) CASE(4)
#if MR >= 6
    CASE(5) CASE(6)
#endif
#if MR >= 8
    CASE(7) CASE(8)
#endif
#undef CASE
  }
}

static void gemm_task(void* arg, int t) {
  const mm_job* j = arg;
  const int64_t k = j->k, n = j->n;
  int n0 = (t % j->n_blocks) * NB, m0 = (t / j->n_blocks) * j->mc;
  int nb = VK_MIN(NB, j->n - n0), mc = VK_MIN(j->mc, j->m - m0);
  int n_panels = (nb + NR - 1) / NR;
  float* packed = vk_scratch(0, (int64_t)NB * KC * sizeof(float));
  for (int64_t k0 = 0; k0 < k; k0 += KC) {
    int kc = (int)VK_MIN((int64_t)KC, k - k0);
    for (int p = 0; p < n_panels; p++) pack_panel(packed + (int64_t)p * KC * NR, j, n0 + p * NR, k0, kc);
    for (int p = 0; p < n_panels; p++) {
      int nc = VK_MIN(NR, nb - p * NR);
      for (int i0 = 0; i0 < mc; i0 += MR) {
        gemm_strip(j->out + (m0 + i0) * n + n0 + p * NR, n, nc, j->x + (m0 + i0) * k + k0, k,
                   packed + (int64_t)p * KC * NR, kc, VK_MIN(MR, mc - i0), k0 > 0);
      }
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
  if (m == 1) {
    vk_parallel_range(n, 2 * (int64_t)k, gemv_range, &j);
    return;
  }
  if (m <= SKINNY_M) {
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
