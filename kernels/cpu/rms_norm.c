/* RMSNorm and the fused residual-add + RMSNorm. The mean of squares is accumulated in f32, as HF
 * does after upcasting; the result is weight * (x * rsqrt(mean + eps)). */
#include "common.h"

typedef struct {
  float* out;
  float* residual;
  const float* x;
  const void* w;
  int wdtype, hidden;
  float eps;
} norm_job;

static float sum_squares(const float* x, int n) {
  vkf a0 = vkf_zero(), a1 = vkf_zero();
  int i = 0;
  for (; i + 2 * VK_W <= n; i += 2 * VK_W) {
    vkf v0 = vkf_load(x + i), v1 = vkf_load(x + i + VK_W);
    a0 = vkf_fma(v0, v0, a0);
    a1 = vkf_fma(v1, v1, a1);
  }
  for (; i + VK_W <= n; i += VK_W) {
    vkf v = vkf_load(x + i);
    a0 = vkf_fma(v, v, a0);
  }
  float s = vkf_hsum(vkf_add(a0, a1));
  for (; i < n; i++) s += x[i] * x[i];
  return s;
}

VK_INLINE void scale_row(float* out, const float* x, const void* w, int n, float r, int dtype) {
  vkf rv = vkf_set1(r);
  int i = 0;
  for (; i + VK_W <= n; i += VK_W) vkf_store(out + i, vkf_mul(vk_load_w(w, i, dtype), vkf_mul(vkf_load(x + i), rv)));
  for (; i < n; i++) out[i] = vk_load_w1(w, i, dtype) * (x[i] * r);
}

static void norm_row(float* out, const float* x, const void* w, int wdtype, int n, float eps) {
  float r = 1.0f / sqrtf(sum_squares(x, n) / (float)n + eps);
  if (wdtype == VK_BF16) scale_row(out, x, w, n, r, VK_BF16);
  else if (wdtype == VK_F16) scale_row(out, x, w, n, r, VK_F16);
  else scale_row(out, x, w, n, r, VK_F32);
}

static void norm_rows(void* arg, int begin, int end) {
  const norm_job* j = arg;
  for (int t = begin; t < end; t++) {
    int64_t off = (int64_t)t * j->hidden;
    norm_row(j->out + off, j->x + off, j->w, j->wdtype, j->hidden, j->eps);
  }
}

static void add_norm_rows(void* arg, int begin, int end) {
  const norm_job* j = arg;
  for (int t = begin; t < end; t++) {
    int64_t off = (int64_t)t * j->hidden;
    float* res = j->residual + off;
    const float* x = j->x + off;
    for (int i = 0; i < j->hidden; i++) res[i] += x[i];
    norm_row(j->out + off, res, j->w, j->wdtype, j->hidden, j->eps);
  }
}

void vk_rms_norm(float* out, const float* x, const void* w, int wdtype, int n_rows, int hidden, float eps) {
  norm_job j = {out, NULL, x, w, wdtype, hidden, eps};
  vk_parallel_range(n_rows, (int64_t)hidden * 3, norm_rows, &j);
}

void vk_add_rms_norm(float* out, float* residual, const float* x, const void* w, int wdtype, int n_rows,
                     int hidden, float eps) {
  norm_job j = {out, residual, x, w, wdtype, hidden, eps};
  vk_parallel_range(n_rows, (int64_t)hidden * 4, add_norm_rows, &j);
}
