// base.h: constants, assertions and small bit helpers shared by the allocator.
//
// Everything in heap/ is in namespace gcheap. The allocator is modelled on
// Go's runtime (mheap/mcentral/mcache/mspan); names follow Go's vocabulary.
//
// Assertions: GC_DCHECK is compiled in debug builds (GCHEAP_DEBUG=1, set by the
// dbg/asan/ubsan/tsan configs) and aborts with file:line and a message.
// GC_CHECK is always on and is used only off the fast paths, for invariants
// whose violation would otherwise corrupt the heap silently.
#ifndef GCHEAP_HEAP_BASE_H_
#define GCHEAP_HEAP_BASE_H_

#include <cstddef>
#include <cstdint>

#include "heap/sizeclasses.h"

namespace gcheap {

// Arenas are 64 MiB reservations; each has a HeapArena metadata block.
inline constexpr int kArenaShift = 26;
inline constexpr uintptr_t kArenaBytes = uintptr_t{1} << kArenaShift;
inline constexpr size_t kPagesPerArena = kArenaBytes / kPageSize;  // 8192
inline constexpr size_t kPageWordsPerArena = kPagesPerArena / 64;  // 128

// Heap addresses are user-space addresses below 2^48 (x86-64, arm64 with
// 48-bit VA). The two-level arena index covers exactly that range.
inline constexpr int kHeapAddrBits = 48;
inline constexpr int kArenaL2Bits = 12;
inline constexpr int kArenaL1Bits = kHeapAddrBits - kArenaShift - kArenaL2Bits;

// Arena memory is committed (made read-write) on demand in granules.
inline constexpr int kCommitShift = 20;  // 1 MiB
inline constexpr size_t kCommitGranulesPerArena = kArenaBytes >> kCommitShift;
static_assert(kCommitGranulesPerArena == 64, "one uint64_t of commit bits");

// The largest request the allocator accepts: 1 TiB, the public
// GC_MAX_ALLOC_BYTES (runtime/gc.h, which checks that the two agree).
// Anything larger is reported as a size overflow instead of wrapping page
// arithmetic.
inline constexpr size_t kMaxAllocBytes = size_t{1} << 40;

[[noreturn]] void FatalError(const char* file, int line, const char* msg);

}  // namespace gcheap

#define GC_CHECK(cond, msg)                                  \
  do {                                                       \
    if (__builtin_expect(!(cond), 0))                        \
      ::gcheap::FatalError(__FILE__, __LINE__,               \
                           "check failed: " #cond ": " msg); \
  } while (0)

#if defined(GCHEAP_DEBUG) && GCHEAP_DEBUG
#define GC_DCHECK(cond, msg) GC_CHECK(cond, msg)
inline constexpr bool kDebugBuild = true;
#else
#define GC_DCHECK(cond, msg) \
  do {                       \
  } while (0)
inline constexpr bool kDebugBuild = false;
#endif

#define GC_LIKELY(x) __builtin_expect(!!(x), 1)
#define GC_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define GC_NOINLINE __attribute__((noinline))
#define GC_ALWAYS_INLINE inline __attribute__((always_inline))

namespace gcheap {

inline constexpr uintptr_t AlignUp(uintptr_t n, uintptr_t a) {
  return (n + a - 1) & ~(a - 1);
}
inline constexpr uintptr_t AlignDown(uintptr_t n, uintptr_t a) {
  return n & ~(a - 1);
}

// Poison byte written over freed slots in debug builds, so a use-after-free
// reads an unmistakable pattern (0xdbdbdbdb...).
inline constexpr unsigned char kFreePoison = 0xdb;

}  // namespace gcheap

#endif  // GCHEAP_HEAP_BASE_H_
