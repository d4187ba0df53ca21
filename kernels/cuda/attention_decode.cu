/* Paged attention for decode (one query row per sequence), flash-decoding style.
 *
 * Block = (sequence, key split, kv head, slice of its q heads). The block walks its keys in tiles:
 * D/8 threads share a key row (16-byte loads), so a tile of 128 threads covers RP = 1024/D rows per
 * pass; scores for every q head of the slice come from one read of the keys, then an online softmax
 * step (one warp per head) and the value accumulation, again from one read of the values. Each
 * thread keeps partial outputs for its own rows; they are summed in shared memory at the end. A
 * sequence whose keys were split writes unnormalized partials that combine_kernel merges. */
#include "attention.cuh"

#define THREADS 128

template <int D, int G>
struct DecodeShape {
  static constexpr int TPR = D / 8;                /* threads per key row */
  static constexpr int RP = THREADS / TPR;          /* rows per pass */
  static constexpr int TILE = RP * 8 < 64 ? RP * 8 : 64;
  static constexpr int PASSES = TILE / RP;
};

template <int D, int G>
__global__ void __launch_bounds__(THREADS) decode_kernel(AttentionParams p, int head_slices) {
  using S = DecodeShape<D, G>;
  __shared__ float s_p[G][S::TILE];
  __shared__ float s_m[G], s_l[G], s_alpha[G];
  __shared__ float s_acc[G][D];

  int seq = blockIdx.x / p.max_splits, split = blockIdx.x % p.max_splits;
  int row = p.query_start_loc[seq];
  if (p.query_start_loc[seq + 1] - row != 1) return;
  int seq_len = p.seq_lens[seq], chunk;
  int splits = vk_decode_splits(seq_len, p.max_splits, &chunk);
  if (split >= splits) return;
  int kv_begin = split * chunk, kv_end = min(seq_len, kv_begin + chunk);
  int kvh = blockIdx.y / head_slices, g0 = (blockIdx.y % head_slices) * G;
  int n_g = min(G, p.group - g0);
  if (n_g <= 0) return;
  int tid = threadIdx.x, r = tid / S::TPR, li = tid % S::TPR;

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
      for (int i = 0; i < 8; i++) qf[g][i] *= p.scale_log2;
    }
  }
  for (int i = tid; i < G * D; i += THREADS) (&s_acc[0][0])[i] = 0.f;
  if (tid < G) s_m[tid] = -INFINITY, s_l[tid] = 0.f;
  float acc[G][8];
#pragma unroll
  for (int g = 0; g < G; g++)
