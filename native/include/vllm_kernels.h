/* vllm-bun kernel ABI: the one header every kernel library (cpu, cuda, rocm) implements.
 *
 * Conventions
 * - Plain extern "C" functions, ggml style: op(out, in..., sizes...). No structs cross the ABI,
 *   so any FFI (bun:ffi here) binds them with pointers, int32 and float32 only.
 * - Activations, KV cache and every `float*` are f32 (the CPU library computes in f32).
 * - Weights are passed as `const void*` plus a dtype code; rows are contiguous (row-major).
 * - Row-major shapes are written [rows, cols]. `n_tokens` is the flat batch size.
 * - KV cache layout per layer: [num_blocks, block_size, n_kv_heads, head_dim];
 *   a token's slot is block_id * block_size + offset_in_block.
 * - Functions never allocate per call and never fail; callers validate sizes.
 */
#ifndef VLLM_KERNELS_H
#define VLLM_KERNELS_H
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { VK_F32 = 0, VK_F16 = 1, VK_BF16 = 2 };

/* CPU feature bits returned by vk_cpu_features(). */
enum { VK_CPU_AVX2 = 1, VK_CPU_FMA = 2, VK_CPU_AVX512F = 4, VK_CPU_AVX512BW = 8, VK_CPU_F16C = 16 };

/* Library identity and setup. */
const char* vk_variant(void);            /* "portable", "avx2", "avx512" */
int vk_cpu_features(void);               /* bitmask of VK_CPU_* the running CPU supports */
int vk_set_num_threads(int n);           /* sets the worker pool size (n >= 1); returns the size in use */
int vk_num_threads(void);                /* the worker pool size in use (the caller thread included) */
void* vk_alloc(int64_t nbytes);          /* 64-byte aligned, zero-filled; NULL on failure */
void vk_free(void* p);

/* out[t, :] = table[ids[t], :] converted to f32. Also used as a row gather (dtype VK_F32). */
void vk_embedding(float* out, const void* table, int dtype, const int32_t* ids, int n_tokens, int hidden);

/* out[t] = x[t] / rms(x[t]) * w  (w converted to f32). out may alias x. */
void vk_rms_norm(float* out, const float* x, const void* w, int wdtype, int n_rows, int hidden, float eps);

/* residual[t] += x[t]; out[t] = rms_norm(residual[t]) * w. out may alias x. */
void vk_add_rms_norm(float* out, float* residual, const float* x, const void* w, int wdtype,
                     int n_rows, int hidden, float eps);

/* Rotary embedding in place, NeoX / HF rotate_half layout: pairs (i, i + head_dim/2).
 * q: [n_tokens, n_q_heads, head_dim], k: [n_tokens, n_kv_heads, head_dim].
 * inv_freq: [head_dim/2], already scaled (llama3 scaling is applied by the caller).
 * angle = (float)positions[t] * inv_freq[i], computed in f32 like HF. */
void vk_rope(float* q, float* k, const int32_t* positions, const float* inv_freq,
             int n_tokens, int n_q_heads, int n_kv_heads, int head_dim);

/* gate_up: [n_tokens, 2*inter] = [gate | up]; out: [n_tokens, inter] = silu(gate) * up. */
void vk_silu_mul(float* out, const float* gate_up, int n_tokens, int inter);

/* out[m, n] = x[m, k] @ w[n, k]^T (+ bias[n] if bias != NULL). f32 accumulation.
 * w is row-major [n, k] in wdtype (HF nn.Linear layout). Multi-threaded over n (and m). */
void vk_matmul(float* out, const float* x, const void* w, int wdtype, const float* bias, int m, int n, int k);

/* Writes k, v ([n_tokens, n_kv_heads, head_dim]) into the paged caches at slot_mapping[t].
 * A negative slot skips the token. */
void vk_reshape_and_cache(const float* k, const float* v, float* k_cache, float* v_cache,
                          const int32_t* slot_mapping, int n_tokens, int n_kv_heads, int head_dim);

/* Causal attention of a ragged batch over the paged KV cache (prefill, chunked prefill and decode alike).
 * Sequence s owns query rows [query_start_loc[s], query_start_loc[s+1]) of q/out
 * ([n_tokens, n_q_heads, head_dim]) and has seq_lens[s] tokens in the cache, the new ones included
 * (so they must be written with vk_reshape_and_cache first). Query row i of a sequence with q_len rows
 * sits at position seq_lens[s] - q_len + i and attends to cache positions [0, that position].
 * block_tables: [n_seqs, max_blocks_per_seq]. GQA: q head h reads kv head h / (n_q_heads / n_kv_heads).
 * Softmax in f32 with max subtraction; scale is usually head_dim^-0.5. */
void vk_paged_attention(float* out, const float* q, const float* k_cache, const float* v_cache,
                        const int32_t* block_tables, int max_blocks_per_seq, const int32_t* seq_lens,
                        const int32_t* query_start_loc, int n_seqs, int n_q_heads, int n_kv_heads,
                        int head_dim, int block_size, float scale);

/* out[r, :] = log_softmax(x[r, :]) computed in f32 (out may alias x). */
void vk_log_softmax(float* out, const float* x, int n_rows, int n_cols);

/* The k largest entries of each row, largest first; ties keep the lower index first.
 * out_ids/out_vals: [n_rows, k]. */
void vk_topk(int32_t* out_ids, float* out_vals, const float* x, int n_rows, int n_cols, int k);

#ifdef __cplusplus
}
#endif
#endif
