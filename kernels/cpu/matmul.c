/* out[m, n] = x[m, k] @ w[n, k]^T (+ bias), f32 accumulation, w in f32/f16/bf16.
 *
 * Two paths:
 * - skinny (m <= SKINNY_M, decode): memory-bound, so each thread streams its block of weight rows once,
 *   SK_NR rows side by side, converting each weight vector once per group of SK_MR x rows, which take it
 *   into register accumulators; x is packed so the vectors one weight vector meets are adjacent. Threads
 *   split n.
 * - blocked (prefill): a task owns MC rows of x and NB rows of w. Per KC slice of k it converts its
 *   w rows to f32 and transposes them into panels of NR columns ([kk][NR]), then an MR x NR
 *   register tile of accumulators takes one broadcast x value and NR/VK_W panel vectors per kk
 *   (no horizontal sums); a panel stays in L1 while every MR-row strip of x passes over it.
 *   Tasks are (m block, n block) pairs. */
#include "common.h"

#if VK_W >= 16
#define MR 8 /* 16 zmm accumulators */
#elif VK_W == 8
#define MR 6 /* 12 ymm accumulators + 2 panel vectors + 1 broadcast */
#else
#define MR 4 /* no FMA: leaves xmm registers for the products */
#endif
#define NR (2 * VK_W) /* panel width: two vectors */
#define SKINNY_M 16 /* up to here, streaming w beats packing it (decode batches) */
#define SK_KC 1024 /* k chunk of the skinny path when m needs several row groups */
#define SK_PREFETCH 512 /* weights ahead of the stream the skinny path prefetches */
/* A skinny tile: SK_NR weight rows x SK_MR x rows of accumulators (more spill on gcc 12 at AVX-512). */
#if VK_W >= 16
#define SK_MR 4
#define SK_NR 4
#define VK_IN_REGISTER(v) __asm__("" : "+v"(v))
#elif VK_W == 8
#define SK_MR 4
#define SK_NR 3
#define VK_IN_REGISTER(v) __asm__("" : "+x"(v))
#else
#define SK_MR 4
#define SK_NR 2
#define VK_IN_REGISTER(v) ((void)0)
#endif
#define KC 256     /* a [KC][NR] panel plus an MR-row x strip fit in L1 */
#define NB (6 * NR) /* w rows per task: its packed panels stay in L2 */
#define MC_MAX 128 /* x rows per task: with the panels, fits in L2 */

typedef struct {
  float* out;
  const float* x;
  const float* xp; /* skinny path: x packed by pack_x_grouped */
  const void* w;
  int wdtype;
  const float* bias;
  int m, n, k;
  int n_blocks, mc; /* blocked path: tasks = n_blocks * ceil(m / mc) */
} mm_job;

/* ---- 2..SKINNY_M rows (small decode batches) ---- */

#ifdef VK_DPBF16
/* bf16 weights through vdpbf16ps (a dtype code of this file only; vk_load_w and the tails read it as bf16).
 * With f32 activations kept exact, three bf16 parts of x take three dot instructions per 32 weights against
 * two FMAs: no faster where FMAs bind, so only for m <= SK_DP_MAX_M, where the weight stream binds. */
#define VK_DP_BF16 (VK_BF16 | 0x100)
#define SK_DP_MAX_M 4
#endif

/* Brings the cache line holding weight element i toward L1 (weights stream from memory once). */
VK_INLINE void vk_prefetch_w(const void* w, int64_t i, const int dtype) {
  __builtin_prefetch((const char*)w + i * vk_dtype_size(dtype), 0, 3);
}

/* acc[c][r] += x[g0 + r, k0 : k0 + len] * w[row c, k0 : k0 + len] lane-wise, r < mr, c < nr (len a multiple of
 * VK_W), xp the packed x of the group's mr rows from k0 on and w0 the first weight of row 0 of the tile. Each x
 * vector is loaded once for the nr weight rows, each weight vector converted once per row group. */
