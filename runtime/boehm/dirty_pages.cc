// dirty_pages.cc: the dirty-page sources of libgc.so.1's mostly-concurrent
// marking (design, invariants: dirty_pages.h; the argument: docs/boehm.md,
// "Mostly-concurrent marking").
#include "runtime/boehm/dirty_pages.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iterator>

#include "gc/collector.h"
#include "gc/stats.h"
#include "heap/mspan.h"
#include "runtime/boehm/boehm_internal.h"
#include "runtime/runtime.h"

namespace gcheap::boehm {

const char* DirtySourceName(DirtySource s) {
  switch (s) {
    case DirtySource::kNone:
      return "none";
    case DirtySource::kSoftDirty:
      return "soft-dirty";
    case DirtySource::kMprotect:
      return "mprotect";
  }
  return "none";
}

namespace {

constexpr uint64_t kSoftDirtyBit = uint64_t{1} << 55;

size_t OsPageSize() {
  const long p = sysconf(_SC_PAGESIZE);
  return p > 0 ? static_cast<size_t>(p) : 4096;
}

// The pagemap entry of the page at addr, or 0 when it cannot be read.
uint64_t PagemapEntry(int fd, uintptr_t addr, size_t page) {
  uint64_t e = 0;
  if (pread(fd, &e, sizeof(e), static_cast<off_t>(addr / page * sizeof(e))) !=
      static_cast<ssize_t>(sizeof(e))) {
    return 0;
  }
  return e;
}

bool ClearSoftDirty(int fd) { return pwrite(fd, "4", 1, 0) == 1; }

}  // namespace

bool SoftDirtyWorks() {
  const int clear_fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
  const int map_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  bool ok = false;
  const size_t page = OsPageSize();
  void* mem = mmap(nullptr, page, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (clear_fd >= 0 && map_fd >= 0 && mem != MAP_FAILED) {
    volatile char* p = static_cast<volatile char*>(mem);
    p[0] = 1;  // present
    const uintptr_t a = reinterpret_cast<uintptr_t>(mem);
    if (ClearSoftDirty(clear_fd) &&
        (PagemapEntry(map_fd, a, page) & kSoftDirtyBit) == 0) {
      p[0] = 2;  // must set the bit
      ok = (PagemapEntry(map_fd, a, page) & kSoftDirtyBit) != 0;
    }
  }
  if (mem != MAP_FAILED) munmap(mem, page);
  if (clear_fd >= 0) close(clear_fd);
  if (map_fd >= 0) close(map_fd);
  return ok;
}

DirtySource ChooseDirtySource(const char* env, std::string* warning) {
  const std::string v = env != nullptr ? env : "auto";
  if (v == "mprotect") return DirtySource::kMprotect;
  if (v == "none" || v == "stw") return DirtySource::kNone;
  if (v != "auto" && v != "soft-dirty" && v != "") {
    *warning = "GC_GCHEAP_DIRTY_PAGES=" + v +
               " is not one of auto, soft-dirty, mprotect, none: using auto";
  }
  // auto is stop-the-world for now: kept while the fix of the deadlock
  // that made it so (a thread inside gcheap holding the heap lock stopped
  // by the signal; threads.cc no longer signals one) is new
  // (docs/boehm.md, "Mostly-concurrent marking").
  if (v != "soft-dirty") return DirtySource::kNone;
  if (SoftDirtyWorks()) return DirtySource::kSoftDirty;
  *warning =
      "GC_GCHEAP_DIRTY_PAGES=soft-dirty: the kernel does not track "
      "soft-dirty pages here (a written page shows no bit 55 in "
      "/proc/self/pagemap after clear_refs 4): stop-the-world marking";
  return DirtySource::kNone;
}

// ---- PageTracker --------------------------------------------------------

PageTracker::PageTracker(MHeap* heap) : heap_(heap), page_size_(OsPageSize()) {}
PageTracker::~PageTracker() = default;

void PageTracker::BeginMark() {
  const int64_t t0 = NowNs();
  current_ = {};
  spans_.clear();
  ranges_.clear();
  heap_->ForEachSpan([&](MSpan* s) {
    if (NoScan(s->spanclass)) return;
    spans_.push_back({s->start, s->start + s->npages * kPageSize, s});
  });
  std::sort(
      spans_.begin(), spans_.end(),
      [](const TrackedSpan& a, const TrackedSpan& b) { return a.lo < b.lo; });
  size_t bits = 0;
  for (const TrackedSpan& t : spans_) {
    if (!ranges_.empty() && ranges_.back().hi == t.lo) {
      ranges_.back().hi = t.hi;
    } else {
      ranges_.push_back({t.lo, t.hi, 0});
    }
  }
  for (Range& r : ranges_) {
    r.first_bit = bits;
    bits += (r.hi - r.lo) / page_size_;
  }
  nbits_ = bits;
  current_.tracked_pages = bits;
  Arm();
  current_.arm_ns += NowNs() - t0;
}

void PageTracker::RescanRun(PageRescanner& r, uintptr_t lo, uintptr_t hi) {
  // The first span that ends after lo, then every span that starts below
  // hi.
  auto it = std::upper_bound(
      spans_.begin(), spans_.end(), lo,
      [](uintptr_t a, const TrackedSpan& t) { return a < t.hi; });
  for (; it != spans_.end() && it->lo < hi; ++it) {
    // Nothing frees a span while marking (nothing is swept, and the
    // collector's SpanHold keeps the empty spans); a span that is no longer
    // in use (or no longer this one) holds nothing to rescan.
    MSpan* s = it->span;
    if (s->state.load(std::memory_order_acquire) != SpanState::kInUse ||
        s->start != it->lo) {
      continue;
    }
    r.RescanPages(s, std::max(lo, it->lo), std::min(hi, it->hi));
  }
}

void PageTracker::CollectUntracked() {
  scratch_.clear();
  heap_->ForEachSpan([&](MSpan* s) {
    if (NoScan(s->spanclass)) return;
    auto it = std::lower_bound(
        spans_.begin(), spans_.end(), s->start,
        [](const TrackedSpan& t, uintptr_t a) { return t.lo < a; });
    if (it != spans_.end() && it->lo == s->start && it->span == s) return;
    scratch_.push_back(s);
  });
  std::sort(scratch_.begin(), scratch_.end(),
            [](const MSpan* a, const MSpan* b) { return a->start < b->start; });
}

uint64_t PageTracker::Preclean(PageRescanner& r) {
  if (preclean_off_ || !CanPreclean()) return 0;
  const int64_t t0 = NowNs();
  // The spans created since BeginMark or the last round, as new ranges
  // (the heap lock, before the source's own table lock: a thread holding
  // the heap lock may fault and wait for that one).
  CollectUntracked();
  added_.clear();
  uint64_t fresh_pages = 0;
  for (MSpan* s : scratch_) {
    const uintptr_t lo = s->start, hi = s->start + s->npages * kPageSize;
    if (!added_.empty() && added_.back().hi == lo) {
      added_.back().hi = hi;
    } else {
      added_.push_back({lo, hi, 0});
    }
  }
  for (Range& a : added_) {
    a.first_bit = nbits_;
    nbits_ += (a.hi - a.lo) / page_size_;
    fresh_pages += (a.hi - a.lo) / page_size_;
  }
  // FIRST re-arm: from here on a write to a page of the runs or of the new
  // spans is recorded (for the next round or the final pause)...
  runs_.clear();
  Rearm(added_, &runs_);
  const size_t old = spans_.size();
  for (MSpan* s : scratch_) {
    spans_.push_back({s->start, s->start + s->npages * kPageSize, s});
  }
  std::inplace_merge(
      spans_.begin(), spans_.begin() + static_cast<ptrdiff_t>(old),
      spans_.end(),
      [](const TrackedSpan& a, const TrackedSpan& b) { return a.lo < b.lo; });
  current_.tracked_pages += fresh_pages;
  // ... THEN rescan: a store made before the re-arm is read here, one
  // made after it is recorded (docs/boehm.md, "Precleaning").
  uint64_t dirty = 0;
  for (const auto& [lo, hi] : runs_) {
    dirty += (hi - lo) / page_size_;
    RescanRun(r, lo, hi);
  }
  for (MSpan* s : scratch_) {
    r.RescanPages(s, s->start, s->start + s->npages * kPageSize);
  }
  if (preclean_hook_) preclean_hook_();
  current_.preclean_rounds++;
  current_.preclean_pages += dirty;
  current_.preclean_new_pages += fresh_pages;
  current_.preclean_ns += NowNs() - t0;
  return dirty + fresh_pages;
}

void PageTracker::RescanDirty(PageRescanner& r) {
  const int64_t t0 = NowNs();
  current_.rescans++;
  ForEachDirtyRun([&](uintptr_t lo, uintptr_t hi) {
    current_.dirty_pages += (hi - lo) / page_size_;
    RescanRun(r, lo, hi);
  });
  // Spans created since BeginMark (or the last Preclean): not tracked, all
  // of their pages count as written (their objects were allocated black
  // and never scanned).
  CollectUntracked();
  for (MSpan* s : scratch_) {
    current_.untracked_pages += s->npages * kPageSize / page_size_;
    r.RescanPages(s, s->start, s->start + s->npages * kPageSize);
  }
  current_.rescan_ns += NowNs() - t0;
}

void PageTracker::EndMark() {
  const int64_t t0 = NowNs();
  Disarm();
  current_.disarm_ns += NowNs() - t0;
  stats_ = current_;
  totals_.tracked_pages += current_.tracked_pages;
  totals_.dirty_pages += current_.dirty_pages;
  totals_.untracked_pages += current_.untracked_pages;
  totals_.rescans += current_.rescans;
  totals_.preclean_rounds += current_.preclean_rounds;
  totals_.preclean_pages += current_.preclean_pages;
  totals_.preclean_new_pages += current_.preclean_new_pages;
  totals_.preclean_ns += current_.preclean_ns;
  totals_.arm_ns += current_.arm_ns;
  totals_.rescan_ns += current_.rescan_ns;
  totals_.disarm_ns += current_.disarm_ns;
}

namespace {

// ---- soft-dirty ---------------------------------------------------------

class SoftDirtyTracker final : public PageTracker {
 public:
  explicit SoftDirtyTracker(MHeap* heap) : PageTracker(heap) {
    clear_fd_ = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
    map_fd_ = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (clear_fd_ < 0 || map_fd_ < 0) {
      perror("gcheap libgc: /proc/self/clear_refs or pagemap");
      abort();
    }
    buf_.resize(kBatch);
  }
  ~SoftDirtyTracker() override {
    close(clear_fd_);
    close(map_fd_);
  }
  DirtySource source() const override { return DirtySource::kSoftDirty; }

 private:
  static constexpr size_t kBatch = 4096;  // entries per pread (32 KiB)

  void Arm() override {
    // A failed clear leaves no record of what is written next: every
    // tracked page then counts as dirty.
    all_dirty_ = !ClearSoftDirty(clear_fd_);
  }

  void ForEachDirtyRun(
      const std::function<void(uintptr_t, uintptr_t)>& f) override {
    for (const Range& r : ranges_) {
      if (all_dirty_) {
        f(r.lo, r.hi);
        continue;
      }
      uintptr_t run = 0;  // start of the current run of dirty pages, or 0
      for (uintptr_t a = r.lo; a < r.hi;) {
        const size_t n = std::min(kBatch, (r.hi - a) / page_size_);
        const ssize_t want = static_cast<ssize_t>(n * sizeof(uint64_t));
        const bool ok =
            pread(map_fd_, buf_.data(), want,
                  static_cast<off_t>(a / page_size_ * sizeof(uint64_t))) ==
            want;
        for (size_t i = 0; i < n; i++, a += page_size_) {
          // An unreadable batch counts as written.
          const bool dirty = !ok || (buf_[i] & kSoftDirtyBit) != 0;
          if (dirty && run == 0) run = a;
          if (!dirty && run != 0) {
            f(run, a);
            run = 0;
          }
        }
      }
      if (run != 0) f(run, r.hi);
    }
  }

  void Disarm() override {}

  int clear_fd_ = -1;
  int map_fd_ = -1;
  bool all_dirty_ = false;
  std::vector<uint64_t> buf_;
};

// ---- mprotect -----------------------------------------------------------

class MprotectTracker;
std::atomic<MprotectTracker*> g_mprotect{nullptr};
struct sigaction g_old_segv;

class MprotectTracker final : public PageTracker {
 public:
  explicit MprotectTracker(MHeap* heap) : PageTracker(heap) {}
  // Unregisters (tests make one after another; the library keeps its one
  // for the process's life). No fault may be in flight on its pages.
  ~MprotectTracker() override {
    MprotectTracker* self = this;
    g_mprotect.compare_exchange_strong(self, nullptr);
  }
  DirtySource source() const override { return DirtySource::kMprotect; }

  // From the SIGSEGV handler: true if addr lies in a tracked range (the
  // page is recorded, if armed, and writable again).
  bool HandleFault(uintptr_t addr) {
    for (;;) {
      inflight_.fetch_add(1, std::memory_order_seq_cst);
      if (!rebuilding_.load(std::memory_order_seq_cst)) break;
      inflight_.fetch_sub(1, std::memory_order_seq_cst);
      while (rebuilding_.load(std::memory_order_acquire)) {
        __builtin_ia32_pause();
      }
    }
    const bool ours = HandleFaultLocked(addr);
    inflight_.fetch_sub(1, std::memory_order_seq_cst);
    return ours;
  }

  // World running, before the first pause: protect every scan span's
  // pages now (the program's first write to each page faults until the
  // pause); BeginMark then fixes up what changed since.
  void BeforeFirstPause() override {
    // The handlers wait (StartRebuild) while every range is protected. A
    // variant that published the tables first and protected with the
    // handlers running (2026-12-01) cut w3m's wall by a tenth but made the
    // first pause's stop take 5-11 ms in a third of the runs: the program
    // reached the stop in the middle of a storm of faults on the pages just
    // protected.
    StartRebuild();
    PageTracker::BeginMark();  // the tracked set now, protected
    prearmed_ = true;
    EndRebuild();
  }

  void BeginMark() override {
    if (!prearmed_) {
      PageTracker::BeginMark();
      return;
    }
    // What was protected at BeforeFirstPause, and which of its pages were
    // written since (unprotected by the handler).
    old_ranges_ = ranges_;
    old_whole_.assign(ranges_.size(), 0);
    for (size_t i = 0; i < ranges_.size(); i++) old_whole_[i] = whole_[i];
    old_bits_.resize(words_);
    for (size_t i = 0; i < words_; i++) old_bits_[i] = bits_[i].load();
    StartRebuild();
    incremental_ = true;
    PageTracker::BeginMark();  // the tracked set at the pause, Arm(false)
    incremental_ = false;
    prearmed_ = false;
    EndRebuild();
  }

  void AfterMark() override {
    // EndMark only disarmed (faults since unprotect their page); the
    // world runs again: make every page writable now, with one call per
    // group of ranges whose gaps are committed heap memory (writable
    // already: noscan spans, free pages). A range's 1 MiB commit granules
    // are committed, and nothing decommits heap memory (heap/pagealloc.h),
    // so a gap that lies in the granules of its two neighbours is. Scan
    // spans interleaved with noscan ones make a range of nearly every
    // span: one call per group instead of hundreds per cycle.
    size_t i = 0;
    while (i < ranges_.size()) {
      const uintptr_t lo = ranges_[i].lo;
      uintptr_t hi = ranges_[i].hi;
      while (i + 1 < ranges_.size() && (ranges_[i + 1].lo >> kCommitShift) <=
                                           ((hi - 1) >> kCommitShift) + 1) {
        hi = ranges_[++i].hi;
      }
      mprotect(reinterpret_cast<void*>(lo), hi - lo, PROT_READ | PROT_WRITE);
      i++;
    }
  }

 private:
  bool HandleFaultLocked(uintptr_t addr) {
    const Range* rs = hranges_.load(std::memory_order_acquire);
    const size_t n = hcount_.load(std::memory_order_acquire);
    if (rs == nullptr) return false;
    size_t lo = 0, hi = n;
    while (lo < hi) {  // the first range with hi > addr
      const size_t mid = (lo + hi) / 2;
      if (rs[mid].hi <= addr) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    if (lo == n || addr < rs[lo].lo) return false;
    const Range& r = rs[lo];
    const uintptr_t page = addr & ~(page_size_ - 1);
    if (armed_.load(std::memory_order_acquire)) {
      const size_t bit = r.first_bit + (page - r.lo) / page_size_;
      bits_[bit / 64].fetch_or(uint64_t{1} << (bit % 64),
                               std::memory_order_acq_rel);
    }
    if (mprotect(reinterpret_cast<void*>(page), page_size_,
                 PROT_READ | PROT_WRITE) != 0) {
      // Out of memory maps (each protected run is a VMA): the whole range
      // counts as written and is writable again.
      whole_[lo].store(1, std::memory_order_release);
      mprotect(reinterpret_cast<void*>(r.lo), r.hi - r.lo,
               PROT_READ | PROT_WRITE);
    }
    return true;
  }

  // No handler reads the tables between StartRebuild and EndRebuild (one
  // that faults meanwhile waits).
  void StartRebuild() {
    rebuilding_.store(true, std::memory_order_seq_cst);
    while (inflight_.load(std::memory_order_seq_cst) != 0) {
      __builtin_ia32_pause();
    }
  }
  void EndRebuild() { rebuilding_.store(false, std::memory_order_seq_cst); }

  // Whether page p of the old (BeforeFirstPause) tracked set is still
  // protected. Cursor: the index of the old range to look in first.
  bool OldProtected(uintptr_t p, size_t* cursor) const {
    while (*cursor < old_ranges_.size() && old_ranges_[*cursor].hi <= p) {
      ++*cursor;
    }
    if (*cursor == old_ranges_.size() || p < old_ranges_[*cursor].lo) {
      return false;
    }
    const Range& r = old_ranges_[*cursor];
    if (old_whole_[*cursor] != 0) return false;
    const size_t bit = r.first_bit + (p - r.lo) / page_size_;
    return ((old_bits_[bit / 64] >> (bit % 64)) & 1) == 0;
  }

  // Calls f(lo, hi) for the runs of pages of [lo, hi) where want(page).
  template <typename P, typename F>
  void Runs(uintptr_t lo, uintptr_t hi, P want, F f) {
    uintptr_t run = 0;
    for (uintptr_t p = lo; p < hi; p += page_size_) {
      const bool w = want(p);
      if (w && run == 0) run = p;
      if (!w && run != 0) {
        f(run, p);
        run = 0;
      }
    }
    if (run != 0) f(run, hi);
  }

  void Arm() override {
    const size_t words = (nbits_ + 63) / 64;
    {
      // Between StartRebuild and EndRebuild, or in the pause: no handler
      // reads the tables, which may move.
      hranges_.store(nullptr, std::memory_order_release);
      hcount_.store(0, std::memory_order_release);
      if (words > bits_cap_) {
        bits_cap_ = std::max(words, 2 * bits_cap_);
        bits_.reset(new std::atomic<uint64_t>[bits_cap_]);
      }
      if (ranges_.size() > whole_cap_) {
        whole_cap_ = std::max(ranges_.size(), 2 * whole_cap_);
        whole_.reset(new std::atomic<uint8_t>[whole_cap_]);
      }
      words_ = words;
      for (size_t i = 0; i < words; i++) bits_[i].store(0);
      for (size_t i = 0; i < ranges_.size(); i++) whole_[i].store(0);
      if (!incremental_) {
        for (size_t i = 0; i < ranges_.size(); i++) {
          Protect(i, ranges_[i].lo, ranges_[i].hi);
        }
      } else {
        // In the pause: what is not protected (written since
        // BeforeFirstPause, or of spans created since) stays writable with
        // its bit set, reported dirty: the first precleaning round re-arms
        // it with the world running, or the final pause rescans it. No
        // mprotect in the pause for it (each call is a TLB shootdown on
        // every CPU the program runs on: tens of microseconds in a VM)...
        size_t cur = 0;
        for (size_t i = 0; i < ranges_.size(); i++) {
          Runs(
              ranges_[i].lo, ranges_[i].hi,
              [&](uintptr_t p) { return !OldProtected(p, &cur); },
              [&](uintptr_t a, uintptr_t b) { SetBits(i, a, b); });
        }
        // ... and unprotect what is protected but no longer tracked (the
        // pages of spans freed since, by sweeps in flight).
        size_t ni = 0;
        for (size_t i = 0; i < old_ranges_.size(); i++) {
          size_t oc = i;
          Runs(
              old_ranges_[i].lo, old_ranges_[i].hi,
              [&](uintptr_t p) {
                while (ni < ranges_.size() && ranges_[ni].hi <= p) ni++;
                const bool tracked = ni < ranges_.size() && p >= ranges_[ni].lo;
                return !tracked && OldProtected(p, &oc);
              },
              [&](uintptr_t a, uintptr_t b) {
                mprotect(reinterpret_cast<void*>(a), b - a,
                         PROT_READ | PROT_WRITE);
              });
        }
      }
    }
    hcount_.store(ranges_.size(), std::memory_order_release);
    hranges_.store(ranges_.data(), std::memory_order_release);
    armed_.store(true, std::memory_order_release);
  }

  // Marks the pages [lo, hi) of ranges_[i] written (tables being built).
  void SetBits(size_t i, uintptr_t lo, uintptr_t hi) {
    for (uintptr_t p = lo; p < hi; p += page_size_) {
      const size_t bit =
          ranges_[i].first_bit + (p - ranges_[i].lo) / page_size_;
      bits_[bit / 64].fetch_or(uint64_t{1} << (bit % 64),
                               std::memory_order_relaxed);
    }
  }

  void Protect(size_t i, uintptr_t lo, uintptr_t hi) {
    if (mprotect(reinterpret_cast<void*>(lo), hi - lo, PROT_READ) != 0) {
      // Untracked: reported whole at every rescan.
      whole_[i].store(1, std::memory_order_release);
      mprotect(reinterpret_cast<void*>(ranges_[i].lo),
               ranges_[i].hi - ranges_[i].lo, PROT_READ | PROT_WRITE);
    }
  }

  void ForEachDirtyRun(
      const std::function<void(uintptr_t, uintptr_t)>& f) override {
    DirtyRuns(/*whole=*/true,
              [&](size_t, uintptr_t lo, uintptr_t hi) { f(lo, hi); });
  }

  // Calls f(i, lo, hi) for each run of pages of ranges_[i] whose bit is
  // set, and for each range that counts as written whole if whole.
  template <typename F>
  void DirtyRuns(bool whole, F f) {
    for (size_t i = 0; i < ranges_.size(); i++) {
      const Range& r = ranges_[i];
      if (whole_[i].load(std::memory_order_acquire) != 0) {
        if (whole) f(i, r.lo, r.hi);
        continue;
      }
      const size_t npages = (r.hi - r.lo) / page_size_;
      uintptr_t run = 0;
      for (size_t p = 0; p < npages; p++) {
        const size_t bit = r.first_bit + p;
        const uint64_t word = bits_[bit / 64].load(std::memory_order_acquire);
        if (word == 0 && bit % 64 == 0 && p + 64 <= npages && run == 0) {
          p += 63;  // a clean word
          continue;
        }
        const bool dirty = (word >> (bit % 64)) & 1;
        const uintptr_t a = r.lo + p * page_size_;
        if (dirty && run == 0) run = a;
        if (!dirty && run != 0) {
          f(i, run, a);
          run = 0;
        }
      }
      if (run != 0) {
        f(i, run, r.hi);
      }
    }
  }

  bool CanPreclean() const override { return true; }

  void Rearm(const std::vector<Range>& added,
             std::vector<std::pair<uintptr_t, uintptr_t>>* runs) override {
    // The written runs (their bits set; only this thread clears bits, so
    // they stay set until re-armed below). A range that counts as written
    // whole is not tracked: the final pause rescans it anyway.
    rearm_.clear();
    DirtyRuns(/*whole=*/false, [&](size_t i, uintptr_t lo, uintptr_t hi) {
      rearm_.push_back({i, lo, hi});
    });
    for (const RearmRun& run : rearm_) {
      // Protected, then its bits cleared, with no handler running: one
      // that set a bit of the run and has not yet unprotected its page
      // would otherwise make the page writable with its bit clear (a
      // write then lost). Kept invariant: while armed, a tracked page is
      // writable only if its bit is set (or its range counts whole).
      StartRebuild();
      const Range& r = ranges_[run.i];
      if (mprotect(reinterpret_cast<void*>(run.lo), run.hi - run.lo,
                   PROT_READ) != 0) {
        whole_[run.i].store(1, std::memory_order_release);
        mprotect(reinterpret_cast<void*>(r.lo), r.hi - r.lo,
                 PROT_READ | PROT_WRITE);
      } else {
        for (uintptr_t p = run.lo; p < run.hi; p += page_size_) {
          const size_t bit = r.first_bit + (p - r.lo) / page_size_;
          bits_[bit / 64].fetch_and(~(uint64_t{1} << (bit % 64)),
                                    std::memory_order_acq_rel);
        }
      }
      EndRebuild();
      runs->push_back({run.lo, run.hi});
    }
    if (added.empty()) return;
    // The new ranges: into the tables (allocated before the handlers are
    // held off), with clear bits, then protected. Their pages are writable
    // and unrecorded until protected; the rescan comes after.
    merged_.clear();
    merged_.reserve(ranges_.size() + added.size());
    std::merge(ranges_.begin(), ranges_.end(), added.begin(), added.end(),
               std::back_inserter(merged_),
               [](const Range& a, const Range& b) { return a.lo < b.lo; });
    const size_t words = (nbits_ + 63) / 64;
    std::unique_ptr<std::atomic<uint64_t>[]> bits;
    size_t bits_cap = bits_cap_;
    if (words > bits_cap_) {
      bits_cap = std::max(words, 2 * bits_cap_);
      bits.reset(new std::atomic<uint64_t>[bits_cap]);
    }
    std::unique_ptr<std::atomic<uint8_t>[]> whole;
    size_t whole_cap = whole_cap_;
    if (merged_.size() > whole_cap_) {
      whole_cap = std::max(merged_.size(), 2 * whole_cap_);
      whole.reset(new std::atomic<uint8_t>[whole_cap]);
    }
    StartRebuild();
    if (bits) {
      for (size_t w = 0; w < words_; w++) bits[w].store(bits_[w].load());
      bits_.swap(bits);
      bits_cap_ = bits_cap;
    }
    for (size_t w = words_; w < words; w++) bits_[w].store(0);
    words_ = words;
    if (whole) {
      for (size_t j = 0; j < ranges_.size(); j++) {
        whole[j].store(whole_[j].load());
      }
      whole_.swap(whole);
      whole_cap_ = whole_cap;
    }
    // whole_ follows its range to its new index, which is not below its
    // old one: in place, from the back.
    for (size_t i = merged_.size(), j = ranges_.size(); i-- > 0;) {
      const bool old = j > 0 && ranges_[j - 1].lo == merged_[i].lo;
      whole_[i].store(old ? whole_[--j].load() : 0);
    }
    ranges_.swap(merged_);
    hcount_.store(ranges_.size(), std::memory_order_release);
    hranges_.store(ranges_.data(), std::memory_order_release);
    EndRebuild();
    for (const Range& a : added) {
      const size_t i = static_cast<size_t>(
          std::lower_bound(
              ranges_.begin(), ranges_.end(), a.lo,
              [](const Range& r, uintptr_t lo) { return r.lo < lo; }) -
          ranges_.begin());
      Protect(i, a.lo, a.hi);
    }
  }

  // In the pause: writes are no longer recorded; the pages are made
  // writable by AfterMark, once the world runs (a write before that faults
  // and unprotects its page).
  void Disarm() override { armed_.store(false, std::memory_order_release); }

  std::atomic<bool> armed_{false};
  std::atomic<bool> rebuilding_{false};
  std::atomic<int> inflight_{0};  // handlers reading the tables
  // The handler's view of ranges_ (published at Arm).
  std::atomic<const Range*> hranges_{nullptr};
  std::atomic<size_t> hcount_{0};
  std::unique_ptr<std::atomic<uint64_t>[]> bits_;  // one bit per page
  size_t bits_cap_ = 0;
  size_t words_ = 0;
  std::unique_ptr<std::atomic<uint8_t>[]> whole_;  // per range: all dirty
  size_t whole_cap_ = 0;
  // BeforeFirstPause's protection, kept for BeginMark's fix-up.
  bool prearmed_ = false;
  bool incremental_ = false;
  std::vector<Range> old_ranges_;
  std::vector<uint8_t> old_whole_;
  std::vector<uint64_t> old_bits_;
  // Rearm's scratch.
  struct RearmRun {
    size_t i;
    uintptr_t lo, hi;
  };
  std::vector<RearmRun> rearm_;
  std::vector<Range> merged_;
};

void SegvHandler(int sig, siginfo_t* si, void* uctx) {
  const int saved_errno = errno;
  MprotectTracker* t = g_mprotect.load(std::memory_order_acquire);
  if (t != nullptr && si != nullptr && si->si_code == SEGV_ACCERR &&
      t->HandleFault(reinterpret_cast<uintptr_t>(si->si_addr))) {
    errno = saved_errno;
    return;
  }
  errno = saved_errno;
  // Not ours: the program's previous handler, or the default action.
  if ((g_old_segv.sa_flags & SA_SIGINFO) != 0 &&
      g_old_segv.sa_sigaction != nullptr) {
    g_old_segv.sa_sigaction(sig, si, uctx);
    return;
  }
  if ((g_old_segv.sa_flags & SA_SIGINFO) == 0 &&
      g_old_segv.sa_handler != SIG_DFL && g_old_segv.sa_handler != SIG_IGN) {
    g_old_segv.sa_handler(sig);
    return;
  }
  // Default: a fault re-executes the instruction and now kills the
  // process; a signal sent by kill is raised again.
  signal(sig, SIG_DFL);
  if (si == nullptr || si->si_code <= 0) raise(sig);
}

void InstallSegvHandler() {
  // Once per process: a second install would take this handler for the
  // program's previous one.
  static std::atomic<bool> installed{false};
  if (installed.exchange(true)) return;
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_sigaction = SegvHandler;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  // Every signal blocked inside: no thread is suspended (SIGPWR) while it
  // updates the dirty bits (dirty_pages.h).
  sigfillset(&sa.sa_mask);
  if (sigaction(SIGSEGV, &sa, &g_old_segv) != 0) {
    perror("gcheap libgc: sigaction(SIGSEGV)");
    abort();
  }
}

}  // namespace

std::unique_ptr<PageTracker> NewPageTracker(DirtySource s, MHeap* heap) {
  switch (s) {
    case DirtySource::kSoftDirty:
      return std::make_unique<SoftDirtyTracker>(heap);
    case DirtySource::kMprotect: {
      auto t = std::make_unique<MprotectTracker>(heap);
      MprotectTracker* expected = nullptr;
      if (!g_mprotect.compare_exchange_strong(expected, t.get())) {
        fprintf(stderr, "gcheap libgc: a second mprotect page tracker\n");
        abort();
      }
      InstallSegvHandler();
      return t;
    }
    case DirtySource::kNone:
      break;
  }
  return nullptr;
}

// ---- the layer's marking mode ---------------------------------------------

namespace {
DirtySource g_source = DirtySource::kNone;
// Never destroyed, like the heap: the collector's threads are not stopped
// at exit (runtime/process.h), so its driver may still be arming or
// precleaning (world running), and the program's other threads may still
// fault on protected pages, after the library's static destructors have
// run. (A static std::unique_ptr here was destroyed inside exit(): the
// handler then passed those faults to the default action, and w3m died by
// SIGSEGV at exit; tests/boehm_exit_mprotect_test.cc.)
PageTracker* g_tracker = nullptr;
}  // namespace

bool ChooseMarkingMode() {
  std::string warning;
  g_source = ChooseDirtySource(getenv("GC_GCHEAP_DIRTY_PAGES"), &warning);
  if (!warning.empty()) fprintf(stderr, "gcheap libgc: %s\n", warning.c_str());
  return g_source != DirtySource::kNone;
}

void InstallDirtyPages() {
  if (g_source == DirtySource::kNone) return;
  g_tracker = NewPageTracker(g_source, &g.heap->heap).release();
  // GC_GCHEAP_PRECLEAN=0: no precleaning (to measure what it saves).
  const char* pre = getenv("GC_GCHEAP_PRECLEAN");
  if (pre != nullptr && strcmp(pre, "0") == 0) g_tracker->disable_preclean();
  g.heap->collector->SetUnbarrieredStores(g_tracker);
}

const char* MarkingModeName() {
  if (g_source != DirtySource::kNone) return "mostly-concurrent";
  return g.heap->collector->workers() > 1 ? "parallel-stw" : "stw";
}

const char* DirtyPagesName() { return DirtySourceName(g_source); }

DirtyStats DirtyTotals() {
  return g_tracker != nullptr ? g_tracker->totals() : DirtyStats{};
}

void SetPrecleanHookForTesting(std::function<void()> hook) {
  if (g_tracker != nullptr) g_tracker->set_preclean_hook(std::move(hook));
}

void PrintDirtyStats(FILE* f, uint64_t cycle, const gc_cycle_info* info) {
  if (g_tracker == nullptr) return;
  const DirtyStats& s = g_tracker->stats();
  fprintf(f,
          "GC #%" PRIu64 " mostly-concurrent: dirty pages from %s, %" PRIu64
          " pauses (first %" PRIu64 " us, last %" PRIu64 " us), %" PRIu64
          " of %" PRIu64 " tracked pages dirty, %" PRIu64
          " pages of new spans, %" PRIu64 " rescans; arm %" PRIu64
          " us, rescan %" PRIu64 " us, disarm %" PRIu64 " us; preclean %" PRIu64
          " rounds, %" PRIu64 " dirty pages and %" PRIu64
          " pages of new spans, %" PRIu64 " us\n",
          cycle, DirtySourceName(g_source), static_cast<uint64_t>(info->pauses),
          info->pause1_ns / 1000, info->pause2_ns / 1000, s.dirty_pages,
          s.tracked_pages, s.untracked_pages, s.rescans, s.arm_ns / 1000,
          s.rescan_ns / 1000, s.disarm_ns / 1000, s.preclean_rounds,
          s.preclean_pages, s.preclean_new_pages, s.preclean_ns / 1000);
}

}  // namespace gcheap::boehm
