/* Library identity, the device context and stream, failure recording (the runtime's and the bad ids
 * kernels report), memory and copies. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common.cuh"

static struct {
  int started, ok;
  cudaStream_t stream;
  int sm_count, smem_optin;
  char name[320];
  vk_fault fault; /* where kernels report bad ids (common.cuh) */
} rt;

static char last_error[1024];
static int has_error;

void vk_fail(const char* fmt, ...) {
  if (has_error) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(last_error, sizeof last_error, fmt, ap);
  va_end(ap);
  has_error = 1;
}

int vk_failed(void) { return has_error; }

int vk_check(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return 0;
  vk_fail("%s: %s (%s)", what, cudaGetErrorString(err), cudaGetErrorName(err));
  return 1;
}

/* A fault a kernel reported becomes the recorded failure, unless an earlier failure holds the slot. */
static void take_fault(void) {
  volatile vk_fault_report* f = rt.fault.report;
  if (!f || !f->ready || has_error) return;
  __atomic_thread_fence(__ATOMIC_ACQUIRE);
  int index = f->index, value = f->value, limit = f->limit;
  switch (f->kind) {
    case VK_FAULT_EMBEDDING_ID:
      vk_fail("vk_embedding: token id %d at position %d is outside the table's %d rows", value, index, limit);
      break;
    case VK_FAULT_SAMPLE_ROW:
      vk_fail("vk_sample: entry %d reads logits row %d of %d", index, value, limit);
      break;
    case VK_FAULT_SAMPLE_FORCED:
      vk_fail("vk_sample: entry %d scores token id %d outside the %d-token vocabulary", index, value, limit);
      break;
    case VK_FAULT_SAMPLE_OP_TOKEN:
      vk_fail("vk_sample: logits processor %d has token id %d outside the %d-token vocabulary", index, value, limit);
      break;
    case VK_FAULT_SAMPLE_MASK_ROW:
      vk_fail("vk_sample: entry %d uses bitmask row %d of %d", index, value, limit);
      break;
    default:
      vk_fail("a kernel reported fault kind %d (index %d, value %d, limit %d)", f->kind, index, value, limit);
  }
}

const char* vk_last_error(void) {
  take_fault();
  return has_error ? last_error : NULL;
}

void vk_clear_error(void) {
  has_error = 0;
  last_error[0] = 0;
  if (rt.fault.claimed) {
    rt.fault.report->ready = 0;
    /* Queued: a kernel queued before this call and still to run may report after it. */
    vk_check(cudaMemsetAsync(rt.fault.claimed, 0, sizeof(int), rt.stream), "vk_clear_error: cudaMemsetAsync");
  }
  cudaGetLastError(); /* drop a non-sticky launch error too, so it is not reported twice */
}

vk_fault vk_fault_record(void) {
  return vk_stream() ? rt.fault : vk_fault{NULL, NULL};
}

/* Device 0 of what CUDA_VISIBLE_DEVICES exposes; the stream does not synchronize with the legacy
 * default stream, so nothing else in the process can stall it. */
