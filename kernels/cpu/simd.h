/* One float vector type `vkf` of VK_W lanes per build variant: AVX-512 (with or without AVX512-BF16),
 * AVX2+FMA+F16C, SSE2 or scalar.
 * Kernels are written once against these helpers; the build compiles them once per variant. */
#ifndef VK_SIMD_H
#define VK_SIMD_H
#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__AVX512F__) && defined(__AVX512BW__)
#include <immintrin.h>
#if defined(__AVX512BF16__)
#define VK_VARIANT_NAME "avx512bf16"
#define VK_DPBF16 1 /* vdpbf16ps for bf16 weights (matmul.c) */
#else
#define VK_VARIANT_NAME "avx512"
#endif
#define VK_W 16
typedef __m512 vkf;
static inline vkf vkf_zero(void) { return _mm512_setzero_ps(); }
static inline vkf vkf_set1(float a) { return _mm512_set1_ps(a); }
static inline vkf vkf_load(const float* p) { return _mm512_loadu_ps(p); }
static inline void vkf_store(float* p, vkf a) { _mm512_storeu_ps(p, a); }
static inline vkf vkf_add(vkf a, vkf b) { return _mm512_add_ps(a, b); }
static inline vkf vkf_sub(vkf a, vkf b) { return _mm512_sub_ps(a, b); }
static inline vkf vkf_mul(vkf a, vkf b) { return _mm512_mul_ps(a, b); }
static inline vkf vkf_div(vkf a, vkf b) { return _mm512_div_ps(a, b); }
static inline vkf vkf_max(vkf a, vkf b) { return _mm512_max_ps(a, b); }
static inline vkf vkf_min(vkf a, vkf b) { return _mm512_min_ps(a, b); }
static inline vkf vkf_fma(vkf a, vkf b, vkf c) { return _mm512_fmadd_ps(a, b, c); }
static inline float vkf_hsum(vkf a) { return _mm512_reduce_add_ps(a); }
static inline float vkf_hmax(vkf a) { return _mm512_reduce_max_ps(a); }
static inline int vkf_any_gt(vkf a, vkf b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ) != 0; }
static inline vkf vkf_load_bf16(const uint16_t* p) {
  __m512i u = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i*)p));
  return _mm512_castsi512_ps(_mm512_slli_epi32(u, 16));
}
static inline vkf vkf_load_f16(const uint16_t* p) { return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i*)p)); }
/* Rounds to the nearest integer (ties to even) and returns it as float plus 2^that. */
static inline vkf vkf_round(vkf a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
static inline vkf vkf_pow2i(vkf n) {
  __m512i e = _mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127));
  return _mm512_castsi512_ps(_mm512_slli_epi32(e, 23));
}

