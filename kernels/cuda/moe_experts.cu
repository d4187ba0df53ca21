/* The routed experts of a mixture-of-experts block as grouped GEMMs on the tensor cores.
 *
 * plan_kernel (one block) groups the (token, slot) pairs by expert on the device: rows of one expert are
 * contiguous, and each expert's rows are cut into tiles of BM rows, so every tile belongs to one expert.
 * Then one launch per projection covers every tile of every expert: gate_up_kernel multiplies a tile's
 * gathered token rows by its expert's gate and up rows at once and writes silu(gate) * up; down_kernel
 * multiplies those by the expert's down rows. The grid is sized for the most tiles any routing can make
 * (rows / BM + n_experts); tiles past the count the plan found exit at once. scatter_kernel sums each token's
 * rows times its routing weights, in ascending expert order, rounding as HF's bf16 index_add does.
 * GEMM tiles: 64 x 64 outputs, 4 warps of 32 x 32 (16x16x16 bf16 WMMA, f32 accumulation), K in steps of 32.
 * Decode steps (at most GEMV_MAX_ROWS rows) take warp-per-output GEMVs instead, one launch per projection
 * too: a 64-row tile holding one token would stream each weight tile through a single block. */
#include <mma.h>

#include "common.cuh"

using namespace nvcuda;

#define BM 64
#define BN 64
#define BK 32
#define LDK (BK + 8)  /* bf16 row stride of the A and B tiles */
#define LDC (BN + 4)  /* f32 row stride of the epilogue tiles */
#define THREADS 128
#define MAX_EXPERTS 1024
#define PLAN_THREADS 1024
/* A fault kind of this file (runtime.cu reports unknown kinds with their index, value and limit). */
#define VK_FAULT_MOE_EXPERT_ID 64
#define GEMV_MAX_ROWS 16
#define GEMV_WARPS 8

static int64_t align256(int64_t n) { return (n + 255) & ~(int64_t)255; }

struct MoeWs {
  int32_t* start;       /* [n_experts + 1] */
  int32_t* tile_expert; /* [max_tiles] */
  int32_t* tile_row0;   /* [max_tiles] */
  int32_t* n_tiles;     /* [1] */
  int32_t* token;       /* [rows]: token of each grouped row */
  int32_t* row_of;      /* [rows]: grouped row of each (token, slot); -1 for a bad expert id */
  bf16* act;            /* [rows, inter] */
  bf16* y;              /* [rows, hidden] */
};

static int max_tiles(int64_t rows, int n_experts) { return (int)((rows + BM - 1) / BM) + n_experts; }

static int64_t carve(MoeWs* ws, char* base, int n_tokens, int hidden, int inter, int n_experts, int top_k) {
  int64_t rows = (int64_t)n_tokens * top_k, tiles = max_tiles(rows, n_experts), off = 0;
#define PART(field, type, count)                                   \
  if (ws) ws->field = (type*)(base + off);                         \
  off += align256((int64_t)(count) * (int64_t)sizeof(type));
  PART(start, int32_t, n_experts + 1)
  PART(tile_expert, int32_t, tiles)
  PART(tile_row0, int32_t, tiles)
  PART(n_tiles, int32_t, 1)
  PART(token, int32_t, rows)
  PART(row_of, int32_t, rows)
  PART(act, bf16, rows * inter)
  PART(y, bf16, rows * hidden)
#undef PART
  return off;
}

int64_t vk_moe_workspace_bytes(int n_tokens, int hidden, int inter, int n_experts, int top_k) {
  return carve(NULL, NULL, n_tokens, hidden, inter, n_experts, top_k);
}

/* Counting sort by expert (positions within an expert are claimed atomically: each row is computed on its
 * own, so their order changes no result), then the tile list. */
