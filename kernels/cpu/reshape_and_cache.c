/* Scatter of new keys/values into the paged KV cache. */
#include "common.h"

typedef struct {
  const float *k, *v;
  float *k_cache, *v_cache;
  const int32_t* slot_mapping;
  int64_t row; /* floats per token: n_kv_heads * head_dim */
} cache_job;

static void cache_rows(void* arg, int begin, int end) {
  const cache_job* j = arg;
  size_t bytes = (size_t)j->row * sizeof(float);
  for (int t = begin; t < end; t++) {
    int64_t slot = j->slot_mapping[t];
    if (slot < 0) continue; /* padding token: nothing to store */
    memcpy(j->k_cache + slot * j->row, j->k + (int64_t)t * j->row, bytes);
    memcpy(j->v_cache + slot * j->row, j->v + (int64_t)t * j->row, bytes);
  }
}

void vk_reshape_and_cache(float* k_cache, float* v_cache, const float* k, const float* v,
                          const int32_t* slot_mapping, int n_tokens, int n_kv_heads, int head_dim) {
  cache_job j = {k, v, k_cache, v_cache, slot_mapping, (int64_t)n_kv_heads * head_dim};
  vk_parallel_range(n_tokens, j.row * 2, cache_rows, &j);
}
