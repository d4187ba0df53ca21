/* Library identity, CPU feature detection, aligned allocation and failure recording. */
#define _DEFAULT_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "common.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

const char* vk_variant(void) { return VK_VARIANT_NAME; }

int vk_activation_dtype(void) { return VK_F32; }

/* Per calling thread, like errno: ops run synchronously, so a failure belongs to the thread that made
 * the call. Only the calling thread records (ops check ids before they hand work to the pool). */
static _Thread_local char last_error[512];
static _Thread_local int has_error;

void vk_fail(const char* fmt, ...) {
  if (has_error) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(last_error, sizeof last_error, fmt, ap);
  va_end(ap);
  has_error = 1;
}

const char* vk_last_error(void) { return has_error ? last_error : NULL; }

void vk_clear_error(void) {
  has_error = 0;
  last_error[0] = 0;
}

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
    unsigned max_sub;
    __cpuid_count(7, 0, max_sub, b, c, d);
    if ((b >> 5) & 1) features |= VK_CPU_AVX2;
    if (zmm_ok && ((b >> 16) & 1)) features |= VK_CPU_AVX512F;
    if (zmm_ok && ((b >> 30) & 1)) features |= VK_CPU_AVX512BW;
    if (zmm_ok && ((c >> 11) & 1)) features |= VK_CPU_AVX512VNNI;
    if (max_sub >= 1) {
      __cpuid_count(7, 1, a, b, c, d);
      if (zmm_ok && ((a >> 5) & 1)) features |= VK_CPU_AVX512BF16;
    }
  }
  return features;
}
#else
int vk_cpu_features(void) { return 0; }
#endif

/* Header in the 64 bytes below every block: how to give the memory back. */
typedef struct {
  void* raw;
  size_t raw_bytes; /* 0: from calloc, else the length of the mapping */
} alloc_header;

#define HUGE_PAGE ((size_t)2 << 20)

/* Large blocks (weights, KV cache) are mapped directly, 2 MiB aligned and marked for transparent
 * huge pages: attention walks the KV cache one 4 KiB page per token, which with small pages is
 * bound by TLB misses. Fresh mappings are zero-filled lazily. Small blocks come from calloc. */
void* vk_alloc(int64_t nbytes) {
  if (nbytes < 0) return NULL;
  size_t n = (size_t)nbytes;
  if (n >= HUGE_PAGE) {
    size_t raw_bytes = n + 2 * HUGE_PAGE;
    uint8_t* raw = mmap(NULL, raw_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) return NULL;
    uint8_t* p = (uint8_t*)(((uintptr_t)raw + HUGE_PAGE) & ~(uintptr_t)(HUGE_PAGE - 1));
#ifdef MADV_HUGEPAGE
    madvise(p, (n + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1), MADV_HUGEPAGE); /* a hint: failure is harmless */
#endif
    ((alloc_header*)p)[-1] = (alloc_header){raw, raw_bytes};
    return p;
  }
  uint8_t* raw = calloc(1, n + 64 + sizeof(alloc_header));
  if (!raw) return NULL;
  uint8_t* p = (uint8_t*)(((uintptr_t)raw + sizeof(alloc_header) + 63) & ~(uintptr_t)63);
  ((alloc_header*)p)[-1] = (alloc_header){raw, 0};
  return p;
}

void vk_free(void* p) {
  if (!p) return;
  alloc_header h = ((alloc_header*)p)[-1];
  if (h.raw_bytes) munmap(h.raw, h.raw_bytes);
  else free(h.raw);
}
