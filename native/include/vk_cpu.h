/* vllm-bun kernel ABI, CPU part: what only the CPU library has, on top of vk_core.h. Its ops run
 * synchronously on a persistent worker pool (the calling thread included). */
#ifndef VK_CPU_H
#define VK_CPU_H
#include "vk_core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* CPU feature bits returned by vk_cpu_features(). */
enum {
  VK_CPU_AVX2 = 1,
  VK_CPU_FMA = 2,
  VK_CPU_AVX512F = 4,
  VK_CPU_AVX512BW = 8,
  VK_CPU_F16C = 16,
  VK_CPU_AVX512BF16 = 32, /* vdpbf16ps */
  VK_CPU_AVX512VNNI = 64, /* vpdpbusd */
};

int vk_cpu_features(void);               /* bitmask of VK_CPU_* the running CPU (and OS) supports */
int vk_set_num_threads(int n);           /* sets the worker pool size (n >= 1); returns the size in use */
int vk_num_threads(void);                /* the worker pool size in use (the caller thread included) */

#ifdef __cplusplus
}
#endif
#endif
