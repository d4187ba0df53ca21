/* Sampling (vk_sample, vk_core.h): per entry what src/sample/sampler.ts does on the host, one entry per task.
 * - A row with logits processors or a grammar bitmask is processed in a private copy; the logits stay.
 * - Probabilities are f64, exp((x - max) / temperature) as on the host, kept in a scratch row; every cut
 *   compares against values taken from that row, so the same u picks the host's token.
 * - The top_k threshold is the k-th largest logit (a heap for small k); the top_p one comes from a radix
 *   selection over order keys of the f32 logits weighted by mass (11/11/10-bit digits: one pass over the
 *   row, then passes over the candidates left in the chosen bin).
 * - Logprobs of the raw row: log-sum-exp in f64; the rank by counting, exact because the f32 logprob is
 *   monotone in the logit, so "a larger logprob" is a logit range found by bisection; the top K by heap.
 * Ids are checked on the calling thread before any work is handed out (vk_fail there). */
#include <float.h>
#include <math.h>

#include "common.h"

#define SAMPLING_EPS 1e-5 /* below it temperature means greedy, as on the host */
#define HEAP_MAX_K 1024   /* top_k up to here by heap, beyond by radix selection */
#define DRAW_BLOCK 512

typedef struct {
  int32_t *tokens, *ranks, *top_ids;
  float *logprobs, *top_lps;
  const float* logits;
  int vocab;
  const int32_t* rows;
  const double* fparams;  /* [n_rows, 4]: temperature, top_p, min_p, u */
  const int32_t* iparams; /* [n_rows, 4]: top_k, n_logprobs, forced token, bitmask row */
  const int32_t *op_starts, *op_tokens;
  const double* op_params; /* [n_ops, 3]: add, repetition penalty, subtract */
  const int32_t* bitmasks;
  int words;
  const uint8_t* ok;
} sample_job;

typedef struct {
  double* p;
  float* v;
  uint32_t* keys;
  int32_t* cand;
  int32_t* heap_id;
  float* heap_v;
} row_scratch;

/* ---- f64 exp ---- */

static inline uint64_t bits_f64(double d) {
  uint64_t u;
  memcpy(&u, &d, 8);
  return u;
}
static inline double f64_bits(uint64_t u) {
  double d;
  memcpy(&d, &u, 8);
  return d;
}

/* exp(z) for z <= 0 (0 for -inf and below -745.5): Cody-Waite reduction by ln 2, a degree-12 Taylor
 * polynomial on |r| <= ln2 / 2 (truncation ~2e-16), and 2^n applied as two halves so subnormal results come
 * out right. Branch-free, so loops over it vectorize. */
static inline double exp_f64(double z) {
  const double magic = 0x1.8p52; /* adding it rounds to an integer held in the low mantissa bits */
  double zc = z < -746.0 ? -746.0 : z;
  double t = zc * 1.4426950408889634 + magic;
  double n = t - magic;
  double r = (zc - n * 6.93147180369123816490e-01) - n * 1.90821492927058770002e-10;
  double p = 1.0 / 479001600;
  p = p * r + 1.0 / 39916800;
  p = p * r + 1.0 / 3628800;
  p = p * r + 1.0 / 362880;
  p = p * r + 1.0 / 40320;
  p = p * r + 1.0 / 5040;
  p = p * r + 1.0 / 720;
  p = p * r + 1.0 / 120;
  p = p * r + 1.0 / 24;
  p = p * r + 1.0 / 6;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  double t1 = n * 0.5 + magic, n1 = t1 - magic, t2 = (n - n1) + magic;
  const uint64_t bias = 1023 - bits_f64(magic);
  double s1 = f64_bits((bits_f64(t1) + bias) << 52), s2 = f64_bits((bits_f64(t2) + bias) << 52);
  return z < -745.5 ? 0.0 : p * s1 * s2;
}