VK_INLINE void skinny_tile(vkf (*acc)[SK_MR], const float* xp, const int mr, const void* w, int64_t w0, int64_t k,
                           int len, const int nr, const int dtype, const int first) {
  vkf a[SK_NR][SK_MR];
  for (int c = 0; c < nr; c++)
    for (int r = 0; r < mr; r++) a[c][r] = acc[c][r];
  int kk = 0;
#ifdef VK_DPBF16
  if (dtype == VK_DP_BF16) { /* 32 weights a vector, times the three bf16 parts of x (pack_x_grouped) */
    const uint16_t* xb = (const uint16_t*)xp;
    for (; kk < len; kk += 2 * VK_W) {
      __m512bh wv[SK_NR];
      for (int c = 0; c < nr; c++) {
        if (first) vk_prefetch_w(w, w0 + c * k + kk + SK_PREFETCH, dtype);
        wv[c] = (__m512bh)_mm512_loadu_si512((const uint16_t*)w + w0 + c * k + kk);
      }
      const uint16_t* xa = xb + (int64_t)kk * mr * 3;
      for (int r = 0; r < mr; r++) {
        __m512bh hi = (__m512bh)_mm512_loadu_si512(xa + r * 96), mid = (__m512bh)_mm512_loadu_si512(xa + r * 96 + 32);
        __m512bh lo = (__m512bh)_mm512_loadu_si512(xa + r * 96 + 64);
        for (int c = 0; c < nr; c++)
          a[c][r] = _mm512_dpbf16_ps(_mm512_dpbf16_ps(_mm512_dpbf16_ps(a[c][r], lo, wv[c]), mid, wv[c]), hi, wv[c]);
      }
    }
  }
#endif
  if (nr == 1) { /* a single weight row (the last columns): a second set of chains takes the odd vectors */
    for (int r = 0; r < mr; r++) a[1][r] = vkf_zero();
    for (; kk + 2 * VK_W <= len; kk += 2 * VK_W) {
      vk_prefetch_w(w, w0 + kk + SK_PREFETCH, dtype);
      vkf wa = vk_load_w(w, w0 + kk, dtype), wb = vk_load_w(w, w0 + kk + VK_W, dtype);
      const float* xa = xp + (int64_t)kk * mr;
      for (int r = 0; r < mr; r++) {
        a[0][r] = vkf_fma(vkf_load(xa + r * VK_W), wa, a[0][r]);
        a[1][r] = vkf_fma(vkf_load(xa + (mr + r) * VK_W), wb, a[1][r]);
      }
    }
    for (int r = 0; r < mr; r++) a[0][r] = vkf_add(a[0][r], a[1][r]);
  }
  for (; kk < len; kk += VK_W) {
    vkf wv[SK_NR];
    for (int c = 0; c < nr; c++) {
      if (first) vk_prefetch_w(w, w0 + c * k + kk + SK_PREFETCH, dtype);
      wv[c] = vk_load_w(w, w0 + c * k + kk, dtype);
    }
    const float* xa = xp + (int64_t)kk * mr;
    for (int r = 0; r < mr; r++) {
      vkf xv = vkf_load(xa + r * VK_W);
      VK_IN_REGISTER(xv); /* one load, not one folded into each FMA */
      for (int c = 0; c < nr; c++) a[c][r] = vkf_fma(xv, wv[c], a[c][r]);
    }
  }
  for (int c = 0; c < nr; c++)
    for (int r = 0; r < mr; r++) acc[c][r] = a[c][r];
}

/* Bytes pack_x_grouped stores per value of x. */
VK_INLINE int skinny_x_bytes(const int dtype) {
#ifdef VK_DPBF16
  if (dtype == VK_DP_BF16) return 6;
#endif
  return 4;
}

/* The packed x of the group of mr rows at row g0, from k0 on. */
VK_INLINE const float* skinny_xp(const float* xp, int g0, int mr, int64_t kv, int64_t k0, const int dtype) {
  return (const float*)((const char*)xp + (g0 * kv + k0 * mr) * skinny_x_bytes(dtype));
}

/* The part of k the skinny path's vectors cover; the rest is a scalar tail. */
VK_INLINE int64_t skinny_kv(int64_t k, const int dtype) {
#ifdef VK_DPBF16
  if (dtype == VK_DP_BF16) return k / (2 * VK_W) * (2 * VK_W);
#endif
  return k / VK_W * VK_W;
}

#ifdef VK_DPBF16
/* bf16 bits of 32 floats (lo16 then hi16, as vdpbf16ps pairs them), rounded to nearest even, and their values. */
static inline __m512i bf16_pairs(__m512 lo16, __m512 hi16, __m512* lo_back, __m512* hi_back) {
  __m512i b = (__m512i)_mm512_cvtne2ps_pbh(hi16, lo16);
  *lo_back = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_castsi512_si256(b)), 16));
  *hi_back = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(b, 1)), 16));
  return b;
}
#endif

/* x[g0 + r, kk + lane] for kk < kv at xp[g0 * kv + kk * mr + r * VK_W + lane], per group of mr = SK_MR rows
 * (fewer in the last) starting at row g0: the mr vectors one weight vector meets lie next to each other, and a
 * group's stream is contiguous (rows of x k floats apart would share L1 sets when k is a multiple of 1024).
 * For vdpbf16ps (bf16 weights, VK_DPBF16), per 32 values of a row: x rounded to bf16 (hi), the rest rounded
 * (mid), and the rest of that (lo), 6 bytes a value: hi + mid + lo is x to 2^-27 relative, so the products are
 * f32 products (bf16 times bf16 is exact in f32), where bf16 x alone would be off by up to 2^-9. */
