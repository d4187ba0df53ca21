/* SwiGLU activation: silu(gate) * up. */
#include "common.h"

typedef struct {
  float* out;
  const float* gate_up;
  int inter;
} silu_job;

static void silu_rows(void* arg, int begin, int end) {
  const silu_job* j = arg;
  const vkf one = vkf_set1(1.0f);
  for (int t = begin; t < end; t++) {
    const float* g = j->gate_up + (int64_t)t * 2 * j->inter;
    const float* u = g + j->inter;
    float* o = j->out + (int64_t)t * j->inter;
    int i = 0;
    for (; i + VK_W <= j->inter; i += VK_W) {
      vkf gv = vkf_load(g + i);
      vkf e = vkf_exp(vkf_sub(vkf_zero(), gv));
      vkf_store(o + i, vkf_mul(vkf_div(gv, vkf_add(one, e)), vkf_load(u + i)));
    }
    for (; i < j->inter; i++) o[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
  }
}

void vk_silu_mul(float* out, const float* gate_up, int n_tokens, int inter) {
  silu_job j = {out, gate_up, inter};
  vk_parallel_range(n_tokens, (int64_t)inter * 8, silu_rows, &j);
}