/* The same exp over VK_DW lanes of f64 (auto-vectorization of the scalar one does poorly). */
#if VK_W >= 16
#define VK_DW 8
typedef __m512d vkd;
static inline vkd vkd_set1(double a) { return _mm512_set1_pd(a); }
static inline vkd vkd_from_f32(const float* p) { return _mm512_cvtps_pd(_mm256_loadu_ps(p)); }
static inline vkd vkd_fma(vkd a, vkd b, vkd c) { return _mm512_fmadd_pd(a, b, c); }
static inline vkd vkd_sub(vkd a, vkd b) { return _mm512_sub_pd(a, b); }
static inline vkd vkd_add(vkd a, vkd b) { return _mm512_add_pd(a, b); }
static inline vkd vkd_mul(vkd a, vkd b) { return _mm512_mul_pd(a, b); }
static inline vkd vkd_max(vkd a, vkd b) { return _mm512_max_pd(a, b); }
static inline vkd vkd_pow2_of_rounded(vkd t) { /* 2^n from t = n + magic */
  __m512i e = _mm512_add_epi64(_mm512_castpd_si512(t), _mm512_set1_epi64((int64_t)(1023 - bits_f64(0x1.8p52))));
  return _mm512_castsi512_pd(_mm512_slli_epi64(e, 52));
}
static inline vkd vkd_zero_below(vkd r, vkd z, double lim) {
  return _mm512_maskz_mov_pd(_mm512_cmp_pd_mask(z, _mm512_set1_pd(lim), _CMP_NLT_UQ), r);
}
static inline double vkd_hsum(vkd a) { return _mm512_reduce_add_pd(a); }
static inline void vkd_store(double* p, vkd a) { _mm512_storeu_pd(p, a); }
#elif VK_W == 8
#define VK_DW 4
typedef __m256d vkd;
static inline vkd vkd_set1(double a) { return _mm256_set1_pd(a); }
static inline vkd vkd_from_f32(const float* p) { return _mm256_cvtps_pd(_mm_loadu_ps(p)); }
static inline vkd vkd_fma(vkd a, vkd b, vkd c) { return _mm256_fmadd_pd(a, b, c); }
static inline vkd vkd_sub(vkd a, vkd b) { return _mm256_sub_pd(a, b); }
static inline vkd vkd_add(vkd a, vkd b) { return _mm256_add_pd(a, b); }
static inline vkd vkd_mul(vkd a, vkd b) { return _mm256_mul_pd(a, b); }
static inline vkd vkd_max(vkd a, vkd b) { return _mm256_max_pd(a, b); }
static inline vkd vkd_pow2_of_rounded(vkd t) {
  __m256i e = _mm256_add_epi64(_mm256_castpd_si256(t), _mm256_set1_epi64x((int64_t)(1023 - bits_f64(0x1.8p52))));
  return _mm256_castsi256_pd(_mm256_slli_epi64(e, 52));
}
static inline vkd vkd_zero_below(vkd r, vkd z, double lim) {
  return _mm256_and_pd(r, _mm256_cmp_pd(z, _mm256_set1_pd(lim), _CMP_NLT_UQ));
}
static inline double vkd_hsum(vkd a) {
  __m128d s = _mm_add_pd(_mm256_castpd256_pd128(a), _mm256_extractf128_pd(a, 1));
  return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}
static inline void vkd_store(double* p, vkd a) { _mm256_storeu_pd(p, a); }
#endif

#ifdef VK_DW
static inline vkd vkd_exp(vkd z) {
  const vkd magic = vkd_set1(0x1.8p52);
  vkd zc = vkd_max(z, vkd_set1(-746.0));
  vkd t = vkd_fma(zc, vkd_set1(1.4426950408889634), magic);
  vkd n = vkd_sub(t, magic);
  vkd r = vkd_fma(n, vkd_set1(-6.93147180369123816490e-01), zc);
  r = vkd_fma(n, vkd_set1(-1.90821492927058770002e-10), r);
  static const double c[13] = {1.0 / 479001600, 1.0 / 39916800, 1.0 / 3628800, 1.0 / 362880, 1.0 / 40320, 1.0 / 5040,
                               1.0 / 720, 1.0 / 120, 1.0 / 24, 1.0 / 6, 0.5, 1.0, 1.0};
  vkd p = vkd_set1(c[0]);
  for (int i = 1; i < 13; i++) p = vkd_fma(p, r, vkd_set1(c[i]));
  vkd t1 = vkd_fma(n, vkd_set1(0.5), magic);
  vkd t2 = vkd_add(vkd_sub(n, vkd_sub(t1, magic)), magic);
  return vkd_zero_below(vkd_mul(vkd_mul(p, vkd_pow2_of_rounded(t1)), vkd_pow2_of_rounded(t2)), z, -745.5);
}
#endif

