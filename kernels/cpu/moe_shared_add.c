/* Qwen2-MoE's gated shared expert: out += sigmoid(gate) * shared, one gate logit per token. */
#include <math.h>

#include "common.h"

typedef struct {
  float* out;
  const float* shared;
  const float* gate;
  int hidden;
} shared_job;

static void shared_rows(void* arg, int begin, int end) {
  const shared_job* j = arg;
  for (int t = begin; t < end; t++) {
    const float s = 1.0f / (1.0f + expf(-j->gate[t]));
    float* o = j->out + (int64_t)t * j->hidden;
    const float* x = j->shared + (int64_t)t * j->hidden;
    for (int i = 0; i < j->hidden; i++) o[i] += s * x[i];
  }
}

void vk_moe_shared_add(float* out, const float* shared, const float* gate_logits, int n_tokens, int hidden) {
  shared_job j = {out, shared, gate_logits, hidden};
  vk_parallel_range(n_tokens, (int64_t)hidden * 2, shared_rows, &j);
}