static void start(void) {
  if (rt.started) return;
  rt.started = 1;
  cudaDeviceProp prop;
  if (vk_check(cudaSetDevice(0), "cudaSetDevice(0)")) return;
  if (vk_check(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties")) return;
  if (vk_check(cudaStreamCreateWithFlags(&rt.stream, cudaStreamNonBlocking), "cudaStreamCreate")) return;
  /* With unified addressing the mapped host pointer is also the device pointer. */
  if (!prop.unifiedAddressing) {
    vk_fail("device %s has no unified addressing (the fault report needs it)", prop.name);
    return;
  }
  void *report = NULL, *claimed = NULL;
  if (vk_check(cudaHostAlloc(&report, sizeof(vk_fault_report), cudaHostAllocMapped), "cudaHostAlloc (fault report)"))
    return;
  memset(report, 0, sizeof(vk_fault_report));
  if (vk_check(cudaMalloc(&claimed, sizeof(int)), "cudaMalloc (fault claim)") ||
      vk_check(cudaMemset(claimed, 0, sizeof(int)), "cudaMemset (fault claim)"))
    return;
  rt.fault = vk_fault{(int*)claimed, (vk_fault_report*)report};
  rt.sm_count = prop.multiProcessorCount;
  rt.smem_optin = (int)prop.sharedMemPerBlockOptin;
  snprintf(rt.name, sizeof rt.name, "%s, sm_%d%d", prop.name, prop.major, prop.minor);
  rt.ok = 1;
}

cudaStream_t vk_stream(void) {
  start();
  return rt.ok ? rt.stream : NULL;
}

int vk_sm_count(void) {
  start();
  return rt.sm_count > 0 ? rt.sm_count : 1;
}

int vk_max_smem_optin(void) {
  start();
  return rt.smem_optin;
}

const char* vk_variant(void) {
  start();
  return rt.ok ? rt.name : "cuda (no device)";
}

int vk_activation_dtype(void) { return VK_BF16; }

int vk_device_count(void) {
  int n = 0;
  /* No driver or no device is an answer here, not a failure to record. */
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
}

int vk_mem_get_info(int64_t* free_bytes, int64_t* total_bytes) {
  size_t f = 0, t = 0;
  if (!vk_stream() || vk_check(cudaMemGetInfo(&f, &t), "cudaMemGetInfo")) return -1;
  *free_bytes = (int64_t)f;
  *total_bytes = (int64_t)t;
  return 0;
}

/* Zero-filled like the CPU library's, so a fresh KV cache never holds NaN bit patterns. */
void* vk_alloc(int64_t nbytes) {
  cudaStream_t s = vk_stream();
  if (!s || nbytes < 0) return NULL;
  void* p = NULL;
  cudaError_t err = cudaMalloc(&p, nbytes > 0 ? (size_t)nbytes : 1);
  if (err != cudaSuccess) {
    cudaGetLastError(); /* out of memory is reported by the NULL return, not made sticky */
    return NULL;
  }
  if (vk_check(cudaMemsetAsync(p, 0, (size_t)nbytes, s), "vk_alloc: cudaMemsetAsync")) {
    cudaFree(p);
    return NULL;
  }
  return p;
}

void vk_free(void* p) {
  if (p) vk_check(cudaFree(p), "vk_free: cudaFree");
}

/* Large copies go through two pinned buffers, so the DMA of one chunk overlaps the host memcpy of
 * the other: copies from pageable memory measured ~1.2 GB/s device-to-host on the test machine,
 * which made reading a batch's logits back cost more than the forward pass. */
#define STAGE_CHUNK ((size_t)8 << 20)
#define STAGE_MIN ((size_t)256 << 10)

static struct {
  int tried, ok;
  void* buf[2];
  cudaEvent_t done[2];
} stage;

static int stage_ready(void) {
  if (stage.tried) return stage.ok;
  stage.tried = 1;
  for (int i = 0; i < 2; i++) {
    if (cudaHostAlloc(&stage.buf[i], STAGE_CHUNK, cudaHostAllocDefault) != cudaSuccess ||
        cudaEventCreateWithFlags(&stage.done[i], cudaEventDisableTiming) != cudaSuccess) {
      cudaGetLastError(); /* no pinned memory: plain pageable copies still work */
      return 0;
    }
  }
  return stage.ok = 1;
}

/* Host writes chunk k into buffer k % 2 once that buffer's previous DMA (of this call or an earlier
 * one) is done; returns once the last chunk is queued: the caller's `src` is no longer needed. */
static void staged_h2d(char* dst, const char* src, size_t n, cudaStream_t s) {
  for (size_t off = 0, k = 0; off < n; off += STAGE_CHUNK, k++) {
    size_t len = n - off < STAGE_CHUNK ? n - off : STAGE_CHUNK;
    int i = (int)(k & 1);
    if (vk_check(cudaEventSynchronize(stage.done[i]), "vk_memcpy_h2d: cudaEventSynchronize")) return;
    memcpy(stage.buf[i], src + off, len);
    if (vk_check(cudaMemcpyAsync(dst + off, stage.buf[i], len, cudaMemcpyHostToDevice, s), "vk_memcpy_h2d")) return;
    if (vk_check(cudaEventRecord(stage.done[i], s), "vk_memcpy_h2d: cudaEventRecord")) return;
  }
}

/* DMA of chunk k + 1 runs while the host copies chunk k out of its buffer. */
static void staged_d2h(char* dst, const char* src, size_t n, cudaStream_t s) {
  size_t chunks = (n + STAGE_CHUNK - 1) / STAGE_CHUNK;
  for (size_t k = 0; k <= chunks; k++) {
    if (k < chunks) {
      size_t off = k * STAGE_CHUNK, len = n - off < STAGE_CHUNK ? n - off : STAGE_CHUNK;
      int i = (int)(k & 1);
      if (vk_check(cudaMemcpyAsync(stage.buf[i], src + off, len, cudaMemcpyDeviceToHost, s), "vk_memcpy_d2h")) return;
      if (vk_check(cudaEventRecord(stage.done[i], s), "vk_memcpy_d2h: cudaEventRecord")) return;
    }
    if (k > 0) {
      size_t off = (k - 1) * STAGE_CHUNK, len = n - off < STAGE_CHUNK ? n - off : STAGE_CHUNK;
      int i = (int)((k - 1) & 1);
      if (vk_check(cudaEventSynchronize(stage.done[i]), "vk_memcpy_d2h: cudaEventSynchronize")) return;
      memcpy(dst + off, stage.buf[i], len);
    }
  }
}

void vk_memcpy_h2d(void* dst, const void* src, int64_t nbytes) {
  cudaStream_t s = vk_stream();
  if (!s || nbytes <= 0) return;
  if ((size_t)nbytes >= STAGE_MIN && stage_ready()) {
    staged_h2d((char*)dst, (const char*)src, (size_t)nbytes, s);
    return;
  }
  /* From pageable memory the call returns once `src` has been staged, so the caller may reuse it. */
  vk_check(cudaMemcpyAsync(dst, src, (size_t)nbytes, cudaMemcpyHostToDevice, s), "vk_memcpy_h2d");
}

void vk_memcpy_d2h(void* dst, const void* src, int64_t nbytes) {
  cudaStream_t s = vk_stream();
  if (!s || nbytes <= 0) return;
  if ((size_t)nbytes >= STAGE_MIN && stage_ready()) {
    staged_d2h((char*)dst, (const char*)src, (size_t)nbytes, s);
    return;
  }
  if (vk_check(cudaMemcpyAsync(dst, src, (size_t)nbytes, cudaMemcpyDeviceToHost, s), "vk_memcpy_d2h")) return;
  vk_check(cudaStreamSynchronize(s), "vk_memcpy_d2h: cudaStreamSynchronize");
}

void vk_memcpy_d2d(void* dst, const void* src, int64_t nbytes) {
  cudaStream_t s = vk_stream();
  if (!s || nbytes <= 0) return;
  vk_check(cudaMemcpyAsync(dst, src, (size_t)nbytes, cudaMemcpyDeviceToDevice, s), "vk_memcpy_d2d");
}

void vk_synchronize(void) {
  cudaStream_t s = vk_stream();
  if (s) vk_check(cudaStreamSynchronize(s), "vk_synchronize");
}

static struct {
  void* ptr;
  size_t bytes;
} workspaces[VK_WS_COUNT];

void* vk_workspace(int slot, size_t nbytes) {
  if (workspaces[slot].bytes >= nbytes) return workspaces[slot].ptr;
  cudaStream_t s = vk_stream();
  if (!s) return NULL;
  /* Queued kernels may still read the old buffer. */
  if (vk_check(cudaStreamSynchronize(s), "vk_workspace: cudaStreamSynchronize")) return NULL;
  if (workspaces[slot].ptr) cudaFree(workspaces[slot].ptr);
  workspaces[slot].ptr = NULL;
  workspaces[slot].bytes = 0;
  size_t want = nbytes + nbytes / 4; /* headroom: the next larger batch rarely needs another round */
  void* p = NULL;
  if (vk_check(cudaMalloc(&p, want), "vk_workspace: cudaMalloc")) return NULL;
  workspaces[slot].ptr = p;
  workspaces[slot].bytes = want;
  return p;
}
