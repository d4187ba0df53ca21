/* Paged attention for prefill and chunked prefill: flash-attention tiles on the tensor cores.
 *
 * Tile = (sequence, run of BM / group query tokens) x one kv head: its BM rows are every q head of
 * the kv group for each token, so each key/value tile gathered from the paged cache serves the whole
 * group. Four warps own 16 rows each: S = Q K^T and O += P V go through 16x16x16 bf16 WMMA with f32
 * accumulators; the online softmax runs on the warp's own rows in shared memory (O lives there too,
 * so it can be rescaled row by row). Blocks are persistent and take tiles from the prefix sums that
 * plan_kernel builds from the query lengths, which only the device knows. */
#include <math.h>
#include <mma.h>

#include "attention.cuh"

using namespace nvcuda;

#define THREADS 128
#define BM VK_PREFILL_ROWS

template <int D>
struct PrefillShape {
  static constexpr int BN = D <= 128 ? 64 : 32; /* keys per tile */
  static constexpr int LDH = D + 8;             /* bf16 row stride of Q, K, V tiles */
  static constexpr int LDS = BN + 4;            /* f32 scores */
  static constexpr int LDP = BN + 8;            /* bf16 probabilities */
  static constexpr int LDO = D + 4;             /* f32 output accumulator */
  static constexpr int Q_OFF = 0;
  static constexpr int K_OFF = Q_OFF + BM * LDH * 2;
  static constexpr int V_OFF = K_OFF + BN * LDH * 2;
  static constexpr int S_OFF = V_OFF + BN * LDH * 2;
  static constexpr int P_OFF = S_OFF + BM * LDS * 4;
  static constexpr int O_OFF = P_OFF + BM * LDP * 2;
  static constexpr int ROW_OFF = O_OFF + BM * LDO * 4;
  static constexpr int BYTES = ROW_OFF + BM * 4 * 4; /* m, l, alpha, query position */
};

/* tile_start[s] for every sequence: tiles of those with more than one query row. One block. */
__global__ void plan_kernel(AttentionParams p, int tokens_per_tile) {
  __shared__ int carry, scratch[32];
  if (threadIdx.x == 0) carry = 0;
  __syncthreads();
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int base = 0; base < p.n_seqs; base += blockDim.x) {
    int s = base + threadIdx.x, tiles = 0;
    if (s < p.n_seqs) {
      int q_len = p.query_start_loc[s + 1] - p.query_start_loc[s];
      tiles = q_len > 1 ? (q_len + tokens_per_tile - 1) / tokens_per_tile : 0;
    }
    int incl = tiles; /* inclusive scan: within the warp, then over warp totals */
    for (int o = 1; o < 32; o <<= 1) {
      int v = __shfl_up_sync(0xffffffffu, incl, o);
      if (lane >= o) incl += v;
    }
    if (lane == 31) scratch[warp] = incl;
    __syncthreads();
    if (warp == 0) {
      int v = lane < (int)(blockDim.x >> 5) ? scratch[lane] : 0;
      for (int o = 1; o < 32; o <<= 1) {
        int u = __shfl_up_sync(0xffffffffu, v, o);
        if (lane >= o) v += u;
      }
      scratch[lane] = v;
    }
    __syncthreads();
    int excl = carry + (warp > 0 ? scratch[warp - 1] : 0) + incl - tiles;
    if (s < p.n_seqs) p.tile_start[s] = excl;
    __syncthreads();
    if (threadIdx.x == blockDim.x - 1) carry = excl + tiles;
    __syncthreads();
  }
  if (threadIdx.x == 0) p.tile_start[p.n_seqs] = carry;
}

