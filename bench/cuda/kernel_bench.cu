/* Per-kernel timings of the CUDA library through its C ABI, beside the bandwidth roofline measured in the
 * same run (a device-to-device copy). Shapes: Llama-3-8B (32 q / 8 kv heads of 128, hidden 4096,
 * intermediate 14336, vocab 128256), KV blocks of 16 tokens.
 *
 * Build and run on the GPU machine (scripts/gpu/cuda-check.sh, phase kernels):
 *   nvcc -O3 -std=c++17 -Inative/include bench/cuda/kernel_bench.cu -Lbuild/native -lvk_cuda -o /tmp/kernel_bench
 *   LD_LIBRARY_PATH=build/native /tmp/kernel_bench > kernels.json
 * Each op is queued `reps` times and then synchronized: the figure is wall time per call, so it includes
 * launch cost where the kernel is shorter than it (the same as a step without CUDA graphs sees). */
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "vk_device.h"

typedef uint16_t bf16_bits;

static void check(const char* what) {
  const char* e = vk_last_error();
  if (e) {
    fprintf(stderr, "%s: %s\n", what, e);
    exit(1);
  }
}

static void* dev_alloc(int64_t bytes) {
  void* p = vk_alloc(bytes);
  if (!p) {
    fprintf(stderr, "vk_alloc(%lld) failed\n", (long long)bytes);
    exit(1);
  }
  return p;
}

/* Random bf16 values in [-1, 1) uploaded in chunks. */
static void fill_bf16(void* dst, int64_t n, uint32_t seed) {
  const int64_t chunk = 1 << 24;
  std::vector<bf16_bits> h((size_t)(n < chunk ? n : chunk));
  for (int64_t off = 0; off < n; off += chunk) {
    int64_t m = n - off < chunk ? n - off : chunk;
    for (int64_t i = 0; i < m; i++) {
      seed = seed * 1664525u + 1013904223u;
      float f = (float)((seed >> 8) & 0xffff) / 32768.f - 1.f;
      uint32_t u;
      memcpy(&u, &f, 4);
      h[(size_t)i] = (bf16_bits)(u >> 16);
    }
    vk_memcpy_h2d((char*)dst + off * 2, h.data(), m * 2);
  }
}

static void* dev_ints(const std::vector<int32_t>& v) {
  void* p = dev_alloc((int64_t)v.size() * 4 + 4);
  vk_memcpy_h2d(p, v.data(), (int64_t)v.size() * 4);
  return p;
}

static int reps_scale = 1; /* KB_REPS_DIV=N divides every repetition count (for a profiler run) */

template <typename F>
static double time_us(F f, int reps) {
  reps = std::max(1, reps / reps_scale);
  f();
  vk_synchronize();
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < reps; i++) f();
  vk_synchronize();
  auto t1 = std::chrono::steady_clock::now();
  return std::chrono::duration<double, std::micro>(t1 - t0).count() / reps;
}

static bool first_row = true;
static void row(const char* op, const char* shape, double us, double bytes, double roofline_gbs) {
  double gbs = bytes / us / 1e3;
  printf("%s    {\"op\": \"%s\", \"shape\": \"%s\", \"us\": %.2f, \"bytes\": %.0f, \"gb_per_s\": %.1f, \"of_roofline\": %.3f}",
         first_row ? "" : ",\n", op, shape, us, bytes, gbs, gbs / roofline_gbs);
  first_row = false;
  fprintf(stderr, "%-16s %-34s %9.2f us %8.1f GB/s  %5.1f%% of copy\n", op, shape, us, gbs, 100 * gbs / roofline_gbs);
}

