/* The (optional) part of the kernel ABI for the CPU library: its memory is host memory, work is
 * synchronous and nothing fails, so the copies are memcpy and the rest is trivial. */
#include "common.h"

int vk_activation_dtype(void) { return VK_F32; }

const char* vk_last_error(void) { return NULL; }
void vk_clear_error(void) {}
int vk_device_count(void) { return 0; }

int vk_mem_get_info(int64_t* free_bytes, int64_t* total_bytes) {
  (void)free_bytes, (void)total_bytes;
  return -1; /* host memory has no budget this library can report */
}

void vk_memcpy_h2d(void* dst, const void* src, int64_t nbytes) {
  if (nbytes > 0) memcpy(dst, src, (size_t)nbytes);
}
void vk_memcpy_d2h(void* dst, const void* src, int64_t nbytes) {
  if (nbytes > 0) memcpy(dst, src, (size_t)nbytes);
}
void vk_memcpy_d2d(void* dst, const void* src, int64_t nbytes) {
  if (nbytes > 0) memmove(dst, src, (size_t)nbytes);
}
void vk_synchronize(void) {}

/* Round to nearest even; NaN stays NaN (quiet). */
static uint16_t f32_to_bf16_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
  return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
}

static uint16_t f32_to_f16_bits(float f) {
  _Float16 h = (_Float16)f;
  uint16_t u;
  memcpy(&u, &h, 2);
  return u;
}

void vk_convert(void* dst, int dst_dtype, const void* src, int src_dtype, int64_t n) {
  if (dst_dtype == VK_F32) {
    vk_convert_f32(dst, src, src_dtype, n);
    return;
  }
  uint16_t* out = dst;
  for (int64_t i = 0; i < n; i++) {
    float f = vk_load_w1(src, i, src_dtype);
    out[i] = dst_dtype == VK_BF16 ? f32_to_bf16_bits(f) : f32_to_f16_bits(f);
  }
}

void vk_matmul_f32(float* out, const float* x, const void* w, int wdtype, const float* bias, int m, int n, int k) {
  vk_matmul(out, x, w, wdtype, bias, m, n, k);
}
