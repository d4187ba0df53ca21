/* Causal attention of a ragged batch over the paged KV cache, with an online softmax.
 *
 * Work item = (sequence, block of up to ROWS query rows, kv head, slice of its q heads). An item
 * walks the keys in tiles (gathered through the block table into a contiguous copy) and, for each
 * tile, updates every (row, q head) it owns, so one L1-resident tile serves all the GQA heads and
 * rows that share it. Items with the most keys (last rows) are handed out first. When that gives
 * too few items for the pool (decode of a few long sequences), each item's keys are also split
 * into ranges whose partial softmax states are merged afterwards.
 *
 * Two per-layer options: a sliding window, where the row at position p attends to positions
 * (p - window, p], so an item starts at the first key its first row sees; and logit soft-capping,
 * scores -> cap * tanh(scores / cap) before the softmax. */
#include "tanh.h"

#define ROWS 16     /* query rows per item */
#define MAX_TILE 64 /* keys per tile: K+V of one tile stay within about 16 KiB */
#define PREFETCH 24 /* tokens ahead */
#define MIN_SPLIT 512 /* keys per split at least, so a split outweighs its merge */

typedef struct {
  float* out;
  const float* q;
  const float *k_cache, *v_cache;
  const int32_t *block_tables, *seq_lens, *query_start_loc;
  const int32_t* rb_start; /* [n_seqs + 1]: first row block of each sequence */
  int max_blocks, n_seqs, n_q_heads, n_kv_heads, head_dim, block_size;
  float scale;
  int window;     /* 0: unbounded */
  float soft_cap; /* 0: off */
  int group, heads_per_item, head_slices, tile, n_row_blocks;
  int n_splits;    /* key ranges each item is split into; > 1 leaves partials to merge */
  int max_pairs;   /* (row, head) pairs an item can own: partials stride */
  float* partials; /* [task][max_pairs][2 + head_dim] when n_splits > 1 */
} attn_job;

/* Per-(row, head) online-softmax state, in the thread's scratch. */
typedef struct {
  float *acc, *max, *sum, *scores;
  float *k, *v; /* the current tile's keys and values, copied contiguous: [tile][head_dim] */
} attn_state;

/* out[t] = q . k[t] for T keys at once: T independent FMA chains hide the FMA latency. */
VK_INLINE void dot_keys(const float* q, const float* k, int d, float* out, const int T) {
  vkf acc[8];
  for (int t = 0; t < T; t++) acc[t] = vkf_zero();
  int i = 0;
  for (; i + VK_W <= d; i += VK_W) {
    vkf qv = vkf_load(q + i);
    for (int t = 0; t < T; t++) acc[t] = vkf_fma(qv, vkf_load(k + t * d + i), acc[t]);
  }
  if (T == 8) vkf_hsum8(acc, out);
  else
    for (int t = 0; t < T; t++) out[t] = vkf_hsum(acc[t]);
  for (int t = 0; t < T; t++)
    for (int r = i; r < d; r++) out[t] += q[r] * k[t * d + r];
}

/* acc[0, d) = acc * alpha + sum_t p[t] * v[t]; G vectors of acc at a time give G chains. */
static void accumulate_values(float* acc, float alpha, const float* p, const float* v, int nv, int d) {
  enum { G = 8 };
  vkf av = vkf_set1(alpha);
  int i = 0;
  for (; i + G * VK_W <= d; i += G * VK_W) {
    vkf a[G];
    for (int g = 0; g < G; g++) a[g] = vkf_mul(vkf_load(acc + i + g * VK_W), av);
    for (int t = 0; t < nv; t++) {
      vkf pt = vkf_set1(p[t]);
      for (int g = 0; g < G; g++) a[g] = vkf_fma(pt, vkf_load(v + t * d + i + g * VK_W), a[g]);
    }
    for (int g = 0; g < G; g++) vkf_store(acc + i + g * VK_W, a[g]);
  }
  for (; i + VK_W <= d; i += VK_W) {
    vkf a = vkf_mul(vkf_load(acc + i), av);
    for (int t = 0; t < nv; t++) a = vkf_fma(vkf_set1(p[t]), vkf_load(v + t * d + i), a);
    vkf_store(acc + i, a);
  }
  for (; i < d; i++) {
    float a = acc[i] * alpha;
    for (int t = 0; t < nv; t++) a += p[t] * v[t * d + i];
    acc[i] = a;
  }
}

