/* vllm-bun kernel ABI, CPU part: what only the CPU library has, on top of vk_core.h. Its ops run
 * synchronously on a persistent worker pool (the calling thread included). */
#ifndef VK_CPU_H
#define VK_CPU_H
#include "vk_core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* CPU feature bits returned by vk_cpu_features(). */
enum { VK_CPU_AVX2 = 1, VK_CPU_FMA = 2, VK_CPU_AVX512F = 4, VK_CPU_AVX512BW = 8, VK_CPU_F16C = 16 };

int vk_cpu_features(void);               /* bitmask of VK_CPU_* the running CPU (and OS) supports */
int vk_set_num_threads(int n);           /* sets the worker pool size (n >= 1); returns the size in use */
int vk_num_threads(void);                /* the worker pool size in use (the caller thread included) */

/* ---- ops only this library has so far (Gemma's activation and scaling ops) ---- */

/* gate_up: [n_tokens, 2*inter] = [gate | up]; out: [n_tokens, inter] = gelu_tanh(gate) * up, with
 * gelu_tanh(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) (HF's gelu_pytorch_tanh). */
void vk_gelu_tanh_mul(vk_act* out, const vk_act* gate_up, int n_tokens, int inter);

/* x[r, c] = cap * tanh(x[r, c] / cap) in place, f32 (final logit soft-capping); cap > 0. */
void vk_soft_cap(float* x, int n_rows, int n_cols, float cap);

/* x[r, c] *= s in place (the embedding scale). */
void vk_scale(vk_act* x, int n_rows, int n_cols, float s);

#ifdef __cplusplus
}
#endif
#endif
