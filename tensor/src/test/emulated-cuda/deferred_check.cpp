// deferred_check.cpp: checks the emulated driver's deferred mode (driver.cpp, KINEMA_EMU_DEFERRED=1)
// against the CUDA Driver API's rules, calling the built library directly. build.sh runs it after
// linking; it prints what failed and exits 1. "Device" memory is host memory here, so the check
// can look at it without a copy, to see whether queued work has run.
#include <cstdio>
#include <cstdlib>
#include <cstring>

typedef int CUresult;
typedef unsigned long long CUdeviceptr;
extern "C" {
CUresult cuInit(unsigned);
CUresult cuDevicePrimaryCtxRetain(void** ctx, int device);
CUresult cuCtxSetCurrent(void* ctx);
CUresult cuCtxSynchronize();
CUresult cuMemAlloc_v2(CUdeviceptr* p, size_t bytes);
CUresult cuMemFree_v2(CUdeviceptr p);
CUresult cuMemAllocHost_v2(void** p, size_t bytes);
CUresult cuMemFreeHost(void* p);
CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void* src, size_t n, void* stream);
CUresult cuMemcpyDtoHAsync_v2(void* dst, CUdeviceptr src, size_t n, void* stream);
CUresult cuMemsetD32Async(CUdeviceptr dst, unsigned v, size_t n, void* stream);
CUresult cuStreamCreate(void** s, unsigned flags);
CUresult cuStreamDestroy_v2(void* s);
CUresult cuStreamSynchronize(void* s);
CUresult cuStreamWaitEvent(void* s, void* e, unsigned flags);
CUresult cuEventCreate(void** e, unsigned flags);
CUresult cuEventRecord(void* e, void* s);
CUresult cuEventQuery(void* e);
CUresult cuEventSynchronize(void* e);
CUresult cuEventElapsedTime(float* ms, void* start, void* end);
CUresult cuEventDestroy_v2(void* e);
}

namespace {
int failures = 0;
void expect(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "deferred_check: FAILED: %s\n", what);
    failures++;
  }
}
void call(CUresult r, const char* what) {
  if (r != 0) {
    std::fprintf(stderr, "deferred_check: %s returned %d\n", what, r);
    std::exit(1);
  }
}
constexpr int NOT_READY = 600;
constexpr size_t WORDS = 256, BYTES = 4 * WORDS;
unsigned first(CUdeviceptr d) { return *(unsigned*)d; }
}  // namespace

