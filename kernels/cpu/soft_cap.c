/* Logit soft-capping in place (Gemma 2's final logits): x = cap * tanh(x / cap). */
#include "tanh.h"

typedef struct {
  float* x;
  int n_cols;
  float cap;
} cap_job;

static void cap_rows(void* arg, int begin, int end) {
  const cap_job* j = arg;
  const vkf cap = vkf_set1(j->cap), inv = vkf_set1(1.0f / j->cap);
  for (int r = begin; r < end; r++) {
    float* x = j->x + (int64_t)r * j->n_cols;
    int i = 0;
    for (; i + VK_W <= j->n_cols; i += VK_W) vkf_store(x + i, vkf_mul(cap, vkf_tanh(vkf_mul(vkf_load(x + i), inv))));
    for (; i < j->n_cols; i++) x[i] = j->cap * tanhf(x[i] / j->cap);
  }
}

void vk_soft_cap(float* x, int n_rows, int n_cols, float cap) {
  cap_job j = {x, n_cols, cap};
  vk_parallel_range(n_rows, (int64_t)n_cols * 12, cap_rows, &j);
}
