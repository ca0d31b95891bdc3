// stack_scan.h: conservative scanning of a thread's stack and registers
// (gc_config.conservative_stacks).
//
// A thread's stack grows down from its base, the highest address of the
// stack, which the thread finds when it attaches (CurrentStackBounds:
// pthread_getattr_np). Nothing on it is described, so every aligned word is
// ambiguous (gc/conservative.h): a word that resolves to an allocated
// object keeps that object; nothing moves.
//
// Which part is scanned is fixed by a capture that the owning thread makes
// whenever it stops counting as running: when it parks at a safepoint and
// when it enters a blocking region (the runtime calls CaptureStackContext).
// The capture:
//   1. spills the callee-saved registers of its caller into its own frame
//      (__builtin_unwind_init in a frame that is never inlined or
//      tail-called), so a pointer that lived only in a register is now on
//      the stack;
//   2. in a non-inlined callee, takes that callee's frame address as the
//      stack pointer `sp` (everything above it belongs to the capture and
//      its callers) and copies the top kWindowBytes, [sp, sp + kWindowBytes),
//      into the context: the window.
// A scan reads the window copy and then the live stack
// [sp + kWindowBytes, base). Why the copy: a thread in a blocking region
// keeps running. It returns from gc_enter_blocking, and the frames between
// its caller and sp (the spilled registers among them) are overwritten by
// whatever it calls while blocked. The window preserves them as they were
// at the entry; the frames above it are the caller's, which the thread does
// not change while blocked (it must not manipulate heap pointers there; see
// gc.h). kWindowBytes must cover the runtime frames between the public
// entry and the capture; debug builds check that it reaches the caller of
// gc_enter_blocking (runtime/api.cc).
//
// Invariants:
//   - a context is captured on its owning thread, and read (scanned) by
//     any thread only while the owner cannot change it: parked, blocked, or
//     waiting for that scan (runtime/thread_roots.h);
//   - sp lies inside the thread's stack bounds: a capture on any other
//     stack (a fiber, a signal's alternate stack) aborts with a message
//     rather than scan memory that is not the thread's stack;
//   - the window and the live part together are exactly [sp, base).
//
// Sanitizers. Stack words are read with uninstrumented loads
// (ForEachAmbiguousWord): the scanned thread's ASan redzones are readable,
// and TSan does not see a data race between a collector thread reading a
// blocked thread's frames and that thread's own writes below them. ASan's
// detect_stack_use_after_return moves address-taken locals into "fake
// frames" allocated off the real stack: a scan also scans every live fake
// frame that a word of the real stack (or of another live fake frame)
// points into (ASan's __asan_addr_is_in_fake_stack, with the thread's fake
// stack found at attach), so programs keep working under ASan with that
// option on. TSan keeps its shadow elsewhere and moves nothing: the real
// stack is all there is.
#ifndef GCHEAP_GC_STACK_SCAN_H_
#define GCHEAP_GC_STACK_SCAN_H_

#include <cstddef>
#include <cstdint>

#include "gc/roots.h"

namespace gcheap {

// A thread's stack: [lo, hi), hi being its base (stacks grow down).
struct StackBounds {
  uintptr_t lo = 0;
  uintptr_t hi = 0;
};

// The calling thread's stack. False (with gcheap's last error set) if the
// system cannot tell.
bool CurrentStackBounds(StackBounds* out);

// ASan's fake stack of the calling thread (created now if ASan's
// detect_stack_use_after_return is on), or null.
void* CurrentFakeStack();

// What a capture saved: the stack pointer and a copy of the stack's top.
struct StackContext {
  static constexpr size_t kWindowBytes = 1024;
  static constexpr size_t kWindowWords = kWindowBytes / sizeof(uintptr_t);
  uintptr_t sp = 0;         // 0: never captured
  size_t window_words = 0;  // copied: min(kWindowWords, (base - sp) / 8)
  uintptr_t window[kWindowWords];
};

// Captures the calling thread's stack pointer and callee-saved registers
// into *c (see above). `b` is the thread's own stack; aborts if the thread
// runs on another one.
void CaptureStackContext(StackContext* c, const StackBounds& b);

// Reports the stack of a thread, as its last capture left it, to v: the
// window copy, the live stack above it, and (under ASan) the live fake
// frames they point into. fake_stack: the thread's CurrentFakeStack().
void ScanStack(const StackContext& c, const StackBounds& b, void* fake_stack,
               RootVisitor& v);

}  // namespace gcheap

#endif  // GCHEAP_GC_STACK_SCAN_H_