int main() {
  setenv("KINEMA_EMU_DEFERRED", "1", 1);
  void* ctx;
  call(cuInit(0), "cuInit");
  call(cuDevicePrimaryCtxRetain(&ctx, 0), "cuDevicePrimaryCtxRetain");
  call(cuCtxSetCurrent(ctx), "cuCtxSetCurrent");
  CUdeviceptr d, e;
  call(cuMemAlloc_v2(&d, BYTES), "cuMemAlloc_v2");
  call(cuMemAlloc_v2(&e, BYTES), "cuMemAlloc_v2");
  unsigned* pinned;
  call(cuMemAllocHost_v2((void**)&pinned, BYTES), "cuMemAllocHost_v2");
  unsigned pageable[WORDS];
  void *quiet, *blocking, *ev, *ev2;
  call(cuStreamCreate(&quiet, 1), "cuStreamCreate(NON_BLOCKING)");
  call(cuStreamCreate(&blocking, 0), "cuStreamCreate(DEFAULT)");
  call(cuEventCreate(&ev, 0), "cuEventCreate");
  call(cuEventCreate(&ev2, 0), "cuEventCreate");

  // Device to pinned host: queued until a synchronization; a polled event says NOT_READY first.
  std::memset(pinned, 0, BYTES);
  call(cuMemsetD32Async(d, 7, WORDS, quiet), "cuMemsetD32Async");
  call(cuMemcpyDtoHAsync_v2(pinned, d, BYTES, quiet), "cuMemcpyDtoHAsync_v2");
  call(cuEventRecord(ev, quiet), "cuEventRecord");
  expect(pinned[0] == 0 && first(d) != 7, "async work queued, not run, before a synchronization");
  float ms;
  expect(cuEventElapsedTime(&ms, ev, ev) == NOT_READY, "elapsed time of a pending event: NOT_READY");
  expect(cuEventQuery(ev) == NOT_READY, "first query of a pending event: NOT_READY");
  expect(cuEventQuery(ev) == 0, "the query after: done");
  expect(pinned[0] == 7 && pinned[WORDS - 1] == 7, "the copy done once the event is");

  // Pinned host to device reads the host buffer when the copy runs.
  for (size_t i = 0; i < WORDS; i++) pinned[i] = 1;
  call(cuMemcpyHtoDAsync_v2(d, pinned, BYTES, quiet), "cuMemcpyHtoDAsync_v2");
  for (size_t i = 0; i < WORDS; i++) pinned[i] = 2;
  call(cuStreamSynchronize(quiet), "cuStreamSynchronize");
  expect(first(d) == 2, "a pinned source is read when its copy runs");

  // Pageable host memory: the stream's earlier work first, then the copy, before returning.
  call(cuMemsetD32Async(d, 9, WORDS, quiet), "cuMemsetD32Async");
  call(cuMemcpyDtoHAsync_v2(pageable, d, BYTES, quiet), "cuMemcpyDtoHAsync_v2 (pageable)");
  expect(pageable[0] == 9 && pageable[WORDS - 1] == 9, "a copy to pageable memory is synchronous");
  for (size_t i = 0; i < WORDS; i++) pageable[i] = 4;
  call(cuMemsetD32Async(d, 5, WORDS, quiet), "cuMemsetD32Async");
  call(cuMemcpyHtoDAsync_v2(d, pageable, BYTES, quiet), "cuMemcpyHtoDAsync_v2 (pageable)");
  expect(first(d) == 4, "a copy from pageable memory follows the stream's earlier work");

  // The legacy NULL stream waits for the blocking streams, not for the non-blocking ones.
  call(cuMemsetD32Async(d, 11, WORDS, blocking), "cuMemsetD32Async (blocking)");
  call(cuMemsetD32Async(e, 12, WORDS, quiet), "cuMemsetD32Async (non-blocking)");
  call(cuMemsetD32Async(e, 13, 1, nullptr), "cuMemsetD32Async (NULL stream)");
  expect(first(d) == 11, "NULL-stream work follows a blocking stream's earlier work");
  expect(first(e) != 12, "NULL-stream work does not wait for a non-blocking stream");
  call(cuStreamSynchronize(nullptr), "cuStreamSynchronize(NULL)");
  expect(first(e) == 13, "the NULL stream's work done at its synchronization");
  call(cuStreamSynchronize(quiet), "cuStreamSynchronize");
  expect(first(e) == 12, "a non-blocking stream's own order");

  // cuStreamWaitEvent: the event's work precedes what the waiting stream queues next.
  call(cuMemsetD32Async(d, 21, WORDS, quiet), "cuMemsetD32Async");
  call(cuEventRecord(ev2, quiet), "cuEventRecord");
  call(cuStreamWaitEvent(blocking, ev2, 0), "cuStreamWaitEvent");
  call(cuMemcpyDtoHAsync_v2(pinned, d, BYTES, blocking), "cuMemcpyDtoHAsync_v2");
  call(cuEventSynchronize(ev2), "cuEventSynchronize");
  call(cuStreamSynchronize(blocking), "cuStreamSynchronize");
  expect(pinned[0] == 21, "work after cuStreamWaitEvent sees the event's work");

  // cuMemFree synchronizes the device: queued work on the block runs first, no use after free.
  call(cuMemsetD32Async(e, 31, WORDS, quiet), "cuMemsetD32Async");
  call(cuMemcpyDtoHAsync_v2(pinned, e, BYTES, quiet), "cuMemcpyDtoHAsync_v2");
  call(cuMemFree_v2(e), "cuMemFree_v2");
  expect(pinned[0] == 31, "cuMemFree ran the queued work that used the block");
  call(cuCtxSynchronize(), "cuCtxSynchronize");

  call(cuEventDestroy_v2(ev), "cuEventDestroy_v2");
  call(cuEventDestroy_v2(ev2), "cuEventDestroy_v2");
  call(cuStreamDestroy_v2(quiet), "cuStreamDestroy_v2");
  call(cuStreamDestroy_v2(blocking), "cuStreamDestroy_v2");
  call(cuMemFreeHost(pinned), "cuMemFreeHost");
  call(cuMemFree_v2(d), "cuMemFree_v2");
  if (failures > 0) return 1;
  std::printf("deferred_check: the deferred mode follows the driver API's rules\n");
  return 0;
}
