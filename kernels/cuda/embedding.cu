/* Embedding lookup / row gather into bf16 activations. */
#include "common.cuh"

/* An id outside the table: reported, and the token's row is zeros, so nothing is read past the table. */
__device__ __forceinline__ bool bad_id(int id, int n_rows, vk_fault fault) {
  if (id >= 0 && id < n_rows) return false;
  if (threadIdx.x == 0) vk_report_fault(fault, VK_FAULT_EMBEDDING_ID, blockIdx.x, id, n_rows);
  return true;
}

/* One block per token; rows of bf16 tables whose width is a multiple of 8 move as 16-byte vectors. */
__global__ void embedding_vec_kernel(bf16* out, const bf16* table, int n_rows, const int32_t* ids, int hidden,
                                     vk_fault fault) {
  int id = ids[blockIdx.x];
  uint4* dst = reinterpret_cast<uint4*>(out + (int64_t)blockIdx.x * hidden);
  if (bad_id(id, n_rows, fault)) {
    for (int i = threadIdx.x; i < hidden / 8; i += blockDim.x) dst[i] = make_uint4(0, 0, 0, 0);
    return;
  }
  const uint4* src = reinterpret_cast<const uint4*>(table + (int64_t)id * hidden);
  for (int i = threadIdx.x; i < hidden / 8; i += blockDim.x) dst[i] = src[i];
}

__global__ void embedding_kernel(bf16* out, const void* table, int dtype, int n_rows, const int32_t* ids, int hidden,
                                 vk_fault fault) {
  int id = ids[blockIdx.x];
  bf16* dst = out + (int64_t)blockIdx.x * hidden;
  if (bad_id(id, n_rows, fault)) {
    for (int i = threadIdx.x; i < hidden; i += blockDim.x) dst[i] = vk_to_bf16(0.f);
    return;
  }
  int64_t row = (int64_t)id * hidden;
  for (int i = threadIdx.x; i < hidden; i += blockDim.x) dst[i] = vk_to_bf16(vk_load_weight(table, dtype, row + i));
}

void vk_embedding(bf16* out, const void* table, int dtype, int n_rows, const int32_t* ids, int n_tokens, int hidden) {
  cudaStream_t s = vk_stream();
  if (!s || n_tokens <= 0) return;
  vk_fault fault = vk_fault_record();
  bool aligned = ((uintptr_t)table % 16 == 0) && ((uintptr_t)out % 16 == 0);
  if (dtype == VK_BF16 && hidden % 8 == 0 && aligned)
    embedding_vec_kernel<<<n_tokens, 128, 0, s>>>(out, (const bf16*)table, n_rows, ids, hidden, fault);
  else
    embedding_kernel<<<n_tokens, 256, 0, s>>>(out, table, dtype, n_rows, ids, hidden, fault);
  VK_CHECK_LAUNCH("vk_embedding");
}
