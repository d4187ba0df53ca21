/* Rotary position embedding, NeoX / HF rotate_half layout, in place on q and k. */
#include "common.h"

typedef struct {
  float *q, *k;
  const int32_t* positions;
  const float* inv_freq;
  int n_q_heads, n_kv_heads, head_dim;
} rope_job;

static void rotate_heads(float* x, int n_heads, int head_dim, const float* cos_t, const float* sin_t) {
  int half = head_dim / 2;
  for (int h = 0; h < n_heads; h++) {
    float* a = x + (int64_t)h * head_dim;
    float* b = a + half;
    int i = 0;
    for (; i + VK_W <= half; i += VK_W) {
      vkf x0 = vkf_load(a + i), x1 = vkf_load(b + i), c = vkf_load(cos_t + i), s = vkf_load(sin_t + i);
      vkf_store(a + i, vkf_sub(vkf_mul(x0, c), vkf_mul(x1, s)));
      vkf_store(b + i, vkf_add(vkf_mul(x1, c), vkf_mul(x0, s)));
    }
    for (; i < half; i++) {
      float x0 = a[i], x1 = b[i];
      a[i] = x0 * cos_t[i] - x1 * sin_t[i];
      b[i] = x1 * cos_t[i] + x0 * sin_t[i];
    }
  }
}

static void rope_rows(void* arg, int begin, int end) {
  const rope_job* j = arg;
  int half = j->head_dim / 2;
  float* cos_t = vk_scratch(0, (int64_t)half * 2 * sizeof(float));
  float* sin_t = cos_t + half;
  for (int t = begin; t < end; t++) {
    float pos = (float)j->positions[t];
    for (int i = 0; i < half; i++) {
      float angle = pos * j->inv_freq[i]; /* rounded to f32 before cos/sin, like HF */
      cos_t[i] = cosf(angle);
      sin_t[i] = sinf(angle);
    }
    rotate_heads(j->q + (int64_t)t * j->n_q_heads * j->head_dim, j->n_q_heads, j->head_dim, cos_t, sin_t);
    rotate_heads(j->k + (int64_t)t * j->n_kv_heads * j->head_dim, j->n_kv_heads, j->head_dim, cos_t, sin_t);
  }
}

void vk_rope(float* q, float* k, const int32_t* positions, const float* inv_freq, int n_tokens, int n_q_heads,
             int n_kv_heads, int head_dim) {
  rope_job j = {q, k, positions, inv_freq, n_q_heads, n_kv_heads, head_dim};
  int64_t cost = (int64_t)head_dim * 20 + (int64_t)(n_q_heads + n_kv_heads) * head_dim * 3;
  vk_parallel_range(n_tokens, cost, rope_rows, &j);
}
