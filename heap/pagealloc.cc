#include "heap/pagealloc.h"

#include <algorithm>
#include <new>

namespace gcheap {

// ---- bitmap helpers ---------------------------------------------------------

size_t NextSetBit(const uint64_t* bits, size_t nbits, size_t from) {
  if (from >= nbits) return nbits;
  size_t w = from / 64;
  uint64_t word = bits[w] & (~uint64_t{0} << (from % 64));
  const size_t nwords = (nbits + 63) / 64;
  while (word == 0) {
    if (++w == nwords) return nbits;
    word = bits[w];
  }
  return std::min(nbits, w * 64 + __builtin_ctzll(word));
}

size_t NextClearBit(const uint64_t* bits, size_t nbits, size_t from) {
  if (from >= nbits) return nbits;
  size_t w = from / 64;
  uint64_t word = ~bits[w] & (~uint64_t{0} << (from % 64));
  const size_t nwords = (nbits + 63) / 64;
  while (word == 0) {
    if (++w == nwords) return nbits;
    word = ~bits[w];
  }
  return std::min(nbits, w * 64 + __builtin_ctzll(word));
}

namespace {
// Calls f(word_index, mask) for each word touched by [first, first+n).
template <typename F>
void ForEachWordMask(size_t first, size_t n, F f) {
  size_t end = first + n;
  while (first < end) {
    size_t w = first / 64, lo = first % 64;
    size_t hi = std::min<size_t>(64, lo + (end - first));
    uint64_t mask = (hi == 64 ? ~uint64_t{0} : ((uint64_t{1} << hi) - 1)) &
                    (~uint64_t{0} << lo);
    f(w, mask);
    first += hi - lo;
  }
}
}  // namespace

void SetBits(uint64_t* bits, size_t first, size_t n) {
  ForEachWordMask(first, n, [&](size_t w, uint64_t m) { bits[w] |= m; });
}

void ClearBits(uint64_t* bits, size_t first, size_t n) {
  ForEachWordMask(first, n, [&](size_t w, uint64_t m) { bits[w] &= ~m; });
}

bool AllSet(const uint64_t* bits, size_t first, size_t n) {
  bool all = true;
  ForEachWordMask(first, n,
                  [&](size_t w, uint64_t m) { all &= (bits[w] & m) == m; });
  return all;
}

size_t CountSet(const uint64_t* bits, size_t first, size_t n) {
  size_t c = 0;
  ForEachWordMask(first, n, [&](size_t w, uint64_t m) {
    c += __builtin_popcountll(bits[w] & m);
  });
  return c;
}

// ---- page allocator ---------------------------------------------------------

PageAlloc::~PageAlloc() {
  for (HeapArena* a : arenas_) {
    index_->Remove(a->base);
    SysUnreserve(reinterpret_cast<void*>(a->base), kArenaBytes);
    a->~HeapArena();
    SysFreeMeta(a, sizeof(HeapArena));
  }
}

bool PageAlloc::Grow(size_t npages) {
  size_t narenas = (npages + kPagesPerArena - 1) / kPagesPerArena;
  void* mem = SysReserveArenas(narenas * kArenaBytes);
  if (mem == nullptr) return false;
  for (size_t i = 0; i < narenas; i++) {
    void* meta = SysAllocMeta(sizeof(HeapArena));
    if (meta == nullptr) {
      // Metadata for the arenas already set up stays; the rest of the
      // reservation is returned.
      SysUnreserve(static_cast<char*>(mem) + i * kArenaBytes,
                   (narenas - i) * kArenaBytes);
      return false;
    }
    // mmap'd memory is zero, which is the right initial state for the
    // atomics and bitmaps; placement-new makes the object formally alive.
    HeapArena* a = new (meta) HeapArena();
    a->base = reinterpret_cast<uintptr_t>(mem) + i * kArenaBytes;
    std::fill(std::begin(a->free), std::end(a->free), ~uint64_t{0});
    std::fill(std::begin(a->clean), std::end(a->clean), ~uint64_t{0});
    std::fill(std::begin(a->scavenged), std::end(a->scavenged), ~uint64_t{0});
    a->free_pages = kPagesPerArena;
    a->scavenged_pages = kPagesPerArena;
    a->max_run = kPagesPerArena;
    free_pages_ += kPagesPerArena;
    scavenged_pages_ += kPagesPerArena;
    index_->Insert(a);
    auto pos = std::lower_bound(
        arenas_.begin(), arenas_.end(), a,
        [](HeapArena* x, HeapArena* y) { return x->base < y->base; });
    arenas_.insert(pos, a);
  }
  for (size_t i = 0; i + 1 < arenas_.size(); i++) {
    arenas_[i]->next = arenas_[i + 1];
  }
  arenas_.back()->next = nullptr;
  return true;
}

size_t PageAlloc::FindRun(HeapArena* a, size_t npages) {
  size_t longest = 0;
  size_t i = 0;
  while (i < kPagesPerArena) {
    i = NextSetBit(a->free, kPagesPerArena, i);
    if (i == kPagesPerArena) break;
    // Look only as far as the request needs: a long free run is accepted
    // without scanning to its end.
    size_t window = std::min(kPagesPerArena, i + npages);
    size_t j = NextClearBit(a->free, window, i);
    if (j == i + npages) return i;
    if (j == window) j = NextClearBit(a->free, kPagesPerArena, i);
    longest = std::max(longest, j - i);
    i = j;
  }
  // The whole bitmap was scanned: the bound is now exact.
  a->max_run = static_cast<uint32_t>(longest);
  a->max_run_stale = false;
  return kPagesPerArena;
}

size_t PageAlloc::FindResidentRun(const HeapArena* a, size_t npages) {
  uint64_t resident[kPageWordsPerArena];
  for (size_t w = 0; w < kPageWordsPerArena; w++) {
    resident[w] = a->free[w] & ~a->scavenged[w];
  }
  for (size_t i = 0; i < kPagesPerArena;) {
    i = NextSetBit(resident, kPagesPerArena, i);
    if (i == kPagesPerArena) break;
    const size_t j = NextClearBit(resident, kPagesPerArena, i);
    if (j - i >= npages) return i;
    i = j;
  }
  return kPagesPerArena;
}

bool PageAlloc::Commit(HeapArena* a, size_t first, size_t npages) {
  size_t g0 = (first * kPageSize) >> kCommitShift;
  size_t g1 = ((first + npages) * kPageSize - 1) >> kCommitShift;
  for (size_t g = g0; g <= g1; g++) {
    if (a->committed & (uint64_t{1} << g)) continue;
    size_t gstart = g;
    while (g + 1 <= g1 && !(a->committed & (uint64_t{1} << (g + 1)))) g++;
    size_t ngran = g - gstart + 1;
    if (!SysCommit(reinterpret_cast<void*>(a->base + (gstart << kCommitShift)),
                   ngran << kCommitShift)) {
      return false;
    }
    constexpr size_t kPagesPerGranule = (size_t{1} << kCommitShift) / kPageSize;
    for (size_t k = gstart; k <= g; k++) {
      a->committed |= uint64_t{1} << k;
      scavenged_committed_pages_ +=
          CountSet(a->scavenged, k * kPagesPerGranule, kPagesPerGranule);
    }
    committed_granules_ += ngran;
  }
  return true;
}

PageAlloc::Run PageAlloc::AllocInArena(HeapArena* a, size_t first,
                                       size_t npages) {
  GC_DCHECK(AllSet(a->free, first, npages), "allocating a non-free page");
  if (!Commit(a, first, npages)) return {};
  Run r;
  r.base = a->PageAddr(first);
  r.needzero = !AllSet(a->clean, first, npages);
  size_t scav = CountSet(a->scavenged, first, npages);
  a->scavenged_pages -= static_cast<uint32_t>(scav);
  scavenged_pages_ -= scav;
  scavenged_committed_pages_ -= scav;
  ClearBits(a->free, first, npages);
  ClearBits(a->clean, first, npages);
  ClearBits(a->scavenged, first, npages);
  a->free_pages -= static_cast<uint32_t>(npages);
  free_pages_ -= npages;
  // max_run stays a valid upper bound; tighten it by the free page count.
  a->max_run = std::min(a->max_run, a->free_pages);
  a->max_run_stale = true;
  return r;
}

PageAlloc::Run PageAlloc::Alloc(size_t npages) {
  GC_DCHECK(npages > 0, "empty page run");
  if (npages > kPagesPerArena) return AllocHuge(npages);
  // Resident free pages first: a lower run of fresh or released pages would
  // have to be faulted in while freed memory stays resident unused (arenas
  // are mapped top-down, so a newer arena lies below the older ones).
  for (HeapArena* a : arenas_) {
    if (a->free_pages - a->scavenged_pages < npages) continue;
    size_t first = FindResidentRun(a, npages);
    if (first != kPagesPerArena) return AllocInArena(a, first, npages);
  }
  for (HeapArena* a : arenas_) {
    if (a->free_pages < npages || a->max_run < npages) continue;
    size_t first = FindRun(a, npages);
    if (first == kPagesPerArena) continue;
    return AllocInArena(a, first, npages);
  }
  return {};
}

PageAlloc::Run PageAlloc::AllocHuge(size_t npages) {
  // A huge run starts at an arena base and covers whole free arenas that are
  // contiguous in memory, plus a free head of the last one.
  size_t whole = npages / kPagesPerArena;
  size_t tail = npages % kPagesPerArena;
  size_t need = whole + (tail ? 1 : 0);
  for (size_t i = 0; i + need <= arenas_.size(); i++) {
    bool ok = true;
    for (size_t k = 0; k < need && ok; k++) {
      HeapArena* a = arenas_[i + k];
      if (a->base != arenas_[i]->base + k * kArenaBytes) ok = false;
      size_t want = (k < whole) ? kPagesPerArena : tail;
      if (ok && !AllSet(a->free, 0, want)) ok = false;
    }
    if (!ok) continue;
    Run r;
    for (size_t k = 0; k < need; k++) {
      size_t want = (k < whole) ? kPagesPerArena : tail;
      Run part = AllocInArena(arenas_[i + k], 0, want);
      if (part.base == 0) {
        // Commit failed: undo the parts already taken.
        for (size_t u = 0; u < k; u++)
          MarkFree(arenas_[i + u], 0, kPagesPerArena);
        return {};
      }
      if (k == 0) r.base = part.base;
      r.needzero |= part.needzero;
    }
    return r;
  }
  return {};
}

void PageAlloc::MarkFree(HeapArena* a, size_t first, size_t npages) {
  GC_DCHECK(CountSet(a->free, first, npages) == 0, "double free of pages");
  SetBits(a->free, first, npages);
  a->free_pages += static_cast<uint32_t>(npages);
  free_pages_ += npages;
  // The freed run may merge with neighbours; the cached bound must grow to
  // cover at least this run. Mark stale so the next search recomputes it.
  // Its neighbours are each at most max_run long, and no run is longer than
  // the arena's free page count.
  a->max_run = static_cast<uint32_t>(
      std::min<size_t>(a->free_pages, 2 * size_t{a->max_run} + npages));
  a->max_run_stale = true;
}

void PageAlloc::Free(uintptr_t base, size_t npages) {
  while (npages > 0) {
    HeapArena* a = index_->Lookup(base);
    GC_CHECK(a != nullptr, "freeing pages outside the heap");
    size_t first = a->PageIndex(base);
    size_t n = std::min(npages, kPagesPerArena - first);
    MarkFree(a, first, n);
    base += n * kPageSize;
    npages -= n;
  }
}

PageAlloc::Run PageAlloc::TakeScavengeRun(size_t max_pages, size_t* npages,
                                          uintptr_t below) {
  *npages = 0;
  // Highest addresses first: the allocator prefers low addresses, so the
  // high end is the memory least likely to be reused soon.
  for (auto it = arenas_.rbegin(); it != arenas_.rend(); ++it) {
    HeapArena* a = *it;
    if (a->base >= below || a->free_pages == 0) continue;
    // Pages [0, end) of this arena lie below `below`.
    const size_t end = below - a->base >= kArenaBytes
                           ? kPagesPerArena
                           : (below - a->base) >> kPageShift;
    // Scan backwards word by word for free & ~scavenged pages.
    for (size_t w = (end + 63) / 64; w-- > 0;) {
      uint64_t cand = a->free[w] & ~a->scavenged[w];
      if (end - w * 64 < 64) cand &= (uint64_t{1} << (end - w * 64)) - 1;
      if (cand == 0) continue;
      size_t last = w * 64 + 63 - __builtin_clzll(cand);
      size_t first = last;
      while (first > 0 && last + 1 - first < max_pages) {
        size_t p = first - 1;
        bool ok = (a->free[p / 64] >> (p % 64)) & 1 &&
                  !((a->scavenged[p / 64] >> (p % 64)) & 1);
        if (!ok) break;
        first = p;
      }
      size_t n = last + 1 - first;
      ClearBits(a->free, first, n);
      a->free_pages -= static_cast<uint32_t>(n);
      free_pages_ -= n;
      a->max_run_stale = true;
      *npages = n;
      return Run{a->PageAddr(first), false};
    }
  }
  return {};
}

void PageAlloc::ReturnScavenged(uintptr_t base, size_t npages) {
  HeapArena* a = index_->Lookup(base);
  size_t first = a->PageIndex(base);
  MarkFree(a, first, npages);
  SetBits(a->clean, first, npages);
  SetBits(a->scavenged, first, npages);
  a->scavenged_pages += static_cast<uint32_t>(npages);
  scavenged_pages_ += npages;
  scavenged_committed_pages_ += npages;
}

void PageAlloc::ReturnUnreleased(uintptr_t base, size_t npages) {
  HeapArena* a = index_->Lookup(base);
  const size_t first = a->PageIndex(base);
  GC_DCHECK(CountSet(a->clean, first, npages) == 0,
            "a run taken for scavenging was clean");
  MarkFree(a, first, npages);
}

void PageAlloc::Verify() const {
  size_t total_free = 0;
  for (HeapArena* a : arenas_) {
    size_t f = CountSet(a->free, 0, kPagesPerArena);
    GC_CHECK(f == a->free_pages, "arena free page count is off");
    GC_CHECK(CountSet(a->scavenged, 0, kPagesPerArena) == a->scavenged_pages,
             "arena scavenged page count is off");
    total_free += f;
    for (size_t w = 0; w < kPageWordsPerArena; w++) {
      GC_CHECK((a->scavenged[w] & ~a->free[w]) == 0,
               "scavenged page that is not free");
      GC_CHECK((a->scavenged[w] & ~a->clean[w]) == 0,
               "scavenged page that is not clean");
    }
    if (!a->max_run_stale) {
      // max_run is exact: recompute and compare.
      size_t longest = 0, i = 0;
      while (i < kPagesPerArena) {
        i = NextSetBit(a->free, kPagesPerArena, i);
        if (i == kPagesPerArena) break;
        size_t j = NextClearBit(a->free, kPagesPerArena, i);
        longest = std::max(longest, j - i);
        i = j;
      }
      GC_CHECK(longest == a->max_run, "arena max_run is wrong");
    }
  }
  GC_CHECK(total_free == free_pages_, "heap free page count is off");
}

}  // namespace gcheap