#elif defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#define VK_VARIANT_NAME "avx2"
#define VK_W 8
typedef __m256 vkf;
static inline vkf vkf_zero(void) { return _mm256_setzero_ps(); }
static inline vkf vkf_set1(float a) { return _mm256_set1_ps(a); }
static inline vkf vkf_load(const float* p) { return _mm256_loadu_ps(p); }
static inline void vkf_store(float* p, vkf a) { _mm256_storeu_ps(p, a); }
static inline vkf vkf_add(vkf a, vkf b) { return _mm256_add_ps(a, b); }
static inline vkf vkf_sub(vkf a, vkf b) { return _mm256_sub_ps(a, b); }
static inline vkf vkf_mul(vkf a, vkf b) { return _mm256_mul_ps(a, b); }
static inline vkf vkf_div(vkf a, vkf b) { return _mm256_div_ps(a, b); }
static inline vkf vkf_max(vkf a, vkf b) { return _mm256_max_ps(a, b); }
static inline vkf vkf_min(vkf a, vkf b) { return _mm256_min_ps(a, b); }
static inline vkf vkf_fma(vkf a, vkf b, vkf c) { return _mm256_fmadd_ps(a, b, c); }
static inline float vkf_hsum(vkf a) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}
static inline float vkf_hmax(vkf a) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_max_ss(s, _mm_movehdup_ps(s)));
}
static inline int vkf_any_gt(vkf a, vkf b) { return _mm256_movemask_ps(_mm256_cmp_ps(a, b, _CMP_GT_OQ)) != 0; }
static inline vkf vkf_load_bf16(const uint16_t* p) {
  __m256i u = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i*)p));
  return _mm256_castsi256_ps(_mm256_slli_epi32(u, 16));
}
static inline vkf vkf_load_f16(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)p)); }
static inline vkf vkf_round(vkf a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
static inline vkf vkf_pow2i(vkf n) {
  __m256i e = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
  return _mm256_castsi256_ps(_mm256_slli_epi32(e, 23));
}

#elif defined(__SSE2__)
#include <emmintrin.h>
#define VK_VARIANT_NAME "portable"
#define VK_W 4
typedef __m128 vkf;
static inline vkf vkf_zero(void) { return _mm_setzero_ps(); }
static inline vkf vkf_set1(float a) { return _mm_set1_ps(a); }
static inline vkf vkf_load(const float* p) { return _mm_loadu_ps(p); }
static inline void vkf_store(float* p, vkf a) { _mm_storeu_ps(p, a); }
static inline vkf vkf_add(vkf a, vkf b) { return _mm_add_ps(a, b); }
static inline vkf vkf_sub(vkf a, vkf b) { return _mm_sub_ps(a, b); }
static inline vkf vkf_mul(vkf a, vkf b) { return _mm_mul_ps(a, b); }
static inline vkf vkf_div(vkf a, vkf b) { return _mm_div_ps(a, b); }
static inline vkf vkf_max(vkf a, vkf b) { return _mm_max_ps(a, b); }
static inline vkf vkf_min(vkf a, vkf b) { return _mm_min_ps(a, b); }
static inline vkf vkf_fma(vkf a, vkf b, vkf c) { return _mm_add_ps(_mm_mul_ps(a, b), c); }
static inline float vkf_hsum(vkf a) {
  __m128 s = _mm_add_ps(a, _mm_movehl_ps(a, a));
  return _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps(s, s, 1)));
}
static inline float vkf_hmax(vkf a) {
  __m128 s = _mm_max_ps(a, _mm_movehl_ps(a, a));
  return _mm_cvtss_f32(_mm_max_ss(s, _mm_shuffle_ps(s, s, 1)));
}
static inline int vkf_any_gt(vkf a, vkf b) { return _mm_movemask_ps(_mm_cmpgt_ps(a, b)) != 0; }
static inline vkf vkf_load_bf16(const uint16_t* p) {
  __m128i h = _mm_loadl_epi64((const __m128i*)p);
  return _mm_castsi128_ps(_mm_unpacklo_epi16(_mm_setzero_si128(), h));
}
/* No F16C in the baseline: scale the shifted bits by 2^112 (exact for normals and subnormals),
 * then patch inf/nan whose exponent the multiply cannot produce. */
static inline vkf vkf_load_f16(const uint16_t* p) {
  __m128i u = _mm_unpacklo_epi16(_mm_loadl_epi64((const __m128i*)p), _mm_setzero_si128());
  __m128i sign = _mm_slli_epi32(_mm_and_si128(u, _mm_set1_epi32(0x8000)), 16);
  __m128i em = _mm_slli_epi32(_mm_and_si128(u, _mm_set1_epi32(0x7fff)), 13);
  __m128 f = _mm_mul_ps(_mm_castsi128_ps(em), _mm_set1_ps(0x1p112f));
  __m128i special = _mm_cmpgt_epi32(em, _mm_set1_epi32(0x7bff << 13));
  __m128 infnan = _mm_castsi128_ps(_mm_or_si128(em, _mm_set1_epi32(0x7f800000)));
  f = _mm_or_ps(_mm_andnot_ps(_mm_castsi128_ps(special), f), _mm_and_ps(_mm_castsi128_ps(special), infnan));
  return _mm_or_ps(f, _mm_castsi128_ps(sign));
}
/* cvtps rounds with the current mode, nearest-even unless a caller changed MXCSR. */
static inline vkf vkf_round(vkf a) { return _mm_cvtepi32_ps(_mm_cvtps_epi32(a)); }
static inline vkf vkf_pow2i(vkf n) {
  __m128i e = _mm_add_epi32(_mm_cvtps_epi32(n), _mm_set1_epi32(127));
  return _mm_castsi128_ps(_mm_slli_epi32(e, 23));
}