static void soft_cap_scores(float* sc, int n, float cap) {
  vkf cv = vkf_set1(cap), inv = vkf_set1(1.0f / cap);
  int t = 0;
  for (; t + VK_W <= n; t += VK_W) vkf_store(sc + t, vkf_mul(cv, vkf_tanh(vkf_mul(vkf_load(sc + t), inv))));
  for (; t < n; t++) sc[t] = cap * tanhf(sc[t] / cap);
}

/* Folds keys [0, nv) of the tile into one (row, head) state: acc = acc * alpha + sum_t p_t v_t. */
static void attend_tile(float* acc, float* max, float* sum, const float* q, const float* k, const float* v, int nv,
                        int d, float scale, float cap, float* sc) {
  int t = 0;
  for (; t + 8 <= nv; t += 8) dot_keys(q, k + t * d, d, sc + t, 8);
  for (; t + 4 <= nv; t += 4) dot_keys(q, k + t * d, d, sc + t, 4);
  for (; t < nv; t++) dot_keys(q, k + t * d, d, sc + t, 1);
  float m = *max;
  for (t = 0; t < nv; t++) sc[t] *= scale;
  if (cap > 0.0f) soft_cap_scores(sc, nv, cap);
  for (t = 0; t < nv; t++) m = sc[t] > m ? sc[t] : m;
  int padded = (nv + VK_W - 1) / VK_W * VK_W;
  for (t = nv; t < padded; t++) sc[t] = -INFINITY; /* exp -> 0 */
  vkf mv = vkf_set1(m), sv = vkf_zero();
  for (t = 0; t < padded; t += VK_W) {
    vkf p = vkf_exp(vkf_sub(vkf_load(sc + t), mv));
    vkf_store(sc + t, p);
    sv = vkf_add(sv, p);
  }
  float alpha = expf(*max - m); /* 0 on the first tile, where *max is -inf */
  *sum = *sum * alpha + vkf_hsum(sv);
  *max = m;
  accumulate_values(acc, alpha, sc, v, nv, d);
}

static attn_state state_alloc(int n_pairs, int d, int tile) {
  int64_t floats = (int64_t)n_pairs * (d + 2) + 2 * (int64_t)tile * d + MAX_TILE + VK_W;
  attn_state s;
  s.k = vk_scratch(0, floats * (int64_t)sizeof(float));
  s.v = s.k + (int64_t)tile * d;
  s.acc = s.v + (int64_t)tile * d;
  s.max = s.acc + (int64_t)n_pairs * d;
  s.sum = s.max + n_pairs;
  s.scores = s.sum + n_pairs;
  for (int p = 0; p < n_pairs; p++) s.max[p] = -INFINITY, s.sum[p] = 0.0f;
  memset(s.acc, 0, (size_t)n_pairs * d * sizeof(float));
  return s;
}

static inline int64_t cache_offset(const attn_job* j, const int32_t* table, int pos, int kvh) {
  int64_t slot = (int64_t)table[pos / j->block_size] * j->block_size + pos % j->block_size;
  return (slot * j->n_kv_heads + kvh) * j->head_dim;
}

/* Copies the tile's K/V rows out of the cache. There, one head's rows sit n_kv_heads * head_dim
 * floats apart, often a multiple of 4 KiB, so reading them in place makes every row of a tile
 * compete for the same few L1 sets; the copy is read once, then reused by every row and head.
 * Also prefetches the rows PREFETCH tokens ahead: each is a short run in its own page, which the
 * hardware prefetchers do not chase, and decode is bound by these loads. */
static void gather_tile(const attn_job* j, int seq, int kvh, int p0, int nt, int last, attn_state* st) {
  const int32_t* table = j->block_tables + (int64_t)seq * j->max_blocks;
  int d = j->head_dim;
  for (int i = 0; i < nt; i++) {
    int64_t off = cache_offset(j, table, p0 + i, kvh);
    memcpy(st->k + (int64_t)i * d, j->k_cache + off, (size_t)d * sizeof(float));
    memcpy(st->v + (int64_t)i * d, j->v_cache + off, (size_t)d * sizeof(float));
    if (p0 + i + PREFETCH > last) continue;
    int64_t ahead = cache_offset(j, table, p0 + i + PREFETCH, kvh);
    for (int b = 0; b < d; b += 64 / (int)sizeof(float)) {
      __builtin_prefetch(j->k_cache + ahead + b, 0, 3);
      __builtin_prefetch(j->v_cache + ahead + b, 0, 3);
    }
  }
}

