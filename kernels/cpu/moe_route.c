/* Mixture-of-experts routing: softmax over each token's router logits in f32, then its top-k experts. */
#include <math.h>

#include "common.h"

typedef struct {
  int32_t* ids;
  float* weights;
  const float* logits;
  int n_experts, top_k, renormalize;
} route_job;

static void route_rows(void* arg, int begin, int end) {
  const route_job* j = arg;
  float* p = vk_scratch(0, (int64_t)j->n_experts * sizeof(float));
  for (int t = begin; t < end; t++) {
    const float* x = j->logits + (int64_t)t * j->n_experts;
    float max = x[0], sum = 0.0f;
    for (int e = 1; e < j->n_experts; e++) max = x[e] > max ? x[e] : max;
    for (int e = 0; e < j->n_experts; e++) sum += (p[e] = expf(x[e] - max));
    for (int e = 0; e < j->n_experts; e++) p[e] /= sum;
    int32_t* id = j->ids + (int64_t)t * j->top_k;
    float* w = j->weights + (int64_t)t * j->top_k;
    vk_topk_row(id, w, p, j->n_experts, j->top_k);
    if (!j->renormalize) continue;
    float kept = 0.0f;
    for (int i = 0; i < j->top_k; i++) kept += w[i];
    for (int i = 0; i < j->top_k; i++) w[i] /= kept;
  }
}

void vk_moe_route(int32_t* topk_ids, float* topk_weights, const float* router_logits, int n_tokens, int n_experts,
                  int top_k, int renormalize) {
  if (top_k < 1 || top_k > 32 || top_k > n_experts) {
    vk_fail("vk_moe_route: top_k %d is outside [1, min(32, n_experts=%d)]", top_k, n_experts);
    return;
  }
  route_job j = {topk_ids, topk_weights, router_logits, n_experts, top_k, renormalize};
  vk_parallel_range(n_tokens, (int64_t)n_experts * 24, route_rows, &j);
}
