/* Row-wise top-k, largest first; ties keep the lower index first. NaN ranks below every number.
 *
 * The row is scanned in index order, so an entry equal to the current k-th value never displaces
 * it (it has the higher index), and whole vectors at or below the k-th value are skipped. */
#include "common.h"

typedef struct {
  int32_t* ids;
  float* vals;
  const float* x;
  int n_cols, k, kept; /* kept = min(k, n_cols); slots past it get id -1 */
} topk_job;

/* a ranks before b (a has the lower index when values tie). */
static inline int ranks_before(float va, int ia, float vb, int ib) {
  if (va != va) return 0;
  if (vb != vb) return 1;
  return va > vb || (va == vb && ia < ib);
}

/* Min-heap on rank: the root is the worst of the kept entries. */
static void sift_down(float* v, int32_t* id, int n, int i) {
  for (;;) {
    int l = 2 * i + 1, r = l + 1, worst = i;
    if (l < n && ranks_before(v[worst], id[worst], v[l], id[l])) worst = l;
    if (r < n && ranks_before(v[worst], id[worst], v[r], id[r])) worst = r;
    if (worst == i) return;
    float tv = v[i];
    int32_t ti = id[i];
    v[i] = v[worst], id[i] = id[worst], v[worst] = tv, id[worst] = ti;
    i = worst;
  }
}

void vk_topk_row(int32_t* id, float* v, const float* x, int n, int k) {
  if (k == 0) return;
  for (int i = 0; i < k; i++) v[i] = x[i], id[i] = i;
  for (int i = k / 2 - 1; i >= 0; i--) sift_down(v, id, k, i);
  int c = k;
  for (;;) {
    /* Skip blocks that cannot enter; NaN compares false, so it never passes the test. */
    if (v[0] == v[0]) {
      vkf thr = vkf_set1(v[0]);
      while (c + 4 * VK_W <= n && !(vkf_any_gt(vkf_load(x + c), thr) | vkf_any_gt(vkf_load(x + c + VK_W), thr) |
                                    vkf_any_gt(vkf_load(x + c + 2 * VK_W), thr) |
                                    vkf_any_gt(vkf_load(x + c + 3 * VK_W), thr)))
        c += 4 * VK_W;
      while (c + VK_W <= n && !vkf_any_gt(vkf_load(x + c), thr)) c += VK_W;
    }
    if (c >= n) break;
    if (ranks_before(x[c], c, v[0], id[0])) {
      v[0] = x[c], id[0] = c;
      sift_down(v, id, k, 0);
    }
    c++;
  }
  /* Heap-sort in place: repeatedly move the worst to the end. */
  for (int end = k - 1; end > 0; end--) {
    float tv = v[0];
    int32_t ti = id[0];
    v[0] = v[end], id[0] = id[end], v[end] = tv, id[end] = ti;
    sift_down(v, id, end, 0);
  }
}

static void topk_rows(void* arg, int begin, int end) {
  const topk_job* j = arg;
  for (int r = begin; r < end; r++) {
    int64_t o = (int64_t)r * j->k;
    vk_topk_row(j->ids + o, j->vals + o, j->x + (int64_t)r * j->n_cols, j->n_cols, j->kept);
    for (int i = j->kept; i < j->k; i++) j->ids[o + i] = -1, j->vals[o + i] = -INFINITY;
  }
}

void vk_topk(int32_t* out_ids, float* out_vals, const float* x, int n_rows, int n_cols, int k) {
  if (k <= 0) return;
  topk_job j = {out_ids, out_vals, x, n_cols, k, VK_MIN(k, n_cols)};
  vk_parallel_range(n_rows, n_cols, topk_rows, &j);
}
