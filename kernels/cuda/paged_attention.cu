/* vk_paged_attention: validates the shape, sizes the workspace and launches both paths (see
 * attention.cuh). */
#include <math.h>

#include "attention.cuh"

/* Decode blocks wanted in flight: enough to fill the device when few sequences decode. */
#define DECODE_BLOCKS_PER_SM 4
#define MAX_SPLITS 32

static int max_splits_for(int n_seqs, int n_kv_heads, int group) {
  int slices = (group + VK_DECODE_MAX_GROUP - 1) / VK_DECODE_MAX_GROUP;
  int blocks = n_seqs * n_kv_heads * slices;
  int want = (DECODE_BLOCKS_PER_SM * vk_sm_count() + blocks - 1) / blocks;
  return want < 1 ? 1 : (want > MAX_SPLITS ? MAX_SPLITS : want);
}

void vk_paged_attention(bf16* out, const bf16* q, const bf16* k_cache, const bf16* v_cache,
                        const int32_t* block_tables, int max_blocks_per_seq, const int32_t* seq_lens,
                        const int32_t* query_start_loc, int n_seqs, int max_query_len, int n_q_heads,
                        int n_kv_heads, int head_dim, int block_size, float scale, int sliding_window,
                        float soft_cap) {
  cudaStream_t s = vk_stream();
  if (!s || n_seqs <= 0) return;
  if (sliding_window < 0 || !(soft_cap >= 0.f)) {
    vk_fail("vk_paged_attention: sliding_window %d and soft_cap %g must be >= 0", sliding_window, (double)soft_cap);
    return;
  }
  if (head_dim != 16 && head_dim != 32 && head_dim != 64 && head_dim != 128 && head_dim != 256) {
    vk_fail("vk_paged_attention: head_dim %d is not supported (16, 32, 64, 128 or 256)", head_dim);
    return;
  }
  if (n_kv_heads <= 0 || n_q_heads % n_kv_heads != 0) {
    vk_fail("vk_paged_attention: %d query heads do not split into %d kv heads", n_q_heads, n_kv_heads);
    return;
  }
  AttentionParams p = {};
  p.out = out, p.q = q, p.k_cache = k_cache, p.v_cache = v_cache;
  p.block_tables = block_tables, p.seq_lens = seq_lens, p.query_start_loc = query_start_loc;
  p.max_blocks = max_blocks_per_seq, p.n_seqs = n_seqs, p.n_q_heads = n_q_heads, p.n_kv_heads = n_kv_heads;
  p.head_dim = head_dim, p.block_size = block_size, p.group = n_q_heads / n_kv_heads;
  p.scale = scale, p.scale_log2 = scale * (float)M_LOG2E;
  p.sliding_window = sliding_window, p.soft_cap = soft_cap;
  p.max_splits = max_splits_for(n_seqs, n_kv_heads, p.group);

  size_t parts = (size_t)n_seqs * p.max_splits * n_q_heads;
  size_t o_bytes = p.max_splits > 1 ? parts * head_dim * 4 : 0, ml_bytes = p.max_splits > 1 ? parts * 8 : 0;
  size_t tiles_bytes = ((size_t)n_seqs + 1) * 4;
  char* ws = (char*)vk_workspace(VK_WS_ATTENTION, o_bytes + ml_bytes + tiles_bytes + 256);
  if (!ws) return;
  p.partial_o = (float*)ws;
  p.partial_ml = (float*)(ws + o_bytes);
  p.tile_start = (int*)(ws + o_bytes + ml_bytes);

  vk_launch_decode_attention(p, s);
  if (max_query_len > 1) vk_launch_prefill_attention(p, s); /* decode-only steps skip the prefill path */
}
