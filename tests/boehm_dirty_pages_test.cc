// boehm_dirty_pages_test: the dirty-page sources of libgc.so.1's
// mostly-concurrent marking (runtime/boehm/dirty_pages.h), on a gcheap heap
// of their own (the Boehm layer is not initialized here), driven by hand
// as the collector drives them in its pauses:
//   - the soft-dirty probe and the GC_GCHEAP_DIRTY_PAGES choice: "auto"
//     (and unset) is none (stop-the-world) whatever the probe says, while
//     mostly-concurrent marking has a known deadlock (docs/boehm.md);
//     "soft-dirty" gives soft-dirty exactly when the probe passes, else
//     none with a warning; "mprotect" and "none" are obeyed; an unknown
//     value warns and is auto;
//   - the mprotect source: after BeginMark, exactly the pages written are
//     reported (and the pages of a span created since, whole), an
//     unwritten page is not; after EndMark writes are not recorded, and
//     after AfterMark the pages are writable; with BeforeFirstPause
//     (protection while the world runs), the pause protects nothing again:
//     pages written before it stay writable and are reported (by the
//     final pause, or by the first precleaning round, which re-arms them),
//     a page not written since stays protected and is reported only if
//     written after BeginMark, and a span created in between is reported
//     whole;
//     precleaning (Preclean, as the collector calls it with the world
//     running) reports the pages written since they were last armed and a
//     new span's pages, then tracks them: a store into a page right after
//     a round read it is found by the next round or the final pause (the
//     re-arm comes before the read), a new span is tracked page by page
//     from the round on; a
//     read(2) into a protected page fails with EFAULT (the documented limit); a
//     fault outside the heap reaches the program's previous SIGSEGV handler.
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/boehm/dirty_pages.h"
#include "runtime/gc.h"
#include "runtime/runtime.h"

