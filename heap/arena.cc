#include "heap/arena.h"

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cerrno>

namespace gcheap {

ArenaIndex::~ArenaIndex() {
  for (auto& e : l1_) {
    L2* l2 = e.load(std::memory_order_relaxed);
    if (l2 != nullptr) SysFreeMeta(l2, sizeof(L2));
  }
}

void ArenaIndex::Insert(HeapArena* arena) {
  uintptr_t base = arena->base;
  GC_CHECK((base & (kArenaBytes - 1)) == 0, "arena base must be aligned");
  GC_CHECK((base >> kHeapAddrBits) == 0, "arena outside the 48-bit range");
  auto& slot = l1_[base >> (kArenaShift + kArenaL2Bits)];
  L2* l2 = slot.load(std::memory_order_relaxed);
  if (l2 == nullptr) {
    l2 = static_cast<L2*>(SysAllocMeta(sizeof(L2)));
    GC_CHECK(l2 != nullptr, "out of memory for the arena index");
    slot.store(l2, std::memory_order_release);
  }
  l2->arenas[(base >> kArenaShift) & ((1u << kArenaL2Bits) - 1)].store(
      arena, std::memory_order_release);
  // Widen the bounds (MayContain) to cover the arena.
  static_assert(kHeapAddrBits - kArenaShift < 32, "arena numbers in 32 bits");
  const uint64_t n = base >> kArenaShift;
  const uint64_t b = bounds_.load(std::memory_order_relaxed);
  const uint64_t lo = b == 0 ? n : std::min(b & 0xffffffff, n);
  const uint64_t hi = b == 0 ? n + 1 : std::max(b >> 32, n + 1);
  bounds_.store(hi << 32 | lo, std::memory_order_relaxed);
}

void ArenaIndex::Remove(uintptr_t base) {
  L2* l2 =
      l1_[base >> (kArenaShift + kArenaL2Bits)].load(std::memory_order_relaxed);
  GC_CHECK(l2 != nullptr, "removing an arena that was never inserted");
  l2->arenas[(base >> kArenaShift) & ((1u << kArenaL2Bits) - 1)].store(
      nullptr, std::memory_order_release);
}

uintptr_t ArenaPlacement(uintptr_t start) {
  const uintptr_t aligned = AlignUp(start, kArenaBytes);
  return (aligned & 0xffffffff) == 0 ? aligned + kArenaBytes : aligned;
}

void* SysReserveArenas(size_t bytes) {
  // Over-reserve by two arenas and trim: one for the kArenaBytes
  // alignment, one to step off a 4 GiB-aligned start (ArenaPlacement).
  const size_t len = bytes + 2 * kArenaBytes;
  void* p = mmap(nullptr, len, PROT_NONE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  const uintptr_t start = reinterpret_cast<uintptr_t>(p);
  const uintptr_t aligned = ArenaPlacement(start);
  GC_DCHECK(aligned >= start && aligned + bytes <= start + len,
            "ArenaPlacement left the mapping");
  if (aligned + bytes > (uintptr_t{1} << kHeapAddrBits)) {
    munmap(p, len);
    return nullptr;
  }
  if (aligned > start) munmap(p, aligned - start);
  const uintptr_t end = start + len;
  if (end > aligned + bytes) {
    munmap(reinterpret_cast<void*>(aligned + bytes), end - (aligned + bytes));
  }
  return reinterpret_cast<void*>(aligned);
}

void SysUnreserve(void* p, size_t bytes) { munmap(p, bytes); }

bool SysCommit(void* p, size_t bytes) {
  return mprotect(p, bytes, PROT_READ | PROT_WRITE) == 0;
}

namespace {
std::atomic<int> release_failure_for_testing{0};
}  // namespace

void SetSysReleaseFailureForTesting(int err) {
  release_failure_for_testing.store(err, std::memory_order_relaxed);
}

bool SysRelease(void* p, size_t bytes) {
  // MADV_DONTNEED on private anonymous memory drops the pages at once and
  // makes later reads return zero, which the page allocator relies on
  // (released pages are "clean" and need no zeroing) only when it succeeds.
  if (int err = release_failure_for_testing.load(std::memory_order_relaxed)) {
    errno = err;
    return false;
  }
  int rc;
  do {
    rc = madvise(p, bytes, MADV_DONTNEED);
  } while (rc != 0 && errno == EAGAIN);
  return rc == 0;
}

void* SysAllocMeta(size_t bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

void SysFreeMeta(void* p, size_t bytes) { munmap(p, bytes); }

}  // namespace gcheap
