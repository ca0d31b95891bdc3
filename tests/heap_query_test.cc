// heap_query_test: object queries (gc_object_base / size / type,
// gc_is_heap_pointer) and the heap walk (gc_heap_walk), in both collector
// modes: interior pointers, free slots, span tails and large objects; the
// walk sees exactly the live objects; walks and a storm of queries from
// several threads (attached and not) while others allocate and collect
// (run under tsan in CI); heap snapshots, one of them taken in a
// concurrent cycle's finalizer phase.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "gc_test_util.h"
#include "gtest/gtest.h"
#include "heap/mcache.h"
#include "heap/mheap.h"
#include "runtime/gc.h"
#include "runtime/runtime.h"

namespace gcheap {
namespace {

constexpr size_t kPage = 8192;

// A 48-byte object with one pointer slot (word 0). Size class 48 has one
// page per span: 170 slots, then 32 bytes of tail.
struct Obj48 {
  void* next;
  int64_t pad[5];
};

class HeapQueryTest : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    gc_config cfg;
    gc_config_init(&cfg);
    cfg.verify = 1;
    cfg.stop_the_world = GetParam();
    heap_ = gc_heap_create(&cfg);
    ASSERT_NE(heap_, nullptr) << gc_last_error();
    m_ = gc_thread_attach(heap_);
    cell_ = RegisterCell(heap_);
    obj48_ = RegisterSmallType(heap_, "Obj48", sizeof(Obj48), 0b1);
    ASSERT_NE(cell_, 0u);
    ASSERT_NE(obj48_, 0u);
  }
  void TearDown() override {
    gc_thread_detach(m_);
    gc_heap_destroy(heap_);
  }
  // The query answers for p: base, size and type must agree.
  void ExpectObject(const void* p, const void* base, size_t size,
                    gc_type_id type) {
    EXPECT_EQ(gc_object_base(heap_, p), base) << p;
    EXPECT_EQ(gc_object_size(heap_, p), size) << p;
    EXPECT_EQ(gc_object_type(heap_, p), type) << p;
    EXPECT_EQ(gc_is_heap_pointer(heap_, p), 1) << p;
  }
  void ExpectNoObject(const void* p, int heap_pointer) {
    EXPECT_EQ(gc_object_base(heap_, p), nullptr) << p;
    EXPECT_EQ(gc_object_size(heap_, p), 0u) << p;
    EXPECT_EQ(gc_object_type(heap_, p), 0u) << p;
    EXPECT_EQ(gc_is_heap_pointer(heap_, p), heap_pointer) << p;
  }

  gc_heap* heap_ = nullptr;
  gc_mutator* m_ = nullptr;
  gc_type_id cell_ = 0, obj48_ = 0;
};

TEST_P(HeapQueryTest, InteriorPointersResolveToTheirObject) {
  void* roots[3] = {};
  ASSERT_EQ(gc_add_root_range(heap_, roots, 3), 0);
  roots[0] = gc_alloc(m_, obj48_, sizeof(Obj48));
  roots[1] = gc_alloc_noscan(m_, 100);      // size class 112
  roots[2] = gc_alloc(m_, obj48_, 100000);  // large: 13 pages
  char* a = static_cast<char*>(roots[0]);
  char* n = static_cast<char*>(roots[1]);
  char* l = static_cast<char*>(roots[2]);
  for (size_t off : {0, 8, 17, 47}) ExpectObject(a + off, a, 48, obj48_);
  for (size_t off : {0, 1, 99, 111}) ExpectObject(n + off, n, 112, 0);
  for (size_t off : {0, 4096, 99999}) ExpectObject(l + off, l, 100000, obj48_);
  // Past a large object's requested bytes: its span's tail.
  ExpectNoObject(l + 100000, 1);
  // Not the heap's memory at all.
  int local = 0;
  void* c_heap = malloc(64);
  ExpectNoObject(&local, 0);
  ExpectNoObject(c_heap, 0);
  ExpectNoObject(nullptr, 0);
  free(c_heap);
  gc_collect(m_);  // still rooted: the same answers
  ExpectObject(a + 17, a, 48, obj48_);
  ExpectObject(l + 5, l, 100000, obj48_);
  ASSERT_EQ(gc_remove_root_range(heap_, roots, 3), 0);
}