/* p[i] = exp((v[i] - m) * inv_t); returns their sum. */
static double fill_probs(double* restrict p, const float* restrict v, int n, double m, double inv_t) {
  double s = 0;
  int i = 0;
#ifdef VK_DW
  vkd acc0 = vkd_set1(0), acc1 = vkd_set1(0), mv = vkd_set1(m), it = vkd_set1(inv_t);
  for (; i + 2 * VK_DW <= n; i += 2 * VK_DW) {
    vkd e0 = vkd_exp(vkd_mul(vkd_sub(vkd_from_f32(v + i), mv), it));
    vkd e1 = vkd_exp(vkd_mul(vkd_sub(vkd_from_f32(v + i + VK_DW), mv), it));
    vkd_store(p + i, e0);
    vkd_store(p + i + VK_DW, e1);
    acc0 = vkd_add(acc0, e0);
    acc1 = vkd_add(acc1, e1);
  }
  s = vkd_hsum(vkd_add(acc0, acc1));
#endif
  for (; i < n; i++) {
    p[i] = exp_f64(((double)v[i] - m) * inv_t);
    s += p[i];
  }
  return s;
}

static double sum_exp(const float* x, int n, double m) {
  double s = 0;
  int i = 0;
#ifdef VK_DW
  vkd acc0 = vkd_set1(0), acc1 = vkd_set1(0), mv = vkd_set1(m);
  for (; i + 2 * VK_DW <= n; i += 2 * VK_DW) {
    acc0 = vkd_add(acc0, vkd_exp(vkd_sub(vkd_from_f32(x + i), mv)));
    acc1 = vkd_add(acc1, vkd_exp(vkd_sub(vkd_from_f32(x + i + VK_DW), mv)));
  }
  s = vkd_hsum(vkd_add(acc0, acc1));
#endif
  for (; i < n; i++) s += exp_f64((double)x[i] - m);
  return s;
}

/* Sum of p[i] over p[i] >= thr. */
static double kept_sum(const double* p, int n, double thr) {
  double s = 0;
#pragma omp simd reduction(+ : s)
  for (int i = 0; i < n; i++) s += p[i] >= thr ? p[i] : 0.0;
  return s;
}

/* ---- row scans ---- */

/* The first index holding m, the row's maximum; 0 when m is -inf (the host's argmax). */
static int first_index_of_max(const float* x, int n, float m) {
  if (m == -INFINITY) return 0;
  const float below = nextafterf(m, -INFINITY);
  vkf b = vkf_set1(below);
  int i = 0;
  while (i + VK_W <= n && !vkf_any_gt(vkf_load(x + i), b)) i += VK_W;
  for (; i < n; i++)
    if (x[i] == m) return i;
  return 0;
}

/* ---- selection ---- */

/* f32 order as unsigned order (-0 counts as +0, as comparisons do); key_value inverts it. Branch-free:
 * logits' signs are random, and a branch on them mispredicts half the time. */
static inline uint32_t order_key(float f) {
  uint32_t u;
  f = f + 0.0f; /* -0 becomes +0 */
  memcpy(&u, &f, 4);
  return u ^ ((uint32_t)((int32_t)u >> 31) | 0x80000000u);
}
static inline float key_value(uint32_t k) {
  uint32_t u = (k & 0x80000000u) ? (k & 0x7fffffffu) : ~k;
  float f;
  memcpy(&f, &u, 4);
  return f;
}

static void fill_keys(uint32_t* restrict keys, const float* restrict v, int n) {
  for (int i = 0; i < n; i++) keys[i] = order_key(v[i]);
}

/* The bin where weight summed from the largest bin down reaches *target, and the weight still to cover
 * inside it (in *target). When rounding leaves the total short: the lowest bin with weight. */
static int pick_bin(const double* hist, int bins, double* target) {
  double cum = 0;
  int lowest = -1;
  for (int b = bins - 1; b >= 0; b--) {
    double h = hist[b];
    if (h <= 0) continue;
    if (cum + h >= *target) {
      *target = VK_MIN(VK_MAX(*target - cum, 0.0), h);
      return b;
    }
    cum += h;
    lowest = b;
  }
  if (lowest >= 0) *target = hist[lowest];
  return lowest;
}

/* Weight of element i: p[i] when p[i] >= thr, else 0; 1 when p is NULL. */
static inline double weight(const double* p, double thr, int i) { return p ? (p[i] >= thr ? p[i] : 0.0) : 1.0; }

/* An index whose key K has W(key > K) < target <= W(key >= K), over the elements weighted as weight() says;
 * -1 when nothing has weight. keys, cand: [n] scratch. Branch-free inner loops (zero weights add nothing). */
