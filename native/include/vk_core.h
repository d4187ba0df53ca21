/* vllm-bun kernel ABI, core part: what every kernel library (cpu, cuda, rocm) implements.
 * vk_cpu.h adds what only the CPU library has (threads, CPU features), vk_device.h what only a GPU
 * library has (devices, copies, fused and sampling ops). A library exports exactly the functions of
 * the headers it includes, nothing more.
 *
 * Conventions
 * - Plain extern "C" functions, ggml style: op(out, in..., sizes...). Every pointer an op writes
 *   through comes first; an operand updated in place counts as an output. No structs cross the ABI,
 *   so any FFI (bun:ffi here) binds them with pointers, int32 and float32 only.
 * - Activations and the KV cache have the element type `vk_act`: f32 in the CPU library; a GPU library
 *   defines VK_ACT_T before including this header (CUDA: __nv_bfloat16) and accumulates in f32.
 *   vk_activation_dtype() tells the caller which. Every other `float*` (RoPE frequencies, biases,
 *   logits) is f32 in every library.
 * - Pointers are host memory in the CPU library and device memory in a GPU library.
 * - Weights are passed as `const void*` plus a dtype code; rows are contiguous (row-major).
 * - Row-major shapes are written [rows, cols]. `n_tokens` is the flat batch size.
 * - KV cache layout per layer: [num_blocks, block_size, n_kv_heads, head_dim];
 *   a token's slot is block_id * block_size + offset_in_block.
 * - Functions never allocate per call and never abort. Sizes are the caller's to get right; ids that
 *   index a table (token ids, row ids) are checked by the op: a bad one is recorded for vk_last_error()
 *   and nothing is read outside the table. The CPU library records it before the op returns (and
 *   writes no output); a GPU library queues its work on its stream, and a failure found by a kernel
 *   shows in vk_last_error() once the device has run that kernel, at the latest after the next
 *   synchronizing call (vk_synchronize, vk_memcpy_d2h). Failures of the GPU runtime are recorded too.
 */
#ifndef VK_CORE_H
#define VK_CORE_H
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { VK_F32 = 0, VK_F16 = 1, VK_BF16 = 2 };

#ifndef VK_ACT_T
#define VK_ACT_T float
#endif
typedef VK_ACT_T vk_act;

/* ---- library identity, memory, errors ---- */

const char* vk_variant(void);            /* cpu: "portable", "avx2", "avx512"; gpu: the device */
int vk_activation_dtype(void);           /* VK_F32 or VK_BF16: the element type of vk_act */
void* vk_alloc(int64_t nbytes);          /* zero-filled, aligned (64 bytes cpu, 256 gpu); NULL on failure */
void vk_free(void* p);
/* The first failure since vk_clear_error() (per calling thread in the CPU library), as text naming
 * the op and the bad value; NULL when none. Later failures are dropped until the error is cleared. */
const char* vk_last_error(void);
void vk_clear_error(void);

/* ---- ops ---- */

/* out[t, :] = table[ids[t], :] converted to vk_act; table: [n_rows, hidden]. Also used as a row
 * gather (dtype = activation dtype). An id outside [0, n_rows) is a failure (see the conventions):
 * the CPU library then writes nothing; a GPU library writes zeros to that token's row. */
void vk_embedding(vk_act* out, const void* table, int dtype, int n_rows, const int32_t* ids, int n_tokens,
                  int hidden);

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
void vk_reshape_and_cache(vk_act* k_cache, vk_act* v_cache, const vk_act* k, const vk_act* v,
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

/* The k largest entries of each row, largest first; ties keep the lower index first; NaN ranks below
 * every number. out_ids/out_vals: [n_rows, k]; slots past n_cols get id -1 and -inf. */
void vk_topk(int32_t* out_ids, float* out_vals, const float* x, int n_rows, int n_cols, int k);

#ifdef __cplusplus
}
#endif
#endif
