/* vllm-bun kernel ABI: the one header every kernel library (cpu, cuda, rocm) implements.
 *
 * Conventions
 * - Plain extern "C" functions, ggml style: op(out, in..., sizes...). No structs cross the ABI,
 *   so any FFI (bun:ffi here) binds them with pointers, int32 and float32 only.
 * - Activations and the KV cache have the element type `vk_act`: f32 in the CPU library; a GPU library
 *   defines VK_ACT_T before including this header (CUDA: __nv_bfloat16) and accumulates in f32.
 *   vk_activation_dtype() tells the caller which. Every other `float*` (RoPE frequencies, biases,
 *   logits) is f32 in every library.
 * - Pointers are host memory in the CPU library and device memory in a GPU library; the (optional)
 *   section at the end holds what only some libraries need (device copies, errors, f32-output matmul).
 * - Weights are passed as `const void*` plus a dtype code; rows are contiguous (row-major).
 * - Row-major shapes are written [rows, cols]. `n_tokens` is the flat batch size.
 * - KV cache layout per layer: [num_blocks, block_size, n_kv_heads, head_dim];
 *   a token's slot is block_id * block_size + offset_in_block.
 * - Functions never allocate per call and never fail; callers validate sizes. A GPU library queues work
 *   on its stream and records the first failure for vk_last_error() instead of aborting.
 */
#ifndef VLLM_KERNELS_H
#define VLLM_KERNELS_H
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { VK_F32 = 0, VK_F16 = 1, VK_BF16 = 2 };

#ifndef VK_ACT_T
#define VK_ACT_T float
#endif
typedef VK_ACT_T vk_act;

/* CPU feature bits returned by vk_cpu_features(). */
enum { VK_CPU_AVX2 = 1, VK_CPU_FMA = 2, VK_CPU_AVX512F = 4, VK_CPU_AVX512BW = 8, VK_CPU_F16C = 16 };

/* Library identity and setup. */
const char* vk_variant(void);            /* "portable", "avx2", "avx512" */
int vk_cpu_features(void);               /* bitmask of VK_CPU_* the running CPU supports */
int vk_set_num_threads(int n);           /* sets the worker pool size (n >= 1); returns the size in use */
int vk_num_threads(void);                /* the worker pool size in use (the caller thread included) */
void* vk_alloc(int64_t nbytes);          /* 64-byte aligned, zero-filled; NULL on failure */
void vk_free(void* p);
int vk_activation_dtype(void);           /* VK_F32 or VK_BF16: the element type of vk_act */

/* out[t, :] = table[ids[t], :] converted to vk_act. Also used as a row gather (dtype = activation dtype). */
void vk_embedding(vk_act* out, const void* table, int dtype, const int32_t* ids, int n_tokens, int hidden);

/* out[t] = x[t] / rms(x[t]) * w  (w converted to f32). out may alias x. */
void vk_rms_norm(vk_act* out, const vk_act* x, const void* w, int wdtype, int n_rows, int hidden, float eps);

/* residual[t] += x[t]; out[t] = rms_norm(residual[t]) * w. out may alias x. */
void vk_add_rms_norm(vk_act* out, vk_act* residual, const vk_act* x, const void* w, int wdtype,
                     int n_rows, int hidden, float eps);

/* Rotary embedding in place, NeoX / HF rotate_half layout: pairs (i, i + head_dim/2).
 * q: [n_tokens, n_q_heads, head_dim], k: [n_tokens, n_kv_heads, head_dim].
 * inv_freq: [head_dim/2], already scaled (llama3 scaling is applied by the caller).
 * angle = (float)positions[t] * inv_freq[i], computed in f32 like HF. */
void vk_rope(vk_act* q, vk_act* k, const int32_t* positions, const float* inv_freq,
             int n_tokens, int n_q_heads, int n_kv_heads, int head_dim);

/* gate_up: [n_tokens, 2*inter] = [gate | up]; out: [n_tokens, inter] = silu(gate) * up. */
void vk_silu_mul(vk_act* out, const vk_act* gate_up, int n_tokens, int inter);

/* out[m, n] = x[m, k] @ w[n, k]^T (+ bias[n] if bias != NULL). f32 accumulation.
 * w is row-major [n, k] in wdtype (HF nn.Linear layout). Multi-threaded over n (and m). */
void vk_matmul(vk_act* out, const vk_act* x, const void* w, int wdtype, const float* bias, int m, int n, int k);

/* Writes k, v ([n_tokens, n_kv_heads, head_dim]) into the paged caches at slot_mapping[t].
 * A negative slot skips the token. */
void vk_reshape_and_cache(const vk_act* k, const vk_act* v, vk_act* k_cache, vk_act* v_cache,
                          const int32_t* slot_mapping, int n_tokens, int n_kv_heads, int head_dim);

/* Causal attention of a ragged batch over the paged KV cache (prefill, chunked prefill and decode alike).
 * Sequence s owns query rows [query_start_loc[s], query_start_loc[s+1]) of q/out
 * ([n_tokens, n_q_heads, head_dim]) and has seq_lens[s] tokens in the cache, the new ones included
 * (so they must be written with vk_reshape_and_cache first). Query row i of a sequence with q_len rows
 * sits at position seq_lens[s] - q_len + i and attends to cache positions [0, that position].
 * block_tables: [n_seqs, max_blocks_per_seq]. GQA: q head h reads kv head h / (n_q_heads / n_kv_heads).
 * Softmax in f32 with max subtraction; scale is usually head_dim^-0.5. */
