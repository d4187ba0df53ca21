/* Embedding lookup / row gather with conversion to f32. */
#include "common.h"

typedef struct {
  float* out;
  const void* table;
  int dtype;
  const int32_t* ids;
  int hidden;
} embedding_job;

static void embedding_rows(void* arg, int begin, int end) {
  const embedding_job* j = arg;
  int64_t row_bytes = (int64_t)j->hidden * vk_dtype_size(j->dtype);
  for (int t = begin; t < end; t++) {
    const char* row = (const char*)j->table + (int64_t)j->ids[t] * row_bytes;
    vk_convert_f32(j->out + (int64_t)t * j->hidden, row, j->dtype, j->hidden);
  }
}

void vk_embedding(float* out, const void* table, int dtype, int n_rows, const int32_t* ids, int n_tokens,
                  int hidden) {
  /* One pass over the ids before any row moves: a bad id fails the op with the output untouched. */
  for (int t = 0; t < n_tokens; t++) {
    if (ids[t] < 0 || ids[t] >= n_rows) {
      vk_fail("vk_embedding: token id %d at position %d is outside the table's %d rows", ids[t], t, n_rows);
      return;
    }
  }
  embedding_job j = {out, table, dtype, ids, hidden};
  vk_parallel_range(n_tokens, hidden, embedding_rows, &j);
}
