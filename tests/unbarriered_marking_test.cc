// unbarriered_marking_test: the collector's mostly-concurrent marking for
// stores without a barrier (gc/unbarriered.h) and its precleaning, driven
// by gcheap's own attached threads instead of libgc.so.1's: they store
// pointers with plain writes (release stores, as x86 makes them: Store
// below), never call the barrier, and stop at safepoints, not by signals.
// Two dirty-page sources, one test each (tests/BUILD.bazel runs them as two
// targets):
//   - the mprotect source (runtime/boehm/dirty_pages.h), libgc.so.1's: with
//     precleaning's rescan blind to objects allocated black in spans an
//     mcache still holds (the bug 9898c69 fixed) it fails every run. It
//     checks precleaning rounds that re-arm pages and rescan the marked
//     objects of spans the mutators' mcaches still hold and allocate from
//     (MHeap::SpanAllocatedPrefix, MSpan::IsMarkedOrBlack), the fault
//     handler racing with them, and the final pause's rescan. Not under
//     ThreadSanitizer (tests/BUILD.bazel says why).
//   - a software card table of this file's (CardSource): Store records the
//     page it wrote into after writing it, as a card-marking barrier would.
//     No signals, so it runs under ThreadSanitizer too: the collector's side
//     of the protocol (precleaning rounds on the driver while the workers
//     and the mutators run, the final pause's root and page rescan and its
//     drain on the driver alone, then with every worker) is checked for
//     data races there. With a source that reports nothing it fails (lost
//     nodes): the workload needs the rescans. It also checks that the
//     collector keeps every span from BeforeFirstPause to EndMark (its
//     SpanHold, gc/unbarriered.h): the heap's empty spans, asked for there,
//     are not released.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "gc/unbarriered.h"
#include "gtest/gtest.h"
#include "heap/mheap.h"
#include "runtime/boehm/dirty_pages.h"
#include "runtime/gc.h"
#include "runtime/runtime.h"

namespace gcheap {
namespace {

constexpr int kThreads = 6;  // three per core on this project's machines
constexpr int kChains = 256;
constexpr int kDepth = 12;
constexpr uintptr_t kMagic = 0x5a17c0de5a17c0deull;

struct Node {  // a conservative object: every word is scanned
  Node* child;
  uintptr_t magic;  // kMagic ^ the node's address
  uintptr_t owner;
  uintptr_t id;
};

Node* Load(Node* const* slot) {
  return __atomic_load_n(slot, __ATOMIC_RELAXED);
}
// A plain store as x86 performs one (a release store: every store before it
// is visible first), written as an atomic: the marker reads the slots
// concurrently (with acquire loads), which is the point of the mode.
// With a CardSource installed, the store is recorded after it is made.
void Store(Node** slot, Node* v);

// The software card table: the heap pages (gcheap's kPageSize) stored into
// since the last BeginMark or Preclean. Store records a page after its
// store, so a Preclean that takes the set (re-arms) either finds the store
// made (its rescan reads it) or leaves the record to the next round or the
// final pause; a thread never stops at a safepoint between the two, so the
// final pause sees every store of the mark.
class CardSource final : public UnbarrieredStores {
 public:
  explicit CardSource(MHeap* heap) : heap_(heap) {}

  void Record(const void* slot) {
    const uintptr_t page = reinterpret_cast<uintptr_t>(slot) & ~(kPageSize - 1);
    std::lock_guard<std::mutex> l(mu_);
    pages_.insert(page);
  }

  void BeginMark() override {
    // The world is stopped: every store from here on is recorded. No span
    // is freed but by a sweep until EndMark (the collector's SpanHold: a
    // page's span stays the one whose objects the rescan reads).
    std::lock_guard<std::mutex> l(mu_);
    pages_.clear();
  }
  // From here to EndMark the collector keeps every span (its SpanHold):
  // asking the heap to release its empty spans frees none. (World running:
  // the driver may call it.)
  void BeforeFirstPause() override {
    released_during_mark_ += heap_->ReleaseEmptySpans(/*only_old=*/false);
  }
  uint64_t Preclean(PageRescanner& r) override {
    released_during_mark_ += heap_->ReleaseEmptySpans(/*only_old=*/false);
    const std::set<uintptr_t> pages = Take();  // first re-arm, then rescan
    for (uintptr_t p : pages) Rescan(r, p);
    preclean_rounds_++;
    preclean_pages_ += pages.size();
    return pages.size();
  }
  void RescanDirty(PageRescanner& r) override {
    const std::set<uintptr_t> pages = Take();
    for (uintptr_t p : pages) Rescan(r, p);
    rescans_++;
  }
  void EndMark() override {}

  // Driver-thread counters, read once the heap is destroyed.
  uint64_t preclean_rounds_ = 0, preclean_pages_ = 0, rescans_ = 0;
  uint64_t released_during_mark_ = 0;

