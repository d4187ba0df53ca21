/* Elementwise dtype conversion on the device: f16/f32 checkpoints become bf16 once, at upload. */
#include "common.cuh"

template <typename D, typename S>
__global__ void convert_kernel(D* dst, const S* src, int64_t n) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    float f = vk_to_f32(src[i]);
    if constexpr (sizeof(D) == 4) dst[i] = f;
    else if constexpr (std::is_same<D, __half>::value) dst[i] = __float2half_rn(f);
    else dst[i] = __float2bfloat16_rn(f);
  }
}

template <typename D>
static void launch_from(D* dst, const void* src, int src_dtype, int64_t n, cudaStream_t s) {
  unsigned grid = (unsigned)(n / 256 + 1 < 65536 ? n / 256 + 1 : 65536);
  if (src_dtype == VK_F32) convert_kernel<<<grid, 256, 0, s>>>(dst, (const float*)src, n);
  else if (src_dtype == VK_F16) convert_kernel<<<grid, 256, 0, s>>>(dst, (const __half*)src, n);
  else convert_kernel<<<grid, 256, 0, s>>>(dst, (const bf16*)src, n);
}

void vk_convert(void* dst, int dst_dtype, const void* src, int src_dtype, int64_t n) {
  cudaStream_t s = vk_stream();
  if (!s || n <= 0) return;
  if (dst_dtype == src_dtype) {
    vk_memcpy_d2d(dst, src, n * (dst_dtype == VK_F32 ? 4 : 2));
    return;
  }
  if (dst_dtype == VK_F32) launch_from((float*)dst, src, src_dtype, n, s);
  else if (dst_dtype == VK_F16) launch_from((__half*)dst, src, src_dtype, n, s);
  else launch_from((bf16*)dst, src, src_dtype, n, s);
  VK_CHECK_LAUNCH("vk_convert");
}
