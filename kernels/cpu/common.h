/* Internal helpers shared by the CPU kernels: weight dtype conversion and the worker pool API. */
#ifndef VK_COMMON_H
#define VK_COMMON_H
#include <stdint.h>
#include <string.h>

/* The build hides every symbol (-fvisibility=hidden); only the ABI in the headers is exported, so
 * several variants loaded into one process never bind to each other's internals. */
#pragma GCC visibility push(default)
#include "vk_core.h"
#include "vk_cpu.h"
#pragma GCC visibility pop

#include "simd.h"

#define VK_INLINE static inline __attribute__((always_inline))
#define VK_MIN(a, b) ((a) < (b) ? (a) : (b))
#define VK_MAX(a, b) ((a) > (b) ? (a) : (b))

/* The largest element of x[0..n) (-inf when n == 0), SIMD. */
static inline float vk_row_max(const float* x, int n) {
  vkf m = vkf_set1(-INFINITY);
  int i = 0;
  for (; i + VK_W <= n; i += VK_W) m = vkf_max(m, vkf_load(x + i));
  float r = vkf_hmax(m);
  for (; i < n; i++) r = x[i] > r ? x[i] : r;
  return r;
}

static inline int vk_dtype_size(int dtype) { return (dtype & 0xff) == VK_F32 ? 4 : 2; }

/* Element i of a weight array in any dtype, as f32 (the low byte of dtype is the ABI code; a kernel may tag
 * the rest for its own paths). */
VK_INLINE float vk_load_w1(const void* w, int64_t i, int dtype) {
  if ((dtype & 0xff) == VK_BF16) return vk_bf16_bits_to_f32(((const uint16_t*)w)[i]);
  if (dtype == VK_F16) return vk_f16_bits_to_f32(((const uint16_t*)w)[i]);
  return ((const float*)w)[i];
}

/* VK_W elements of a weight array starting at i, as f32 (unaligned loads: weights may be mmapped). */
VK_INLINE vkf vk_load_w(const void* w, int64_t i, int dtype) {
  if ((dtype & 0xff) == VK_BF16) return vkf_load_bf16((const uint16_t*)w + i);
  if (dtype == VK_F16) return vkf_load_f16((const uint16_t*)w + i);
  return vkf_load((const float*)w + i);
}

/* VK_TB elements of a weight array starting at i, as f32 (see vkt in simd.h). */
VK_INLINE vkt vk_load_t(const void* w, int64_t i, int dtype) {
  if (dtype == VK_BF16) return vkt_load_bf16((const uint16_t*)w + i);
  if (dtype == VK_F16) return vkt_load_f16((const uint16_t*)w + i);
  return vkt_load((const float*)w + i);
}

VK_INLINE void vk_convert_typed(float* dst, const void* src, int64_t n, int dtype) {
  int64_t i = 0;
  for (; i + VK_W <= n; i += VK_W) vkf_store(dst + i, vk_load_w(src, i, dtype));
  for (; i < n; i++) dst[i] = vk_load_w1(src, i, dtype);
}

/* dst[0..n) = src[0..n) converted to f32. */
static inline void vk_convert_f32(float* dst, const void* src, int dtype, int64_t n) {
  if (dtype == VK_BF16) vk_convert_typed(dst, src, n, VK_BF16);
  else if (dtype == VK_F16) vk_convert_typed(dst, src, n, VK_F16);
  else memcpy(dst, src, (size_t)n * sizeof(float));
}

/* The k (1 <= k <= n) largest of x[0..n) into id/v, largest first, lower index first on ties, NaN below every
 * number (topk.c; also the sampler's top-k). */
void vk_topk_row(int32_t* id, float* v, const float* x, int n, int k);

/* Records the first failure of the calling thread for vk_last_error() (printf-style; library.c). */
void vk_fail(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

/* Worker pool (thread_pool.c). fn(ctx, task) runs once for every task in [0, n_tasks), on the
 * caller and the pool's workers; returns when all are done. Nested calls run inline. */
typedef void (*vk_task_fn)(void* ctx, int task);
void vk_parallel_for(int n_tasks, vk_task_fn fn, void* ctx);

/* Splits [0, n) into contiguous ranges sized by cost (roughly, scalar operations per item) and
 * runs fn(ctx, begin, end) on each; small jobs run inline on the caller. */
typedef void (*vk_range_fn)(void* ctx, int begin, int end);
void vk_parallel_range(int n, int64_t cost_per_item, vk_range_fn fn, void* ctx);

/* Threads the pool runs jobs on, the caller included (starts the pool on first use). */
int vk_pool_size(void);

/* Per-thread, 64-byte aligned scratch that only grows. Slot 0 is for use inside tasks, slot 1
 * for the dispatching caller's own bookkeeping, so the two never clobber each other. */
void* vk_scratch(int slot, int64_t nbytes);

#endif
