/* Sampling on the device (vk_sample): per row, what src/sample/sampler.ts does on the host.
 * - Logits processors: a per-row list of (token, add, repetition penalty, subtract) applied in place,
 *   with each step rounded to f32 as the host's Float32Array stores it, plus a grammar bitmask that
 *   is read on the fly. The processed tokens get their raw logits back before logprobs are taken.
 * - Greedy (lowest index among maxima), or temperature -> min_p -> top_k -> top_p -> a draw by inverse
 *   CDF in index order over the kept mass with the caller's u. Probabilities are f64, as on the host,
 *   so the same u picks the same token.
 * - Logprobs of the raw logits: the token's logprob and rank, and the top K (K <= 20).
 * The top_k and top_p thresholds and the top K come from radix selection over order-preserving keys of
 * f32 values (three digit passes over the row), never a sort. One block per row.
 * Every id an entry indexes by (its logits row, forced token, bitmask row, processor tokens) is checked
 * before the entry touches anything; a bad one is reported (vk_report_fault) and the entry gets -1. */
#include "common.cuh"

#define THREADS 1024
#define WARPS (THREADS / 32)
#define HIST_BINS 4096
#define SAMPLING_EPS 1e-5 /* below it temperature means greedy, as on the host */
#define FULL 0xffffffffu

struct Args {
  int32_t *out_tokens, *out_ranks, *out_top_ids;
  float *out_logprobs, *out_top_logprobs;
  float* logits;
  int n_logit_rows, vocab;
  const int32_t* rows;
  const double* fparams; /* [n_rows, 4]: temperature, top_p, min_p, u */
  const int32_t* iparams; /* [n_rows, 4]: top_k, n_logprobs, forced token, bitmask row */
  const int32_t *op_starts, *op_tokens;
  const double* op_params; /* [n_ops, 3]: add, repetition penalty, subtract */
  float* op_saved;
  const int32_t* bitmasks;
  int n_bitmask_rows, bitmask_words;
  vk_fault fault;
};

struct Smem {
  union {
    double mass[HIST_BINS];
    unsigned count[HIST_BINS];
  } hist;
  double warp_d[WARPS];
  int warp_a[WARPS], warp_b[WARPS];
  float warp_f[WARPS];
  double sel_target, draw_target;
  unsigned sel_bin;
  int draw_warp, token, n_cand;
  int cand_id[VK_SAMPLE_MAX_LOGPROBS];
  float cand_lp[VK_SAMPLE_MAX_LOGPROBS];
};

/* f32 order as unsigned order (-0 counts as +0, as comparisons do); key_value inverts it. */
__device__ __forceinline__ unsigned order_key(float f) {
  unsigned u = __float_as_uint(f == 0.f ? 0.f : f);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
__device__ __forceinline__ float key_value(unsigned k) {
  return __uint_as_float((k & 0x80000000u) ? (k & 0x7fffffffu) : ~k);
}

// ---- block reductions (every thread gets the result; the scratch is free again on return) ----

__device__ double block_sum(double v, Smem& s) { return vk_block_sum(v, s.warp_d); }
__device__ int block_sum_int(int v, Smem& s) { return vk_block_sum(v, s.warp_a); }

__device__ float block_max(float v, Smem& s) { return vk_block_max(v, s.warp_f); }

struct ArgMax {
  float v;
  int i;
};
/* a wins over b: larger, or equal and earlier (NaN never wins). */
__device__ __forceinline__ ArgMax better(ArgMax a, ArgMax b) {
  return (a.v > b.v || (a.v == b.v && a.i < b.i)) ? a : b;
}

__device__ ArgMax block_argmax(ArgMax v, Smem& s) {
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int o = 16; o > 0; o >>= 1)
    v = better(v, ArgMax{__shfl_xor_sync(FULL, v.v, o), __shfl_xor_sync(FULL, v.i, o)});
  if (lane == 0) s.warp_f[warp] = v.v, s.warp_a[warp] = v.i;
  __syncthreads();
  v = ArgMax{s.warp_f[lane], s.warp_a[lane]};
  for (int o = 16; o > 0; o >>= 1)
    v = better(v, ArgMax{__shfl_xor_sync(FULL, v.v, o), __shfl_xor_sync(FULL, v.i, o)});
  __syncthreads();
  return v;
}

// ---- radix selection ----