void vk_paged_attention(vk_act* out, const vk_act* q, const vk_act* k_cache, const vk_act* v_cache,
                        const int32_t* block_tables, int max_blocks_per_seq, const int32_t* seq_lens,
                        const int32_t* query_start_loc, int n_seqs, int n_q_heads, int n_kv_heads,
                        int head_dim, int block_size, float scale);

/* out[r, :] = log_softmax(x[r, :]) computed in f32 (out may alias x). */
void vk_log_softmax(float* out, const float* x, int n_rows, int n_cols);

/* The k largest entries of each row, largest first; ties keep the lower index first.
 * out_ids/out_vals: [n_rows, k]. */
void vk_topk(int32_t* out_ids, float* out_vals, const float* x, int n_rows, int n_cols, int k);

/* (optional) What only some libraries need: a GPU library implements all of these; the CPU library
 * has trivial versions of the copies, errors and vk_matmul_f32, and none of the fused or sampling ops. */

/* The first failure since vk_clear_error(), as text; NULL when none. */
const char* vk_last_error(void);
void vk_clear_error(void);
int vk_device_count(void);               /* usable devices; 0 when there is no driver or device */
/* Free and total memory of the device in use; returns 0, or -1 on failure. */
int vk_mem_get_info(int64_t* free_bytes, int64_t* total_bytes);
void vk_memcpy_h2d(void* dst, const void* src, int64_t nbytes);
void vk_memcpy_d2h(void* dst, const void* src, int64_t nbytes); /* waits for the queued work first */
void vk_memcpy_d2d(void* dst, const void* src, int64_t nbytes);
void vk_synchronize(void);               /* waits until every queued op has finished */
/* dst[0..n) = src[0..n) converted between dtypes (weights uploaded as f16/f32 become bf16). */
void vk_convert(void* dst, int dst_dtype, const void* src, int src_dtype, int64_t n);
/* vk_matmul with f32 output (lm_head logits for sampling). */
void vk_matmul_f32(float* out, const vk_act* x, const void* w, int wdtype, const float* bias, int m, int n, int k);

/* vk_rope(q, k, ...) then vk_reshape_and_cache(k, v, ...) in one pass, equal to the two calls bit for bit:
 * q and k are rotated in place, and the rotated k and v go to the caches at slot_mapping[t] (negative skips).
 * GPU libraries only; the CPU backend makes the two calls. */
void vk_rope_and_cache(vk_act* q, vk_act* k, const vk_act* v, vk_act* k_cache, vk_act* v_cache,
                       const int32_t* positions, const int32_t* slot_mapping, const float* inv_freq,
                       int n_tokens, int n_q_heads, int n_kv_heads, int head_dim);

/* Sampling on the device, so only token ids and logprobs cross to the host. GPU libraries only: the CPU
 * library has none (its backend samples on the host, src/sample/sampler.ts, whose semantics this follows).
 * Entry r reads row rows[r] of logits ([*, vocab] f32) and writes out_tokens[r]:
 * - fparams[r] = {temperature, top_p, min_p, u}, iparams[r] = {top_k, n_logprobs, forced_token, bitmask_row}
 *   ([n_rows, 4] each). forced_token >= 0 scores that token instead of sampling (prompt logprobs).
 * - Logits processors: ops [op_starts[r], op_starts[r+1]) of op_tokens (distinct within a row) and op_params
 *   ([n_ops, 3] = add, repetition penalty, subtract): x = x + add (-inf masks), then x = x > 0 ? x / rep :
 *   x * rep unless rep == 1, then x = x - subtract, each step rounded to f32. Applied in place and undone
 *   before the call returns (op_saved: [n_ops] scratch), so rows with ops must be distinct. Then, with
 *   bitmask_row >= 0, token i is -inf unless bit i%32 of word i/32 of bitmasks[bitmask_row] ([*, bitmask_words])
 *   is set (tokens past bitmask_words * 32 stay).
 * - temperature < 1e-5: the first maximum. Else p = exp((x - max) / temperature) in f64; keep p >= min_p,
 *   then the top_k largest (ties kept; 0 = off), then the smallest set of the largest p holding top_p of the
 *   kept mass (ties kept); the token is the first, in index order, whose cumulative kept p exceeds u * total.
 * - n_logprobs >= 0: out_logprobs[r] and out_ranks[r] (1-based; ties rank by index) of the token under
 *   log_softmax of the raw logits, and the top n_logprobs (<= VK_SAMPLE_MAX_LOGPROBS) into
 *   out_top_ids / out_top_logprobs ([n_rows, VK_SAMPLE_MAX_LOGPROBS], largest first, lower index first on
 *   ties; unused slots -1 / -inf). */
enum { VK_SAMPLE_MAX_LOGPROBS = 20 };
void vk_sample(int32_t* out_tokens, float* out_logprobs, int32_t* out_ranks, int32_t* out_top_ids,
               float* out_top_logprobs, float* logits, int vocab, const int32_t* rows, int n_rows,
               const double* fparams, const int32_t* iparams, const int32_t* op_starts, const int32_t* op_tokens,
               const double* op_params, float* op_saved, const int32_t* bitmasks, int bitmask_words);

#ifdef __cplusplus
}
#endif
#endif