 private:
  std::set<uintptr_t> Take() {
    std::lock_guard<std::mutex> l(mu_);
    return std::exchange(pages_, {});
  }
  // The marked objects of page p's scan span that overlap p.
  void Rescan(PageRescanner& r, uintptr_t p) {
    MSpan* s = heap_->SpanAt(p);
    if (s == nullptr ||
        s->state.load(std::memory_order_acquire) != SpanState::kInUse ||
        NoScan(s->spanclass)) {
      return;
    }
    const uintptr_t end = s->start + s->npages * kPageSize;
    r.RescanPages(s, std::max(p, s->start), std::min(p + kPageSize, end));
  }

  MHeap* const heap_;
  std::mutex mu_;
  std::set<uintptr_t> pages_;  // under mu_
};

std::atomic<CardSource*> g_cards{nullptr};

void Store(Node** slot, Node* v) {
  __atomic_store_n(slot, v, __ATOMIC_RELEASE);
  if (CardSource* c = g_cards.load(std::memory_order_relaxed)) c->Record(slot);
}

Node* NewNode(gc_mutator* m, uintptr_t owner, uintptr_t id) {
  auto* n = static_cast<Node*>(gc_alloc_conservative(m, sizeof(Node)));
  Store(&n->child, nullptr);
  __atomic_store_n(&n->magic, kMagic ^ reinterpret_cast<uintptr_t>(n),
                   __ATOMIC_RELAXED);
  __atomic_store_n(&n->owner, owner, __ATOMIC_RELAXED);
  __atomic_store_n(&n->id, id, __ATOMIC_RELAXED);
  return n;
}

struct Shared {
  gc_heap* heap;
  Node** tables[kThreads] = {};  // the root range: each thread's table
  std::atomic<uint64_t> collections{0};
  std::atomic<uint64_t> failures{0};
  std::string first_failure;  // written by the first failing thread only
};

// The slot of depth d (0: the table entry) in chain c.
Node** SlotAt(Node** table, int c, int d) {
  Node** slot = &table[c];
  for (int i = 0; i < d; i++) {
    Node* n = Load(slot);
    if (n == nullptr) return slot;
    slot = &n->child;
  }
  return slot;
}

// Every id of the thread exactly once, each node intact; "" if so.
std::string Check(Node** table, uintptr_t owner) {
  std::vector<bool> seen(kChains * kDepth);
  size_t count = 0;
  for (int c = 0; c < kChains; c++) {
    for (Node* n = Load(&table[c]); n != nullptr; n = Load(&n->child)) {
      const uintptr_t magic = __atomic_load_n(&n->magic, __ATOMIC_RELAXED);
      const uintptr_t id = __atomic_load_n(&n->id, __ATOMIC_RELAXED);
      if (magic != (kMagic ^ reinterpret_cast<uintptr_t>(n)) ||
          __atomic_load_n(&n->owner, __ATOMIC_RELAXED) != owner ||
          id >= seen.size() || seen[id]) {
        return "thread " + std::to_string(owner) + ": damaged node in chain " +
               std::to_string(c);
      }
      seen[id] = true;
      if (++count > seen.size()) return "a cycle in the chains";
    }
  }
  if (count != seen.size()) {
    return "thread " + std::to_string(owner) + ": " + std::to_string(count) +
           " of " + std::to_string(seen.size()) + " nodes reachable";
  }
  return "";
}

void Worker(Shared* s, int t, int rounds, int ops) {
  gc_mutator* m = gc_thread_attach(s->heap);
  std::mt19937 rng(1234 + t);
  // The table: a conservative object whose address sits in the root range
  // before any node is linked into it.
  auto** table =
      static_cast<Node**>(gc_alloc_conservative(m, kChains * sizeof(Node*)));
  __atomic_store_n(&s->tables[t], table, __ATOMIC_RELAXED);
  uintptr_t id = 0;
  for (int c = 0; c < kChains; c++) {
    for (int d = 0; d < kDepth; d++) {
      Node* n = NewNode(m, t, id++);  // a safepoint: only the heap holds
      Store(SlotAt(table, c, d), n);  // the chain so far
    }
  }
  auto pick = [&](int n) { return static_cast<int>(rng() % n); };
  for (int r = 0; r < rounds; r++) {
    for (int op = 0; op < ops; op++) {
      switch (pick(3)) {
        case 0: {  // swap the tails of two chains at random depths
          // Of two different chains, so that neither tail holds the other's
          // slot (the chains stay disjoint lists).
          const int ca = pick(kChains);
          const int cb = (ca + 1 + pick(kChains - 1)) % kChains;
          Node** a = SlotAt(table, ca, 1 + pick(kDepth - 1));
          Node** b = SlotAt(table, cb, 1 + pick(kDepth - 1));
          Node* x = Load(a);
          Store(a, Load(b));
          Store(b, x);
          break;
        }
        case 1: {  // swap two table entries
          Node** a = &table[pick(kChains)];
          Node** b = &table[pick(kChains)];
          Node* x = Load(a);
          Store(a, Load(b));
          Store(b, x);
          break;
        }
        default: {  // replace a node by a fresh copy that takes its child
          Node* fresh = NewNode(m, t, 0);  // the safepoint comes first
          Node** slot = SlotAt(table, pick(kChains), pick(kDepth));
          Node* old = Load(slot);
          if (old == nullptr) break;  // fresh becomes garbage
          Store(&fresh->child, Load(&old->child));
          __atomic_store_n(&fresh->id,
                           __atomic_load_n(&old->id, __ATOMIC_RELAXED),
                           __ATOMIC_RELAXED);
          Store(slot, fresh);
          break;
        }
      }
      gc_alloc_conservative(m, 64);  // garbage: cycles start on their own
      gc_safepoint(m);
    }
    gc_collect(m);
    s->collections.fetch_add(1);
    const std::string why = Check(table, t);
    if (!why.empty() && s->failures.fetch_add(1) == 0) s->first_failure = why;
  }
  __atomic_store_n(&s->tables[t], nullptr, __ATOMIC_RELAXED);
  gc_thread_detach(m);
}

// A heap in concurrent mode with the roots the workload needs; the
// caller installs its source before RunWorkload.
gc_heap* NewHeap(Shared* s) {
  gc_config cfg;
  gc_config_init(&cfg);
  cfg.stop_the_world = 0;
  cfg.gc_percent = 25;  // frequent cycles beside the explicit ones
  cfg.finalizer_thread = 0;
  s->heap = gc_heap_create(&cfg);
  if (s->heap == nullptr) return nullptr;
  if (gc_add_root_range(s->heap, reinterpret_cast<void**>(s->tables),
                        kThreads) != 0) {
    gc_heap_destroy(s->heap);
    return s->heap = nullptr;
  }
  return s->heap;
}

void RunWorkload(Shared* s, int ops) {
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back(Worker, s, t, /*rounds=*/10, ops);
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(s->failures.load(), 0u) << s->first_failure;
  EXPECT_EQ(s->collections.load(), static_cast<uint64_t>(kThreads * 10));
}

TEST(UnbarrieredMarking, MprotectSourceWithPrecleaningLosesNothing) {
  Shared s;
  ASSERT_NE(NewHeap(&s), nullptr) << gc_last_error();
  std::unique_ptr<boehm::PageTracker> tracker =
      boehm::NewPageTracker(boehm::DirtySource::kMprotect, &s.heap->heap);
  ASSERT_NE(tracker, nullptr);
  s.heap->collector->SetUnbarrieredStores(tracker.get());
  RunWorkload(&s, /*ops=*/20000);
  // The mode really ran, with precleaning: pages were re-armed and rescanned
  // while the world ran, and final pauses rescanned what was left.
  const boehm::DirtyStats& total = tracker->totals();
  printf(
      "final pauses %llu: %llu dirty pages; preclean rounds %llu: %llu pages, "
      "%llu new-span pages\n",
      (unsigned long long)total.rescans, (unsigned long long)total.dirty_pages,
      (unsigned long long)total.preclean_rounds,
      (unsigned long long)total.preclean_pages,
      (unsigned long long)total.preclean_new_pages);
  EXPECT_GT(total.rescans, 0u);
  EXPECT_GT(total.preclean_rounds, 0u);
  EXPECT_GT(total.preclean_pages + total.preclean_new_pages, 0u);
  gc_heap_destroy(s.heap);  // before the tracker it points to
}

TEST(UnbarrieredMarking, SoftwareCardSourceWithPrecleaningLosesNothing) {
  Shared s;
  ASSERT_NE(NewHeap(&s), nullptr) << gc_last_error();
  CardSource cards(&s.heap->heap);
  g_cards.store(&cards);
  s.heap->collector->SetUnbarrieredStores(&cards);
  RunWorkload(&s, /*ops=*/10000);
  gc_heap_destroy(s.heap);  // before the source it points to
  g_cards.store(nullptr);
  printf("final pauses %llu; preclean rounds %llu: %llu pages\n",
         (unsigned long long)cards.rescans_,
         (unsigned long long)cards.preclean_rounds_,
         (unsigned long long)cards.preclean_pages_);
  EXPECT_GT(cards.rescans_, 0u);
  EXPECT_GT(cards.preclean_rounds_, 0u);
  EXPECT_GT(cards.preclean_pages_, 0u);
  EXPECT_EQ(cards.released_during_mark_, 0u)
      << "spans freed between BeforeFirstPause and EndMark";
}

}  // namespace
}  // namespace gcheap
