/* Library identity, CPU feature detection and aligned allocation. */
#include <stdlib.h>

#include "common.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

const char* vk_variant(void) { return VK_VARIANT_NAME; }

#if defined(__x86_64__) || defined(__i386__)
static uint64_t xgetbv0(void) {
  uint32_t lo, hi;
  __asm__ __volatile__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return ((uint64_t)hi << 32) | lo;
}

/* The CPU advertising AVX is not enough: the OS must also save the wider registers (XCR0). */
int vk_cpu_features(void) {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
  int osxsave = (c >> 27) & 1, fma = (c >> 12) & 1, f16c = (c >> 29) & 1;
  if (!osxsave) return 0;
  uint64_t xcr0 = xgetbv0();
  int ymm_ok = (xcr0 & 0x6) == 0x6, zmm_ok = (xcr0 & 0xe6) == 0xe6;
  if (!ymm_ok) return 0;
  int features = (fma ? VK_CPU_FMA : 0) | (f16c ? VK_CPU_F16C : 0);
  if (__get_cpuid_max(0, NULL) >= 7) {
    __cpuid_count(7, 0, a, b, c, d);
    if ((b >> 5) & 1) features |= VK_CPU_AVX2;
    if (zmm_ok && ((b >> 16) & 1)) features |= VK_CPU_AVX512F;
    if (zmm_ok && ((b >> 30) & 1)) features |= VK_CPU_AVX512BW;
  }
  return features;
}
#else
int vk_cpu_features(void) { return 0; }
#endif

/* The caller may hand the block to free-standing views of any dtype, so align for the widest
 * vector; calloc keeps large blocks lazily zeroed (fresh pages) instead of touching them all. */
void* vk_alloc(int64_t nbytes) {
  if (nbytes < 0) return NULL;
  uint8_t* raw = calloc(1, (size_t)nbytes + 64 + sizeof(void*));
  if (!raw) return NULL;
  uintptr_t aligned = ((uintptr_t)raw + sizeof(void*) + 63) & ~(uintptr_t)63;
  ((void**)aligned)[-1] = raw;
  return (void*)aligned;
}

void vk_free(void* p) {
  if (p) free(((void**)p)[-1]);
}