namespace gcheap::boehm {
namespace {

TEST(DirtySourceChoice, SoftDirtyOnRequestFollowsTheProbe) {
  const bool works = SoftDirtyWorks();
  std::string w;
  EXPECT_EQ(ChooseDirtySource(nullptr, &w), DirtySource::kNone);
  EXPECT_TRUE(w.empty()) << w;
  w.clear();
  EXPECT_EQ(ChooseDirtySource("auto", &w), DirtySource::kNone);
  EXPECT_TRUE(w.empty()) << w;
  w.clear();
  EXPECT_EQ(ChooseDirtySource("soft-dirty", &w),
            works ? DirtySource::kSoftDirty : DirtySource::kNone);
  EXPECT_EQ(w.empty(), works) << w;
  w.clear();
  EXPECT_EQ(ChooseDirtySource("mprotect", &w), DirtySource::kMprotect);
  EXPECT_EQ(ChooseDirtySource("none", &w), DirtySource::kNone);
  EXPECT_EQ(ChooseDirtySource("stw", &w), DirtySource::kNone);
  EXPECT_TRUE(w.empty()) << w;
  EXPECT_EQ(ChooseDirtySource("bogus", &w), DirtySource::kNone);
  EXPECT_NE(w.find("bogus"), std::string::npos) << w;
  printf("soft-dirty tracking on this kernel: %s\n", works ? "yes" : "no");
}

// Records what RescanDirty reports, as page-aligned addresses.
class Recorder final : public PageRescanner {
 public:
  void RescanPages(MSpan* s, uintptr_t lo, uintptr_t hi) override {
    ASSERT_GE(lo, s->start);
    ASSERT_LE(hi, s->start + s->npages * kPageSize);
    for (uintptr_t p = lo & ~uintptr_t{4095}; p < hi; p += 4096) {
      pages.insert(p);
    }
  }
  std::set<uintptr_t> pages;
};

// The program's own handler: counts the fault and makes the page
// writable, so the store is retried and succeeds (no longjmp out of a
// signal handler, which ThreadSanitizer cannot follow).
volatile sig_atomic_t g_previous_handler_calls = 0;
void PreviousHandler(int, siginfo_t* si, void*) {
  g_previous_handler_calls = g_previous_handler_calls + 1;
  const uintptr_t page = reinterpret_cast<uintptr_t>(si->si_addr) & ~4095ul;
  mprotect(reinterpret_cast<void*>(page), 4096, PROT_READ | PROT_WRITE);
}

// A heap of its own (stop-the-world: the tests drive the tracker by hand)
// with n conservative objects of 4 KiB, one per page, over several spans.
struct PagesHeap {
  explicit PagesHeap(int n) {
    gc_config cfg;
    gc_config_init(&cfg);
    cfg.stop_the_world = 1;
    h = gc_heap_create(&cfg);
    GC_CHECK(h != nullptr, "gc_heap_create");
    m = gc_thread_attach(h);
    for (int i = 0; i < n; i++) {
      objs.push_back(static_cast<char*>(gc_alloc_conservative(m, 4096)));
      GC_CHECK(objs.back() != nullptr, "gc_alloc_conservative");
    }
  }
  ~PagesHeap() {
    gc_thread_detach(m);
    gc_heap_destroy(h);
  }
  gc_heap* h;
  gc_mutator* m;
  std::vector<char*> objs;
};

uintptr_t Page(const void* p) {
  return reinterpret_cast<uintptr_t>(p) & ~uintptr_t{4095};
}

TEST(MprotectSource, ReportsExactlyTheWrittenPages) {
  ASSERT_EQ(sysconf(_SC_PAGESIZE), 4096);
  // The program's own SIGSEGV handler, installed before the tracker's.
  struct sigaction sa = {};
  sa.sa_sigaction = PreviousHandler;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  ASSERT_EQ(sigaction(SIGSEGV, &sa, nullptr), 0);

  PagesHeap ph(64);
  gc_mutator* m = ph.m;
  std::vector<char*>& objs = ph.objs;
  // A noscan object: never tracked.
  char* atomic = static_cast<char*>(gc_alloc_noscan(m, 4096));
  std::unique_ptr<PageTracker> t =
      NewPageTracker(DirtySource::kMprotect, &ph.h->heap);
  ASSERT_EQ(t->source(), DirtySource::kMprotect);

  t->BeginMark();
  EXPECT_GE(t->stats().tracked_pages, 0u);
  objs[3][8] = 1;
  objs[40][4000] = 1;
  objs[40][16] = 2;  // the same page again: no fault, still one page
  atomic[0] = 1;     // not tracked, never faults
  // A read(2) into a protected page fails instead of faulting.
  int fd = open("/dev/zero", O_RDONLY);
  ASSERT_GE(fd, 0);
  errno = 0;
  EXPECT_EQ(read(fd, objs[10], 16), -1);
  EXPECT_EQ(errno, EFAULT);
  close(fd);
  // A span created during the mark: reported whole, written or not.
  char* fresh = static_cast<char*>(gc_alloc_conservative(m, 64 << 10));
  ASSERT_NE(fresh, nullptr);

  Recorder r1;
  t->RescanDirty(r1);
  EXPECT_TRUE(r1.pages.count(Page(objs[3])));
  EXPECT_TRUE(r1.pages.count(Page(objs[40] + 4000)));
  EXPECT_FALSE(r1.pages.count(Page(objs[10])));
  EXPECT_FALSE(r1.pages.count(Page(objs[20])));
  EXPECT_FALSE(r1.pages.count(Page(atomic)));
  for (uintptr_t p = Page(fresh); p < Page(fresh) + (64 << 10); p += 4096) {
    EXPECT_TRUE(r1.pages.count(p)) << "page of the new span not reported";
  }
  // Exactly the two written pages of the tracked spans, and the new
  // span's.
  std::set<uintptr_t> expect = {Page(objs[3]), Page(objs[40])};
  for (uintptr_t p = Page(fresh); p < Page(fresh) + (64 << 10); p += 4096) {
    expect.insert(p);
  }
  EXPECT_EQ(r1.pages, expect);

  // A fault that is not the tracker's goes to the previous handler.
  void* none =
      mmap(nullptr, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(none, MAP_FAILED);
  *static_cast<volatile char*>(none) = 1;
  EXPECT_EQ(g_previous_handler_calls, 1);
  EXPECT_EQ(*static_cast<volatile char*>(none), 1);
  munmap(none, 4096);

  t->EndMark();
  EXPECT_EQ(t->stats().rescans, 1u);
  EXPECT_EQ(t->stats().dirty_pages, 2u);
  // Disarmed: a write is not recorded (it unprotects its page); after
  // AfterMark every page is writable again, system calls included.
  objs[5][0] = 1;
  t->AfterMark();
  fd = open("/dev/zero", O_RDONLY);
  EXPECT_EQ(read(fd, objs[11], 16), 16);
  close(fd);
  EXPECT_EQ(objs[3][8], 1);
  EXPECT_EQ(objs[40][16], 2);

  // Protection before the first pause (BeforeFirstPause, world running),
  // and what the pause (BeginMark) does with the pages written in between:
  // it protects none of them again (no mprotect in the pause) but leaves
  // them writable with their bits set, so none of those writes is lost.
  // Without precleaning the final pause reports them (conservatively: the
  // marker scans after BeginMark, so they need no rescan, but their pages
  // may be written again unseen); a page not written since
  // BeforeFirstPause stays protected and is reported only if written
  // after BeginMark; a span created in between is reported whole.
  t->BeforeFirstPause();
  objs[7][0] = 1;
  objs[6][0] = 1;
  char* between = static_cast<char*>(gc_alloc_conservative(m, 64 << 10));
  ASSERT_NE(between, nullptr);
  t->BeginMark();
  fd = open("/dev/zero", O_RDONLY);
  ASSERT_GE(fd, 0);
  // Writable after the pause: a system call can write into them.
  EXPECT_EQ(read(fd, objs[7] + 8, 8), 8);
  EXPECT_EQ(read(fd, between + 4096, 8), 8);
  // Not written since BeforeFirstPause: still protected.
  errno = 0;
  EXPECT_EQ(read(fd, objs[9], 8), -1);
  EXPECT_EQ(errno, EFAULT);
  objs[8][0] = 1;
  objs[6][1] = 1;
  between[0] = 1;
  Recorder r3;
  t->RescanDirty(r3);
  EXPECT_TRUE(r3.pages.count(Page(objs[7])));
  EXPECT_TRUE(r3.pages.count(Page(objs[8])));
  EXPECT_TRUE(r3.pages.count(Page(objs[6])));
  for (uintptr_t p = Page(between); p < Page(between) + (64 << 10); p += 4096) {
    EXPECT_TRUE(r3.pages.count(p)) << "page of the new span not reported";
  }
  EXPECT_FALSE(r3.pages.count(Page(objs[9])));
  EXPECT_FALSE(r3.pages.count(Page(objs[10])));
  t->EndMark();
  t->AfterMark();

  // The same with a precleaning round after the pause: the round reports
  // the pages written before the pause and re-arms them (protected again,
  // bits clear), so the final pause reports only what was written after
  // the round.
  t->BeforeFirstPause();
  objs[7][0] = 1;
  objs[6][0] = 1;
  t->BeginMark();
  EXPECT_EQ(read(fd, objs[7] + 8, 8), 8);  // left writable by the pause
  Recorder rp;
  t->Preclean(rp);
  EXPECT_TRUE(rp.pages.count(Page(objs[7])));
  EXPECT_TRUE(rp.pages.count(Page(objs[6])));
  EXPECT_FALSE(rp.pages.count(Page(objs[9])));
  errno = 0;
  EXPECT_EQ(read(fd, objs[7] + 8, 8), -1);  // re-armed by the round
  EXPECT_EQ(errno, EFAULT);
  objs[8][0] = 1;
  objs[6][1] = 1;
  Recorder r4;
  t->RescanDirty(r4);
  EXPECT_FALSE(r4.pages.count(Page(objs[7])));
  EXPECT_TRUE(r4.pages.count(Page(objs[8])));
  EXPECT_TRUE(r4.pages.count(Page(objs[6])));
  EXPECT_FALSE(r4.pages.count(Page(objs[9])));
  t->EndMark();
  t->AfterMark();
  EXPECT_EQ(read(fd, objs[7], 16), 16);
  EXPECT_EQ(read(fd, objs[9], 16), 16);
  EXPECT_EQ(read(fd, between, 16), 16);
  close(fd);
}

// Records what Preclean reports and, right after it read the page of
// `store_to` (the collector would have rescanned its objects), plays the
// program storing into that page.
class StoreAfterRescan final : public PageRescanner {
 public:
  explicit StoreAfterRescan(char* store_to) : store_to_(store_to) {}
  void RescanPages(MSpan*, uintptr_t lo, uintptr_t hi) override {
    for (uintptr_t p = lo & ~uintptr_t{4095}; p < hi; p += 4096) {
      pages.insert(p);
    }
    if (lo <= reinterpret_cast<uintptr_t>(store_to_) &&
        reinterpret_cast<uintptr_t>(store_to_) < hi) {
      *static_cast<volatile char*>(store_to_) = 7;
      stored = true;
    }
  }
  std::set<uintptr_t> pages;
  bool stored = false;

 private:
  char* const store_to_;
};

TEST(MprotectSource, PrecleanReArmsPagesBeforeItRescansThem) {
  ASSERT_EQ(sysconf(_SC_PAGESIZE), 4096);
  PagesHeap ph(16);
  gc_mutator* m = ph.m;
  std::vector<char*>& objs = ph.objs;
  std::unique_ptr<PageTracker> t =
      NewPageTracker(DirtySource::kMprotect, &ph.h->heap);
  // A mark with nothing in it: how many pages the heap's spans have.
  t->BeginMark();
  t->EndMark();
  t->AfterMark();
  const uint64_t tracked = t->stats().tracked_pages;
  t->BeginMark();
  objs[3][8] = 1;  // written during the mark: precleaned below
  // A span created during the mark: precleaned whole, then tracked.
  char* fresh = static_cast<char*>(gc_alloc_conservative(m, 64 << 10));
  ASSERT_NE(fresh, nullptr);

  // The round: the written page and the new span's pages, each stored
  // into right after it was read.
  StoreAfterRescan r1(objs[3] + 16);
  EXPECT_EQ(t->Preclean(r1), 1u + (64 << 10) / 4096);
  EXPECT_TRUE(r1.stored);
  std::set<uintptr_t> expect = {Page(objs[3])};
  for (uintptr_t p = Page(fresh); p < Page(fresh) + (64 << 10); p += 4096) {
    expect.insert(p);
  }
  EXPECT_EQ(r1.pages, expect);
  StoreAfterRescan r2(fresh + 8192 + 8);
  // Nothing written since the round but the store r1 made (after the
  // re-arm, so recorded): the next round finds only that page...
  EXPECT_EQ(t->Preclean(r2), 1u);
  EXPECT_EQ(r2.pages, std::set<uintptr_t>{Page(objs[3])});
  EXPECT_FALSE(r2.stored);
  // ... and the new span is tracked page by page now: a store into it is
  // recorded, the rest of it is not reported again.
  fresh[8192 + 8] = 1;
  objs[3][0] = 2;
  // A store into a page right after the round read it: found by the
  // final pause (a re-arm after the read would have lost it).
  StoreAfterRescan r3(objs[3] + 24);
  EXPECT_EQ(t->Preclean(r3), 2u);
  EXPECT_TRUE(r3.stored);
  Recorder fin;
  t->RescanDirty(fin);
  EXPECT_EQ(fin.pages, std::set<uintptr_t>{Page(objs[3])});
  t->EndMark();
  EXPECT_EQ(t->stats().preclean_rounds, 3u);
  EXPECT_EQ(t->stats().preclean_pages, 1u + 1u + 2u);
  EXPECT_EQ(t->stats().preclean_new_pages, (64u << 10) / 4096);
  EXPECT_EQ(t->stats().untracked_pages, 0u);  // tracked since the round
  EXPECT_EQ(t->stats().tracked_pages, tracked + (64 << 10) / 4096);
  t->AfterMark();
  int fd = open("/dev/zero", O_RDONLY);
  EXPECT_EQ(read(fd, fresh, 16), 16);  // writable again
  EXPECT_EQ(read(fd, objs[3], 16), 16);
  close(fd);
}

// The protection of the mapping holding addr, from /proc/self/maps
// ("rw-p", "r--p", "---p"), or "" if none holds it.
std::string ProtOf(uintptr_t addr) {
  FILE* f = fopen("/proc/self/maps", "r");
  if (f == nullptr) return "";
  char line[512];
  std::string prot;
  while (fgets(line, sizeof line, f) != nullptr) {
    unsigned long lo, hi;
    char perms[8];
    if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) == 3 && lo <= addr &&
        addr < hi) {
      prot = perms;
      break;
    }
  }
  fclose(f);
  return prot;
}

// AfterMark makes the tracked ranges writable with one mprotect per group
// of ranges whose gaps lie in their neighbours' 1 MiB commit granules.
// Scan spans interleaved with noscan ones (so the ranges have gaps): after
// AfterMark every page of both kinds is writable, system calls included,
// and the arena's reserved, uncommitted tail is still PROT_NONE (the
// groups never reach past memory the heap committed).
TEST(MprotectSource, AfterMarkUnprotectsGroupsAndNothingUncommitted) {
  PagesHeap ph(0);
  gc_mutator* m = ph.m;
  std::vector<char*> scan, noscan;
  for (int i = 0; i < 48; i++) {
    scan.push_back(static_cast<char*>(gc_alloc_conservative(m, 8192)));
    noscan.push_back(static_cast<char*>(gc_alloc_noscan(m, 8192)));
    ASSERT_NE(scan.back(), nullptr);
    ASSERT_NE(noscan.back(), nullptr);
  }
  const uintptr_t arena =
      reinterpret_cast<uintptr_t>(scan[0]) & ~(kArenaBytes - 1);
  const uintptr_t tail = arena + kArenaBytes - 4096;
  ASSERT_EQ(ProtOf(tail), "---p") << "the arena's tail is committed already";
  std::unique_ptr<PageTracker> t =
      NewPageTracker(DirtySource::kMprotect, &ph.h->heap);
  for (int round = 0; round < 2; round++) {
    t->BeforeFirstPause();
    t->BeginMark();
    int fd = open("/dev/zero", O_RDONLY);
    ASSERT_GE(fd, 0);
    errno = 0;
    EXPECT_EQ(read(fd, scan[5], 8), -1);  // tracked: protected
    EXPECT_EQ(errno, EFAULT);
    EXPECT_EQ(read(fd, noscan[5], 8), 8);  // never tracked
    scan[6][0] = 1;
    Recorder r;
    t->RescanDirty(r);
    EXPECT_TRUE(r.pages.count(Page(scan[6])));
    t->EndMark();
    t->AfterMark();
    for (int i = 0; i < 48; i++) {
      EXPECT_EQ(read(fd, scan[i], 8), 8) << "scan object " << i;
      EXPECT_EQ(read(fd, scan[i] + 4096, 8), 8) << "scan object " << i;
      EXPECT_EQ(read(fd, noscan[i], 8), 8) << "noscan object " << i;
    }
    close(fd);
    EXPECT_EQ(ProtOf(tail), "---p");
  }
}

}  // namespace
}  // namespace gcheap::boehm
