/* vllm-bun kernel ABI, core part: what every kernel library (cpu, cuda, rocm) implements.
 * vk_cpu.h adds what only the CPU library has (threads, CPU features), vk_device.h what only a GPU
 * library has (devices, copies, fused ops). A library exports exactly the functions of
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
 * Softmax in f32 with max subtraction; scale is usually head_dim^-0.5.
 * max_query_len: the largest q_len of the batch (1: decode only; a library may skip its prefill path).
 * sliding_window > 0: a query at position p sees only keys at positions > p - sliding_window (0: all).
 * soft_cap > 0: each scaled score s becomes soft_cap * tanh(s / soft_cap) before the softmax (0: off).
 * A library that cannot honour a non-zero sliding_window or soft_cap records a failure and writes nothing. */
void vk_paged_attention(vk_act* out, const vk_act* q, const vk_act* k_cache, const vk_act* v_cache,
                        const int32_t* block_tables, int max_blocks_per_seq, const int32_t* seq_lens,
                        const int32_t* query_start_loc, int n_seqs, int max_query_len, int n_q_heads,
                        int n_kv_heads, int head_dim, int block_size, float scale, int sliding_window,
                        float soft_cap);

/* ---- Gemma's activation and scaling ops ---- */

/* gate_up: [n_tokens, 2*inter] = [gate | up]; out: [n_tokens, inter] = gelu_tanh(gate) * up, with
 * gelu_tanh(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) (HF's gelu_pytorch_tanh). */
void vk_gelu_tanh_mul(vk_act* out, const vk_act* gate_up, int n_tokens, int inter);

/* x[r, c] = cap * tanh(x[r, c] / cap) in place, f32 (final logit soft-capping); cap > 0. */
void vk_soft_cap(float* x, int n_rows, int n_cols, float cap);

/* x[r, c] *= s in place (the embedding scale). */
void vk_scale(vk_act* x, int n_rows, int n_cols, float s);

/* ---- mixture of experts ---- */

/* Per token: p = softmax(router_logits[t, :]) in f32 (router_logits: [n_tokens, n_experts]), then its top_k
 * experts, largest p first (ties: lower id first), into topk_ids / topk_weights ([n_tokens, top_k]); with
 * renormalize != 0 the kept weights are divided by their sum (Mixtral always, Qwen's norm_topk_prob). top_k <= 32. */
void vk_moe_route(int32_t* topk_ids, float* topk_weights, const vk_act* router_logits, int n_tokens, int n_experts,
                  int top_k, int renormalize);

/* Bytes of the workspace vk_moe_experts needs for up to n_tokens tokens (allocated once, for the largest step). */
int64_t vk_moe_workspace_bytes(int n_tokens, int hidden, int inter, int n_experts, int top_k);

/* The routed experts of a mixture-of-experts block:
 *   out[t] = sum over s of topk_weights[t, s] * down_e(silu(gate_e x[t]) * up_e x[t]),  e = topk_ids[t, s],
 * summed in ascending expert order. x, out: [n_tokens, hidden] (out must not alias x). w_gate_up: [n_experts,
 * 2 * inter, hidden], each expert's gate rows then its up rows; w_down: [n_experts, hidden, inter]; both in wdtype.
 * Tokens are grouped by expert and only the experts some token chose are read. An expert id outside
 * [0, n_experts) is a failure (see the conventions; the CPU library writes nothing, a GPU library leaves that
 * slot out of the token's sum). top_k <= 32; the CUDA library takes up to 1024 experts and bf16 weights only
 * (a shape it cannot run is a recorded failure). */
void vk_moe_experts(vk_act* out, void* workspace, const vk_act* x, const void* w_gate_up, const void* w_down, int wdtype,
                    const int32_t* topk_ids, const float* topk_weights, int n_tokens, int hidden, int inter,
                    int n_experts, int top_k);

/* out[t, :] += sigmoid(gate_logits[t]) * shared[t, :] (Qwen2-MoE's gated shared expert); gate_logits: [n_tokens]. */
void vk_moe_shared_add(vk_act* out, const vk_act* shared, const vk_act* gate_logits, int n_tokens, int hidden);

/* out[r, :] = log_softmax(x[r, :]) computed in f32 (out may alias x). */
void vk_log_softmax(float* out, const float* x, int n_rows, int n_cols);

/* The k largest entries of each row, largest first; ties keep the lower index first; NaN ranks below
 * every number. out_ids/out_vals: [n_rows, k]; slots past n_cols get id -1 and -inf. */
void vk_topk(int32_t* out_ids, float* out_vals, const float* x, int n_rows, int n_cols, int k);

/* Sampling inside the library (a GPU library's logits never leave the device; only token ids and logprobs
 * come back), with the semantics of the host reference src/sample/sampler.ts. The CPU library runs one entry
 * per task on its worker pool.
 * Entry r reads row rows[r] of logits ([n_logit_rows, vocab] f32) and writes out_tokens[r]:
 * - fparams[r] = {temperature, top_p, min_p, u}, iparams[r] = {top_k, n_logprobs, forced_token, bitmask_row}
 *   ([n_rows, 4] each). forced_token >= 0 scores that token instead of sampling (prompt logprobs).
 * - Logits processors: ops [op_starts[r], op_starts[r+1]) of op_tokens (distinct within a row) and op_params
 *   ([n_ops, 3] = add, repetition penalty, subtract): x = x + add (-inf masks), then x = x > 0 ? x / rep :
 *   x * rep unless rep == 1, then x = x - subtract, each step rounded to f32. The logits are as before when the
 *   call returns: a GPU library applies the ops in place and restores them from op_saved ([n_ops] scratch), so
 *   rows with ops must be distinct; the CPU library processes a private copy (op_saved unused). Then, with
 *   bitmask_row >= 0, token i is -inf unless bit i%32 of word i/32 of bitmasks[bitmask_row]
 *   ([n_bitmask_rows, bitmask_words]) is set (tokens past bitmask_words * 32 stay).
 * - temperature < 1e-5: the first maximum. Else p = exp((x - max) / temperature) in f64; keep p >= min_p,
 *   then the top_k largest (ties kept; 0 = off), then the smallest set of the largest p holding top_p of the
 *   kept mass (ties kept); the token is the first, in index order, whose cumulative kept p exceeds u * total.
 * - n_logprobs >= 0: out_logprobs[r] and out_ranks[r] (1-based; ties rank by index) of the token under
 *   log_softmax of the raw logits, and the top n_logprobs (<= VK_SAMPLE_MAX_LOGPROBS) into
 *   out_top_ids / out_top_logprobs ([n_rows, VK_SAMPLE_MAX_LOGPROBS], largest first, lower index first on
 *   ties; unused slots -1 / -inf).
 * - Checked ids (a failure, see the conventions above): rows[r] in [0, n_logit_rows), forced_token < vocab,
 *   bitmask_row < n_bitmask_rows, every op token in [0, vocab). Such an entry touches no logits and gets
 *   token -1; the other entries are sampled. op_starts must be non-decreasing from 0 to n_ops; the caller
 *   checks that. */
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
