/* GeGLU activation (Gemma): gelu_tanh(gate) * up, the tanh approximation HF calls gelu_pytorch_tanh:
 * 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
#include "tanh.h"

typedef struct {
  float* out;
  const float* gate_up;
  int inter;
} gelu_job;

#define GELU_K0 0.7978845608028654f /* sqrt(2 / pi) */
#define GELU_K1 0.044715f

static void gelu_rows(void* arg, int begin, int end) {
  const gelu_job* j = arg;
  const vkf half = vkf_set1(0.5f), one = vkf_set1(1.0f), k0 = vkf_set1(GELU_K0), k1 = vkf_set1(GELU_K1);
  for (int t = begin; t < end; t++) {
    const float* g = j->gate_up + (int64_t)t * 2 * j->inter;
    const float* u = g + j->inter;
    float* o = j->out + (int64_t)t * j->inter;
    int i = 0;
    for (; i + VK_W <= j->inter; i += VK_W) {
      vkf x = vkf_load(g + i);
      vkf inner = vkf_mul(k0, vkf_fma(vkf_mul(k1, x), vkf_mul(x, x), x));
      vkf gelu = vkf_mul(vkf_mul(half, x), vkf_add(one, vkf_tanh(inner)));
      vkf_store(o + i, vkf_mul(gelu, vkf_load(u + i)));
    }
    for (; i < j->inter; i++) {
      float x = g[i];
      o[i] = 0.5f * x * (1.0f + tanhf(GELU_K0 * (x + GELU_K1 * x * x * x))) * u[i];
    }
  }
}

void vk_gelu_tanh_mul(float* out, const float* gate_up, int n_tokens, int inter) {
  gelu_job j = {out, gate_up, inter};
  vk_parallel_range(n_tokens, (int64_t)inter * 12, gelu_rows, &j);
}
