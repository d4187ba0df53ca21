/* Persistent worker pool with a parallel-for.
 *
 * A decode step makes hundreds of small kernel calls, so workers spin for a short while after a
 * job before they block on a condition variable; back-to-back calls then cost no wake-up.
 *
 * Job protocol: `state` packs (generation << 32) | CLOSED | joined-worker count. The caller
 * publishes a job by bumping the generation. A worker joins with a CAS (refused once CLOSED) and
 * leaves with a decrement. The caller runs tasks too, then closes the job and waits only for the
 * workers that joined, so a slow-to-wake worker never delays a job it did not take part in. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define VK_PAUSE() _mm_pause()
#elif defined(__aarch64__)
#define VK_PAUSE() __asm__ __volatile__("yield")
#else
#define VK_PAUSE() ((void)0)
#endif

#define CLOSED ((uint64_t)1 << 31)
#define JOINED_MASK (CLOSED - 1)
#define SPIN_NS 200000 /* how long an idle worker spins before it blocks */
#define MAX_THREADS 512
#define RANGE_GRAIN 16384 /* cost units (about scalar ops) below which a range is not split */

static struct {
  _Atomic uint64_t state;
  _Atomic int next_task;
  vk_task_fn fn;
  void* ctx;
  int n_tasks;
  _Atomic int n_sleeping;
  _Atomic int stop;
  _Atomic int busy; /* one dispatcher at a time; others run inline */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  pthread_t* workers;
  int n_workers;
  int size; /* threads incl. the caller; 0 until first use */
} pool = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static _Thread_local int in_task;
static _Thread_local struct {
  void* p;
  int64_t cap;
} scratch[2];

static inline uint32_t gen_of(uint64_t s) { return (uint32_t)(s >> 32); }

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void run_tasks(void) {
  for (;;) {
    int t = atomic_fetch_add_explicit(&pool.next_task, 1, memory_order_relaxed);
    if (t >= pool.n_tasks) return;
    pool.fn(pool.ctx, t);
  }
}

/* Returns the state once its generation differs from `seen` (or stop is set). */
static uint64_t wait_for_job(uint32_t seen) {
  int64_t t0 = now_ns();
  for (int i = 1;; i++) {
    uint64_t s = atomic_load_explicit(&pool.state, memory_order_acquire);
    if (gen_of(s) != seen || atomic_load_explicit(&pool.stop, memory_order_relaxed)) return s;
    VK_PAUSE();
    if ((i & 255) == 0 && now_ns() - t0 > SPIN_NS) break;
  }
  pthread_mutex_lock(&pool.mu);
  atomic_fetch_add(&pool.n_sleeping, 1);
  while (gen_of(atomic_load(&pool.state)) == seen && !atomic_load(&pool.stop)) pthread_cond_wait(&pool.cv, &pool.mu);
  atomic_fetch_sub(&pool.n_sleeping, 1);
  pthread_mutex_unlock(&pool.mu);
  return atomic_load_explicit(&pool.state, memory_order_acquire);
}

static int try_join(uint64_t s, uint32_t gen) {
  while (gen_of(s) == gen && !(s & CLOSED)) {
    if (atomic_compare_exchange_weak_explicit(&pool.state, &s, s + 1, memory_order_acquire, memory_order_acquire))
      return 1;
  }
  return 0;
}

static void* worker_main(void* arg) {
  uint32_t seen = (uint32_t)(uintptr_t)arg;
  in_task = 1;
  for (;;) {
    uint64_t s = wait_for_job(seen);
    if (atomic_load(&pool.stop)) break;
    seen = gen_of(s);
    if (try_join(s, seen)) {
      run_tasks();
      atomic_fetch_sub_explicit(&pool.state, 1, memory_order_release);
    }
  }
  for (int i = 0; i < 2; i++) free(scratch[i].p);
  return NULL;
}

static void stop_workers(void) {
  if (pool.n_workers == 0) return;
  pthread_mutex_lock(&pool.mu);
  atomic_store(&pool.stop, 1);
  pthread_cond_broadcast(&pool.cv);
  pthread_mutex_unlock(&pool.mu);
  for (int i = 0; i < pool.n_workers; i++) pthread_join(pool.workers[i], NULL);
  free(pool.workers);
  pool.workers = NULL;
  pool.n_workers = 0;
  atomic_store(&pool.stop, 0);
}