template <typename W>
struct Item {
  unsigned key;
  W w; /* 0: not counted */
};

__device__ __forceinline__ double hist_get(const Smem& s, int b, double) { return s.hist.mass[b]; }
__device__ __forceinline__ double hist_get(const Smem& s, int b, unsigned) { return (double)s.hist.count[b]; }
__device__ __forceinline__ void hist_add(Smem& s, int b, double w) { atomicAdd(&s.hist.mass[b], w); }
__device__ __forceinline__ void hist_add(Smem& s, int b, unsigned w) { atomicAdd(&s.hist.count[b], w); }

/* Warp 0 picks the bin where the weight, summed from the largest bin down, reaches `target`, and the
 * weight still to cover inside it. When rounding leaves the total short of target: the lowest bin
 * with weight. Lane l walks bins [bins - (l+1)*per, bins - l*per), largest first. */
template <typename W>
__device__ void pick_bin(Smem& s, int bins, double target) {
  int lane = threadIdx.x, per = bins / 32, hi = bins - lane * per;
  double sum = 0;
  for (int b = hi - 1; b >= hi - per; b--) sum += hist_get(s, b, W());
  double incl = sum;
  for (int o = 1; o < 32; o <<= 1) {
    double y = __shfl_up_sync(FULL, incl, o);
    if (lane >= o) incl += y;
  }
  double excl = __shfl_up_sync(FULL, incl, 1);
  if (lane == 0) excl = 0;
  unsigned reach = __ballot_sync(FULL, incl >= target), nonempty = __ballot_sync(FULL, sum > 0);
  int owner = reach ? __ffs(reach) - 1 : (nonempty ? 31 - __clz(nonempty) : 31);
  if (lane != owner) return;
  double cum = excl, before = excl;
  int sel = -1, last = hi - per;
  for (int b = hi - 1; b >= hi - per; b--) {
    double h = hist_get(s, b, W());
    if (h <= 0) continue;
    last = b;
    before = cum;
    if (cum + h >= target) {
      sel = b;
      break;
    }
    cum += h;
  }
  if (sel < 0) sel = last;
  double h = hist_get(s, sel, W());
  s.sel_bin = (unsigned)sel;
  s.sel_target = reach ? fmin(fmax(target - before, 0.0), h) : h;
}

/* The key K where weight summed from the largest key down reaches `target`:
 * W(key > K) < target <= W(key >= K). Counts (W = unsigned) select the target-th largest key exactly.
 * `item(i)` gives element i's key and weight; digits of 12, 12 and 8 bits, one pass over the row each. */
template <typename W, typename F>
__device__ unsigned radix_select(int n, F item, double target, Smem& s) {
  unsigned prefix = 0, mask = 0;
  for (int d = 0; d < 3; d++) {
    const int shift = d == 0 ? 20 : d == 1 ? 8 : 0, bins = d == 2 ? 256 : HIST_BINS;
    for (int b = threadIdx.x; b < bins; b += THREADS) {
      if (sizeof(W) == 8) s.hist.mass[b] = 0;
      else s.hist.count[b] = 0;
    }
    __syncthreads();
    for (int i = threadIdx.x; i < n; i += THREADS) {
      Item<W> it = item(i);
      if ((it.key & mask) == prefix && it.w > 0) hist_add(s, (int)((it.key >> shift) & (bins - 1)), it.w);
    }
    __syncthreads();
    if (threadIdx.x < 32) pick_bin<W>(s, bins, target);
    __syncthreads();
    prefix |= s.sel_bin << shift;
    mask |= (unsigned)(bins - 1) << shift;
    target = s.sel_target;
    __syncthreads();
  }
  return prefix;
}

// ---- sampling ----

/* Each warp owns one contiguous stretch of the row, so a warp-by-warp prefix is an index-order prefix. */
__device__ __forceinline__ void warp_segment(int n, int* lo, int* hi) {
  int seg = ((n + WARPS - 1) / WARPS + 31) & ~31;
  *lo = min(n, (threadIdx.x >> 5) * seg);
  *hi = min(n, *lo + seg);
}

/* The host's inverse CDF: the first index whose cumulative kept mass exceeds u * total; the last kept
 * index when rounding leaves none; 0 when nothing is kept. `prob(i)` is 0 for cut tokens. */