static int seq_of_row_block(const attn_job* j, int rb) {
  int lo = 0, hi = j->n_seqs - 1;
  while (lo < hi) {
    int mid = (lo + hi + 1) / 2;
    if (j->rb_start[mid] <= rb) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/* The rows, kv head and q heads one work item owns. */
typedef struct {
  int seq, q0, r0, r1, ctx0, kvh, h0, nh;
} attn_item;

static attn_item item_at(const attn_job* j, int item) {
  int per_rb = j->n_kv_heads * j->head_slices;
  int rb = j->n_row_blocks - 1 - item / per_rb;
  attn_item it;
  it.kvh = (item % per_rb) / j->head_slices;
  it.h0 = (item % j->head_slices) * j->heads_per_item;
  it.nh = VK_MIN(j->group, it.h0 + j->heads_per_item) - it.h0;
  it.seq = seq_of_row_block(j, rb);
  it.q0 = j->query_start_loc[it.seq];
  int q_len = j->query_start_loc[it.seq + 1] - it.q0;
  it.r0 = (rb - j->rb_start[it.seq]) * ROWS;
  it.r1 = VK_MIN(q_len, it.r0 + ROWS);
  it.ctx0 = j->seq_lens[it.seq] - q_len;
  return it;
}

/* Offset of (row r, head h of the item) in q and out. */
static inline int64_t row_offset(const attn_job* j, const attn_item* it, int r, int h) {
  return ((int64_t)(it->q0 + r) * j->n_q_heads + it->kvh * j->group + it->h0 + h) * j->head_dim;
}

/* Partial state of task t's pair: [max, sum, acc[head_dim]]. */
static inline float* partial_at(const attn_job* j, int t, int pair) {
  return j->partials + ((int64_t)t * j->max_pairs + pair) * (j->head_dim + 2);
}

/* The first cache position the query at `pos` attends to. */
static inline int window_start(const attn_job* j, int pos) {
  return j->window > 0 ? VK_MAX(0, pos - j->window + 1) : 0;
}

static void attn_task(void* arg, int t) {
  const attn_job* j = arg;
  attn_item it = item_at(j, t / j->n_splits);
  int d = j->head_dim, n_pairs = (it.r1 - it.r0) * it.nh;
  /* This split's share of the keys [first, last], in whole tiles; first is where the first row's window starts. */
  int keys = it.ctx0 + it.r1, first = window_start(j, it.ctx0 + it.r0);
  int per = (keys - first + j->n_splits - 1) / j->n_splits;
  per = (per + j->tile - 1) / j->tile * j->tile;
  int begin = VK_MIN(keys, first + (t % j->n_splits) * per), end = VK_MIN(keys, begin + per);
  attn_state st = state_alloc(n_pairs, d, j->tile);
  for (int p0 = begin; p0 < end; p0 += j->tile) {
    int nt = VK_MIN(j->tile, end - p0);
    gather_tile(j, it.seq, it.kvh, p0, nt, end - 1, &st);
    for (int r = VK_MAX(it.r0, p0 - it.ctx0); r < it.r1; r++) {
      /* Keys [skip, nv) of the tile are inside row r's causal window. */
      int nv = VK_MIN(nt, it.ctx0 + r + 1 - p0), skip = VK_MAX(0, window_start(j, it.ctx0 + r) - p0);
      if (skip >= nv) continue;
      for (int h = 0; h < it.nh; h++) {
        int pair = (r - it.r0) * it.nh + h;
        attend_tile(st.acc + (int64_t)pair * d, st.max + pair, st.sum + pair, j->q + row_offset(j, &it, r, h),
                    st.k + (int64_t)skip * d, st.v + (int64_t)skip * d, nv - skip, d, j->scale, j->soft_cap, st.scores);
      }
    }
  }
  for (int pair = 0; pair < n_pairs; pair++) {
    const float* acc = st.acc + (int64_t)pair * d;
    if (j->n_splits > 1) {
      float* part = partial_at(j, t, pair);
      part[0] = st.max[pair], part[1] = st.sum[pair];
      memcpy(part + 2, acc, (size_t)d * sizeof(float));
      continue;
    }
    float inv = 1.0f / st.sum[pair];
    float* o = j->out + row_offset(j, &it, it.r0 + pair / it.nh, pair % it.nh);
    for (int i = 0; i < d; i++) o[i] = acc[i] * inv;
  }
}

/* Combines the splits of one item: out = sum_s e^(m_s - m) acc_s / sum_s e^(m_s - m) l_s. */
static void merge_task(void* arg, int item) {
  const attn_job* j = arg;
  attn_item it = item_at(j, item);
  int d = j->head_dim;
  for (int pair = 0; pair < (it.r1 - it.r0) * it.nh; pair++) {
    float m = -INFINITY, l = 0.0f;
    for (int s = 0; s < j->n_splits; s++) m = VK_MAX(m, partial_at(j, item * j->n_splits + s, pair)[0]);
    float* o = j->out + row_offset(j, &it, it.r0 + pair / it.nh, pair % it.nh);
    memset(o, 0, (size_t)d * sizeof(float));
    for (int s = 0; s < j->n_splits; s++) {
      const float* part = partial_at(j, item * j->n_splits + s, pair);
      float w = expf(part[0] - m); /* 0 for a split without keys for this row */
      l += w * part[1];
      for (int i = 0; i < d; i++) o[i] += w * part[2 + i];
    }
    for (int i = 0; i < d; i++) o[i] /= l;
  }
}

/* Fills the pool: first by splitting long key ranges (each split reads its own keys once), then
 * by spreading a kv head's q heads over items (each slice re-reads that head's keys). */
static void plan_work(attn_job* j, int max_keys) {
  int base = j->n_row_blocks * j->n_kv_heads, want = 2 * vk_pool_size();
  j->n_splits = base >= want ? 1 : VK_MAX(1, VK_MIN((want + base - 1) / base, max_keys / MIN_SPLIT));
  int items = base * j->n_splits;
  int slices = items >= want ? 1 : VK_MIN(j->group, (want + items - 1) / VK_MAX(items, 1));
  j->heads_per_item = (j->group + slices - 1) / slices;
  j->head_slices = (j->group + j->heads_per_item - 1) / j->heads_per_item;
  j->max_pairs = ROWS * j->heads_per_item;
}

void vk_paged_attention(float* out, const float* q, const float* k_cache, const float* v_cache,
                        const int32_t* block_tables, int max_blocks_per_seq, const int32_t* seq_lens,
                        const int32_t* query_start_loc, int n_seqs, int max_query_len, int n_q_heads,
                        int n_kv_heads, int head_dim, int block_size, float scale, int sliding_window,
                        float soft_cap) {
  (void)max_query_len;
  if (n_seqs <= 0) return;
  attn_job j = {.out = out, .q = q, .k_cache = k_cache, .v_cache = v_cache, .block_tables = block_tables,
                .seq_lens = seq_lens, .query_start_loc = query_start_loc, .max_blocks = max_blocks_per_seq,
                .n_seqs = n_seqs, .n_q_heads = n_q_heads, .n_kv_heads = n_kv_heads, .head_dim = head_dim,
                .block_size = block_size, .scale = scale, .window = VK_MAX(0, sliding_window),
                .soft_cap = soft_cap > 0.0f ? soft_cap : 0.0f, .group = n_q_heads / n_kv_heads};
  int max_keys = 0;
  for (int s = 0; s < n_seqs; s++) {
    j.n_row_blocks += (query_start_loc[s + 1] - query_start_loc[s] + ROWS - 1) / ROWS;
    /* An item of a windowed layer reads at most window + ROWS - 1 keys. */
    max_keys = VK_MAX(max_keys, j.window > 0 ? VK_MIN(seq_lens[s], j.window + ROWS - 1) : seq_lens[s]);
  }
  plan_work(&j, max_keys);
  j.tile = VK_MIN(MAX_TILE, VK_MAX(4, 2048 / VK_MAX(head_dim, 1) / 4 * 4));
  int items = j.n_row_blocks * n_kv_heads * j.head_slices, tasks = items * j.n_splits;
  /* Dispatch-level scratch: rb_start, then (when splitting) every task's partial states. */
  int64_t rb_bytes = (((int64_t)n_seqs + 1) * (int64_t)sizeof(int32_t) + 63) & ~(int64_t)63;
  int64_t part_floats = j.n_splits > 1 ? (int64_t)tasks * j.max_pairs * (head_dim + 2) : 0;
  char* scratch = vk_scratch(1, rb_bytes + part_floats * (int64_t)sizeof(float));
  int32_t* rb_start = (int32_t*)scratch;
  rb_start[0] = 0;
  for (int s = 0; s < n_seqs; s++) {
    rb_start[s + 1] = rb_start[s] + (query_start_loc[s + 1] - query_start_loc[s] + ROWS - 1) / ROWS;
  }
  j.rb_start = rb_start;
  j.partials = (float*)(scratch + rb_bytes);
  vk_parallel_for(tasks, attn_task, &j);
  if (j.n_splits > 1) vk_parallel_for(items, merge_task, &j);
}