TEST_P(HeapQueryTest, FreeSlotsTailsAndSweptObjectsAreNotObjects) {
  void* root = nullptr;
  ASSERT_EQ(gc_add_root(heap_, &root), 0);
  // The first 48-byte object of a fresh heap is slot 0 of its span.
  root = gc_alloc(m_, obj48_, sizeof(Obj48));
  char* a = static_cast<char*>(root);
  ASSERT_EQ(reinterpret_cast<uintptr_t>(a) % kPage, 0u);
  char* b = static_cast<char*>(gc_alloc(m_, obj48_, sizeof(Obj48)));
  ASSERT_EQ(b, a + 48);
  ExpectObject(b + 3, b, 48, obj48_);
  ExpectNoObject(a + 2 * 48, 1);    // a free slot of the span
  ExpectNoObject(a + 170 * 48, 1);  // the span's 32-byte tail
  ExpectNoObject(a + 170 * 48 + 31, 1);
  b = nullptr;
  gc_collect(m_);  // b dies; gc_collect sweeps it
  ExpectNoObject(a + 48, 1);
  ExpectObject(a, a, 48, obj48_);
  ASSERT_EQ(gc_remove_root(heap_, &root), 0);
}

struct WalkCount {
  gc_heap* heap;
  size_t objects = 0, cells = 0, large = 0, noscan = 0, mismatches = 0;
  gc_type_id cell;
  int stop_at = 0;
};

int CountObject(void* obj, size_t size, gc_type_id type, void* data) {
  auto* w = static_cast<WalkCount*>(data);
  w->objects++;
  // The queries agree with the walk (they may run inside it).
  if (gc_object_base(w->heap, obj) != obj ||
      gc_object_size(w->heap, static_cast<char*>(obj) + size - 1) != size ||
      gc_object_type(w->heap, obj) != type) {
    w->mismatches++;
  }
  if (type == w->cell && size == sizeof(Cell)) w->cells++;
  if (size == 200000) w->large++;
  if (type == 0 && size == 64) w->noscan++;
  return w->stop_at != 0 && w->objects == static_cast<size_t>(w->stop_at) ? 7
                                                                          : 0;
}

TEST_P(HeapQueryTest, WalkVisitsExactlyTheLiveObjects) {
  void* list = nullptr;
  void* keep[60] = {};
  ASSERT_EQ(gc_add_root(heap_, &list), 0);
  ASSERT_EQ(gc_add_root_range(heap_, keep, 60), 0);
  for (int i = 0; i < 1000; i++) {
    auto* c = static_cast<Cell*>(gc_alloc(m_, cell_, sizeof(Cell)));
    gc_write_barrier(m_, c, &c->cdr, list);
    list = c;
    gc_alloc(m_, cell_, sizeof(Cell));  // garbage
  }
  for (int i = 0; i < 10; i++) keep[i] = gc_alloc(m_, obj48_, 200000);
  for (int i = 10; i < 60; i++) keep[i] = gc_alloc_noscan(m_, 64);
  for (int i = 0; i < 20; i++) gc_alloc(m_, obj48_, 200000);  // garbage
  gc_collect(m_);
  WalkCount w{heap_};
  w.cell = cell_;
  EXPECT_EQ(gc_heap_walk(m_, CountObject, &w), 0);
  EXPECT_EQ(w.mismatches, 0u);
  EXPECT_EQ(w.cells, 1000u);  // Cell is 24 bytes: size class 24
  EXPECT_EQ(w.large, 10u);
  EXPECT_EQ(w.noscan, 50u);
  EXPECT_EQ(w.objects, 1060u);
  // Objects allocated since the last collection are walked too.
  for (int i = 0; i < 5; i++) gc_alloc(m_, cell_, sizeof(Cell));
  WalkCount w2{heap_};
  w2.cell = cell_;
  EXPECT_EQ(gc_heap_walk(m_, CountObject, &w2), 0);
  EXPECT_EQ(w2.objects, 1065u);
  // A nonzero return stops the walk and is returned.
  WalkCount w3{heap_};
  w3.cell = cell_;
  w3.stop_at = 3;
  EXPECT_EQ(gc_heap_walk(m_, CountObject, &w3), 7);
  EXPECT_EQ(w3.objects, 3u);
  EXPECT_EQ(gc_heap_walk(m_, nullptr, nullptr), -1);
  EXPECT_NE(std::string(gc_last_error()).find("fn is NULL"), std::string::npos);
  ASSERT_EQ(gc_remove_root(heap_, &list), 0);
  ASSERT_EQ(gc_remove_root_range(heap_, keep, 60), 0);
}

