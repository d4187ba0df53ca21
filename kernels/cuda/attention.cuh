/* Shared by the paged-attention kernels: the call's parameters and how decode work is split.
 *
 * vk_paged_attention routes each sequence by its query length, read on the device: one query row
 * (decode) goes to the split-KV decode kernel, more (prefill, chunked prefill) to the tiled
 * tensor-core kernel. Both kernels are launched every call; each skips the other's sequences. */
#ifndef VK_CUDA_ATTENTION_CUH
#define VK_CUDA_ATTENTION_CUH
#include "common.cuh"

struct AttentionParams {
  bf16* out;
  const bf16 *q, *k_cache, *v_cache;
  const int32_t *block_tables, *seq_lens, *query_start_loc;
  int max_blocks, n_seqs, n_q_heads, n_kv_heads, head_dim, block_size, group;
  float scale, scale_log2; /* scale_log2 = scale * log2(e): softmax runs on exp2 */
  int sliding_window;       /* > 0: a query at position p sees keys > p - sliding_window */
  float soft_cap;           /* > 0: scaled scores become soft_cap * tanh(s / soft_cap) */
  /* Decode: each sequence's keys split into up to max_splits ranges, merged by the combine kernel. */
  int max_splits;
  float* partial_o;  /* [n_seqs][max_splits][n_q_heads][head_dim], unnormalized */
  float* partial_ml; /* [n_seqs][max_splits][n_q_heads][2]: running max (log2 units), sum */
  /* Prefill: tile_start[s] = first tile of sequence s; tile_start[n_seqs] = total. */
  int* tile_start;
};

/* Keys per decode split at least, so a split outweighs its merge. */
#define VK_DECODE_MIN_SPLIT 64

/* First key a decode query (at position seq_len - 1) sees. */
__device__ __forceinline__ int vk_decode_first_key(const AttentionParams& p, int seq_len) {
  return p.sliding_window > 0 ? max(0, seq_len - p.sliding_window) : 0;
}

/* Splits of a decode sequence's n_keys visible keys, and the keys each covers (a multiple of 32). */
__device__ __forceinline__ int vk_decode_splits(int n_keys, int max_splits, int* chunk) {
  int splits = min(max_splits, (n_keys + VK_DECODE_MIN_SPLIT - 1) / VK_DECODE_MIN_SPLIT);
  splits = max(splits, 1);
  int c = (n_keys + splits - 1) / splits;
  c = (c + 31) / 32 * 32;
  *chunk = c;
  return max(1, (n_keys + c - 1) / c);
}

/* Address of key/value `pos` of kv head `kvh` for sequence s, through the block table. */
__device__ __forceinline__ int64_t vk_cache_offset(const AttentionParams& p, int s, int pos, int kvh) {
  int block = p.block_tables[(int64_t)s * p.max_blocks + pos / p.block_size];
  return (((int64_t)block * p.block_size + pos % p.block_size) * p.n_kv_heads + kvh) * p.head_dim;
}

/* Decode heads handled by one block at most; larger GQA groups take several blocks. */
#define VK_DECODE_MAX_GROUP 8

void vk_launch_decode_attention(const AttentionParams& p, cudaStream_t s);
/* Returns 0 (failure recorded) when head_dim or the group has no prefill kernel. */
int vk_launch_prefill_attention(const AttentionParams& p, cudaStream_t s);
/* Query rows (one token, all heads of a kv group) of one prefill tile. */
#define VK_PREFILL_ROWS 64
#endif
