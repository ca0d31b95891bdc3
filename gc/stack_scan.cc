// stack_scan.cc: thread stacks as conservative roots (design and
// invariants in stack_scan.h).
#include "gc/stack_scan.h"

#include <pthread.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "gc/conservative.h"
#include "heap/base.h"
#include "heap/error.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GCHEAP_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define GCHEAP_ASAN 1
#endif
#if defined(GCHEAP_ASAN)
#include <sanitizer/asan_interface.h>
#endif

namespace gcheap {

bool CurrentStackBounds(StackBounds* out) {
  pthread_attr_t attr;
  if (int err = pthread_getattr_np(pthread_self(), &attr); err != 0) {
    SetLastError(
        "pthread_getattr_np failed (error %d): cannot find the "
        "thread's stack for conservative stack scanning",
        err);
    return false;
  }
  void* addr = nullptr;
  size_t size = 0;
  const int err = pthread_attr_getstack(&attr, &addr, &size);
  pthread_attr_destroy(&attr);
  if (err != 0 || addr == nullptr || size == 0) {
    SetLastError(
        "pthread_attr_getstack failed (error %d): cannot find the "
        "thread's stack for conservative stack scanning",
        err);
    return false;
  }
  out->lo = reinterpret_cast<uintptr_t>(addr);
  out->hi = out->lo + size;
  return true;
}

void* CurrentFakeStack() {
#if defined(GCHEAP_ASAN)
  return __asan_get_current_fake_stack();
#else
  return nullptr;
#endif
}

namespace {

// The second half of a capture: runs in a frame below the one that spilled
// the registers, so its frame address is below every spill.
GC_NOINLINE GC_NO_SANITIZE_MEMORY void CopyStackTop(StackContext* c,
                                                    uintptr_t lo,
                                                    uintptr_t hi) {
  const uintptr_t sp = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
  GC_CHECK(sp >= lo && sp < hi,
           "conservative stack scanning: the thread is running on a stack "
           "other than the one it attached on (a fiber, a coroutine, or a "
           "signal's alternate stack), which gcheap cannot scan");
  const size_t words = std::min<size_t>(StackContext::kWindowWords,
                                        (hi - sp) / sizeof(uintptr_t));
  const auto* top = reinterpret_cast<const uintptr_t*>(sp);
  for (size_t i = 0; i < words; i++) c->window[i] = top[i];
  c->window_words = words;
  c->sp = sp;
}

#if defined(GCHEAP_ASAN)
// ASan's fake frames that the words of [lo, hi) point into, appended to
// *frames.
void FindFakeFrames(void* fake_stack, const void* lo, const void* hi,
                    std::vector<std::pair<uintptr_t, uintptr_t>>* frames) {
  ForEachAmbiguousWord(lo, hi, [&](uintptr_t w) {
    void* beg = nullptr;
    void* end = nullptr;
    if (__asan_addr_is_in_fake_stack(fake_stack, reinterpret_cast<void*>(w),
                                     &beg, &end) != nullptr) {
      frames->emplace_back(reinterpret_cast<uintptr_t>(beg),
                           reinterpret_cast<uintptr_t>(end));
    }
  });
}

// Scans every live fake frame reachable from the real stack: a function's
// real frame (or a register spilled there) holds the address of its fake
// frame, and fake frames may point into each other (a local passed by
// address). Each frame is scanned once.
void ScanFakeFrames(const StackContext& c, uintptr_t live, uintptr_t hi,
                    void* fake_stack, RootVisitor& v) {
  if (fake_stack == nullptr) return;
  std::vector<std::pair<uintptr_t, uintptr_t>> todo;
  FindFakeFrames(fake_stack, c.window, c.window + c.window_words, &todo);
  if (live < hi) {
    FindFakeFrames(fake_stack, reinterpret_cast<const void*>(live),
                   reinterpret_cast<const void*>(hi), &todo);
  }
  std::vector<std::pair<uintptr_t, uintptr_t>> done;
  while (!todo.empty()) {
    const auto f = todo.back();
    todo.pop_back();
    if (std::find(done.begin(), done.end(), f) != done.end()) continue;
    done.push_back(f);
    const auto* lo = reinterpret_cast<const void*>(f.first);
    const auto* end = reinterpret_cast<const void*>(f.second);
    v.AmbiguousStack(lo, end);
    FindFakeFrames(fake_stack, lo, end, &todo);
  }
}
#endif

}  // namespace

GC_NOINLINE void CaptureStackContext(StackContext* c, const StackBounds& b) {
  // Every callee-saved register of the caller is saved in this frame now.
  __builtin_unwind_init();
  CopyStackTop(c, b.lo, b.hi);
  // Not a tail call: this frame (and its spills) must outlive the copy.
  asm volatile("" ::: "memory");
}

void ScanStack(const StackContext& c, const StackBounds& b, void* fake_stack,
               RootVisitor& v) {
  if (c.sp == 0) return;
  v.AmbiguousStack(c.window, c.window + c.window_words);
  const uintptr_t live = c.sp + c.window_words * sizeof(uintptr_t);
  if (live < b.hi) {
    v.AmbiguousStack(reinterpret_cast<const void*>(live),
                     reinterpret_cast<const void*>(b.hi));
  }
#if defined(GCHEAP_ASAN)
  ScanFakeFrames(c, live, b.hi, fake_stack, v);
#else
  (void)fake_stack;
#endif
}

}  // namespace gcheap
