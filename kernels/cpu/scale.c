/* x *= s in place over [n_rows, n_cols] (Gemma's embedding scale, which the caller rounds to the activation dtype). */
#include "common.h"

typedef struct {
  float* x;
  int n_cols;
  float s;
} scale_job;

static void scale_rows(void* arg, int begin, int end) {
  const scale_job* j = arg;
  const vkf s = vkf_set1(j->s);
  for (int r = begin; r < end; r++) {
    float* x = j->x + (int64_t)r * j->n_cols;
    int i = 0;
    for (; i + VK_W <= j->n_cols; i += VK_W) vkf_store(x + i, vkf_mul(vkf_load(x + i), s));
    for (; i < j->n_cols; i++) x[i] *= j->s;
  }
}

void vk_scale(float* x, int n_rows, int n_cols, float s) {
  scale_job j = {x, n_cols, s};
  vk_parallel_range(n_rows, (int64_t)n_cols, scale_rows, &j);
}