static int select_weighted(const float* v, const double* p, double thr, int n, double target, uint32_t* keys,
                           int32_t* cand) {
  static _Thread_local double hist[4][2048];
  memset(hist, 0, sizeof hist);
  fill_keys(keys, v, n);
  /* Four histograms, so runs of elements in one bin do not wait on each other's read-modify-write. */
  int i = 0;
  for (; i + 4 <= n; i += 4)
    for (int h = 0; h < 4; h++) hist[h][keys[i + h] >> 21] += weight(p, thr, i + h);
  for (; i < n; i++) hist[0][keys[i] >> 21] += weight(p, thr, i);
  for (int b = 0; b < 2048; b++) hist[0][b] += hist[1][b] + hist[2][b] + hist[3][b];
  int bin = pick_bin(hist[0], 2048, &target);
  if (bin < 0) return -1;
  int c = 0;
  for (i = 0; i < n; i++) {
    cand[c] = i;
    c += (int)(keys[i] >> 21) == bin && weight(p, thr, i) > 0;
  }
  const int shifts[2] = {10, 0}, widths[2] = {2048, 1024};
  for (int d = 0; d < 2; d++) {
    memset(hist[0], 0, sizeof hist[0]);
    for (int j = 0; j < c; j++) hist[0][(keys[cand[j]] >> shifts[d]) & (widths[d] - 1)] += weight(p, thr, cand[j]);
    bin = pick_bin(hist[0], widths[d], &target);
    int kept = 0;
    for (int j = 0; j < c; j++) {
      int id = cand[j];
      cand[kept] = id;
      kept += (int)((keys[id] >> shifts[d]) & (widths[d] - 1)) == bin;
    }
    c = kept;
  }
  return c > 0 ? cand[0] : -1;
}

/* An index holding the k-th largest logit (1 <= k < n). */
static int kth_largest(const float* v, int n, int k, row_scratch* s) {
  if (k <= HEAP_MAX_K) {
    vk_topk_row(s->heap_id, s->heap_v, v, n, k);
    return s->heap_id[k - 1];
  }
  return select_weighted(v, NULL, 0, n, k, s->keys, s->cand);
}

/* ---- sampling ---- */

/* The host's inverse CDF over the kept p (p >= thr and p > 0): the first index whose cumulative mass exceeds
 * u * total, in index order; the last kept index when rounding leaves none; 0 when nothing is kept. */
static int draw(const double* p, int n, double thr, double u) {
  const double target = u * kept_sum(p, n, thr);
  double cum = 0;
  for (int b = 0; b < n; b += DRAW_BLOCK) {
    int e = VK_MIN(n, b + DRAW_BLOCK);
    double s = kept_sum(p + b, e - b, thr);
    if (cum + s <= target) {
      cum += s;
      continue;
    }
    for (int i = b; i < e; i++) {
      if (!(p[i] >= thr && p[i] > 0)) continue;
      cum += p[i];
      if (cum > target) return i;
    }
  }
  for (int i = n - 1; i >= 0; i--)
    if (p[i] >= thr && p[i] > 0) return i;
  return 0;
}

/* The token of one row from its processed logits v. */
static int sample_row(const float* v, int n, const double* fp, const int32_t* ip, row_scratch* s,
                      double* sum_probs) {
  const double temperature = fp[0], top_p = fp[1], min_p = fp[2], u = fp[3];
  const int top_k = ip[0];
  float m = vk_row_max(v, n);
  int best = first_index_of_max(v, n, m);
  if (temperature < SAMPLING_EPS || m == -INFINITY) return best;
  *sum_probs = fill_probs(s->p, v, n, m, 1.0 / temperature);
  double thr = min_p; /* the largest probability is exp(0) = 1 */
  const int by_heap = top_k > 0 && top_k < n && top_k <= HEAP_MAX_K;
  if (top_k > 0 && top_k < n) thr = VK_MAX(thr, s->p[kth_largest(v, n, top_k, s)]);
  if (top_p < 1) {
    const double target = top_p * kept_sum(s->p, n, thr);
    int at = -1;
    if (by_heap) {
      /* The heap holds the kept tokens largest first (past it only ties of its last, whose p is thr). */
      double cum = 0;
      for (int i = 0; i < top_k && at < 0; i++) {
        double pi = s->p[s->heap_id[i]];
        if (pi >= thr) cum += pi;
        if (pi >= thr && cum >= target) at = s->heap_id[i];
      }
    } else {
      at = select_weighted(v, s->p, thr, n, target, s->keys, s->cand);
    }
    if (at >= 0) thr = VK_MAX(thr, s->p[at]);
  }
  return draw(s->p, n, thr, u);
}

