/* Causal attention of a ragged batch over the paged KV cache, with an online softmax.
 *
 * Work item = (sequence, block of up to ROWS query rows, kv head, slice of its q heads). An item
 * walks the keys in tiles (gathered through the block table into a contiguous copy) and, for each
 * tile, updates every (row, q head) it owns, so one L1-resident tile serves all the GQA heads and
 * rows that share it. Items with the most keys (last rows) are handed out first. */
#include "common.h"

#define ROWS 16     /* query rows per item */
#define MAX_TILE 64 /* keys per tile: K+V of one tile stay within about 16 KiB */
#define PREFETCH 24 /* tokens ahead */

typedef struct {
  float* out;
  const float* q;
  const float *k_cache, *v_cache;
  const int32_t *block_tables, *seq_lens, *query_start_loc;
  const int32_t* rb_start; /* [n_seqs + 1]: first row block of each sequence */
  int max_blocks, n_seqs, n_q_heads, n_kv_heads, head_dim, block_size;
  float scale;
  int group, heads_per_item, head_slices, tile, n_row_blocks;
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

/* Folds keys [0, nv) of the tile into one (row, head) state: acc = acc * alpha + sum_t p_t v_t. */
static void attend_tile(float* acc, float* max, float* sum, const float* q, const float* k, const float* v, int nv,
                        int d, float scale, float* sc) {
  int t = 0;
  for (; t + 8 <= nv; t += 8) dot_keys(q, k + t * d, d, sc + t, 8);
  for (; t + 4 <= nv; t += 4) dot_keys(q, k + t * d, d, sc + t, 4);
  for (; t < nv; t++) dot_keys(q, k + t * d, d, sc + t, 1);
  float m = *max;
  for (t = 0; t < nv; t++) {
    sc[t] *= scale;
    m = sc[t] > m ? sc[t] : m;
  }
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

static void attn_task(void* arg, int t) {
  const attn_job* j = arg;
  int per_rb = j->n_kv_heads * j->head_slices;
  int rb = j->n_row_blocks - 1 - t / per_rb;
  int kvh = (t % per_rb) / j->head_slices;
  int h0 = (t % j->head_slices) * j->heads_per_item, h1 = VK_MIN(j->group, h0 + j->heads_per_item);
  int s = seq_of_row_block(j, rb);
  int q0 = j->query_start_loc[s], q_len = j->query_start_loc[s + 1] - q0;
  int r0 = (rb - j->rb_start[s]) * ROWS, r1 = VK_MIN(q_len, r0 + ROWS);
  int ctx0 = j->seq_lens[s] - q_len; /* cache position of query row 0 */
  int nh = h1 - h0, d = j->head_dim;
  attn_state st = state_alloc((r1 - r0) * nh, d, j->tile);
  int last = ctx0 + r1 - 1;
  for (int p0 = 0; p0 <= last; p0 += j->tile) {
    int nt = VK_MIN(j->tile, last + 1 - p0);
    gather_tile(j, s, kvh, p0, nt, last, &st);
    for (int r = VK_MAX(r0, p0 - ctx0); r < r1; r++) {
      int nv = VK_MIN(nt, ctx0 + r + 1 - p0);
      for (int h = 0; h < nh; h++) {
        int pair = (r - r0) * nh + h;
        const float* q = j->q + ((int64_t)(q0 + r) * j->n_q_heads + kvh * j->group + h0 + h) * d;
        attend_tile(st.acc + (int64_t)pair * d, st.max + pair, st.sum + pair, q, st.k, st.v, nv, d, j->scale,
                    st.scores);
      }
    }
  }
  for (int r = r0; r < r1; r++) {
    for (int h = 0; h < nh; h++) {
      int pair = (r - r0) * nh + h;
      float inv = 1.0f / st.sum[pair];
      float* o = j->out + ((int64_t)(q0 + r) * j->n_q_heads + kvh * j->group + h0 + h) * d;
      for (int i = 0; i < d; i++) o[i] = st.acc[(int64_t)pair * d + i] * inv;
    }
  }
}

void vk_paged_attention(float* out, const float* q, const float* k_cache, const float* v_cache,
                        const int32_t* block_tables, int max_blocks_per_seq, const int32_t* seq_lens,
                        const int32_t* query_start_loc, int n_seqs, int n_q_heads, int n_kv_heads, int head_dim,
                        int block_size, float scale) {
  if (n_seqs <= 0) return;
  int32_t* rb_start = vk_scratch(1, ((int64_t)n_seqs + 1) * sizeof(int32_t));
  rb_start[0] = 0;
  for (int s = 0; s < n_seqs; s++) {
    int q_len = query_start_loc[s + 1] - query_start_loc[s];
    rb_start[s + 1] = rb_start[s] + (q_len + ROWS - 1) / ROWS;
  }
  attn_job j = {.out = out, .q = q, .k_cache = k_cache, .v_cache = v_cache, .block_tables = block_tables,
                .seq_lens = seq_lens, .query_start_loc = query_start_loc, .rb_start = rb_start,
                .max_blocks = max_blocks_per_seq, .n_seqs = n_seqs, .n_q_heads = n_q_heads, .n_kv_heads = n_kv_heads,
                .head_dim = head_dim, .block_size = block_size, .scale = scale, .group = n_q_heads / n_kv_heads,
                .n_row_blocks = rb_start[n_seqs]};
  /* Split a kv head's q heads over items only when there are too few items to fill the pool. */
  int base = j.n_row_blocks * n_kv_heads, want = 2 * vk_pool_size();
  int slices = base >= want ? 1 : VK_MIN(j.group, (want + base - 1) / VK_MAX(base, 1));
  j.heads_per_item = (j.group + slices - 1) / slices;
  j.head_slices = (j.group + j.heads_per_item - 1) / j.heads_per_item;
  j.tile = VK_MIN(MAX_TILE, VK_MAX(4, 2048 / VK_MAX(head_dim, 1) / 4 * 4));
  vk_parallel_for(j.n_row_blocks * n_kv_heads * j.head_slices, attn_task, &j);
}