#else
#define VK_VARIANT_NAME "portable"
#define VK_W 1

typedef float vkf;
static inline float vk_f16_bits_to_f32(uint16_t h);
static inline vkf vkf_zero(void) { return 0.0f; }
static inline vkf vkf_set1(float a) { return a; }
static inline vkf vkf_load(const float* p) { return *p; }
static inline void vkf_store(float* p, vkf a) { *p = a; }
static inline vkf vkf_add(vkf a, vkf b) { return a + b; }
static inline vkf vkf_sub(vkf a, vkf b) { return a - b; }
static inline vkf vkf_mul(vkf a, vkf b) { return a * b; }
static inline vkf vkf_div(vkf a, vkf b) { return a / b; }
static inline vkf vkf_max(vkf a, vkf b) { return a > b ? a : b; }
static inline vkf vkf_min(vkf a, vkf b) { return a < b ? a : b; }
static inline vkf vkf_fma(vkf a, vkf b, vkf c) { return a * b + c; }
static inline float vkf_hsum(vkf a) { return a; }
static inline float vkf_hmax(vkf a) { return a; }
static inline int vkf_any_gt(vkf a, vkf b) { return a > b; }
static inline vkf vkf_load_bf16(const uint16_t* p) {
  uint32_t u = (uint32_t)*p << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
}
static inline vkf vkf_load_f16(const uint16_t* p) { return vk_f16_bits_to_f32(*p); }
static inline vkf vkf_round(vkf a) { return nearbyintf(a); }
static inline vkf vkf_pow2i(vkf n) {
  uint32_t u = (uint32_t)((int32_t)n + 127) << 23;
  float f;
  memcpy(&f, &u, 4);
  return f;
}
#endif

/* Scalar f16 -> f32, same trick as the SSE2 path. */
static inline float vk_f16_bits_to_f32(uint16_t h) {
  uint32_t em = (uint32_t)(h & 0x7fff) << 13, sign = (uint32_t)(h & 0x8000) << 16, u;
  float f;
  memcpy(&f, &em, 4);
  f *= 0x1p112f;
  memcpy(&u, &f, 4);
  if (em > (0x7bffu << 13)) u = em | 0x7f800000u;
  u |= sign;
  memcpy(&f, &u, 4);
  return f;
}

static inline float vk_bf16_bits_to_f32(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
}

/* out[i] = horizontal sum of a[i], for 8 vectors at once (a transposing reduction). */
#if defined(__AVX2__)
static inline __m256 vk_hsum8_ymm(__m256 a0, __m256 a1, __m256 a2, __m256 a3, __m256 a4, __m256 a5, __m256 a6,
                                  __m256 a7) {
  __m256 s0 = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
  __m256 s1 = _mm256_hadd_ps(_mm256_hadd_ps(a4, a5), _mm256_hadd_ps(a6, a7));
  return _mm256_add_ps(_mm256_permute2f128_ps(s0, s1, 0x20), _mm256_permute2f128_ps(s0, s1, 0x31));
}
#endif
#if VK_W == 16
static inline __m256 vk_fold_zmm(__m512 a) {
  __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1));
  return _mm256_add_ps(_mm512_castps512_ps256(a), hi);
}
static inline void vkf_hsum8(const vkf* a, float* out) {
  _mm256_storeu_ps(out, vk_hsum8_ymm(vk_fold_zmm(a[0]), vk_fold_zmm(a[1]), vk_fold_zmm(a[2]), vk_fold_zmm(a[3]),
                                     vk_fold_zmm(a[4]), vk_fold_zmm(a[5]), vk_fold_zmm(a[6]), vk_fold_zmm(a[7])));
}
#elif VK_W == 8
static inline void vkf_hsum8(const vkf* a, float* out) {
  _mm256_storeu_ps(out, vk_hsum8_ymm(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]));
}
#else
static inline void vkf_hsum8(const vkf* a, float* out) {
  for (int i = 0; i < 8; i++) out[i] = vkf_hsum(a[i]);
}
#endif

/* Tiles for packing weights: `vkt` holds VK_TB consecutive weights of one row as f32, and
 * vkt_transpose_store writes VK_TB such rows transposed (dst[c * ldd + r] = row r, element c). */