// Several threads allocate and drop lists and collect while the main
// thread walks: every walk finds each thread's permanent objects, and
// every object it visits resolves to itself.
TEST_P(HeapQueryTest, WalksWhileOtherThreadsAllocateAndCollect) {
  constexpr int kThreads = 3, kPermanent = 200;
  std::vector<void*> permanent[kThreads];
  void* roots[kThreads][2] = {};
  for (auto& r : roots) ASSERT_EQ(gc_add_root_range(heap_, r, 2), 0);
  std::atomic<int> ready{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&, t] {
      gc_mutator* m = gc_thread_attach(heap_);
      for (int i = 0; i < kPermanent; i++) {
        auto* c = static_cast<Cell*>(gc_alloc(m, cell_, sizeof(Cell)));
        gc_write_barrier(m, c, &c->cdr, roots[t][0]);
        roots[t][0] = c;
        permanent[t].push_back(c);
      }
      ready.fetch_add(1);
      for (int round = 0; !stop.load(); round++) {
        roots[t][1] = nullptr;
        for (int i = 0; i < 500; i++) {
          auto* c = static_cast<Cell*>(gc_alloc(m, cell_, sizeof(Cell)));
          gc_write_barrier(m, c, &c->cdr, roots[t][1]);
          roots[t][1] = c;
        }
        if (round % 8 == t) gc_collect(m);
      }
      gc_thread_detach(m);
    });
  }
  gc_enter_blocking(m_);
  while (ready.load() < kThreads) std::this_thread::yield();
  gc_leave_blocking(m_);
  struct Seen {
    gc_heap* heap;
    std::unordered_set<void*> objects;
    size_t bad = 0;
  };
  for (int walk = 0; walk < 20; walk++) {
    Seen seen{heap_};
    ASSERT_EQ(gc_heap_walk(
                  m_,
                  [](void* obj, size_t size, gc_type_id type, void* data) {
                    auto* s = static_cast<Seen*>(data);
                    s->objects.insert(obj);
                    if (gc_object_base(s->heap, obj) != obj ||
                        gc_object_size(s->heap, obj) != size ||
                        gc_object_type(s->heap, obj) != type) {
                      s->bad++;
                    }
                    return 0;
                  },
                  &seen),
              0);
    EXPECT_EQ(seen.bad, 0u);
    for (auto& p : permanent) {
      for (void* c : p) ASSERT_TRUE(seen.objects.count(c)) << "walk " << walk;
    }
    gc_safepoint(m_);
  }
  stop.store(true);
  gc_enter_blocking(m_);
  for (auto& t : threads) t.join();
  gc_leave_blocking(m_);
  for (auto& r : roots) ASSERT_EQ(gc_remove_root_range(heap_, r, 2), 0);
}

