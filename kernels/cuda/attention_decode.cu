/* Paged attention for decode (one query row per sequence), flash-decoding style.
 *
 * Block = (sequence, key split, kv head, slice of its q heads), WARPS warps. Each warp walks its own
 * tiles of the block's keys with its own online softmax, so the loop has no barrier: D/8 lanes share a
 * key row (16-byte chunks), a warp covers RPW = 256/D rows per pass and PASSES passes per tile. Keys and
 * values stream through a per-lane cp.async pipeline in shared memory, STAGES tiles deep: while a tile
 * is scored and accumulated the next STAGES - 1 are in flight, and every lane reads back only the chunks
 * it copied itself, so no lane waits for another. Scores for every q head of the slice come from one read
 * of the keys (the GQA group shares it). At the end the warps' (max, sum, output) triples are merged in
 * shared memory; a sequence whose keys were split writes unnormalized partials that combine_kernel merges.
 * Masking: keys past the sequence and, with a sliding window, keys at or before seq_len - 1 - window. */
#include <math.h>

#include "attention.cuh"

#define WARPS 4
#define THREADS (WARPS * 32)
#define PASSES 4
#define STAGES 3

template <int D>
struct DecodeShape {
  static constexpr int TPR = D / 8;         /* lanes per key row */
  static constexpr int RPW = 32 / TPR;      /* rows per warp pass */
  static constexpr int TILE = RPW * PASSES; /* keys per warp tile */
  static constexpr int STAGE_ELEMS = 2 * TILE * D; /* K then V of one tile */
};

template <int D, int G>
struct DecodeSmem {
  static constexpr int PIPE = WARPS * STAGES * DecodeShape<D>::STAGE_ELEMS * 2; /* bytes */
  static constexpr int MERGE = WARPS * G * (D + 2) * 4;                          /* acc, max, sum */
  static constexpr int BYTES = PIPE > MERGE ? PIPE : MERGE;
};

__device__ __forceinline__ void cp_async16(void* smem, const void* gmem) {
  unsigned dst = (unsigned)__cvta_generic_to_shared(smem);
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(dst), "l"(gmem));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

/* Score of one key for one head from the partial dots of its TPR lanes (log2 units, soft-capped). */
template <int TPR>
__device__ __forceinline__ float reduce_score(float dot, float soft_cap) {
#pragma unroll
  for (int o = TPR / 2; o > 0; o >>= 1) dot += __shfl_xor_sync(0xffffffffu, dot, o);
  if (soft_cap > 0.f) dot = soft_cap * tanhf(dot / soft_cap) * (float)M_LOG2E;
  return dot;
}