template <typename P>
__device__ int draw(int n, P prob, double u, Smem& s) {
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, lo, hi;
  warp_segment(n, &lo, &hi);
  double sum = 0;
  int last = -1;
  for (int i = lo + lane; i < hi; i += 32) {
    double p = prob(i);
    if (p > 0) sum += p, last = i;
  }
  sum = vk_warp_sum(sum);
  for (int o = 16; o > 0; o >>= 1) last = max(last, __shfl_xor_sync(FULL, last, o));
  if (lane == 0) s.warp_d[warp] = sum, s.warp_a[warp] = last;
  __syncthreads();
  if (warp == 0) {
    double incl = s.warp_d[lane];
    for (int o = 1; o < 32; o <<= 1) {
      double y = __shfl_up_sync(FULL, incl, o);
      if (lane >= o) incl += y;
    }
    double target = u * __shfl_sync(FULL, incl, 31);
    double excl = __shfl_up_sync(FULL, incl, 1);
    if (lane == 0) excl = 0;
    unsigned cross = __ballot_sync(FULL, incl > target);
    int w = cross ? __ffs(cross) - 1 : -1;
    int last_all = s.warp_a[lane];
    for (int o = 16; o > 0; o >>= 1) last_all = max(last_all, __shfl_xor_sync(FULL, last_all, o));
    if (lane == 0) {
      s.draw_warp = w;
      s.token = max(last_all, 0);
    }
    if (w >= 0 && lane == w) s.draw_target = target - excl;
  }
  __syncthreads();
  if (warp == s.draw_warp) {
    double target = s.draw_target, run = 0;
    int found = -1;
    for (int base = lo; base < hi && found < 0; base += 32) {
      int i = base + lane;
      double p = i < hi ? prob(i) : 0.0;
      double incl = p;
      for (int o = 1; o < 32; o <<= 1) {
        double y = __shfl_up_sync(FULL, incl, o);
        if (lane >= o) incl += y;
      }
      unsigned cross = __ballot_sync(FULL, p > 0 && run + incl > target);
      if (cross) found = base + __ffs(cross) - 1;
      run += __shfl_sync(FULL, incl, 31);
    }
    if (lane == 0) s.token = found >= 0 ? found : s.warp_a[warp];
  }
  __syncthreads();
  return s.token;
}

/* Token of one row from its processed logits `x` (bitmask applied on the fly). */
__device__ int sample_row(const float* x, int n, const double* fp, const int32_t* ip, const int32_t* bitmask,
                          int words, Smem& s) {
  auto value = [&](int i) -> float {
    if (bitmask && (i >> 5) < words && !((bitmask[i >> 5] >> (i & 31)) & 1)) return -INFINITY;
    return x[i];
  };
  ArgMax best = {-INFINITY, INT_MAX};
  for (int i = threadIdx.x; i < n; i += THREADS) best = better(ArgMax{value(i), i}, best);
  best = block_argmax(best, s);
  double temperature = fp[0], top_p = fp[1], min_p = fp[2], u = fp[3];
  int top_k = ip[0];
  if (best.i == INT_MAX) return 0;
  if (temperature < SAMPLING_EPS || best.v == -INFINITY) return best.i;
  const double m = best.v;
  auto prob = [&](float v) { return exp(((double)v - m) / temperature); };
  double thr = min_p; /* the largest probability is exp(0) = 1 */
  if (top_k > 0 && top_k < n) {
    unsigned k = radix_select<unsigned>(n, [&](int i) { return Item<unsigned>{order_key(value(i)), 1u}; }, top_k, s);
    thr = fmax(thr, prob(key_value(k)));
  }
  if (top_p < 1) {
    double total = 0;
    for (int i = threadIdx.x; i < n; i += THREADS) {
      double p = prob(value(i));
      if (p >= thr) total += p;
    }
    total = block_sum(total, s);
    unsigned k = radix_select<double>(n, [&](int i) {
      float v = value(i);
      double p = prob(v);
      return Item<double>{order_key(v), p >= thr ? p : 0.0};
    }, top_p * total, s);
    thr = fmax(thr, prob(key_value(k)));
  }
  return draw(n, [&](int i) {
    double p = prob(value(i));
    return p >= thr ? p : 0.0;
  }, u, s);
}

// ---- logits processors ----

