// arena.h: heap arenas, their metadata, and the two-level arena index.
//
// The heap's address space is a set of 64 MiB arenas, each reserved with
// mmap(PROT_NONE) aligned to 64 MiB and committed (made read-write) on demand
// in 1 MiB granules. Each arena has a HeapArena metadata block allocated
// outside the arena (so metadata never shares pages with objects):
//
//   spans[kPagesPerArena]  page -> owning in-use mspan, or nullptr. Every page
//                          of an in-use span points at the span, so any
//                          interior pointer finds its span in O(1).
//   pageInUse              bit per page: set on the first page of each in-use
//                          span (used by the collector to find spans to sweep).
//   free / clean           the page allocator's state (see pagealloc.h).
//
// The ArenaIndex maps an address to its HeapArena in two loads:
//   l1[addr >> (26 + 12)] -> L2 block, l2[(addr >> 26) & 4095] -> HeapArena*.
// L2 blocks are allocated on first use and never freed while the heap lives,
// so lock-free readers (findObject, the collector) can always follow them.
// The index also keeps the lowest and highest address any arena ever
// covered (MayContain): the conservative scan rejects a word outside them
// with two loads of its own line instead of the index's dependent loads
// (gc/conservative.h). They only widen, as arenas are inserted.
//
// Invariants:
//  - An arena is registered in the index before any span in it is published.
//  - spans[] entries are written with release stores under the heap lock and
//    read with acquire loads without it.
#ifndef GCHEAP_HEAP_ARENA_H_
#define GCHEAP_HEAP_ARENA_H_

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "heap/base.h"

namespace gcheap {

struct MSpan;

struct HeapArena {
  std::atomic<MSpan*> spans[kPagesPerArena];
  std::atomic<uint64_t> page_in_use[kPageWordsPerArena];

  // Page allocator state, guarded by the heap lock.
  uint64_t free[kPageWordsPerArena];       // 1 = page is free
  uint64_t clean[kPageWordsPerArena];      // 1 = page is known to be all zero
  uint64_t committed = 0;                  // 1 bit per 1 MiB granule
  uint64_t scavenged[kPageWordsPerArena];  // 1 = free page returned to OS
  uintptr_t base = 0;
  uint32_t free_pages = 0;
  uint32_t scavenged_pages = 0;  // popcount of scavenged (not resident)
  // Upper bound of the longest free run; exact when !max_run_stale.
  uint32_t max_run = 0;
  bool max_run_stale = false;
  HeapArena* next = nullptr;  // address-ordered list of the heap's arenas

  uintptr_t PageAddr(size_t page) const { return base + page * kPageSize; }
  size_t PageIndex(uintptr_t addr) const { return (addr - base) >> kPageShift; }

  MSpan* SpanOf(uintptr_t addr) const {
    return spans[PageIndex(addr)].load(std::memory_order_acquire);
  }
};

class ArenaIndex {
 public:
  ArenaIndex() = default;
  ~ArenaIndex();
  ArenaIndex(const ArenaIndex&) = delete;
  ArenaIndex& operator=(const ArenaIndex&) = delete;

  // The arena holding addr, or nullptr if addr is not in this heap.
  GC_ALWAYS_INLINE HeapArena* Lookup(uintptr_t addr) const {
    if (GC_UNLIKELY(addr >> kHeapAddrBits)) return nullptr;
    L2* l2 = l1_[addr >> (kArenaShift + kArenaL2Bits)].load(
        std::memory_order_acquire);
    if (l2 == nullptr) return nullptr;
    return l2->arenas[(addr >> kArenaShift) & ((1u << kArenaL2Bits) - 1)].load(
        std::memory_order_acquire);
  }

  // False if addr lies outside every arena this index ever held: a
  // superset test, Lookup gives the answer. One relaxed load of both
  // bounds: a reader that misses an arena inserted meanwhile can only miss
  // objects allocated after it read (gc/conservative.h says why marking
  // may).
  GC_ALWAYS_INLINE bool MayContain(uintptr_t addr) const {
    const uint64_t b = bounds_.load(std::memory_order_relaxed);
    const uintptr_t lo = (b & 0xffffffff) << kArenaShift;
    const uintptr_t hi = (b >> 32) << kArenaShift;
    return addr - lo < hi - lo;
  }

  // Publishes `arena` for its base address. Caller holds the heap lock.
  void Insert(HeapArena* arena);
  // Removes the arena for `base`. Caller holds the heap lock.
  void Remove(uintptr_t base);

 private:
  struct L2 {
    std::atomic<HeapArena*> arenas[1u << kArenaL2Bits];
  };
  std::atomic<L2*> l1_[1u << kArenaL1Bits] = {};
  // Every arena ever inserted lies in [lo, hi) (MayContain), in arena
  // numbers (address >> kArenaShift): hi << 32 | lo, one word so that a
  // reader never sees one bound without the other; 0 (empty) before the
  // first. Written under the heap lock.
  std::atomic<uint64_t> bounds_{0};
};

// OS memory. Reserve returns a kArenaBytes-aligned PROT_NONE region of
// `bytes` (a multiple of kArenaBytes), or nullptr when the OS refuses. The
// region never starts at a 4 GiB-aligned address (ArenaPlacement).
void* SysReserveArenas(size_t bytes);
// Where SysReserveArenas starts its region inside a mapping that starts at
// `start` and holds 2 x kArenaBytes more than the region: the first
// kArenaBytes-aligned address, or the next one when that is 4 GiB-aligned.
// Why: a stale pointer in a stack slot whose low half a 32-bit store
// zeroed reads as (high half << 32) | small int, and the conservative scan
// takes it for a pointer to the object at a 4 GiB-aligned address (arenas
// are 64 MiB aligned, so the first arena started at one in 1 process of
// 64, and the heap's first objects of a size lay there; docs/allocator.md).
// Only a multi-arena region (a huge run's group) can still hold such an
// address, inside it.
uintptr_t ArenaPlacement(uintptr_t start);
void SysUnreserve(void* p, size_t bytes);
// Makes [p, p+bytes) readable and writable. Returns false on failure.
bool SysCommit(void* p, size_t bytes);
// Returns the physical pages of [p, p+bytes) to the OS; the range stays
// mapped and reads back as zero. False when the OS refused (errno says
// why; madvise(MADV_DONTNEED) fails with EINVAL on locked pages, e.g. after
// mlockall): the range may then be released in part or not at all, so the
// caller must treat all of it as resident and dirty.
bool SysRelease(void* p, size_t bytes);
// Testing seam: while err is nonzero, SysRelease fails with errno = err
// without calling madvise. 0 restores the real call.
void SetSysReleaseFailureForTesting(int err);
// Anonymous read-write memory for metadata (zeroed), and its release.
void* SysAllocMeta(size_t bytes);
void SysFreeMeta(void* p, size_t bytes);

}  // namespace gcheap

#endif  // GCHEAP_HEAP_ARENA_H_
