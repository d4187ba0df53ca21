/* Causal attention of a ragged batch over the paged KV cache, with an online softmax.
 *
 * Work item = (sequence, block of up to ROWS query rows, kv head, slice of its q heads). An item
 * walks the keys in tiles of TILE tokens (gathered through the block table) and, for each tile,
 * updates every (row, q head) it owns, so the tile's K/V stay in L1 while all the GQA heads and
 * rows that share them read it. Items with the most keys (last rows) are handed out first. */
#include "common.h"

#define ROWS 16     /* query rows per item */
#define MAX_TILE 64 /* keys per tile: K+V of one tile stay within about 16 KiB */

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
  const float **kp, **vp;
} attn_state;

static void dot4(const float* q, const float* const* kp, int d, float* out) {
  vkf a0 = vkf_zero(), a1 = vkf_zero(), a2 = vkf_zero(), a3 = vkf_zero();
  int i = 0;
  for (; i + VK_W <= d; i += VK_W) {
    vkf qv = vkf_load(q + i);
    a0 = vkf_fma(qv, vkf_load(kp[0] + i), a0);
    a1 = vkf_fma(qv, vkf_load(kp[1] + i), a1);
    a2 = vkf_fma(qv, vkf_load(kp[2] + i), a2);
    a3 = vkf_fma(qv, vkf_load(kp[3] + i), a3);
  }
  out[0] = vkf_hsum(a0), out[1] = vkf_hsum(a1), out[2] = vkf_hsum(a2), out[3] = vkf_hsum(a3);
  for (; i < d; i++)
    for (int t = 0; t < 4; t++) out[t] += q[i] * kp[t][i];
}

static float dot1(const float* q, const float* k, int d) {
  vkf a = vkf_zero();
  int i = 0;
  for (; i + VK_W <= d; i += VK_W) a = vkf_fma(vkf_load(q + i), vkf_load(k + i), a);
  float s = vkf_hsum(a);
  for (; i < d; i++) s += q[i] * k[i];
  return s;
}

/* Folds keys [0, nv) of the tile into one (row, head) state: acc = acc * alpha + sum_t p_t v_t. */
static void attend_tile(float* acc, float* max, float* sum, const float* q, const float* const* kp,
                        const float* const* vp, int nv, int d, float scale, float* sc) {
  int t = 0;
  for (; t + 4 <= nv; t += 4) dot4(q, kp + t, d, sc + t);
  for (; t < nv; t++) sc[t] = dot1(q, kp[t], d);
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
  vkf av = vkf_set1(alpha);
  int i = 0;
  for (; i + VK_W <= d; i += VK_W) {
    vkf a = vkf_mul(vkf_load(acc + i), av);
    for (t = 0; t < nv; t++) a = vkf_fma(vkf_set1(sc[t]), vkf_load(vp[t] + i), a);
    vkf_store(acc + i, a);
  }
  for (; i < d; i++) {
    float a = acc[i] * alpha;
    for (t = 0; t < nv; t++) a += sc[t] * vp[t][i];
    acc[i] = a;
  }
}

static attn_state state_alloc(int n_pairs, int d) {
  int64_t floats = (int64_t)n_pairs * (d + 2) + MAX_TILE + VK_W;
  char* base = vk_scratch(0, floats * (int64_t)sizeof(float) + 2 * MAX_TILE * (int64_t)sizeof(float*));
  attn_state s;
  s.kp = (const float**)base;
  s.vp = s.kp + MAX_TILE;
  s.acc = (float*)(s.vp + MAX_TILE);
  s.max = s.acc + (int64_t)n_pairs * d;
  s.sum = s.max + n_pairs;
  s.scores = s.sum + n_pairs;
  for (int p = 0; p < n_pairs; p++) s.max[p] = -INFINITY, s.sum[p] = 0.0f;
  memset(s.acc, 0, (size_t)n_pairs * d * sizeof(float));
  return s;
}

static void gather_tile(const attn_job* j, int seq, int kvh, int p0, int nt, attn_state* st) {
  const int32_t* table = j->block_tables + (int64_t)seq * j->max_blocks;
  for (int i = 0; i < nt; i++) {
    int pos = p0 + i;
    int64_t slot = (int64_t)table[pos / j->block_size] * j->block_size + pos % j->block_size;
    int64_t off = (slot * j->n_kv_heads + kvh) * j->head_dim;
    st->kp[i] = j->k_cache + off;
    st->vp[i] = j->v_cache + off;
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
  attn_state st = state_alloc((r1 - r0) * nh, d);
  int last = ctx0 + r1 - 1;
  for (int p0 = 0; p0 <= last; p0 += j->tile) {
    int nt = VK_MIN(j->tile, last + 1 - p0);
    gather_tile(j, s, kvh, p0, nt, &st);
    for (int r = VK_MAX(r0, p0 - ctx0); r < r1; r++) {
      int nv = VK_MIN(nt, ctx0 + r + 1 - p0);
      for (int h = 0; h < nh; h++) {
        int pair = (r - r0) * nh + h;
        const float* q = j->q + ((int64_t)(q0 + r) * j->n_q_heads + kvh * j->group + h0 + h) * d;
        attend_tile(st.acc + (int64_t)pair * d, st.max + pair, st.sum + pair, q, st.kp, st.vp, nv, d, j->scale,
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