template <int D>
__device__ void prefill_tile(const AttentionParams& p, char* smem, int seq, int tile, int kvh, int tpt) {
  using S = PrefillShape<D>;
  bf16 *sq = (bf16*)(smem + S::Q_OFF), *sk = (bf16*)(smem + S::K_OFF), *sv = (bf16*)(smem + S::V_OFF);
  float* ss = (float*)(smem + S::S_OFF);
  bf16* sp = (bf16*)(smem + S::P_OFF);
  float* so = (float*)(smem + S::O_OFF);
  float *row_m = (float*)(smem + S::ROW_OFF), *row_l = row_m + BM, *row_alpha = row_l + BM;
  int* row_pos = (int*)(row_alpha + BM);
  int tid = threadIdx.x, warp = tid / 32, lane = tid % 32, G = p.group;
  int q0 = p.query_start_loc[seq], q_len = p.query_start_loc[seq + 1] - q0, seq_len = p.seq_lens[seq];
  int ctx = seq_len - q_len; /* keys cached before this chunk */
  int first = tile * tpt, last = min(q_len, first + tpt) - 1;

  for (int r = tid; r < BM; r += THREADS) {
    int t = first + r / G;
    row_pos[r] = (r < tpt * G && t <= last) ? ctx + t : -1;
    row_m[r] = -INFINITY;
    row_l[r] = 0.f;
  }
  /* Q rows (zero for unused rows) and a zero O. */
  for (int c = tid; c < BM * D / 8; c += THREADS) {
    int r = c / (D / 8), part = c % (D / 8), t = first + r / G;
    uint4 u = make_uint4(0, 0, 0, 0);
    if (r < tpt * G && t <= last) {
      int qh = kvh * G + r % G;
      u = reinterpret_cast<const uint4*>(p.q + ((int64_t)(q0 + t) * p.n_q_heads + qh) * D)[part];
    }
    *reinterpret_cast<uint4*>(sq + r * S::LDH + part * 8) = u;
  }
  for (int i = tid; i < BM * D; i += THREADS) so[(i / D) * S::LDO + i % D] = 0.f;

  int kv_len = ctx + last + 1; /* keys the tile's last row sees */
  /* With a window, tiles wholly before the first row's window are skipped. */
  int kv_first = p.sliding_window > 0 ? max(0, ctx + first - p.sliding_window + 1) / S::BN * S::BN : 0;
  for (int kv0 = kv_first; kv0 < kv_len; kv0 += S::BN) {
    __syncthreads(); /* the previous tile's K/V are consumed (and Q, O, row state are in place) */
    for (int c = tid; c < S::BN * D / 8; c += THREADS) {
      int j = c / (D / 8), part = c % (D / 8), pos = kv0 + j;
      uint4 ku = make_uint4(0, 0, 0, 0), vu = ku;
      if (pos < kv_len) {
        int64_t off = vk_cache_offset(p, seq, pos, kvh);
        ku = reinterpret_cast<const uint4*>(p.k_cache + off)[part];
        vu = reinterpret_cast<const uint4*>(p.v_cache + off)[part];
      }
      *reinterpret_cast<uint4*>(sk + j * S::LDH + part * 8) = ku;
      *reinterpret_cast<uint4*>(sv + j * S::LDH + part * 8) = vu;
    }
    __syncthreads();

    /* S strip of this warp: rows [16 warp, 16 warp + 16) x BN keys. */
    for (int cj = 0; cj < S::BN / 16; cj++) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
      wmma::fill_fragment(acc, 0.f);
      for (int kk = 0; kk < D / 16; kk++) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> a;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::col_major> b;
        wmma::load_matrix_sync(a, sq + warp * 16 * S::LDH + kk * 16, S::LDH);
        wmma::load_matrix_sync(b, sk + cj * 16 * S::LDH + kk * 16, S::LDH);
        wmma::mma_sync(acc, a, b, acc);
      }
      wmma::store_matrix_sync(ss + warp * 16 * S::LDS + cj * 16, acc, S::LDS, wmma::mem_row_major);
    }
    __syncwarp();

    /* Online softmax over the warp's rows; masked keys (after the row's position) weigh zero. */
    for (int rr = 0; rr < 16; rr++) {
      int r = warp * 16 + rr, qpos = row_pos[r];
      float sc[S::BN / 32];
      float m = -INFINITY;
#pragma unroll
      for (int i = 0; i < S::BN / 32; i++) {
        int c = lane + 32 * i;
        int key = kv0 + c;
        bool seen = qpos >= 0 && key <= qpos && (p.sliding_window <= 0 || key > qpos - p.sliding_window);
        float v = ss[r * S::LDS + c];
        if (p.soft_cap > 0.f) v = p.soft_cap * tanhf(v * p.scale / p.soft_cap) * (float)M_LOG2E;
        else v *= p.scale_log2;
        sc[i] = seen ? v : -INFINITY;
        m = fmaxf(m, sc[i]);
      }
      m = vk_warp_max(m);
      float m_old = row_m[r], m_new = fmaxf(m_old, m);
      float base = m_new == -INFINITY ? 0.f : m_new; /* a row with no key yet stays all-zero */
      float sum = 0.f;
#pragma unroll
      for (int i = 0; i < S::BN / 32; i++) {
        float e = exp2f(sc[i] - base);
        sp[r * S::LDP + lane + 32 * i] = vk_to_bf16(e);
        sum += e;
      }
      sum = vk_warp_sum(sum);
      if (lane == 0) {
        float alpha = exp2f(m_old - base);
        row_alpha[r] = alpha;
        row_l[r] = row_l[r] * alpha + sum;
        row_m[r] = m_new;
      }
    }
    __syncwarp();
    for (int i = lane; i < 16 * D; i += 32) {
      int r = warp * 16 + i / D;
      so[r * S::LDO + i % D] *= row_alpha[r];
    }
    __syncwarp();

    /* O strip += P strip . V */
    for (int dj = 0; dj < D / 16; dj++) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
      float* o = so + warp * 16 * S::LDO + dj * 16;
      wmma::load_matrix_sync(acc, o, S::LDO, wmma::mem_row_major);
      for (int kk = 0; kk < S::BN / 16; kk++) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> a;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::row_major> b;
        wmma::load_matrix_sync(a, sp + warp * 16 * S::LDP + kk * 16, S::LDP);
        wmma::load_matrix_sync(b, sv + kk * 16 * S::LDH + dj * 16, S::LDH);
        wmma::mma_sync(acc, a, b, acc);
      }
      wmma::store_matrix_sync(o, acc, S::LDO, wmma::mem_row_major);
    }
  }
  __syncwarp();
  for (int c = lane; c < 16 * D / 8; c += 32) {
    int r = warp * 16 + c / (D / 8), part = c % (D / 8);
    if (row_pos[r] < 0) continue;
    float inv = 1.f / row_l[r], f[8];
#pragma unroll
    for (int i = 0; i < 8; i++) f[i] = so[r * S::LDO + part * 8 + i] * inv;
    int t = first + r / G, qh = kvh * G + r % G;
    reinterpret_cast<uint4*>(p.out + ((int64_t)(q0 + t) * p.n_q_heads + qh) * D)[part] = vk_pack8(f);
  }
  __syncthreads(); /* shared memory is reused by the block's next tile */
}