#if defined(__AVX2__) && defined(__F16C__)
#define VK_TB 8
typedef __m256 vkt;
static inline vkt vkt_load(const float* p) { return _mm256_loadu_ps(p); }
static inline vkt vkt_load_f16(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)p)); }
static inline vkt vkt_load_bf16(const uint16_t* p) {
  __m256i u = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i*)p));
  return _mm256_castsi256_ps(_mm256_slli_epi32(u, 16));
}
static inline void vkt_transpose_store(const vkt* r, float* dst, int64_t ldd) {
  __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xee);
  __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xee);
  __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xee);
  __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xee);
  _mm256_storeu_ps(dst, _mm256_permute2f128_ps(u0, u4, 0x20));
  _mm256_storeu_ps(dst + ldd, _mm256_permute2f128_ps(u1, u5, 0x20));
  _mm256_storeu_ps(dst + 2 * ldd, _mm256_permute2f128_ps(u2, u6, 0x20));
  _mm256_storeu_ps(dst + 3 * ldd, _mm256_permute2f128_ps(u3, u7, 0x20));
  _mm256_storeu_ps(dst + 4 * ldd, _mm256_permute2f128_ps(u0, u4, 0x31));
  _mm256_storeu_ps(dst + 5 * ldd, _mm256_permute2f128_ps(u1, u5, 0x31));
  _mm256_storeu_ps(dst + 6 * ldd, _mm256_permute2f128_ps(u2, u6, 0x31));
  _mm256_storeu_ps(dst + 7 * ldd, _mm256_permute2f128_ps(u3, u7, 0x31));
}
#elif defined(__SSE2__)
#define VK_TB 4
typedef __m128 vkt;
static inline vkt vkt_load(const float* p) { return _mm_loadu_ps(p); }
static inline vkt vkt_load_f16(const uint16_t* p) { return vkf_load_f16(p); }
static inline vkt vkt_load_bf16(const uint16_t* p) { return vkf_load_bf16(p); }
static inline void vkt_transpose_store(const vkt* r, float* dst, int64_t ldd) {
  __m128 r0 = r[0], r1 = r[1], r2 = r[2], r3 = r[3];
  _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
  _mm_storeu_ps(dst, r0);
  _mm_storeu_ps(dst + ldd, r1);
  _mm_storeu_ps(dst + 2 * ldd, r2);
  _mm_storeu_ps(dst + 3 * ldd, r3);
}
#else
#define VK_TB 1
typedef float vkt;
static inline vkt vkt_load(const float* p) { return *p; }
static inline vkt vkt_load_f16(const uint16_t* p) { return vk_f16_bits_to_f32(*p); }
static inline vkt vkt_load_bf16(const uint16_t* p) { return vk_bf16_bits_to_f32(*p); }
static inline void vkt_transpose_store(const vkt* r, float* dst, int64_t ldd) { *dst = r[0]; }
#endif

/* exp(x) with ~1 ulp error on [-87, 88]; results below ~-87.3 flush to 0 and above 88 saturate
 * at exp(88), which softmax and silu never notice. */
static inline vkf vkf_exp(vkf x) {
  x = vkf_min(vkf_max(x, vkf_set1(-88.0f)), vkf_set1(88.0f));
  vkf n = vkf_round(vkf_mul(x, vkf_set1(1.44269504088896341f)));
  vkf r = vkf_fma(n, vkf_set1(-0.693359375f), x);
  r = vkf_fma(n, vkf_set1(2.12194440e-4f), r);
  vkf p = vkf_set1(1.9875691500e-4f);
  p = vkf_fma(p, r, vkf_set1(1.3981999507e-3f));
  p = vkf_fma(p, r, vkf_set1(8.3334519073e-3f));
  p = vkf_fma(p, r, vkf_set1(4.1665795894e-2f));
  p = vkf_fma(p, r, vkf_set1(1.6666665459e-1f));
  p = vkf_fma(p, r, vkf_set1(5.0000001201e-1f));
  p = vkf_fma(vkf_mul(p, r), r, vkf_add(r, vkf_set1(1.0f)));
  return vkf_mul(p, vkf_pow2i(n));
}

#endif
