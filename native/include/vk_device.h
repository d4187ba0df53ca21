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

/* Sampling on the device, so only token ids and logprobs cross to the host. The CPU library has none (its
 * backend samples on the host, src/sample/sampler.ts, whose semantics this follows).
 * Entry r reads row rows[r] of logits ([n_logit_rows, vocab] f32) and writes out_tokens[r]:
 * - fparams[r] = {temperature, top_p, min_p, u}, iparams[r] = {top_k, n_logprobs, forced_token, bitmask_row}
 *   ([n_rows, 4] each). forced_token >= 0 scores that token instead of sampling (prompt logprobs).
 * - Logits processors: ops [op_starts[r], op_starts[r+1]) of op_tokens (distinct within a row) and op_params
 *   ([n_ops, 3] = add, repetition penalty, subtract): x = x + add (-inf masks), then x = x > 0 ? x / rep :
 *   x * rep unless rep == 1, then x = x - subtract, each step rounded to f32. Applied to logits in place and
 *   undone before the call returns (op_saved: [n_ops] scratch), so rows with ops must be distinct. Then, with
 *   bitmask_row >= 0, token i is -inf unless bit i%32 of word i/32 of bitmasks[bitmask_row]
 *   ([n_bitmask_rows, bitmask_words]) is set (tokens past bitmask_words * 32 stay).
 * - temperature < 1e-5: the first maximum. Else p = exp((x - max) / temperature) in f64; keep p >= min_p,
 *   then the top_k largest (ties kept; 0 = off), then the smallest set of the largest p holding top_p of the
 *   kept mass (ties kept); the token is the first, in index order, whose cumulative kept p exceeds u * total.
 * - n_logprobs >= 0: out_logprobs[r] and out_ranks[r] (1-based; ties rank by index) of the token under
 *   log_softmax of the raw logits, and the top n_logprobs (<= VK_SAMPLE_MAX_LOGPROBS) into
 *   out_top_ids / out_top_logprobs ([n_rows, VK_SAMPLE_MAX_LOGPROBS], largest first, lower index first on
 *   ties; unused slots -1 / -inf).
 * - Checked ids (a failure, see vk_core.h): rows[r] in [0, n_logit_rows), forced_token < vocab, bitmask_row
 *   < n_bitmask_rows, every op token in [0, vocab). Such an entry touches no logits and gets token -1.
 *   op_starts must be non-decreasing from 0 to n_ops; the caller checks that. */
enum { VK_SAMPLE_MAX_LOGPROBS = 20 };
void vk_sample(int32_t* out_tokens, float* out_logprobs, int32_t* out_ranks, int32_t* out_top_ids,
               float* out_top_logprobs, float* op_saved, float* logits, int n_logit_rows, int vocab,
               const int32_t* rows, int n_rows, const double* fparams, const int32_t* iparams,
               const int32_t* op_starts, const int32_t* op_tokens, const double* op_params,
               const int32_t* bitmasks, int n_bitmask_rows, int bitmask_words);

#ifdef __cplusplus
}
#endif
#endif