template <int D>
__global__ void __launch_bounds__(THREADS) prefill_kernel(AttentionParams p, int tokens_per_tile) {
  extern __shared__ __align__(128) char smem[];
  int total = p.tile_start[p.n_seqs], kvh = blockIdx.y;
  for (int item = blockIdx.x; item < total; item += gridDim.x) {
    int lo = 0, hi = p.n_seqs - 1; /* last sequence whose first tile is <= item */
    while (lo < hi) {
      int mid = (lo + hi + 1) / 2;
      if (p.tile_start[mid] <= item) lo = mid;
      else hi = mid - 1;
    }
    prefill_tile<D>(p, smem, lo, item - p.tile_start[lo], kvh, tokens_per_tile);
  }
}

template <int D>
static int launch(const AttentionParams& p, cudaStream_t s) {
  using S = PrefillShape<D>;
  static int blocks_per_sm = -1;
  if (blocks_per_sm < 0) {
    if (S::BYTES > vk_max_smem_optin()) {
      vk_fail("vk_paged_attention: head_dim %d needs %d bytes of shared memory, the device allows %d", D, S::BYTES,
              vk_max_smem_optin());
      return 0;
    }
    if (vk_check(cudaFuncSetAttribute(prefill_kernel<D>, cudaFuncAttributeMaxDynamicSharedMemorySize, S::BYTES),
                 "vk_paged_attention: cudaFuncSetAttribute"))
      return 0;
    if (vk_check(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks_per_sm, prefill_kernel<D>, THREADS, S::BYTES),
                 "vk_paged_attention: occupancy"))
      return 0;
    blocks_per_sm = max(blocks_per_sm, 1);
  }
  int tpt = BM / p.group;
  plan_kernel<<<1, 1024, 0, s>>>(p, tpt);
  if (VK_CHECK_LAUNCH("vk_paged_attention: plan")) return 0;
  int gx = max(1, vk_sm_count() * blocks_per_sm / p.n_kv_heads);
  prefill_kernel<D><<<dim3(gx, p.n_kv_heads), THREADS, S::BYTES, s>>>(p, tpt);
  return !VK_CHECK_LAUNCH("vk_paged_attention: prefill");
}

int vk_launch_prefill_attention(const AttentionParams& p, cudaStream_t s) {
  if (p.group > BM) {
    vk_fail("vk_paged_attention: %d query heads per kv head exceeds the prefill tile (%d)", p.group, BM);
    return 0;
  }
  switch (p.head_dim) {
    case 16: return launch<16>(p, s);
    case 32: return launch<32>(p, s);
    case 64: return launch<64>(p, s);
    case 128: return launch<128>(p, s);
    case 256: return launch<256>(p, s);
  }
  return 0;
}