static int default_threads(void) {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return VK_MAX(1, CPU_COUNT(&set));
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (int)n : 1;
}

int vk_set_num_threads(int n) {
  n = VK_MIN(VK_MAX(n, 1), MAX_THREADS);
  if (n == pool.size) return n;
  stop_workers();
  pool.workers = n > 1 ? calloc((size_t)n - 1, sizeof(pthread_t)) : NULL;
  uint32_t gen = gen_of(atomic_load(&pool.state));
  for (int i = 0; pool.workers && i < n - 1; i++) {
    if (pthread_create(&pool.workers[i], NULL, worker_main, (void*)(uintptr_t)gen) != 0) break;
    pool.n_workers++;
  }
  pool.size = pool.n_workers + 1;
  return pool.size;
}

int vk_pool_size(void) {
  if (pool.size == 0) vk_set_num_threads(default_threads());
  return pool.size;
}

int vk_num_threads(void) { return vk_pool_size(); }

void vk_parallel_for(int n_tasks, vk_task_fn fn, void* ctx) {
  if (n_tasks <= 0) return;
  int idle = 0;
  if (n_tasks == 1 || in_task || vk_pool_size() == 1 || !atomic_compare_exchange_strong(&pool.busy, &idle, 1)) {
    for (int t = 0; t < n_tasks; t++) fn(ctx, t);
    return;
  }
  pool.fn = fn;
  pool.ctx = ctx;
  pool.n_tasks = n_tasks;
  atomic_store_explicit(&pool.next_task, 0, memory_order_relaxed);
  /* The previous job is closed and drained, so the low bits are zero again here. */
  atomic_store(&pool.state, (uint64_t)(gen_of(atomic_load(&pool.state)) + 1u) << 32);
  if (atomic_load(&pool.n_sleeping) > 0) {
    pthread_mutex_lock(&pool.mu);
    pthread_cond_broadcast(&pool.cv);
    pthread_mutex_unlock(&pool.mu);
  }
  in_task = 1;
  run_tasks();
  in_task = 0;
  uint64_t s = atomic_fetch_or(&pool.state, CLOSED);
  while (s & JOINED_MASK) {
    VK_PAUSE();
    s = atomic_load_explicit(&pool.state, memory_order_acquire);
  }
  atomic_store_explicit(&pool.busy, 0, memory_order_release);
}

typedef struct {
  vk_range_fn fn;
  void* ctx;
  int n, chunk;
} range_job;

static void range_task(void* arg, int t) {
  range_job* j = arg;
  int begin = t * j->chunk;
  j->fn(j->ctx, begin, VK_MIN(j->n, begin + j->chunk));
}

void vk_parallel_range(int n, int64_t cost_per_item, vk_range_fn fn, void* ctx) {
  if (n <= 0) return;
  int64_t total = (int64_t)n * VK_MAX(cost_per_item, 1);
  int64_t want = VK_MIN(total / RANGE_GRAIN, (int64_t)n);
  if (want <= 1 || in_task) {
    fn(ctx, 0, n);
    return;
  }
  /* A few chunks per thread balance uneven rows without paying much per chunk. */
  int chunks = (int)VK_MIN(want, (int64_t)vk_pool_size() * 4);
  range_job j = {fn, ctx, n, (n + chunks - 1) / chunks};
  vk_parallel_for((n + j.chunk - 1) / j.chunk, range_task, &j);
}

void* vk_scratch(int slot, int64_t nbytes) {
  if (nbytes > scratch[slot].cap) {
    free(scratch[slot].p);
    int64_t cap = (nbytes + 4095) & ~(int64_t)4095;
    scratch[slot].p = aligned_alloc(64, (size_t)cap);
    if (!scratch[slot].p) abort(); /* kernels cannot fail; a few hundred KiB missing is fatal anyway */
    scratch[slot].cap = cap;
  }
  return scratch[slot].p;
}

/* Runs on dlclose and at exit: workers execute this library's code, so they must be gone first. */
__attribute__((destructor)) static void pool_shutdown(void) {
  stop_workers();
  for (int i = 0; i < 2; i++) {
    free(scratch[i].p);
    scratch[i].p = NULL;
    scratch[i].cap = 0;
  }
}
