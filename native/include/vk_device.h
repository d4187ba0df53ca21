/* vllm-bun kernel ABI, device part: what only a GPU library (cuda, rocm) has, on top of vk_core.h.
 * Ops are queued on the library's one stream, in call order; only vk_memcpy_d2h and vk_synchronize
 * wait for them. Memory is device memory unless a parameter says host. */
#ifndef VK_DEVICE_H
#define VK_DEVICE_H
#include "vk_core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- devices, memory, copies ---- */

int vk_device_count(void);               /* usable devices; 0 when there is no driver or device */
/* Free and total memory of the device in use; returns 0, or -1 on failure. */
int vk_mem_get_info(int64_t* free_bytes, int64_t* total_bytes);
/* dst (device) = src (host). Returns once src may be reused. */
void vk_memcpy_h2d(void* dst, const void* src, int64_t nbytes);
/* dst (host) = src (device); waits for the queued work first. */
void vk_memcpy_d2h(void* dst, const void* src, int64_t nbytes);
void vk_memcpy_d2d(void* dst, const void* src, int64_t nbytes);
void vk_synchronize(void);               /* waits until every queued op has finished */
/* dst[0..n) = src[0..n) converted between dtypes (weights uploaded as f16/f32 become bf16). */
void vk_convert(void* dst, int dst_dtype, const void* src, int src_dtype, int64_t n);

/* ---- ops only a GPU library has ---- */

/* vk_matmul with f32 output (lm_head logits for sampling). */
void vk_matmul_f32(float* out, const vk_act* x, const void* w, int wdtype, const float* bias, int m, int n, int k);

/* vk_rope(q, k, ...) then vk_reshape_and_cache(k_cache, v_cache, k, v, ...) in one pass, equal to the two
 * calls bit for bit: q and k are rotated in place, and the rotated k and v go to the caches at
 * slot_mapping[t] (negative skips). The CPU backend makes the two calls. */
void vk_rope_and_cache(vk_act* q, vk_act* k, vk_act* k_cache, vk_act* v_cache, const vk_act* v,
                       const int32_t* positions, const int32_t* slot_mapping, const float* inv_freq,
                       int n_tokens, int n_q_heads, int n_kv_heads, int head_dim);

/* The fused-qkv step before attention: qkv is [n_tokens, n_q_heads + 2 * n_kv_heads, head_dim] (the rows of
 * one q|k|v projection). Per token: q and k heads are RMS-normalized over head_dim with q_norm / k_norm
 * (weights [head_dim] in norm_dtype; both NULL: no norm, as in vk_rms_norm otherwise), rotated as vk_rope
 * does; q goes to q_out [n_tokens, n_q_heads, head_dim], k and v to the caches at slot_mapping[t] (negative
 * skips), as vk_reshape_and_cache does. head_dim: a multiple of 16, at most 256. */
void vk_qkv_rope_and_cache(vk_act* q_out, vk_act* k_cache, vk_act* v_cache, const vk_act* qkv, const void* q_norm,
                           const void* k_norm, int norm_dtype, float eps, const int32_t* positions,
                           const int32_t* slot_mapping, const float* inv_freq, int n_tokens, int n_q_heads,
                           int n_kv_heads, int head_dim);

#ifdef __cplusplus
}
#endif
#endif