/* The host's order for one token: bias (-inf for min_tokens), repetition penalty, presence/frequency. */
__device__ __forceinline__ float process(float x, const double* op) {
  float y = (float)((double)x + op[0]);
  if (op[1] != 1.0) y = y > 0 ? (float)((double)y / op[1]) : (float)((double)y * op[1]);
  return (float)((double)y - op[2]);
}

// ---- logprobs ----

/* log(sum(exp(x))) of the raw row in f64, the host's max-shifted sum. */
__device__ double log_sum_exp(const float* x, int n, Smem& s) {
  float m = -INFINITY;
  double acc = 0;
  for (int i = threadIdx.x; i < n; i += THREADS) {
    float v = x[i];
    if (v == -INFINITY) continue;
    if (v > m) {
      acc = acc * exp((double)m - v) + 1.0;
      m = v;
    } else {
      acc += exp((double)v - m);
    }
  }
  float mx = block_max(m, s);
  double sum = block_sum(m == -INFINITY ? 0.0 : acc * exp((double)m - mx), s);
  return (double)mx + log(sum);
}

/* The k (>= 1) largest logprobs, largest first, lower index first on ties, into the candidates. */
template <typename L>
__device__ void top_logprobs(int n, int k, L lp, Smem& s) {
  unsigned kth = radix_select<unsigned>(n, [&](int i) { return Item<unsigned>{order_key(lp(i)), 1u}; }, k, s);
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, lo, hi;
  warp_segment(n, &lo, &hi);
  int gt = 0, eq = 0;
  for (int i = lo + lane; i < hi; i += 32) {
    unsigned key = order_key(lp(i));
    gt += key > kth;
    eq += key == kth;
  }
  gt = vk_warp_sum(gt);
  eq = vk_warp_sum(eq);
  if (lane == 0) s.warp_a[warp] = gt, s.warp_b[warp] = eq;
  if (threadIdx.x == 0) s.n_cand = 0;
  __syncthreads();
  int need = k, eq_before = 0;
  for (int w = 0; w < WARPS; w++) {
    need -= s.warp_a[w];
    if (w < warp) eq_before += s.warp_b[w];
  }
  /* Every larger key, and the first `need` equal ones in index order. */
  for (int base = lo; base < hi; base += 32) {
    int i = base + lane;
    unsigned key = i < hi ? order_key(lp(i)) : 0u;
    unsigned eqs = __ballot_sync(FULL, i < hi && key == kth);
    bool take = i < hi && (key > kth || (key == kth && eq_before + __popc(eqs & ((1u << lane) - 1)) < need));
    if (take) {
      int slot = atomicAdd(&s.n_cand, 1);
      if (slot < VK_SAMPLE_MAX_LOGPROBS) s.cand_id[slot] = i, s.cand_lp[slot] = lp(i);
    }
    eq_before += __popc(eqs);
  }
  __syncthreads();
  if (threadIdx.x == 0) { /* at most 20: insertion sort */
    int c = min(s.n_cand, VK_SAMPLE_MAX_LOGPROBS);
    for (int a = 1; a < c; a++) {
      for (int b = a; b > 0; b--) {
        ArgMax x = {s.cand_lp[b], s.cand_id[b]}, y = {s.cand_lp[b - 1], s.cand_id[b - 1]};
        if (better(y, x).i == y.i) break;
        s.cand_lp[b] = y.v, s.cand_id[b] = y.i, s.cand_lp[b - 1] = x.v, s.cand_id[b - 1] = x.i;
      }
    }
    s.n_cand = c;
  }
  __syncthreads();
}

/* Logprob and rank of `token` and the top k of the raw row, as the host's tokenLogprobs. */
__device__ void logprobs(const float* x, int n, int token, int k, const Args& a, int r, Smem& s) {
  const double lse = log_sum_exp(x, n, s);
  auto lp = [&](int i) { return (float)((double)x[i] - lse); };
  float mine = lp(token);
  int above = 0;
  for (int i = threadIdx.x; i < n; i += THREADS) {
    float v = lp(i);
    above += v > mine || (v == mine && i < token);
  }
  above = block_sum_int(above, s);
  if (k > 0) top_logprobs(n, min(k, n), lp, s);
  if (threadIdx.x == 0) {
    a.out_logprobs[r] = mine;
    a.out_ranks[r] = above + 1;
  }
  for (int j = threadIdx.x; j < VK_SAMPLE_MAX_LOGPROBS; j += THREADS) {
    bool have = k > 0 && j < s.n_cand;
    a.out_top_ids[(int64_t)r * VK_SAMPLE_MAX_LOGPROBS + j] = have ? s.cand_id[j] : -1;
    a.out_top_logprobs[(int64_t)r * VK_SAMPLE_MAX_LOGPROBS + j] = have ? s.cand_lp[j] : -INFINITY;
  }
}

