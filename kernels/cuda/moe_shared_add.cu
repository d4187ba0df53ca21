/* Qwen2-MoE's gated shared expert: out += sigmoid(gate) * shared, rounded as HF's bf16 ops round. */
#include "common.cuh"

__global__ void moe_shared_add_kernel(bf16* out, const bf16* shared, const bf16* gate, int hidden, int64_t total) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
    float g = vk_to_f32(gate[i / hidden]);
    float s = vk_round_bf16(1.f / (1.f + expf(-g)));
    out[i] = vk_to_bf16(vk_to_f32(out[i]) + vk_round_bf16(s * vk_to_f32(shared[i])));
  }
}

void vk_moe_shared_add(bf16* out, const bf16* shared, const bf16* gate_logits, int n_tokens, int hidden) {
  cudaStream_t s = vk_stream();
  int64_t total = (int64_t)n_tokens * hidden;
  if (!s || total <= 0) return;
  unsigned grid = vk_blocks(total, 256);
  moe_shared_add_kernel<<<grid < 65535 ? grid : 65535, 256, 0, s>>>(out, shared, gate_logits, hidden, total);
  VK_CHECK_LAUNCH("vk_moe_shared_add");
}