// Queries from threads that are attached and threads that are not, while
// two threads churn objects (each keeping a ring of recent ones in a
// root range) and a third collects in a loop: a permanent object always
// resolves exactly; a pointer read from a ring (its object may die and
// its span be swept, freed or reused under the query) resolves to nothing
// or to an object that contains it; so does any address near it.
TEST_P(HeapQueryTest, QueryStormWhileSpansAreSweptAndReused) {
  constexpr int kChurners = 2, kRing = 64, kQueriers = 4, kCycles = 30;
  void* rings[kChurners][kRing] = {};
  void* fixed[kChurners] = {};
  for (auto& r : rings) ASSERT_EQ(gc_add_root_range(heap_, r, kRing), 0);
  ASSERT_EQ(gc_add_root_range(heap_, fixed, kChurners), 0);
  std::atomic<int> ready{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kChurners; t++) {
    threads.emplace_back([&, t] {
      gc_mutator* m = gc_thread_attach(heap_);
      fixed[t] = gc_alloc(m, obj48_, sizeof(Obj48));
      ready.fetch_add(1);
      std::minstd_rand rng(t);
      for (uint64_t i = 0; !stop.load(std::memory_order_relaxed); i++) {
        void* p;
        switch (rng() % 4) {
          case 0:
            p = gc_alloc(m, cell_, sizeof(Cell));
            break;
          case 1:
            p = gc_alloc(m, obj48_, sizeof(Obj48));
            break;
          case 2:
            p = gc_alloc_noscan(m, 8 + rng() % 500);
            break;
          default:
            p = (i % 64 == 0) ? gc_alloc(m, obj48_, 40000 + rng() % 90000)
                              : gc_alloc_noscan(m, 24);
        }
        __atomic_store_n(&rings[t][i % kRing], p, __ATOMIC_RELEASE);
      }
      gc_thread_detach(m);
    });
  }
  std::atomic<uint64_t> queries{0}, bad{0}, bad_near{0};
  for (int q = 0; q < kQueriers; q++) {
    threads.emplace_back([&, q] {
      // Attach only once the churners run: an attached thread spinning
      // here without a safepoint would hold up every stop of the world.
      while (ready.load() < kChurners) std::this_thread::yield();
      gc_mutator* m = q % 2 ? gc_thread_attach(heap_) : nullptr;
      std::minstd_rand rng(100 + q);
      while (!stop.load(std::memory_order_relaxed)) {
        if (m != nullptr) gc_safepoint(m);
        const int t = rng() % kChurners;
        // The permanent object: exact answers, whatever else happens.
        char* f = static_cast<char*>(fixed[t]);
        const size_t off = rng() % 48;
        if (gc_object_base(heap_, f + off) != f ||
            gc_object_size(heap_, f + off) != 48 ||
            gc_object_type(heap_, f + off) != obj48_) {
          bad.fetch_add(1);
        }
        // A recent object (perhaps dead by now) and addresses near it.
        char* p = static_cast<char*>(
            __atomic_load_n(&rings[t][rng() % kRing], __ATOMIC_ACQUIRE));
        if (p == nullptr) continue;
        for (int k = 0; k < 4; k++) {
          char* x = p + (k == 0 ? 0 : static_cast<int>(rng() % 4096) - 2048);
          // Three queries are three moments: a sweep may free the object,
          // and its span be reused, in between. Where base and size come
          // from one object (the base did not change around the size),
          // the object contains x.
          char* base = static_cast<char*>(gc_object_base(heap_, x));
          if (base == nullptr) continue;
          const size_t size = gc_object_size(heap_, x);
          if (size == 0 || gc_object_base(heap_, x) != base) continue;
          if (x < base || x >= base + size) bad_near.fetch_add(1);
        }
        queries.fetch_add(1, std::memory_order_relaxed);
      }
      if (m != nullptr) gc_thread_detach(m);
    });
  }
  gc_enter_blocking(m_);
  while (ready.load() < kChurners) std::this_thread::yield();
  gc_leave_blocking(m_);
  for (int i = 0; i < kCycles; i++) gc_collect(m_);
  stop.store(true);
  gc_enter_blocking(m_);
  for (auto& t : threads) t.join();
  gc_leave_blocking(m_);
  EXPECT_EQ(bad.load(), 0u);
  EXPECT_EQ(bad_near.load(), 0u);
  EXPECT_GT(queries.load(), 0u);
  for (auto& r : rings) ASSERT_EQ(gc_remove_root_range(heap_, r, kRing), 0);
  ASSERT_EQ(gc_remove_root_range(heap_, fixed, kChurners), 0);
}

