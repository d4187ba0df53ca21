/* tanh in f32 for the soft-capping and GELU kernels: 1 - 2 / (1 + e^2x) over vkf_exp (scalar tails use tanhf). Absolute error
 * stays near 1e-7 (relative error grows for |x| < 1e-3, where the callers add it to larger terms);
 * large |x| saturate to +-1 as vkf_exp clamps. */
#ifndef VK_TANH_H
#define VK_TANH_H
#include "common.h"

static inline vkf vkf_tanh(vkf x) {
  vkf one = vkf_set1(1.0f);
  vkf e = vkf_exp(vkf_add(x, x));
  return vkf_sub(one, vkf_div(vkf_set1(2.0f), vkf_add(one, e)));
}
#endif
