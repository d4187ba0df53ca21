/* The routed experts of a mixture-of-experts block, grouped by expert: the rows routed to each expert are
 * gathered, multiplied by that expert's fused gate|up weights, activated (SiLU * up) and multiplied by its down
 * weights; each token's rows are then summed with their routing weights. Only the experts some token chose are
 * read, so a decode step streams top_k experts' weights, not all of them. */
#include "common.h"

/* The workspace, carved in this order, each part 64-byte aligned. */
typedef struct {
  int32_t* start;  /* [n_experts + 1]: first row of each expert in the grouped order */
  int32_t* cursor; /* [n_experts] */
  int32_t* token;  /* [rows]: the token of each grouped row */
  int32_t* row_of; /* [n_tokens * top_k]: the grouped row of each (token, slot) */
  float* x;        /* [rows, hidden]: gathered inputs, then the down projections */
  float* gate_up;  /* [rows, 2 * inter] */
  float* act;      /* [rows, inter] */
} moe_ws;

static int64_t align64(int64_t n) { return (n + 63) & ~(int64_t)63; }

static int64_t carve(moe_ws* ws, char* base, int n_tokens, int hidden, int inter, int n_experts, int top_k) {
  int64_t rows = (int64_t)n_tokens * top_k, off = 0;
#define PART(field, type, count)                                   \
  if (ws) ws->field = (type*)(base + off);                         \
  off += align64((int64_t)(count) * (int64_t)sizeof(type));
  PART(start, int32_t, n_experts + 1)
  PART(cursor, int32_t, n_experts)
  PART(token, int32_t, rows)
  PART(row_of, int32_t, rows)
  PART(x, float, rows * hidden)
  PART(gate_up, float, rows * 2 * inter)
  PART(act, float, rows * inter)
#undef PART
  return off;
}

int64_t vk_moe_workspace_bytes(int n_tokens, int hidden, int inter, int n_experts, int top_k) {
  return carve(NULL, NULL, n_tokens, hidden, inter, n_experts, top_k);
}

typedef struct {
  const moe_ws* ws;
  float* out;
  const float* x;
  const float* weights;
  int hidden, top_k;
} moe_job;

static void gather_rows(void* arg, int begin, int end) {
  const moe_job* j = arg;
  for (int r = begin; r < end; r++)
    memcpy(j->ws->x + (int64_t)r * j->hidden, j->x + (int64_t)j->ws->token[r] * j->hidden, (size_t)j->hidden * sizeof(float));
}

/* Each token's rows in grouped order, which is ascending expert order: the order HF adds the experts in. */
static void scatter_rows(void* arg, int begin, int end) {
  const moe_job* j = arg;
  const int k = j->top_k, h = j->hidden;
  for (int t = begin; t < end; t++) {
    int32_t rows[32];
    int slot[32];
    for (int s = 0; s < k; s++) {
      int r = j->ws->row_of[(int64_t)t * k + s], i = s;
      for (; i > 0 && rows[i - 1] > r; i--) rows[i] = rows[i - 1], slot[i] = slot[i - 1];
      rows[i] = r, slot[i] = s;
    }
    float* o = j->out + (int64_t)t * h;
    memset(o, 0, (size_t)h * sizeof(float));
    for (int s = 0; s < k; s++) {
      const float w = j->weights[(int64_t)t * k + slot[s]];
      const float* y = j->ws->x + (int64_t)rows[s] * h;
      for (int i = 0; i < h; i++) o[i] += w * y[i];
    }
  }
}

/* Counting sort of the (token, slot) pairs by expert, stable in token order. */
static void group_by_expert(const moe_ws* ws, const int32_t* ids, int n_tokens, int n_experts, int top_k) {
  const int64_t n = (int64_t)n_tokens * top_k;
  memset(ws->start, 0, (size_t)(n_experts + 1) * sizeof(int32_t));
  for (int64_t i = 0; i < n; i++) ws->start[ids[i] + 1]++;
  for (int e = 0; e < n_experts; e++) ws->start[e + 1] += ws->start[e];
  memcpy(ws->cursor, ws->start, (size_t)n_experts * sizeof(int32_t));
  for (int64_t i = 0; i < n; i++) {
    int r = ws->cursor[ids[i]]++;
    ws->token[r] = (int32_t)(i / top_k);
    ws->row_of[i] = r;
  }
}

void vk_moe_experts(float* out, void* workspace, const float* x, const void* w_gate_up, const void* w_down, int wdtype,
                    const int32_t* topk_ids, const float* topk_weights, int n_tokens, int hidden, int inter,
                    int n_experts, int top_k) {
  if (top_k < 1 || top_k > 32 || top_k > n_experts) {
    vk_fail("vk_moe_experts: top_k %d is outside [1, min(32, n_experts=%d)]", top_k, n_experts);
    return;
  }
  for (int64_t i = 0; i < (int64_t)n_tokens * top_k; i++) {
    if (topk_ids[i] < 0 || topk_ids[i] >= n_experts) {
      vk_fail("vk_moe_experts: expert id %d of token %d is outside [0, %d)", topk_ids[i], (int)(i / top_k), n_experts);
      return;
    }
  }
  moe_ws ws;
  carve(&ws, workspace, n_tokens, hidden, inter, n_experts, top_k);
  group_by_expert(&ws, topk_ids, n_tokens, n_experts, top_k);
  moe_job j = {&ws, out, x, topk_weights, hidden, top_k};
  const int rows = n_tokens * top_k;
  vk_parallel_range(rows, hidden, gather_rows, &j);
  const int64_t wsz = vk_dtype_size(wdtype), gu_bytes = 2 * (int64_t)inter * hidden * wsz, d_bytes = (int64_t)hidden * inter * wsz;
  for (int e = 0; e < n_experts; e++) {
    const int r0 = ws.start[e], m = ws.start[e + 1] - r0;
    if (m > 0)
      vk_matmul(ws.gate_up + (int64_t)r0 * 2 * inter, ws.x + (int64_t)r0 * hidden, (const char*)w_gate_up + e * gu_bytes,
                wdtype, NULL, m, 2 * inter, hidden);
  }
  vk_silu_mul(ws.act, ws.gate_up, rows, inter);
  for (int e = 0; e < n_experts; e++) {
    const int r0 = ws.start[e], m = ws.start[e + 1] - r0;
    if (m > 0)
      vk_matmul(ws.x + (int64_t)r0 * hidden, ws.act + (int64_t)r0 * inter, (const char*)w_down + e * d_bytes, wdtype, NULL,
                m, hidden, inter);
  }
  vk_parallel_range(n_tokens, (int64_t)top_k * hidden * 2, scatter_rows, &j);
}