int main() {
  if (getenv("KB_REPS_DIV")) reps_scale = std::max(1, atoi(getenv("KB_REPS_DIV")));
  if (vk_device_count() < 1) {
    fprintf(stderr, "no CUDA device\n");
    return 1;
  }
  const int NQ = 32, NKV = 8, D = 128, BS = 16, H = 4096, I = 14336, V = 128256;
  printf("{\"device\": \"%s\", \"rows\": [\n", vk_variant());

  /* Roofline: a 2 GiB device copy, read + write counted. */
  const int64_t copy_bytes = 1ll << 31;
  void* ca = dev_alloc(copy_bytes);
  void* cb = dev_alloc(copy_bytes);
  double copy_us = time_us([&] { vk_memcpy_d2d(cb, ca, copy_bytes); }, 10);
  double roof = 2.0 * copy_bytes / copy_us / 1e3;
  row("copy", "2 GiB d2d", copy_us, 2.0 * copy_bytes, roof);
  vk_free(ca);
  vk_free(cb);

  /* Decode attention over a KV pool big enough for the largest case. */
  struct Case { int batch, ctx; };
  const Case cases[] = {{1, 512}, {1, 4096}, {1, 32768}, {16, 2048}, {64, 1024}, {256, 512}, {256, 2048}};
  int64_t max_tokens = 0;
  for (const Case& c : cases) max_tokens = std::max<int64_t>(max_tokens, (int64_t)c.batch * c.ctx);
  int64_t pool_blocks = max_tokens / BS + 1;
  int64_t kv_elems = pool_blocks * BS * NKV * D;
  void* kc = dev_alloc(kv_elems * 2);
  void* vc = dev_alloc(kv_elems * 2);
  fill_bf16(kc, kv_elems, 1);
  fill_bf16(vc, kv_elems, 2);
  void* q = dev_alloc(256ll * NQ * D * 2);
  void* out = dev_alloc(256ll * NQ * D * 2);
  fill_bf16(q, 256ll * NQ * D, 3);
  for (const Case& c : cases) {
    int bps = c.ctx / BS;
    std::vector<int32_t> tables((size_t)c.batch * bps), lens((size_t)c.batch, c.ctx), qsl((size_t)c.batch + 1);
    for (int s = 0; s < c.batch; s++) {
      for (int b = 0; b < bps; b++) tables[(size_t)s * bps + b] = (int32_t)(((int64_t)s * bps + b * 7919) % pool_blocks);
      qsl[(size_t)s + 1] = s + 1;
    }
    void *t = dev_ints(tables), *l = dev_ints(lens), *qs = dev_ints(qsl);
    double us = time_us([&] {
      vk_paged_attention((vk_act*)out, (vk_act*)q, (vk_act*)kc, (vk_act*)vc, (int32_t*)t, bps, (int32_t*)l,
                         (int32_t*)qs, c.batch, 1, NQ, NKV, D, BS, 0.0883883f, 0, 0.f);
    }, 50);
    check("paged_attention");
    char shape[64];
    snprintf(shape, sizeof shape, "batch %d, ctx %d", c.batch, c.ctx);
    row("decode_attention", shape, us, 2.0 * c.batch * c.ctx * NKV * D * 2, roof);
    vk_free(t), vk_free(l), vk_free(qs);
  }
  vk_free(kc);
  vk_free(vc);

  /* RoPE + cache write. */
  for (int n : {1, 256}) {
    void* qq = dev_alloc((int64_t)n * NQ * D * 2);
    void* kk = dev_alloc((int64_t)n * NKV * D * 2);
    void* vv = dev_alloc((int64_t)n * NKV * D * 2);
    void* kcache = dev_alloc((int64_t)n * NKV * D * 2);
    void* vcache = dev_alloc((int64_t)n * NKV * D * 2);
    fill_bf16(qq, (int64_t)n * NQ * D, 4);
    fill_bf16(kk, (int64_t)n * NKV * D, 5);
    fill_bf16(vv, (int64_t)n * NKV * D, 6);
    std::vector<int32_t> pos((size_t)n), slots((size_t)n);
    for (int i = 0; i < n; i++) pos[(size_t)i] = 500 + i, slots[(size_t)i] = i;
    std::vector<float> inv(D / 2);
    for (int i = 0; i < D / 2; i++) inv[(size_t)i] = powf(500000.f, -2.f * i / D);
    void *p = dev_ints(pos), *sl = dev_ints(slots);
    void* f = dev_alloc(D / 2 * 4);
    vk_memcpy_h2d(f, inv.data(), D / 2 * 4);
    double us = time_us([&] {
      vk_rope_and_cache((vk_act*)qq, (vk_act*)kk, (vk_act*)kcache, (vk_act*)vcache, (vk_act*)vv, (int32_t*)p,
                        (int32_t*)sl, (float*)f, n, NQ, NKV, D);
    }, 200);
    check("rope_and_cache");
    char shape[64];
    snprintf(shape, sizeof shape, "%d tokens", n);
    row("rope_and_cache", shape, us, (double)n * (NQ + NKV) * D * 2 * 2 + (double)n * NKV * D * 2 * 3, roof);
    vk_free(qq), vk_free(kk), vk_free(vv), vk_free(kcache), vk_free(vcache), vk_free(p), vk_free(sl), vk_free(f);
  }

  /* Matmuls of one layer and the head, bf16 weights. */
  struct Mm { const char* name; int n, k; };
  const Mm mms[] = {{"qkv", NQ * D + 2 * NKV * D, H}, {"q", NQ * D, H}, {"k", NKV * D, H}, {"o", H, NQ * D},
                    {"gate_up", 2 * I, H}, {"down", H, I}, {"lm_head", V, H}};
  for (int m : {1, 256}) {
    void* x = dev_alloc((int64_t)m * I * 2);
    fill_bf16(x, (int64_t)m * I, 7);
    for (const Mm& mm : mms) {
      void* w = dev_alloc((int64_t)mm.n * mm.k * 2);
      fill_bf16(w, (int64_t)mm.n * mm.k, 8);
      void* o = dev_alloc((int64_t)m * mm.n * 4);
      bool head = strcmp(mm.name, "lm_head") == 0;
      double us = time_us([&] {
        if (head) vk_matmul_f32((float*)o, (vk_act*)x, w, VK_BF16, nullptr, m, mm.n, mm.k);
        else vk_matmul((vk_act*)o, (vk_act*)x, w, VK_BF16, nullptr, m, mm.n, mm.k);
      }, 50);
      check(mm.name);
      char shape[64];
      snprintf(shape, sizeof shape, "m %d, %d x %d", m, mm.n, mm.k);
      char op[32];
      snprintf(op, sizeof op, "matmul %s", mm.name);
      row(op, shape, us, (double)mm.n * mm.k * 2 + (double)m * (mm.k * 2 + mm.n * (head ? 4 : 2)), roof);
      vk_free(w), vk_free(o);
    }
    vk_free(x);
  }

  /* Sampling over the 128k vocabulary: greedy, and temperature 1 (the benchmarks' setting). */
  for (int n : {1, 256}) {
    for (int greedy = 1; greedy >= 0; greedy--) {
      std::vector<float> hl((size_t)n * V);
      uint32_t seed = 9;
      for (float& x : hl) seed = seed * 1664525u + 1013904223u, x = (float)(seed >> 8) / (1 << 24) * 8.f;
      void* logits = dev_alloc((int64_t)n * V * 4);
      vk_memcpy_h2d(logits, hl.data(), (int64_t)n * V * 4);
      std::vector<int32_t> rows((size_t)n), ip((size_t)n * 4), starts((size_t)n + 1, 0);
      std::vector<double> fp((size_t)n * 4);
      for (int r = 0; r < n; r++) {
        rows[(size_t)r] = r;
        fp[(size_t)r * 4] = greedy ? 0 : 1, fp[(size_t)r * 4 + 1] = 1, fp[(size_t)r * 4 + 2] = 0, fp[(size_t)r * 4 + 3] = 0.5;
        ip[(size_t)r * 4] = 0, ip[(size_t)r * 4 + 1] = -1, ip[(size_t)r * 4 + 2] = -1, ip[(size_t)r * 4 + 3] = -1;
      }
      void *drows = dev_ints(rows), *dip = dev_ints(ip), *dst = dev_ints(starts);
      void* dfp = dev_alloc((int64_t)n * 4 * 8);
      vk_memcpy_h2d(dfp, fp.data(), (int64_t)n * 4 * 8);
      void *tok = dev_alloc(n * 4), *lp = dev_alloc(n * 4), *rk = dev_alloc(n * 4);
      void *tid = dev_alloc(n * 4 * VK_SAMPLE_MAX_LOGPROBS), *tlp = dev_alloc(n * 4 * VK_SAMPLE_MAX_LOGPROBS);
      void* saved = dev_alloc(4);
      void* dummy = dev_alloc(4);
      double us = time_us([&] {
        vk_sample((int32_t*)tok, (float*)lp, (int32_t*)rk, (int32_t*)tid, (float*)tlp, (float*)saved, (float*)logits, n,
                  V, (int32_t*)drows, n, (double*)dfp, (int32_t*)dip, (int32_t*)dst, (int32_t*)dummy, (double*)dummy,
                  (int32_t*)dummy, 0, 0);
      }, 50);
      check("sample");
      char shape[64];
      snprintf(shape, sizeof shape, "%d rows, %s", n, greedy ? "greedy" : "temperature 1");
      row("sample", shape, us, (double)n * V * 4, roof);
      vk_free(logits), vk_free(drows), vk_free(dip), vk_free(dst), vk_free(dfp), vk_free(tok), vk_free(lp);
      vk_free(rk), vk_free(tid), vk_free(tlp), vk_free(saved), vk_free(dummy);
    }
  }
  printf("\n]}\n");
  return 0;
}