#pragma unroll
    for (int i = 0; i < 8; i++) acc[g][i] = 0.f;
  __syncthreads();

  for (int t0 = kv_begin; t0 < kv_end; t0 += S::TILE) {
    uint4 kr[S::PASSES], vr[S::PASSES];
#pragma unroll
    for (int ps = 0; ps < S::PASSES; ps++) {
      int pos = t0 + ps * S::RP + r;
      if (pos < kv_end) kr[ps] = reinterpret_cast<const uint4*>(p.k_cache + vk_cache_offset(p, seq, pos, kvh))[li];
    }
#pragma unroll
    for (int ps = 0; ps < S::PASSES; ps++) {
      int j = ps * S::RP + r, pos = t0 + j;
      float kf[8];
      if (pos < kv_end) vk_unpack8(kr[ps], kf);
#pragma unroll
      for (int g = 0; g < G; g++) {
        float dot = 0.f;
        if (pos < kv_end) {
#pragma unroll
          for (int i = 0; i < 8; i++) dot += qf[g][i] * kf[i];
        }
#pragma unroll
        for (int o = S::TPR / 2; o > 0; o >>= 1) dot += __shfl_xor_sync(0xffffffffu, dot, o);
        if (li == 0 && g < n_g) s_p[g][j] = pos < kv_end ? dot : -INFINITY;
      }
    }
    /* Values are loaded before the softmax step so their latency overlaps it. */
#pragma unroll
    for (int ps = 0; ps < S::PASSES; ps++) {
      int pos = t0 + ps * S::RP + r;
      if (pos < kv_end) vr[ps] = reinterpret_cast<const uint4*>(p.v_cache + vk_cache_offset(p, seq, pos, kvh))[li];
    }
    __syncthreads();
    int warp = tid / 32, lane = tid % 32;
    for (int g = warp; g < n_g; g += THREADS / 32) {
      float m = -INFINITY;
      for (int j = lane; j < S::TILE; j += 32) m = fmaxf(m, s_p[g][j]);
      m = vk_warp_max(m);
      float m_new = fmaxf(s_m[g], m); /* finite: every tile holds at least one key */
      float sum = 0.f;
      for (int j = lane; j < S::TILE; j += 32) {
        float e = exp2f(s_p[g][j] - m_new);
        s_p[g][j] = e;
        sum += e;
      }
      sum = vk_warp_sum(sum);
      if (lane == 0) {
        float alpha = exp2f(s_m[g] - m_new);
        s_alpha[g] = alpha;
        s_l[g] = s_l[g] * alpha + sum;
        s_m[g] = m_new;
      }
    }
    __syncthreads();
#pragma unroll
    for (int g = 0; g < G; g++) {
      float a = g < n_g ? s_alpha[g] : 0.f;
#pragma unroll
      for (int i = 0; i < 8; i++) acc[g][i] *= a;
    }
#pragma unroll
    for (int ps = 0; ps < S::PASSES; ps++) {
      int j = ps * S::RP + r;
      if (t0 + j < kv_end) {
        float vf[8];
        vk_unpack8(vr[ps], vf);
#pragma unroll
        for (int g = 0; g < G; g++) {
          float pj = g < n_g ? s_p[g][j] : 0.f;
#pragma unroll
          for (int i = 0; i < 8; i++) acc[g][i] += pj * vf[i];
        }
      }
    }
    __syncthreads(); /* s_p is rewritten by the next tile */
  }

#pragma unroll
  for (int g = 0; g < G; g++)
    if (g < n_g)
#pragma unroll
      for (int i = 0; i < 8; i++) atomicAdd(&s_acc[g][li * 8 + i], acc[g][i]);
  __syncthreads();
  for (int idx = tid; idx < n_g * D; idx += THREADS) {
    int g = idx / D, d = idx % D, qh = kvh * p.group + g0 + g;
    if (splits == 1) {
      p.out[((int64_t)row * p.n_q_heads + qh) * D + d] = vk_to_bf16(s_acc[g][d] / s_l[g]);
    } else {
      int64_t part = ((int64_t)seq * p.max_splits + split) * p.n_q_heads + qh;
      p.partial_o[part * D + d] = s_acc[g][d];
      if (d == 0) p.partial_ml[part * 2] = s_m[g], p.partial_ml[part * 2 + 1] = s_l[g];
    }
  }
}

/* One block per (sequence, q head) of a split decode sequence: out = sum_i w_i o_i / sum_i w_i l_i. */
__global__ void combine_kernel(AttentionParams p) {
  int seq = blockIdx.x, qh = blockIdx.y, D = p.head_dim;
  int row = p.query_start_loc[seq];
  if (p.query_start_loc[seq + 1] - row != 1) return;
  int chunk, splits = vk_decode_splits(p.seq_lens[seq], p.max_splits, &chunk);
  if (splits == 1) return;
  int64_t base = (int64_t)seq * p.max_splits * p.n_q_heads + qh;
  float m = -INFINITY;
  for (int i = 0; i < splits; i++) m = fmaxf(m, p.partial_ml[(base + (int64_t)i * p.n_q_heads) * 2]);
  float l = 0.f;
  for (int i = 0; i < splits; i++) {
    int64_t part = base + (int64_t)i * p.n_q_heads;
    l += p.partial_ml[part * 2 + 1] * exp2f(p.partial_ml[part * 2] - m);
  }
  for (int d = threadIdx.x; d < D; d += blockDim.x) {
    float o = 0.f;
    for (int i = 0; i < splits; i++) {
      int64_t part = base + (int64_t)i * p.n_q_heads;
      o += p.partial_o[part * D + d] * exp2f(p.partial_ml[part * 2] - m);
    }
    p.out[((int64_t)row * p.n_q_heads + qh) * D + d] = vk_to_bf16(o / l);
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
