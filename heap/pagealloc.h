// pagealloc.h: the page allocator: runs of 8 KiB pages inside the arenas.
//
// Design. Each HeapArena carries three page bitmaps (one bit per page):
//   free       the page belongs to no span;
//   clean      the page is known to read as zero (never used since it was
//              reserved, or released to the OS since it was last used: a
//              release the OS refused leaves the page dirty);
//   scavenged  the page is free and its memory was returned to the OS.
// Allocation is address-ordered first fit, resident pages first: arenas are
// kept in a list sorted by base address and, within an arena, the lowest run
// of free, resident (not scavenged) pages that is long enough is taken; only
// when there is none, the lowest run of any free pages. Address order keeps
// the heap compact (Go's page allocator makes the same choice) and lets the
// scavenger release the high end; the resident pass keeps a freed run from
// staying resident, unused, while a lower run is faulted in (the kernel maps
// arenas top-down: a new, untouched arena lies below the older ones). Each
// arena caches an upper bound of its longest free run, so an arena that cannot
// satisfy a request is skipped without scanning its bitmap. Freed runs coalesce
// for free: adjacent free bits form one run.
//
// A run never crosses an arena boundary, except for huge runs (more pages
// than an arena holds): those take a group of arenas reserved contiguously,
// starting at the first arena's base.
//
// Memory is reserved per arena (PROT_NONE) and committed in 1 MiB granules
// the first time a run touches them; "mapped" counts committed bytes.
//
// Invariants (checked in debug builds):
//  - scavenged implies free and clean;
//  - scavenged_pages equals the popcount of the scavenged bitmap;
//  - every page of an allocated run was free before and is not free after;
//  - free_pages equals the popcount of the free bitmap.
// Thread safety: every method requires the owning mheap's lock.
#ifndef GCHEAP_HEAP_PAGEALLOC_H_
#define GCHEAP_HEAP_PAGEALLOC_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "heap/arena.h"

namespace gcheap {

class PageAlloc {
 public:
  explicit PageAlloc(ArenaIndex* index) : index_(index) {}
  ~PageAlloc();
  PageAlloc(const PageAlloc&) = delete;
  PageAlloc& operator=(const PageAlloc&) = delete;

  struct Run {
    uintptr_t base = 0;  // 0 when no run was found
    bool needzero = false;
  };

  // Takes the lowest run of `npages` free pages, committing its memory.
  // Returns base 0 if no arena has such a run (call Grow) or the OS refused
  // to commit memory.
  Run Alloc(size_t npages);
  // Reserves enough new arenas for a run of `npages`. False when the OS
  // refuses the reservation.
  bool Grow(size_t npages);
  // Returns a run to the free pages; it coalesces with its neighbours.
  void Free(uintptr_t base, size_t npages);

  // Scavenger support. TakeScavengeRun finds the highest run of free,
  // unscavenged pages (at most max_pages) that lies below the address
  // `below`, removes it from the free pages so nobody allocates it while
  // the caller releases it without the lock, and returns its base and
  // length (npages 0 when there is none). ReturnScavenged gives such a run
  // back as free, clean and scavenged; ReturnUnreleased gives back a run
  // the OS refused to release as free, dirty and resident (it was dirty
  // when taken, and a refused release may have dropped none of it).
  Run TakeScavengeRun(size_t max_pages, size_t* npages,
                      uintptr_t below = UINTPTR_MAX);
  void ReturnScavenged(uintptr_t base, size_t npages);
  void ReturnUnreleased(uintptr_t base, size_t npages);

  // Statistics, in bytes.
  size_t mapped_bytes() const { return committed_granules_ << kCommitShift; }
  size_t reserved_bytes() const { return arenas_.size() * kArenaBytes; }
  size_t free_bytes() const { return free_pages_ * kPageSize; }
  // Free pages that are still resident (not yet returned to the OS).
  size_t retained_free_bytes() const {
    return (free_pages_ - scavenged_pages_) * kPageSize;
  }
  size_t released_bytes() const {
    return scavenged_committed_pages_ * kPageSize;
  }
  size_t arena_count() const { return arenas_.size(); }
  HeapArena* first_arena() const {
    return arenas_.empty() ? nullptr : arenas_.front();
  }

  // Debug check of the invariants above for every arena.
  void Verify() const;

 private:
  Run AllocInArena(HeapArena* a, size_t first, size_t npages);
  Run AllocHuge(size_t npages);
  bool Commit(HeapArena* a, size_t first, size_t npages);
  size_t FindRun(HeapArena* a, size_t npages);
  // The lowest run of npages free pages that are all resident (not
  // scavenged), or kPagesPerArena.
  size_t FindResidentRun(const HeapArena* a, size_t npages);
  void MarkFree(HeapArena* a, size_t first, size_t npages);

  ArenaIndex* index_;
  std::vector<HeapArena*> arenas_;  // sorted by base address
  size_t free_pages_ = 0;
  size_t scavenged_pages_ = 0;  // free and released (incl. never used)
  size_t scavenged_committed_pages_ = 0;  // released after having been used
  size_t committed_granules_ = 0;
};

// Bitmap helpers over arrays of uint64_t (bit i of the map is bit i%64 of
// word i/64). Ranges are [first, first+n).
size_t NextSetBit(const uint64_t* bits, size_t nbits, size_t from);
size_t NextClearBit(const uint64_t* bits, size_t nbits, size_t from);
void SetBits(uint64_t* bits, size_t first, size_t n);
void ClearBits(uint64_t* bits, size_t first, size_t n);
bool AllSet(const uint64_t* bits, size_t first, size_t n);
size_t CountSet(const uint64_t* bits, size_t first, size_t n);

}  // namespace gcheap

#endif  // GCHEAP_HEAP_PAGEALLOC_H_