// ---- the entry's ids ----

/* True when every id entry r indexes by is inside its table; else reports the first found (block-wide
 * answer, so every thread must call it). */
__device__ bool entry_ok(const Args& a, int r, const int32_t* ip, int op0, int op1) {
  int bad = 0;
  if (threadIdx.x == 0) {
    int row = a.rows[r], forced = ip[2], mask_row = ip[3];
    if (row < 0 || row >= a.n_logit_rows) bad = 1, vk_report_fault(a.fault, VK_FAULT_SAMPLE_ROW, r, row, a.n_logit_rows);
    else if (forced >= a.vocab) bad = 1, vk_report_fault(a.fault, VK_FAULT_SAMPLE_FORCED, r, forced, a.vocab);
    else if (mask_row >= a.n_bitmask_rows)
      bad = 1, vk_report_fault(a.fault, VK_FAULT_SAMPLE_MASK_ROW, r, mask_row, a.n_bitmask_rows);
  }
  for (int j = op0 + threadIdx.x; j < op1; j += THREADS) {
    int t = a.op_tokens[j];
    if (t < 0 || t >= a.vocab) bad = 1, vk_report_fault(a.fault, VK_FAULT_SAMPLE_OP_TOKEN, j, t, a.vocab);
  }
  return !__syncthreads_or(bad);
}

__global__ void __launch_bounds__(THREADS) sample_kernel(Args a) {
  __shared__ Smem s;
  const int r = blockIdx.x, n = a.vocab;
  const double* fp = a.fparams + 4 * r;
  const int32_t* ip = a.iparams + 4 * r;
  const int op0 = a.op_starts[r], op1 = a.op_starts[r + 1];
  if (!entry_ok(a, r, ip, op0, op1)) {
    if (threadIdx.x == 0) a.out_tokens[r] = -1;
    return;
  }
  float* x = a.logits + (int64_t)a.rows[r] * n;
  /* Processed in place; the raw values wait in op_saved for the logprobs. */
  for (int j = op0 + threadIdx.x; j < op1; j += THREADS) {
    float raw = x[a.op_tokens[j]];
    a.op_saved[j] = raw;
    x[a.op_tokens[j]] = process(raw, a.op_params + 3 * (int64_t)j);
  }
  __syncthreads();
  int token = ip[2];
  if (token < 0) {
    const int32_t* bitmask = ip[3] >= 0 ? a.bitmasks + (int64_t)ip[3] * a.bitmask_words : NULL;
    token = sample_row(x, n, fp, ip, bitmask, a.bitmask_words, s);
  }
  __syncthreads();
  for (int j = op0 + threadIdx.x; j < op1; j += THREADS) x[a.op_tokens[j]] = a.op_saved[j];
  __syncthreads();
  if (ip[1] >= 0) logprobs(x, n, token, min(ip[1], (int)VK_SAMPLE_MAX_LOGPROBS), a, r, s);
  if (threadIdx.x == 0) a.out_tokens[r] = token;
}

void vk_sample(int32_t* out_tokens, float* out_logprobs, int32_t* out_ranks, int32_t* out_top_ids,
               float* out_top_logprobs, float* op_saved, float* logits, int n_logit_rows, int vocab,
               const int32_t* rows, int n_rows, const double* fparams, const int32_t* iparams,
               const int32_t* op_starts, const int32_t* op_tokens, const double* op_params,
               const int32_t* bitmasks, int n_bitmask_rows, int bitmask_words) {
  cudaStream_t s = vk_stream();
  if (!s || n_rows <= 0 || vocab <= 0) return;
  Args a = {out_tokens, out_ranks, out_top_ids, out_logprobs, out_top_logprobs, logits, n_logit_rows, vocab, rows,
            fparams, iparams, op_starts, op_tokens, op_params, op_saved, bitmasks, n_bitmask_rows, bitmask_words,
            vk_fault_record()};
  sample_kernel<<<n_rows, THREADS, 0, s>>>(a);
  VK_CHECK_LAUNCH("vk_sample");
}
