/* Memory read bandwidth with all threads: the roofline peer for batch-1 decode. Prints GB/s. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct { const uint64_t* p; size_t n; uint64_t sum; } job_t;

static void* reader(void* arg) {
  job_t* j = arg;
  uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  for (size_t i = 0; i + 4 <= j->n; i += 4) { s0 += j->p[i]; s1 += j->p[i + 1]; s2 += j->p[i + 2]; s3 += j->p[i + 3]; }
  j->sum = s0 + s1 + s2 + s3;
  return NULL;
}

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }

int main(int argc, char** argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 1;
  size_t bytes = (argc > 2 ? (size_t)atoll(argv[2]) : 1024) << 20;
  size_t n = bytes / 8;
  uint64_t* buf = malloc(bytes);
  if (!buf) return 1;
  memset(buf, 1, bytes);
  double best = 0;
  uint64_t check = 0;
  for (int rep = 0; rep < 5; rep++) {
    pthread_t th[256]; job_t jobs[256];
    double t0 = now();
    for (int t = 0; t < threads; t++) {
      jobs[t] = (job_t){ buf + n / threads * t, n / threads, 0 };
      pthread_create(&th[t], NULL, reader, &jobs[t]);
    }
    for (int t = 0; t < threads; t++) { pthread_join(th[t], NULL); check += jobs[t].sum; }
    double gbs = bytes / (now() - t0) / 1e9;
    if (gbs > best) best = gbs;
  }
  printf("%.3f %llu\n", best, (unsigned long long)(check & 1));
  return 0;
}