__global__ void plan_kernel(MoeWs ws, const int32_t* ids, int rows, int n_experts, int top_k, vk_fault fault) {
  __shared__ int count[MAX_EXPERTS], base[MAX_EXPERTS + 1], tile_base[MAX_EXPERTS + 1];
  for (int e = threadIdx.x; e < n_experts; e += blockDim.x) count[e] = 0;
  __syncthreads();
  for (int i = threadIdx.x; i < rows; i += blockDim.x) {
    int e = ids[i];
    if (e >= 0 && e < n_experts) atomicAdd(&count[e], 1);
    else vk_report_fault(fault, VK_FAULT_MOE_EXPERT_ID, i / top_k, e, n_experts);
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    int r = 0, t = 0;
    for (int e = 0; e < n_experts; e++) {
      base[e] = r, tile_base[e] = t;
      r += count[e], t += (count[e] + BM - 1) / BM;
    }
    base[n_experts] = r, tile_base[n_experts] = t;
    ws.n_tiles[0] = t;
  }
  __syncthreads();
  for (int e = threadIdx.x; e <= n_experts; e += blockDim.x) ws.start[e] = base[e];
  for (int e = threadIdx.x; e < n_experts; e += blockDim.x) {
    for (int t = tile_base[e]; t < tile_base[e + 1]; t++) {
      ws.tile_expert[t] = e;
      ws.tile_row0[t] = base[e] + (t - tile_base[e]) * BM;
    }
    count[e] = 0;
  }
  __syncthreads();
  for (int i = threadIdx.x; i < rows; i += blockDim.x) {
    int e = ids[i];
    if (e < 0 || e >= n_experts) {
      ws.row_of[i] = -1;
      continue;
    }
    int r = base[e] + atomicAdd(&count[e], 1);
    ws.token[r] = i / top_k;
    ws.row_of[i] = r;
  }
}

/* 8 consecutive bf16 of a K-long row starting at k0 into dst, zeros past K or for a missing row. */
__device__ __forceinline__ void load8(bf16* dst, const bf16* row, int k0, int K, bool vec) {
  if (row && vec && k0 + 8 <= K) {
    *(uint4*)dst = *(const uint4*)(row + k0);
    return;
  }
#pragma unroll
  for (int i = 0; i < 8; i++) dst[i] = row && k0 + i < K ? row[k0 + i] : __float2bfloat16(0.f);
}

typedef wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> FragA;
typedef wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::col_major> FragB;
typedef wmma::fragment<wmma::accumulator, 16, 16, 16, float> FragC;

/* Shared memory of a tile: the A and B tiles while the K loop runs, then the f32 results over them. */
template <int NB>
struct TileSmem {
  static constexpr int A = BM * LDK * 2, B = BN * LDK * 2, LOOP = A + NB * B, OUT = NB * BM * LDC * 4;
  static constexpr int BYTES = LOOP > OUT ? LOOP : OUT;
};

/* acc[nb] += A (BM x BK, rows of sa) . B_nb^T (BN x BK, rows of sb + nb * BN * LDK) for this warp's 32 x 32 quarter. */
template <int NB>
__device__ __forceinline__ void mma_step(FragC (&acc)[NB][2][2], const bf16* sa, const bf16* sb, int wm, int wn) {
#pragma unroll
  for (int kk = 0; kk < BK; kk += 16) {
    FragA a[2];
#pragma unroll
    for (int i = 0; i < 2; i++) wmma::load_matrix_sync(a[i], sa + (wm * 32 + i * 16) * LDK + kk, LDK);
#pragma unroll
    for (int nb = 0; nb < NB; nb++) {
#pragma unroll
      for (int j = 0; j < 2; j++) {
        FragB b;
        wmma::load_matrix_sync(b, sb + nb * BN * LDK + (wn * 32 + j * 16) * LDK + kk, LDK);
#pragma unroll
        for (int i = 0; i < 2; i++) wmma::mma_sync(acc[nb][i][j], a[i], b, acc[nb][i][j]);
      }
    }
  }
}

/* One tile of out[rows, n] = A[rows, K] . W[n, K]^T for NB weight blocks at once (gate and up: NB = 2), left
 * in smem as f32 [NB][BM][LDC]. a_row(r) gives the input row of tile row r (NULL past the tile's rows);
 * w_rows[nb] the weight block's row 0. */
