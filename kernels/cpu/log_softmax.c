/* Row-wise log-softmax in f32: x - max - log(sum(exp(x - max))). */
#include "common.h"

typedef struct {
  float* out;
  const float* x;
  int n_cols;
} lsm_job;

static float row_sum_exp(const float* x, int n, float max) {
  vkf s0 = vkf_zero(), s1 = vkf_zero(), mv = vkf_set1(max);
  int i = 0;
  for (; i + 2 * VK_W <= n; i += 2 * VK_W) {
    s0 = vkf_add(s0, vkf_exp(vkf_sub(vkf_load(x + i), mv)));
    s1 = vkf_add(s1, vkf_exp(vkf_sub(vkf_load(x + i + VK_W), mv)));
  }
  for (; i + VK_W <= n; i += VK_W) s0 = vkf_add(s0, vkf_exp(vkf_sub(vkf_load(x + i), mv)));
  float s = vkf_hsum(vkf_add(s0, s1));
  for (; i < n; i++) s += expf(x[i] - max);
  return s;
}

static void lsm_rows(void* arg, int begin, int end) {
  const lsm_job* j = arg;
  for (int r = begin; r < end; r++) {
    const float* x = j->x + (int64_t)r * j->n_cols;
    float* o = j->out + (int64_t)r * j->n_cols;
    float max = vk_row_max(x, j->n_cols);
    float log_sum = logf(row_sum_exp(x, j->n_cols, max));
    vkf mv = vkf_set1(max), lv = vkf_set1(log_sum);
    int i = 0;
    for (; i + VK_W <= j->n_cols; i += VK_W) vkf_store(o + i, vkf_sub(vkf_sub(vkf_load(x + i), mv), lv));
    for (; i < j->n_cols; i++) o[i] = (x[i] - max) - log_sum;
  }
}

void vk_log_softmax(float* out, const float* x, int n_rows, int n_cols) {
  lsm_job j = {out, x, n_cols};
  vk_parallel_range(n_rows, (int64_t)n_cols * 12, lsm_rows, &j);
}