static void pack_x_grouped(float* xp, const float* x, int m, int64_t k, int64_t kv, int dtype) {
  for (int g0 = 0; g0 < m; g0 += SK_MR) {
    const int mr = VK_MIN(SK_MR, m - g0);
#ifdef VK_DPBF16
    if (dtype == VK_DP_BF16) {
      uint16_t* xb = (uint16_t*)xp + g0 * kv * 3;
      for (int64_t kk = 0; kk < kv; kk += 2 * VK_W) {
        for (int r = 0; r < mr; r++) {
          const float* src = x + (g0 + r) * k + kk;
          __m512 x0 = _mm512_loadu_ps(src), x1 = _mm512_loadu_ps(src + VK_W), b0, b1;
          uint16_t* dst = xb + kk * mr * 3 + r * 96;
          for (int part = 0; part < 3; part++) {
            _mm512_storeu_si512(dst + 32 * part, bf16_pairs(x0, x1, &b0, &b1));
            x0 = _mm512_sub_ps(x0, b0), x1 = _mm512_sub_ps(x1, b1);
          }
        }
      }
      continue;
    }
#endif
    for (int64_t kk = 0; kk < kv; kk += VK_W)
      for (int r = 0; r < mr; r++) vkf_store(xp + g0 * kv + kk * mr + r * VK_W, vkf_load(x + (g0 + r) * k + kk));
  }
}

/* out[:, c0 : c0 + nr] for m rows of x: the tile's nr weight rows stream once, front to back, while the x row
 * groups (at most SK_MR rows each) take their accumulators. With several groups, k goes in SK_KC chunks so a
 * chunk of the weight rows stays in L1 for the groups after the first. */
enum { SK_GROUPS = (SKINNY_M + SK_MR - 1) / SK_MR };
typedef vkf sk_acc[SK_GROUPS][SK_NR][SK_MR];

/* acc: memory the caller owns; as a local array gcc keeps every group's accumulators live and spills them. */
VK_INLINE void skinny_cols(const mm_job* j, int c0, int m, const int nr, const int dtype, sk_acc* accp) {
  const int64_t k = j->k, n = j->n, kv = skinny_kv(k, dtype);
  const int groups = (m + SK_MR - 1) / SK_MR;
  const int64_t kc = groups == 1 ? VK_MAX(kv, 1) : SK_KC;
  vkf(*acc)[SK_NR][SK_MR] = *accp;
  for (int g = 0; g < groups; g++)
    for (int c = 0; c < nr; c++)
      for (int r = 0; r < SK_MR; r++) acc[g][c][r] = vkf_zero();
  for (int64_t k0 = 0; k0 < kv; k0 += kc) {
    const int len = (int)VK_MIN(kc, kv - k0);
    for (int g = 0; g < groups; g++) {
      const int mr = VK_MIN(SK_MR, m - g * SK_MR);
      const float* xp = skinny_xp(j->xp, g * SK_MR, mr, kv, k0, dtype);
      const int64_t w0 = (int64_t)c0 * k + k0;
      /* A constant row count per case, so the group's accumulators stay in registers. */
      switch (mr) {
#define CASE(R) \
  case R: skinny_tile(acc[g], xp, R, j->w, w0, k, len, nr, dtype, g == 0); break;
        CASE(1) CASE(2) CASE(3) CASE(4)
#undef CASE
      }
    }
  }
  for (int g = 0; g < groups; g++) {
    for (int c = 0; c < nr; c++) {
      for (int r = 0; r < VK_MIN(SK_MR, m - g * SK_MR); r++) {
        const int row = g * SK_MR + r, col = c0 + c;
        float s = vkf_hsum(acc[g][c][r]);
        for (int64_t t = kv; t < k; t++) s += j->x[row * k + t] * vk_load_w1(j->w, (int64_t)col * k + t, dtype);
        j->out[row * n + col] = j->bias ? s + j->bias[col] : s;
      }
    }
  }
}

VK_INLINE void skinny_typed(const mm_job* j, int n0, int n1, int m, const int dtype) {
  sk_acc* acc = vk_scratch(0, sizeof(sk_acc));
  int c = n0;
  for (; c + SK_NR <= n1; c += SK_NR) skinny_cols(j, c, m, SK_NR, dtype, acc);
  for (; c < n1; c++) skinny_cols(j, c, m, 1, dtype, acc);
}

static void skinny_range(void* arg, int n0, int n1) {
  const mm_job* j = arg;
#ifdef VK_DPBF16
  if (j->wdtype == VK_DP_BF16) skinny_typed(j, n0, n1, j->m, VK_DP_BF16);
  else
#endif
  if (j->wdtype == VK_BF16) skinny_typed(j, n0, n1, j->m, VK_BF16);
  else if (j->wdtype == VK_F16) skinny_typed(j, n0, n1, j->m, VK_F16);
  else skinny_typed(j, n0, n1, j->m, VK_F32);
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
  mm_job j = {out, x, NULL, w, wdtype, bias, m, n, k, 0, 0};
  if (m == 1) {
    vk_parallel_range(n, 2 * (int64_t)k, gemv_range, &j);
    return;
  }
  if (m <= SKINNY_M) {
#ifdef VK_DPBF16
    if (wdtype == VK_BF16 && m <= SK_DP_MAX_M) j.wdtype = VK_DP_BF16;
#endif
    const int64_t kv = skinny_kv(k, j.wdtype);
    float* xp = vk_scratch(1, VK_MAX(kv, 1) * m * 6);
    pack_x_grouped(xp, x, m, k, kv, j.wdtype);
    j.xp = xp;
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