template <int NB, typename ARow>
__device__ void tile_gemm(char* smem, ARow a_row, const bf16* const (&w_rows)[NB], int n0, int n_valid, int K, bool vec) {
  bf16* sa = (bf16*)smem;
  bf16* sb = (bf16*)(smem + TileSmem<NB>::A);
  float* sc = (float*)smem;
  const int warp = threadIdx.x >> 5, wm = warp >> 1, wn = warp & 1;
  FragC acc[NB][2][2];
#pragma unroll
  for (int nb = 0; nb < NB; nb++)
#pragma unroll
    for (int i = 0; i < 2; i++)
#pragma unroll
      for (int j = 0; j < 2; j++) wmma::fill_fragment(acc[nb][i][j], 0.f);
  for (int k0 = 0; k0 < K; k0 += BK) {
    /* BM x BK = 256 chunks of 8 for A, as many per weight block: two each per thread. */
    for (int c = threadIdx.x; c < BM * BK / 8; c += THREADS) {
      int r = c / (BK / 8), kc = (c % (BK / 8)) * 8;
      load8(sa + r * LDK + kc, a_row(r), k0 + kc, K, vec);
#pragma unroll
      for (int nb = 0; nb < NB; nb++)
        load8(sb + nb * BN * LDK + r * LDK + kc, r < n_valid ? w_rows[nb] + (int64_t)(n0 + r) * K : nullptr, k0 + kc, K, vec);
    }
    __syncthreads();
    mma_step<NB>(acc, sa, sb, wm, wn);
    __syncthreads();
  }
#pragma unroll
  for (int nb = 0; nb < NB; nb++)
#pragma unroll
    for (int i = 0; i < 2; i++)
#pragma unroll
      for (int j = 0; j < 2; j++)
        wmma::store_matrix_sync(sc + nb * BM * LDC + (wm * 32 + i * 16) * LDC + wn * 32 + j * 16, acc[nb][i][j], LDC,
                                wmma::mem_row_major);
  __syncthreads();
}

struct TileRows {
  int expert, row0, rows;
};

__device__ __forceinline__ bool tile_of(const MoeWs& ws, TileRows& t) {
  if ((int)blockIdx.y >= ws.n_tiles[0]) return false;
  t.expert = ws.tile_expert[blockIdx.y];
  t.row0 = ws.tile_row0[blockIdx.y];
  t.rows = min(BM, ws.start[t.expert + 1] - t.row0);
  return true;
}

/* act[r, n] = silu(gate) * up for a tile's gathered token rows, gate and up as HF rounds them (bf16 each). */
__global__ void __launch_bounds__(THREADS) gate_up_kernel(MoeWs ws, const bf16* x, const bf16* w_gate_up, int hidden, int inter, bool vec) {
  __shared__ __align__(128) char smem[TileSmem<2>::BYTES];
  const float* sc = (const float*)smem;
  TileRows t;
  if (!tile_of(ws, t)) return;
  const int n0 = blockIdx.x * BN, n_valid = min(BN, inter - n0);
  const bf16* w = w_gate_up + (int64_t)t.expert * 2 * inter * hidden;
  const bf16* const rows[2] = {w, w + (int64_t)inter * hidden};
  auto a_row = [&](int r) -> const bf16* { return r < t.rows ? x + (int64_t)ws.token[t.row0 + r] * hidden : nullptr; };
  tile_gemm<2>(smem, a_row, rows, n0, n_valid, hidden, vec);
  for (int i = threadIdx.x; i < t.rows * BN; i += THREADS) {
    int r = i / BN, c = i % BN;
    if (c >= n_valid) continue;
    float g = vk_round_bf16(sc[r * LDC + c]), u = vk_round_bf16(sc[BM * LDC + r * LDC + c]);
    float a = vk_round_bf16(g / (1.f + expf(-g)));
    ws.act[(int64_t)(t.row0 + r) * inter + n0 + c] = vk_to_bf16(a * u);
  }
}