// An object another thread has just allocated, still in that thread's open
// allocation window (its span not synced), resolves on this thread as
// soon as it is handed over: the query reads the window's cursor.
TEST_P(HeapQueryTest, AnObjectJustAllocatedOnAnotherThreadResolves) {
  for (int round = 0; round < 50; round++) {
    std::atomic<void*> handed{nullptr};
    std::atomic<bool> done{false};
    void* root = nullptr;
    ASSERT_EQ(gc_add_root(heap_, &root), 0);
    std::thread t([&] {
      gc_mutator* m = gc_thread_attach(heap_);
      // A few objects, so that one lies inside a window (not its first
      // slot) whatever the window's start.
      void* p = nullptr;
      for (int i = 0; i <= round % 5; i++) {
        p = gc_alloc(m, obj48_, sizeof(Obj48));
        gc_write_barrier(m, p, &static_cast<Obj48*>(p)->next, root);
        root = p;
      }
      handed.store(p, std::memory_order_release);
      gc_enter_blocking(m);
      while (!done.load()) std::this_thread::yield();
      gc_leave_blocking(m);
      gc_thread_detach(m);
    });
    void* p;
    while ((p = handed.load(std::memory_order_acquire)) == nullptr) {
      std::this_thread::yield();
    }
    char* c = static_cast<char*>(p);
    EXPECT_EQ(gc_object_base(heap_, c + 17), p) << "round " << round;
    EXPECT_EQ(gc_object_size(heap_, c), 48u);
    EXPECT_EQ(gc_object_type(heap_, c), obj48_);
    // The slot after it has not been handed out.
    EXPECT_EQ(gc_object_base(heap_, c + 48), nullptr);
    done.store(true);
    gc_enter_blocking(m_);
    t.join();
    gc_leave_blocking(m_);
    ASSERT_EQ(gc_remove_root(heap_, &root), 0);
  }
}