template <int D, int G>
__global__ void __launch_bounds__(THREADS) decode_kernel(AttentionParams p, int head_slices) {
  using S = DecodeShape<D>;
  extern __shared__ __align__(16) char smem[];

  int seq = blockIdx.x / p.max_splits, split = blockIdx.x % p.max_splits;
  int row = p.query_start_loc[seq];
  if (p.query_start_loc[seq + 1] - row != 1) return;
  int seq_len = p.seq_lens[seq], lo = vk_decode_first_key(p, seq_len), chunk;
  int splits = vk_decode_splits(seq_len - lo, p.max_splits, &chunk);
  if (split >= splits) return;
  int kvh = blockIdx.y / head_slices, g0 = (blockIdx.y % head_slices) * G;
  int n_g = min(G, p.group - g0);
  if (n_g <= 0) return;
  int kv_begin = lo + split * chunk, kv_end = min(seq_len, kv_begin + chunk); /* this split's keys */
  int warp = threadIdx.x / 32, lane = threadIdx.x % 32, r = lane / S::TPR, li = lane % S::TPR;
  bf16* pipe = reinterpret_cast<bf16*>(smem) + (int64_t)warp * STAGES * S::STAGE_ELEMS;

  /* Tile i of this warp starts at key kv_begin + (warp + WARPS * i) * TILE. */
  int n_tiles = 0;
  {
    int first = kv_begin + warp * S::TILE;
    if (first < kv_end) n_tiles = (kv_end - first + WARPS * S::TILE - 1) / (WARPS * S::TILE);
  }
  auto issue = [&](int i) {
    if (i < n_tiles) {
      int t0 = kv_begin + (warp + WARPS * i) * S::TILE;
      bf16* st = pipe + (i % STAGES) * S::STAGE_ELEMS;
#pragma unroll
      for (int ps = 0; ps < PASSES; ps++) {
        int j = ps * S::RPW + r, pos = t0 + j;
        if (pos < kv_end) {
          int64_t off = vk_cache_offset(p, seq, pos, kvh) + li * 8;
          cp_async16(st + j * D + li * 8, p.k_cache + off);
          cp_async16(st + (S::TILE + j) * D + li * 8, p.v_cache + off);
        }
      }
    }
    cp_async_commit(); /* an empty group keeps the wait counts uniform */
  };
#pragma unroll
  for (int i = 0; i < STAGES - 1; i++) issue(i);

  /* q pre-scaled: into log2 units directly, or by the softmax scale only when soft-capping follows. */
  const float qscale = p.soft_cap > 0.f ? p.scale : p.scale_log2;
  float qf[G][8];
#pragma unroll
  for (int g = 0; g < G; g++) {
#pragma unroll
    for (int i = 0; i < 8; i++) qf[g][i] = 0.f;
    if (g < n_g) {
      int qh = kvh * p.group + g0 + g;
      uint4 u = reinterpret_cast<const uint4*>(p.q + ((int64_t)row * p.n_q_heads + qh) * D)[li];
      vk_unpack8(u, qf[g]);
#pragma unroll
      for (int i = 0; i < 8; i++) qf[g][i] *= qscale;
    }
  }
  float m_run[G], l_run[G], acc[G][8];
#pragma unroll
  for (int g = 0; g < G; g++) {
    m_run[g] = -INFINITY, l_run[g] = 0.f;
#pragma unroll
    for (int i = 0; i < 8; i++) acc[g][i] = 0.f;
  }

  for (int i = 0; i < n_tiles; i++) {
    issue(i + STAGES - 1);
    cp_async_wait<STAGES - 1>(); /* tile i has landed (this lane's chunks of it) */
    int t0 = kv_begin + (warp + WARPS * i) * S::TILE;
    const bf16* st = pipe + (i % STAGES) * S::STAGE_ELEMS;
    float sc[G][PASSES];
#pragma unroll
    for (int ps = 0; ps < PASSES; ps++) {
      int j = ps * S::RPW + r;
      bool valid = t0 + j < kv_end;
      float kf[8];
      if (valid) vk_unpack8(*reinterpret_cast<const uint4*>(st + j * D + li * 8), kf);
#pragma unroll
      for (int g = 0; g < G; g++) {
        float dot = 0.f;
        if (valid) {
#pragma unroll
          for (int e = 0; e < 8; e++) dot += qf[g][e] * kf[e];
        }
        dot = reduce_score<S::TPR>(dot, p.soft_cap);
        sc[g][ps] = valid ? dot : -INFINITY;
      }
    }
#pragma unroll
    for (int g = 0; g < G; g++) {
      float m = sc[g][0];
#pragma unroll
      for (int ps = 1; ps < PASSES; ps++) m = fmaxf(m, sc[g][ps]);
#pragma unroll
      for (int o = 16; o >= S::TPR; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
      float m_new = fmaxf(m_run[g], m); /* finite: a tile starts inside the block's keys */
      float alpha = exp2f(m_run[g] - m_new);
      m_run[g] = m_new;
      l_run[g] *= alpha;
#pragma unroll
      for (int e = 0; e < 8; e++) acc[g][e] *= alpha;
#pragma unroll
      for (int ps = 0; ps < PASSES; ps++) {
        float x = exp2f(sc[g][ps] - m_new);
        sc[g][ps] = x;
        l_run[g] += x;
      }
    }
#pragma unroll
    for (int ps = 0; ps < PASSES; ps++) {
      int j = ps * S::RPW + r;
      if (t0 + j < kv_end) {
        float vf[8];
        vk_unpack8(*reinterpret_cast<const uint4*>(st + (S::TILE + j) * D + li * 8), vf);
#pragma unroll
        for (int g = 0; g < G; g++)
#pragma unroll
          for (int e = 0; e < 8; e++) acc[g][e] += sc[g][ps] * vf[e];
      }
    }
  }
  cp_async_wait<0>();
  __syncthreads(); /* the pipeline's shared memory becomes the merge area */

  float* s_acc = reinterpret_cast<float*>(smem);          /* [WARPS][G][D] */
  float* s_m = s_acc + WARPS * G * D, *s_l = s_m + WARPS * G; /* [WARPS][G] */
  /* Rows of a warp pass are summed across its row groups; then warps merge through shared memory. */
#pragma unroll
  for (int g = 0; g < G; g++) {
#pragma unroll
    for (int o = 16; o >= S::TPR; o >>= 1) {
      l_run[g] += __shfl_xor_sync(0xffffffffu, l_run[g], o);
#pragma unroll
      for (int e = 0; e < 8; e++) acc[g][e] += __shfl_xor_sync(0xffffffffu, acc[g][e], o);
    }
    if (lane == 0) s_m[warp * G + g] = m_run[g], s_l[warp * G + g] = l_run[g];
    if (r == 0)
#pragma unroll
      for (int e = 0; e < 8; e++) s_acc[(warp * G + g) * D + li * 8 + e] = acc[g][e];
  }
  __syncthreads();
  for (int idx = threadIdx.x; idx < n_g * D; idx += THREADS) {
    int g = idx / D, d = idx % D, qh = kvh * p.group + g0 + g;
    float m = -INFINITY;
#pragma unroll
    for (int w = 0; w < WARPS; w++) m = fmaxf(m, s_m[w * G + g]);
    float l = 0.f, o = 0.f;
#pragma unroll
    for (int w = 0; w < WARPS; w++) {
      float mw = s_m[w * G + g];
      float f = mw == -INFINITY ? 0.f : exp2f(mw - m); /* a warp with no keys adds nothing */
      l += s_l[w * G + g] * f;
      o += s_acc[(w * G + g) * D + d] * f;
    }
    if (splits == 1) {
      p.out[((int64_t)row * p.n_q_heads + qh) * D + d] = vk_to_bf16(l > 0.f ? o / l : 0.f);
    } else {
      int64_t part = ((int64_t)seq * p.max_splits + split) * p.n_q_heads + qh;
      p.partial_o[part * D + d] = o;
      if (d == 0) p.partial_ml[part * 2] = m, p.partial_ml[part * 2 + 1] = l;
    }
  }
}

/* One block per (sequence, q head) of a split decode sequence: out = sum_i w_i o_i / sum_i w_i l_i.
 * A split that saw no key (wholly outside the window) has l = 0 and max -inf and adds nothing. */
__global__ void combine_kernel(AttentionParams p) {
  int seq = blockIdx.x, qh = blockIdx.y, D = p.head_dim;
  int row = p.query_start_loc[seq];
  if (p.query_start_loc[seq + 1] - row != 1) return;
  int seq_len = p.seq_lens[seq], chunk;
  int splits = vk_decode_splits(seq_len - vk_decode_first_key(p, seq_len), p.max_splits, &chunk);
  if (splits == 1) return;
  int64_t base = (int64_t)seq * p.max_splits * p.n_q_heads + qh;
  float m = -INFINITY;
  for (int i = 0; i < splits; i++) m = fmaxf(m, p.partial_ml[(base + (int64_t)i * p.n_q_heads) * 2]);
  float l = 0.f;
  for (int i = 0; i < splits; i++) {
    int64_t part = base + (int64_t)i * p.n_q_heads;
    float mi = p.partial_ml[part * 2];
    if (mi != -INFINITY) l += p.partial_ml[part * 2 + 1] * exp2f(mi - m);
  }
  for (int d = threadIdx.x; d < D; d += blockDim.x) {
    float o = 0.f;
    for (int i = 0; i < splits; i++) {
      int64_t part = base + (int64_t)i * p.n_q_heads;
      float mi = p.partial_ml[part * 2];
      if (mi != -INFINITY) o += p.partial_o[part * D + d] * exp2f(mi - m);
    }
    p.out[((int64_t)row * p.n_q_heads + qh) * D + d] = vk_to_bf16(l > 0.f ? o / l : 0.f);
  }
}

template <int D, int G>
static void launch(const AttentionParams& p, cudaStream_t s) {
  constexpr int bytes = DecodeSmem<D, G>::BYTES;
  static bool ready = false;
  if (!ready) {
    if (vk_check(cudaFuncSetAttribute(decode_kernel<D, G>, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes),
                 "vk_paged_attention: decode shared memory"))
      return;
    ready = true;
  }
  int slices = (p.group + G - 1) / G;
  dim3 grid(p.n_seqs * p.max_splits, p.n_kv_heads * slices);
  decode_kernel<D, G><<<grid, THREADS, bytes, s>>>(p, slices);
}

template <int D>
static void launch_d(const AttentionParams& p, cudaStream_t s) {
  if (p.group == 1) launch<D, 1>(p, s);
  else if (p.group == 2) launch<D, 2>(p, s);
  else if (p.group <= 4) launch<D, 4>(p, s);
  else launch<D, 8>(p, s);
}

void vk_launch_decode_attention(const AttentionParams& p, cudaStream_t s) {
  switch (p.head_dim) {
    case 16: launch_d<16>(p, s); break;
    case 32: launch_d<32>(p, s); break;
    case 64: launch_d<64>(p, s); break;
    case 128: launch_d<128>(p, s); break;
    case 256: launch_d<256>(p, s); break;
  }
  if (VK_CHECK_LAUNCH("vk_paged_attention: decode")) return;
  if (p.max_splits > 1) {
    combine_kernel<<<dim3(p.n_seqs, p.n_q_heads), p.head_dim < 128 ? p.head_dim : 128, 0, s>>>(p);
    VK_CHECK_LAUNCH("vk_paged_attention: combine");
  }
}