/* y[r, n] = act[r] . down_e[n] for a tile's rows. */
__global__ void __launch_bounds__(THREADS) down_kernel(MoeWs ws, const bf16* w_down, int hidden, int inter, bool vec) {
  __shared__ __align__(128) char smem[TileSmem<1>::BYTES];
  const float* sc = (const float*)smem;
  TileRows t;
  if (!tile_of(ws, t)) return;
  const int n0 = blockIdx.x * BN, n_valid = min(BN, hidden - n0);
  const bf16* const rows[1] = {w_down + (int64_t)t.expert * hidden * inter};
  auto a_row = [&](int r) -> const bf16* { return r < t.rows ? ws.act + (int64_t)(t.row0 + r) * inter : nullptr; };
  tile_gemm<1>(smem, a_row, rows, n0, n_valid, inter, vec);
  for (int i = threadIdx.x; i < t.rows * BN; i += THREADS) {
    int r = i / BN, c = i % BN;
    if (c < n_valid) ws.y[(int64_t)(t.row0 + r) * hidden + n0 + c] = vk_to_bf16(sc[r * LDC + c]);
  }
}

/* out[t] = sum over the token's experts, ascending, of bf16(weight * y), each add rounded to bf16. */
__global__ void scatter_kernel(bf16* out, MoeWs ws, const int32_t* ids, const float* weights, int hidden, int top_k) {
  __shared__ int row[32];
  __shared__ float wt[32];
  const int t = blockIdx.x;
  if (threadIdx.x == 0) {
    int n = 0;
    int32_t expert[32];
    for (int s = 0; s < top_k; s++) {
      int r = ws.row_of[(int64_t)t * top_k + s];
      if (r < 0) continue;
      int e = ids[(int64_t)t * top_k + s], i = n++;
      for (; i > 0 && expert[i - 1] > e; i--) expert[i] = expert[i - 1], row[i] = row[i - 1], wt[i] = wt[i - 1];
      expert[i] = e, row[i] = r, wt[i] = weights[(int64_t)t * top_k + s];
    }
    for (int i = n; i < top_k; i++) row[i] = -1;
  }
  __syncthreads();
  for (int i = threadIdx.x; i < hidden; i += blockDim.x) {
    float acc = 0.f;
    for (int s = 0; s < top_k && row[s] >= 0; s++)
      acc = vk_round_bf16(acc + vk_round_bf16(wt[s] * vk_to_f32(ws.y[(int64_t)row[s] * hidden + i])));
    out[(int64_t)t * hidden + i] = vk_to_bf16(acc);
  }
}

/* dot(a[0..K), w[0..K)) over one warp, f32 accumulation; 16-byte loads when vec. */
__device__ __forceinline__ float warp_dot(const bf16* a, const bf16* w, int K, bool vec) {
  const int lane = threadIdx.x & 31;
  float sum = 0.f;
  if (vec) {
    for (int k = lane * 8; k < K; k += 256) {
      float fa[8], fw[8];
      vk_unpack8(*(const uint4*)(a + k), fa);
      vk_unpack8(*(const uint4*)(w + k), fw);
#pragma unroll
      for (int i = 0; i < 8; i++) sum += fa[i] * fw[i];
    }
  } else {
    for (int k = lane; k < K; k += 32) sum += vk_to_f32(a[k]) * vk_to_f32(w[k]);
  }
  return vk_warp_sum(sum);
}

/* Decode: a warp per (slot, output feature) for gate and up, written at the slot's grouped row. */
__global__ void gemv_gate_up_kernel(MoeWs ws, const bf16* x, const bf16* w_gate_up, const int32_t* ids, int hidden,
                                    int inter, int top_k, bool vec) {
  const int i = blockIdx.y, f = blockIdx.x * GEMV_WARPS + (threadIdx.x >> 5), r = ws.row_of[i];
  if (f >= inter || r < 0) return;
  const bf16* xr = x + (int64_t)(i / top_k) * hidden;
  const bf16* w = w_gate_up + (int64_t)ids[i] * 2 * inter * hidden;
  float g = warp_dot(xr, w + (int64_t)f * hidden, hidden, vec), u = warp_dot(xr, w + (int64_t)(inter + f) * hidden, hidden, vec);
  if ((threadIdx.x & 31) == 0) {
    g = vk_round_bf16(g), u = vk_round_bf16(u);
    ws.act[(int64_t)r * inter + f] = vk_to_bf16(vk_round_bf16(g / (1.f + expf(-g))) * u);
  }
}