// Threads attach, allocate, publish and detach (their mcaches are freed)
// while others query what they published: a query that read a span's
// window cursor must never read a freed mcache (asan), and a published
// object resolves exactly while its thread lives.
TEST_P(HeapQueryTest, QueriesWhileThreadsAttachAllocateAndDetach) {
  constexpr int kSlots = 16, kQueriers = 3, kWorkers = 3, kRounds = 40;
  std::atomic<void*> slots[kSlots] = {};
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> bad{0}, queries{0};
  std::vector<std::thread> queriers;
  for (int q = 0; q < kQueriers; q++) {
    queriers.emplace_back([&, q] {
      std::minstd_rand rng(q);
      while (!stop.load(std::memory_order_relaxed)) {
        char* p = static_cast<char*>(
            slots[rng() % kSlots].load(std::memory_order_acquire));
        if (p == nullptr) continue;
        // The object may be dead and swept by now: a non-null answer must
        // contain the address.
        char* x = p + static_cast<int>(rng() % 256) - 128;
        char* base = static_cast<char*>(gc_object_base(heap_, x));
        if (base != nullptr && (x < base || x >= base + 4096)) bad++;
        queries.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; w++) {
    workers.emplace_back([&, w] {
      for (int r = 0; r < kRounds; r++) {
        gc_mutator* m = gc_thread_attach(heap_);
        for (int i = 0; i < 64; i++) {
          void* p = (i & 1) ? gc_alloc(m, obj48_, sizeof(Obj48))
                            : gc_alloc_noscan(m, 16 + 8 * (i % 20));
          slots[(w * 64 + i) % kSlots].store(p, std::memory_order_release);
          // While this thread lives and has not collected, p is allocated.
          if (gc_object_base(heap_, p) != p) bad++;
        }
        if (r % 10 == w) gc_collect(m);
        gc_thread_detach(m);
      }
    });
  }
  gc_enter_blocking(m_);
  for (auto& t : workers) t.join();
  // On a loaded machine the queriers may not have been scheduled once
  // while the workers ran (seen: 0 queries in 26 ms): let them query what
  // the slots still hold (up to a minute) before they stop, so the check
  // below says that queries ran, not that the scheduler was kind.
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::minutes(1);
  while (queries.load() == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  stop.store(true);
  for (auto& t : queriers) t.join();
  gc_leave_blocking(m_);
  EXPECT_EQ(bad.load(), 0u);
  EXPECT_GT(queries.load(), 0u);
}

// gc_dump_heap: the snapshot is JSON (python3 parses it), its totals agree
// with its spans and with a heap walk, its large objects are listed, and a
// path that cannot be written fails with the reason.
TEST_P(HeapQueryTest, DumpHeapAgreesWithTheWalk) {
  void* keep[40] = {};
  ASSERT_EQ(gc_add_root_range(heap_, keep, 40), 0);
  for (int i = 0; i < 30; i++) keep[i] = gc_alloc(m_, cell_, sizeof(Cell));
  for (int i = 30; i < 38; i++) keep[i] = gc_alloc_noscan(m_, 300);
  keep[38] = gc_alloc(m_, obj48_, 70000);
  keep[39] = gc_alloc_noscan(m_, 50000);
  gc_collect(m_);
  WalkCount w{heap_};
  w.cell = cell_;
  ASSERT_EQ(gc_heap_walk(m_, CountObject, &w), 0);
  const char* dir = getenv("TEST_TMPDIR");
  const std::string path = std::string(dir ? dir : "/tmp") + "/snap-" +
                           std::to_string(GetParam()) + ".json";
  ASSERT_EQ(gc_dump_heap(m_, path.c_str()), 0) << gc_last_error();
  const std::string check =
      "python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); "
      "t=s[\"totals\"]; sp=s[\"spans\"]; "
      "ok = s[\"format\"]==\"gcheap-heap-snapshot\" and "
      "t[\"objects\"]==sum(x[\"objects\"] for x in sp)==int(sys.argv[2]) "
      "and t[\"spans\"]==len(sp) and t[\"arenas\"]==len(s[\"arenas\"])>=1 "
      "and t[\"large_objects\"]==len(s[\"large\"])==2 and "
      "sorted(x[\"bytes\"] for x in s[\"large\"])==[50000,70000] and "
      "all(x[\"state\"] in (\"swept\",\"cached\") for x in sp) and "
      "sum(c[\"objects\"] for c in s[\"classes\"])==t[\"objects\"]; "
      "sys.exit(0 if ok else 1)' " +
      path + " " + std::to_string(w.objects);
  EXPECT_EQ(system(check.c_str()), 0) << path;
  EXPECT_EQ(gc_dump_heap(m_, "/nonexistent-dir/snap.json"), -1);
  EXPECT_NE(std::string(gc_last_error()).find("cannot write"),
            std::string::npos);
  ASSERT_EQ(gc_remove_root_range(heap_, keep, 40), 0);
}

// A snapshot taken while a concurrent cycle's finalizer phase runs (held
// open with the collector's testing seam) is taken while marking: phase
// "mark finalizers", marking true, marks counted. (Failed when only kMark
// counted as marking.)
TEST(HeapDumpPhaseTest, ASnapshotInTheFinalizerPhaseIsTakenWhileMarking) {
  gc_config cfg;
  gc_config_init(&cfg);
  cfg.verify = 1;
  cfg.stop_the_world = 0;  // the phase runs with the world restarted
  cfg.finalizer_thread = 0;
  gc_heap* h = gc_heap_create(&cfg);
  ASSERT_NE(h, nullptr) << gc_last_error();
  gc_mutator* m = gc_thread_attach(h);
  static void* kept;
  ASSERT_EQ(gc_add_root(h, &kept), 0);
  ASSERT_TRUE(KeepAFinalizableCell(m, RegisterCell(h), &kept))
      << gc_last_error();
  std::mutex mu;
  std::condition_variable cv;
  bool entered = false, release = false;
  h->collector->SetFinalizerPhaseHookForTesting([&] {
    std::unique_lock<std::mutex> g(mu);
    entered = true;
    cv.notify_all();
    cv.wait_for(g, kLiveness, [&] { return release; });
  });
  std::thread collector([&] {
    gc_mutator* m2 = gc_thread_attach(h);
    gc_collect(m2);
    gc_thread_detach(m2);
  });
  bool in_phase;
  gc_enter_blocking(m);
  {
    std::unique_lock<std::mutex> g(mu);
    in_phase = cv.wait_for(g, kLiveness, [&] { return entered; });
  }
  gc_leave_blocking(m);
  const char* dir = getenv("TEST_TMPDIR");
  const std::string path = std::string(dir ? dir : "/tmp") + "/snap-fin.json";
  const int rc = gc_dump_heap(m, path.c_str());
  {
    std::lock_guard<std::mutex> g(mu);
    release = true;
    cv.notify_all();
  }
  gc_enter_blocking(m);
  collector.join();
  gc_leave_blocking(m);
  h->collector->SetFinalizerPhaseHookForTesting(nullptr);
  ASSERT_TRUE(in_phase);
  ASSERT_EQ(rc, 0) << gc_last_error();
  const std::string check =
      "python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); "
      "ok = s[\"phase\"]==\"mark finalizers\" and s[\"marking\"] is True "
      "and s[\"totals\"][\"marked\"]>0; sys.exit(0 if ok else 1)' " +
      path;
  EXPECT_EQ(system(check.c_str()), 0) << path;
  ASSERT_EQ(gc_remove_root(h, &kept), 0);
  gc_thread_detach(m);
  gc_heap_destroy(h);
}

// The heap-level query (MHeap::QueryObject) from another thread: the
// objects an mcache's open window handed out are allocated, with their
// type tags, the window's next slot is not; after the mcache syncs (it
// releases its spans), the same.
TEST(ObjectQueryTest, AnOpenWindowsObjectsAreAllocatedForOtherThreads) {
  MHeap heap;
  MCache* c = heap.NewMCache();
  std::vector<uintptr_t> objs;
  for (int i = 0; i < 5; i++) {
    objs.push_back(reinterpret_cast<uintptr_t>(c->AllocTyped(40, 100 + i)));
  }
  const uintptr_t next = objs.back() + 48;
  auto query = [&] {
    std::thread([&] {
      for (int i = 0; i < 5; i++) {
        ObjectInfo o;
        ASSERT_TRUE(heap.QueryObject(objs[i] + 5, &o)) << i;
        EXPECT_EQ(o.base, objs[i]);
        EXPECT_EQ(o.size, 48u);
        EXPECT_EQ(o.type, 100 + i);
      }
      ObjectInfo o;
      EXPECT_FALSE(heap.QueryObject(next, &o));
    }).join();
  };
  query();
  c->ReleaseAll();
  query();
  heap.FreeMCache(c);
}

// While a SpanHold lives, the empty spans a sweep kept stay in use (a heap
// walk reads them): neither FinishSweep nor the collector's release frees
// them; once it is gone, they go.
TEST(ObjectQueryTest, EmptySpansStayWhileASpanHoldLives) {
  MHeap heap;
  MCache* c = heap.NewMCache();
  for (size_t i = 0; i < 4 * kClassToNElems[SizeToClass(64)]; i++) {
    ASSERT_NE(c->Alloc(64, false), nullptr);
  }
  c->ReleaseAll();
  heap.StartSweepCycle();
  heap.SweepRemaining();  // nothing marked: four empty spans kept
  const std::vector<MSpan*> spans = heap.InUseSpans();
  ASSERT_EQ(spans.size(), 4u);
  {
    MHeap::SpanHold hold(&heap);
    EXPECT_EQ(heap.ReleaseEmptySpans(/*only_old=*/false), 0u);
    heap.FinishSweep();
    EXPECT_EQ(heap.InUseSpans(), spans);
    for (MSpan* s : spans) {
      EXPECT_EQ(s->state.load(), SpanState::kInUse);
    }
  }
  heap.FinishSweep();
  EXPECT_TRUE(heap.InUseSpans().empty());
  heap.FreeMCache(c);
}

#if defined(GCHEAP_DEBUG) && GCHEAP_DEBUG
// Debug builds only (dbg, asan-ubsan and tsan in CI): a walk callback that
// allocates aborts with a message instead of allocating with the world
// stopped.
TEST_P(HeapQueryTest, WalkCallbackThatAllocatesAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  struct Ctx {
    gc_mutator* m;
    gc_type_id t;
  } ctx{m_, cell_};
  gc_alloc(m_, cell_, sizeof(Cell));
  EXPECT_DEATH(gc_heap_walk(
                   m_,
                   [](void*, size_t, gc_type_id, void* data) {
                     auto* c = static_cast<Ctx*>(data);
                     gc_alloc(c->m, c->t, sizeof(Cell));
                     return 0;
                   },
                   &ctx),
               "API misuse in gc_alloc: called from a gc_heap_walk callback");
}
#endif

INSTANTIATE_TEST_SUITE_P(Modes, HeapQueryTest, ::testing::Values(0, 1),
                         [](const auto& info) {
                           return info.param ? "StopTheWorld" : "Concurrent";
                         });

}  // namespace
}  // namespace gcheap