/* ---- logits processors and the bitmask ---- */

/* The host's order for one token: bias (-inf for min_tokens), repetition penalty, presence/frequency. */
static inline float process(float x, const double* op) {
  float y = (float)((double)x + op[0]);
  if (op[1] != 1.0) y = y > 0 ? (float)((double)y / op[1]) : (float)((double)y * op[1]);
  return (float)((double)y - op[2]);
}

static void process_copy(float* v, const float* x, int n, const sample_job* j, int op0, int op1, const int32_t* mask) {
  memcpy(v, x, (size_t)n * sizeof(float));
  for (int o = op0; o < op1; o++) v[j->op_tokens[o]] = process(x[j->op_tokens[o]], j->op_params + 3 * (int64_t)o);
  if (!mask) return;
  int words = VK_MIN(j->words, (n + 31) / 32);
  for (int w = 0; w < words; w++) {
    uint32_t bits = (uint32_t)mask[w];
    if (bits == 0xffffffffu) continue;
    int base = 32 * w, lim = VK_MIN(32, n - base);
    for (int b = 0; b < lim; b++)
      if (!((bits >> b) & 1)) v[base + b] = -INFINITY;
  }
}

/* ---- logprobs ---- */

static inline float logprob(float x, double lse) { return (float)((double)x - lse); }

/* The smallest key in (lo, hi] whose logit has a logprob above `mine` (> when strict, else >=), given that
 * key lo does not and key hi does. */
static uint32_t bisect_key(uint32_t lo, uint32_t hi, double lse, float mine, int strict) {
  while (hi - lo > 1) {
    uint32_t mid = lo + (hi - lo) / 2;
    float lp = logprob(key_value(mid), lse);
    if (strict ? lp > mine : lp >= mine) hi = mid;
    else lo = mid;
  }
  return hi;
}

/* 1 + the tokens whose logprob is larger than the token's, or equal with a lower index. */
static int rank_of(const float* x, int n, int token, double lse) {
  const float mine = logprob(x[token], lse);
  if (mine != mine) return 1;
  const uint32_t kt = order_key(x[token]);
  const float hi = key_value(bisect_key(kt, order_key(INFINITY), lse, mine, 1));
  const float lo = mine == -INFINITY ? -INFINITY : key_value(bisect_key(order_key(-INFINITY), kt, lse, mine, 0));
  int above = 0, tied = 0;
#pragma omp simd reduction(+ : above)
  for (int i = 0; i < n; i++) above += x[i] >= hi;
#pragma omp simd reduction(+ : tied)
  for (int i = 0; i < token; i++) tied += x[i] >= lo && x[i] < hi;
  return 1 + above + tied;
}

static void entry_logprobs(const sample_job* j, int r, const float* x, int n, int token, int k, double lse,
                           row_scratch* s) {
  if (lse != lse) {
    float mx = vk_row_max(x, n);
    lse = (double)mx + log(sum_exp(x, n, mx));
  }
  j->logprobs[r] = logprob(x[token], lse);
  j->ranks[r] = rank_of(x, n, token, lse);
  int32_t* ids = j->top_ids + (int64_t)r * VK_SAMPLE_MAX_LOGPROBS;
  float* lps = j->top_lps + (int64_t)r * VK_SAMPLE_MAX_LOGPROBS;
  int kk = VK_MIN(VK_MIN(k, VK_SAMPLE_MAX_LOGPROBS), n);
  if (kk > 0) vk_topk_row(s->heap_id, s->heap_v, x, n, kk);
  /* By logprob, then index: distinct logits may round to one logprob. */
  for (int a = 0; a < kk; a++) {
    int id = s->heap_id[a];
    float lp = logprob(s->heap_v[a], lse);
    int b = a;
    for (; b > 0 && (lps[b - 1] < lp || (lps[b - 1] == lp && ids[b - 1] > id)); b--) ids[b] = ids[b - 1], lps[b] = lps[b - 1];
    ids[b] = id, lps[b] = lp;
  }
  for (int a = kk; a < VK_SAMPLE_MAX_LOGPROBS; a++) ids[a] = -1, lps[a] = -INFINITY;
}

/* ---- entries ---- */

