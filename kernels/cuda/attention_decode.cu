/* Paged attention for decode (one query row per sequence), flash-decoding style.
 *
 * Block = (sequence, key split, kv head, slice of its q heads), WARPS warps. Each warp walks its own
 * tiles of the block's keys with its own online softmax, so the loop has no barrier: D/8 lanes share a
 * key row (16-byte loads), a warp covers RPW = 256/D rows per pass and PASSES passes per tile, and the
 * keys and values of a tile are loaded together before any arithmetic, so a warp has 2 * PASSES
 * 16-byte loads per lane in flight. Scores for every q head of the slice come from one read of the keys
 * (the GQA group shares it). At the end the warps' (max, sum, output) triples are merged in shared
 * memory; a sequence whose keys were split writes unnormalized partials that combine_kernel merges.
 * Masking: keys past the sequence and, with a sliding window, keys at or before seq_len - 1 - window. */
#include <math.h>

#include "attention.cuh"

#define WARPS 4
#define THREADS (WARPS * 32)
#define PASSES 4

template <int D>
struct DecodeShape {
  static constexpr int TPR = D / 8;        /* lanes per key row */
  static constexpr int RPW = 32 / TPR;     /* rows per warp pass */
  static constexpr int TILE = RPW * PASSES; /* keys per warp tile */
};

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
  __shared__ float s_m[WARPS][G], s_l[WARPS][G];
  __shared__ float s_acc[WARPS][G][D];

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

  for (int t0 = kv_begin + warp * S::TILE; t0 < kv_end; t0 += WARPS * S::TILE) {
    uint4 kr[PASSES], vr[PASSES];
#pragma unroll
    for (int ps = 0; ps < PASSES; ps++) {
      int pos = t0 + ps * S::RPW + r;
      if (pos < kv_end) {
        int64_t off = vk_cache_offset(p, seq, pos, kvh);
        kr[ps] = reinterpret_cast<const uint4*>(p.k_cache + off)[li];
        vr[ps] = reinterpret_cast<const uint4*>(p.v_cache + off)[li];
      }
    }
    float sc[G][PASSES];
#pragma unroll
    for (int ps = 0; ps < PASSES; ps++) {
      bool valid = t0 + ps * S::RPW + r < kv_end;
      float kf[8];
      if (valid) vk_unpack8(kr[ps], kf);
#pragma unroll
      for (int g = 0; g < G; g++) {
        float dot = 0.f;
        if (valid) {
#pragma unroll
          for (int i = 0; i < 8; i++) dot += qf[g][i] * kf[i];
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
      for (int i = 0; i < 8; i++) acc[g][i] *= alpha;
#pragma unroll
      for (int ps = 0; ps < PASSES; ps++) {
        float e = exp2f(sc[g][ps] - m_new);
        sc[g][ps] = e;
        l_run[g] += e;
      }
    }
#pragma unroll
    for (int ps = 0; ps < PASSES; ps++) {
      if (t0 + ps * S::RPW + r < kv_end) {
        float vf[8];
        vk_unpack8(vr[ps], vf);
#pragma unroll
        for (int g = 0; g < G; g++)
#pragma unroll
          for (int i = 0; i < 8; i++) acc[g][i] += sc[g][ps] * vf[i];
      }
    }
  }

  /* Rows of a warp pass are summed across its row groups; then warps merge through shared memory. */
#pragma unroll
  for (int g = 0; g < G; g++) {
#pragma unroll
    for (int o = 16; o >= S::TPR; o >>= 1) {
      l_run[g] += __shfl_xor_sync(0xffffffffu, l_run[g], o);
#pragma unroll
      for (int i = 0; i < 8; i++) acc[g][i] += __shfl_xor_sync(0xffffffffu, acc[g][i], o);
    }
    if (lane == 0) s_m[warp][g] = m_run[g], s_l[warp][g] = l_run[g];
    if (r == 0)
#pragma unroll
      for (int i = 0; i < 8; i++) s_acc[warp][g][li * 8 + i] = acc[g][i];
  }
  __syncthreads();
  for (int idx = threadIdx.x; idx < n_g * D; idx += THREADS) {
    int g = idx / D, d = idx % D, qh = kvh * p.group + g0 + g;
    float m = -INFINITY;
#pragma unroll
    for (int w = 0; w < WARPS; w++) m = fmaxf(m, s_m[w][g]);
    float l = 0.f, o = 0.f;
#pragma unroll
    for (int w = 0; w < WARPS; w++) {
      float f = s_m[w][g] == -INFINITY ? 0.f : exp2f(s_m[w][g] - m); /* a warp with no keys adds nothing */
      l += s_l[w][g] * f;
      o += s_acc[w][g][d] * f;
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
  int slices = (p.group + G - 1) / G;
  dim3 grid(p.n_seqs * p.max_splits, p.n_kv_heads * slices);
  decode_kernel<D, G><<<grid, THREADS, 0, s>>>(p, slices);
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
