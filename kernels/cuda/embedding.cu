/* Embedding lookup / row gather into bf16 activations. */
#include "common.cuh"

/* One block per token; rows of bf16 tables whose width is a multiple of 8 move as 16-byte vectors. */
__global__ void embedding_vec_kernel(bf16* out, const bf16* table, const int32_t* ids, int hidden) {
  const uint4* src = reinterpret_cast<const uint4*>(table + (int64_t)ids[blockIdx.x] * hidden);
  uint4* dst = reinterpret_cast<uint4*>(out + (int64_t)blockIdx.x * hidden);
  for (int i = threadIdx.x; i < hidden / 8; i += blockDim.x) dst[i] = src[i];
}

__global__ void embedding_kernel(bf16* out, const void* table, int dtype, const int32_t* ids, int hidden) {
  int64_t row = (int64_t)ids[blockIdx.x] * hidden;
  bf16* dst = out + (int64_t)blockIdx.x * hidden;
  for (int i = threadIdx.x; i < hidden; i += blockDim.x) dst[i] = vk_to_bf16(vk_load_weight(table, dtype, row + i));
}

void vk_embedding(bf16* out, const void* table, int dtype, const int32_t* ids, int n_tokens, int hidden) {
  cudaStream_t s = vk_stream();
  if (!s || n_tokens <= 0) return;
  bool aligned = ((uintptr_t)table % 16 == 0) && ((uintptr_t)out % 16 == 0);
  if (dtype == VK_BF16 && hidden % 8 == 0 && aligned)
    embedding_vec_kernel<<<n_tokens, 128, 0, s>>>(out, (const bf16*)table, ids, hidden);
  else
    embedding_kernel<<<n_tokens, 256, 0, s>>>(out, table, dtype, ids, hidden);
  VK_CHECK_LAUNCH("vk_embedding");
}