static void scratch_for(row_scratch* s, int n) {
  const int64_t pn = ((int64_t)n * 8 + 63) & ~63, vn = ((int64_t)n * 4 + 63) & ~63, hk = HEAP_MAX_K * 4;
  uint8_t* base = vk_scratch(0, pn + 3 * vn + 2 * hk);
  s->p = (double*)base;
  s->v = (float*)(base + pn);
  s->keys = (uint32_t*)(base + pn + vn);
  s->cand = (int32_t*)(base + pn + 2 * vn);
  s->heap_id = (int32_t*)(base + pn + 3 * vn);
  s->heap_v = (float*)(base + pn + 3 * vn + hk);
}

static void sample_task(void* arg, int r) {
  const sample_job* j = arg;
  if (!j->ok[r]) return;
  const int n = j->vocab;
  const double* fp = j->fparams + 4 * (int64_t)r;
  const int32_t* ip = j->iparams + 4 * (int64_t)r;
  const float* x = j->logits + (int64_t)j->rows[r] * n;
  row_scratch s;
  scratch_for(&s, n);
  int token = ip[2];
  double lse = NAN;
  if (token < 0) {
    const int op0 = j->op_starts[r], op1 = j->op_starts[r + 1];
    const int32_t* mask = ip[3] >= 0 ? j->bitmasks + (int64_t)ip[3] * j->words : NULL;
    const float* v = x;
    if (op1 > op0 || mask) process_copy(s.v, x, n, j, op0, op1, mask), v = s.v;
    double sum = NAN;
    token = sample_row(v, n, fp, ip, &s, &sum);
    /* At temperature 1 on the raw row the probabilities were exp(x - max): their sum is log-sum-exp's. */
    if (v == x && fp[0] == 1.0 && sum == sum) lse = (double)vk_row_max(x, n) + log(sum);
  }
  j->tokens[r] = token;
  if (ip[1] >= 0) entry_logprobs(j, r, x, n, token, ip[1], lse, &s);
}

/* Checks entry r's ids (the first bad one is recorded for vk_last_error); 1 when all are inside their tables. */
static int entry_ok(int r, const int32_t* rows, int n_logit_rows, int vocab, const int32_t* ip,
                    const int32_t* op_starts, const int32_t* op_tokens, int n_bitmask_rows) {
  int ok = 1;
  if (rows[r] < 0 || rows[r] >= n_logit_rows) {
    vk_fail("vk_sample: entry %d reads logits row %d of %d", r, rows[r], n_logit_rows);
    ok = 0;
  } else if (ip[2] >= vocab) {
    vk_fail("vk_sample: entry %d scores token id %d outside the %d-token vocabulary", r, ip[2], vocab);
    ok = 0;
  } else if (ip[3] >= n_bitmask_rows) {
    vk_fail("vk_sample: entry %d uses bitmask row %d of %d", r, ip[3], n_bitmask_rows);
    ok = 0;
  }
  for (int o = op_starts[r]; o < op_starts[r + 1]; o++) {
    if (op_tokens[o] < 0 || op_tokens[o] >= vocab) {
      vk_fail("vk_sample: logits processor %d has token id %d outside the %d-token vocabulary", o, op_tokens[o], vocab);
      ok = 0;
    }
  }
  return ok;
}

void vk_sample(int32_t* out_tokens, float* out_logprobs, int32_t* out_ranks, int32_t* out_top_ids,
               float* out_top_logprobs, float* op_saved, float* logits, int n_logit_rows, int vocab,
               const int32_t* rows, int n_rows, const double* fparams, const int32_t* iparams,
               const int32_t* op_starts, const int32_t* op_tokens, const double* op_params,
               const int32_t* bitmasks, int n_bitmask_rows, int bitmask_words) {
  if (n_rows <= 0 || vocab <= 0) return;
  uint8_t* ok = vk_scratch(1, n_rows);
  for (int r = 0; r < n_rows; r++) {
    ok[r] = (uint8_t)entry_ok(r, rows, n_logit_rows, vocab, iparams + 4 * (int64_t)r, op_starts, op_tokens,
                              n_bitmask_rows);
    if (!ok[r]) out_tokens[r] = -1;
  }
  sample_job j = {out_tokens, out_ranks, out_top_ids, out_logprobs, out_top_logprobs, logits, vocab, rows, fparams,
                  iparams, op_starts, op_tokens, op_params, bitmasks, bitmask_words, ok};
  vk_parallel_for(n_rows, sample_task, &j);
}