__global__ void gemv_down_kernel(MoeWs ws, const bf16* w_down, const int32_t* ids, int hidden, int inter, bool vec) {
  const int i = blockIdx.y, h = blockIdx.x * GEMV_WARPS + (threadIdx.x >> 5), r = ws.row_of[i];
  if (h >= hidden || r < 0) return;
  const bf16* w = w_down + ((int64_t)ids[i] * hidden + h) * inter;
  float y = warp_dot(ws.act + (int64_t)r * inter, w, inter, vec);
  if ((threadIdx.x & 31) == 0) ws.y[(int64_t)r * hidden + h] = vk_to_bf16(y);
}

void vk_moe_experts(bf16* out, void* workspace, const bf16* x, const void* w_gate_up, const void* w_down, int wdtype,
                    const int32_t* topk_ids, const float* topk_weights, int n_tokens, int hidden, int inter, int n_experts,
                    int top_k) {
  cudaStream_t s = vk_stream();
  if (!s || n_tokens <= 0) return;
  if (wdtype != VK_BF16) {
    vk_fail("vk_moe_experts: weights must be bf16 in the CUDA library (got dtype %d; convert at upload)", wdtype);
    return;
  }
  if (top_k < 1 || top_k > 32 || top_k > n_experts || n_experts > MAX_EXPERTS) {
    vk_fail("vk_moe_experts: top_k %d with %d experts is not supported (top_k in [1, min(32, n_experts)], at most %d experts)",
            top_k, n_experts, MAX_EXPERTS);
    return;
  }
  MoeWs ws;
  carve(&ws, (char*)workspace, n_tokens, hidden, inter, n_experts, top_k);
  const int rows = n_tokens * top_k, tiles = max_tiles(rows, n_experts);
  const bool aligned = ((uintptr_t)x | (uintptr_t)w_gate_up | (uintptr_t)w_down) % 16 == 0;
  plan_kernel<<<1, PLAN_THREADS, 0, s>>>(ws, topk_ids, rows, n_experts, top_k, vk_fault_record());
  if (VK_CHECK_LAUNCH("vk_moe_experts: plan")) return;
  if (rows <= GEMV_MAX_ROWS) {
    gemv_gate_up_kernel<<<dim3(vk_blocks(inter, GEMV_WARPS), rows), GEMV_WARPS * 32, 0, s>>>(
        ws, x, (const bf16*)w_gate_up, topk_ids, hidden, inter, top_k, aligned && hidden % 8 == 0);
    if (VK_CHECK_LAUNCH("vk_moe_experts: gate_up gemv")) return;
    gemv_down_kernel<<<dim3(vk_blocks(hidden, GEMV_WARPS), rows), GEMV_WARPS * 32, 0, s>>>(
        ws, (const bf16*)w_down, topk_ids, hidden, inter, aligned && inter % 8 == 0);
    if (VK_CHECK_LAUNCH("vk_moe_experts: down gemv")) return;
    scatter_kernel<<<n_tokens, 256, 0, s>>>(out, ws, topk_ids, topk_weights, hidden, top_k);
    VK_CHECK_LAUNCH("vk_moe_experts: scatter");
    return;
  }
  gate_up_kernel<<<dim3(vk_blocks(inter, BN), tiles), THREADS, 0, s>>>(ws, x, (const bf16*)w_gate_up, hidden, inter,
                                                                        aligned && hidden % 8 == 0);
  if (VK_CHECK_LAUNCH("vk_moe_experts: gate_up")) return;
  down_kernel<<<dim3(vk_blocks(hidden, BN), tiles), THREADS, 0, s>>>(ws, (const bf16*)w_down, hidden, inter,
                                                                      aligned && inter % 8 == 0);
  if (VK_CHECK_LAUNCH("vk_moe_experts: down")) return;
  scatter_kernel<<<n_tokens, 256, 0, s>>>(out, ws, topk_ids, topk_weights, hidden, top_k);
  VK_CHECK_LAUNCH("vk_moe_experts: scatter");
}
