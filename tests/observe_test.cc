// observe_test: what a heap tells the embedder (runtime/observe.h): event
// listeners (every moment, in order, with the pauses the cycle hook
// reports; the finalizer phase's place among the phases; added and removed
// while events fire; activities reported only to, and only while there
// is, a listener that wants them), lock-free counters (equal
// to the statistics; a sampler stopped inside gc_get_counters holds up no
// mutator), the out-of-memory handler (frees memory and retries, or
// longjmps out) and the memory-pressure hook, under a hard heap limit.
#include "runtime/observe.h"

#include <chrono>
#include <csetjmp>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "gc/events.h"
#include "gc_test_util.h"
#include "gtest/gtest.h"
#include "runtime/gc.h"
#include "runtime/runtime.h"

namespace gcheap {
namespace {

gc_heap* NewHeap(int stw, size_t max_heap = 0) {
  gc_config cfg;
  gc_config_init(&cfg);
  cfg.verify = 1;
  cfg.stop_the_world = stw;
  cfg.max_heap_bytes = max_heap;
  gc_heap* h = gc_heap_create(&cfg);
  EXPECT_NE(h, nullptr) << gc_last_error();
  return h;
}

// ---- events -----------------------------------------------------------------

// Records every event, per kind and per thread.
struct Recorder {
  std::mutex mu;
  std::map<int, int> kinds;
  std::vector<gc_event> events;
  std::vector<gc_cycle_info> cycles;
  uint64_t self = 0;
  void Add(const gc_event* e) {
    std::lock_guard<std::mutex> g(mu);
    kinds[e->kind]++;
    events.push_back(*e);
  }
};

void Record(const gc_event* e, void* data) {
  static_cast<Recorder*>(data)->Add(e);
}
void RecordCycleEnd(const gc_event* e, const gc_cycle_info* info, void* data) {
  auto* r = static_cast<Recorder*>(data);
  r->Add(e);
  std::lock_guard<std::mutex> g(r->mu);
  r->cycles.push_back(*info);
}

gc_event_listener AllRecorded() {
  gc_event_listener l;
  memset(&l, 0, sizeof(l));
  l.struct_size = sizeof(l);
  l.cycle_start = l.phase = l.stop_requested = l.mutators_stopped =
      l.roots_scanned = l.heap_marked = l.mutators_restarted =
          l.mutator_attached = l.mutator_detached = l.heap_resized =
              l.activity_begin = l.activity_end = Record;
  l.cycle_end = RecordCycleEnd;
  return l;
}

class EventsTest : public ::testing::TestWithParam<int> {};

TEST_P(EventsTest, EveryMomentInOrderWithTheHooksPauses) {
  gc_heap* h = NewHeap(GetParam());
  Recorder rec;
  rec.self = CurrentThreadId();
  const gc_event_listener l = AllRecorded();
  ASSERT_EQ(gc_add_event_listener(h, &l, &rec), 0);
  EXPECT_EQ(gc_add_event_listener(h, &l, &rec), -1);  // twice: refused
  gc_mutator* m = gc_thread_attach(h);
  const gc_type_id cell = RegisterCell(h);
  void* root = nullptr;
  ASSERT_EQ(gc_add_root(h, &root), 0);
  std::thread other([&] {
    gc_mutator* om = gc_thread_attach(h);
    for (int i = 0; i < 20000; i++) gc_alloc(om, cell, sizeof(Cell));
    gc_thread_detach(om);
  });
  for (int round = 0; round < 5; round++) {
    for (int i = 0; i < 20000; i++) {
      auto* c = static_cast<Cell*>(gc_alloc(m, cell, sizeof(Cell)));
      gc_write_barrier(m, c, &c->cdr, i % 100 == 0 ? nullptr : root);
      root = c;
    }
    gc_collect(m);
  }
  gc_enter_blocking(m);
  other.join();
  gc_leave_blocking(m);
  ASSERT_EQ(gc_remove_event_listener(h, &l, &rec), 0);
  EXPECT_EQ(gc_remove_event_listener(h, &l, &rec), -1);
  ASSERT_EQ(gc_remove_root(h, &root), 0);
  gc_thread_detach(m);
  gc_heap_destroy(h);
  // The listener is gone: rec is read without its lock.
  const int cycles = static_cast<int>(rec.cycles.size());
  ASSERT_GE(cycles, 5);
  EXPECT_EQ(rec.kinds[GC_EVENT_CYCLE_START], cycles);
  EXPECT_EQ(rec.kinds[GC_EVENT_CYCLE_END], cycles);
  EXPECT_EQ(rec.kinds[GC_EVENT_HEAP_MARKED], cycles);
  EXPECT_GE(rec.kinds[GC_EVENT_ROOTS_SCANNED], cycles);
  EXPECT_EQ(rec.kinds[GC_EVENT_MUTATOR_ATTACHED], 2);
  EXPECT_EQ(rec.kinds[GC_EVENT_MUTATOR_DETACHED], 1);
  EXPECT_GE(rec.kinds[GC_EVENT_HEAP_RESIZED], 1);  // the first arena
  // Per cycle, in order: start, the phases, then each pause as stop
  // requested -> stopped -> restarted; the pauses' lengths sum to the
  // cycle hook's pause_ns, their count is its pauses.
  std::map<uint64_t, uint64_t> pause_ns, pauses;
  std::map<uint64_t, std::vector<int>> phases;
  uint64_t driver = 0;
  int state = 0;                  // 0 running, 1 stop requested, 2 stopped
  std::map<uint64_t, int> depth;  // open activities per thread
  for (const gc_event& e : rec.events) {
    EXPECT_EQ(e.struct_size, sizeof(gc_event));
    switch (e.kind) {
      case GC_EVENT_CYCLE_START:
        driver = e.thread;
        EXPECT_NE(e.thread, rec.self);  // cycles run on the driver
        break;
      case GC_EVENT_PHASE:
        EXPECT_EQ(e.thread, driver);
        phases[e.cycle].push_back(e.detail);
        break;
      case GC_EVENT_STOP_REQUESTED:
        EXPECT_EQ(state, 0);
        state = 1;
        break;
      case GC_EVENT_MUTATORS_STOPPED:
        EXPECT_EQ(state, 1);
        state = 2;
        break;
      case GC_EVENT_MUTATORS_RESTARTED:
        EXPECT_EQ(state, 2);
        state = 0;
        pause_ns[e.cycle] += e.ns;
        pauses[e.cycle]++;
        break;
      case GC_EVENT_ACTIVITY_BEGIN:
        depth[e.thread]++;
        break;
      case GC_EVENT_ACTIVITY_END:
        EXPECT_GT(depth[e.thread]--, 0) << "an end without its begin";
        break;
    }
  }
  for (const gc_cycle_info& c : rec.cycles) {
    EXPECT_EQ(pauses[c.cycle], c.pauses) << "cycle " << c.cycle;
    EXPECT_EQ(pause_ns[c.cycle], c.pause_ns) << "cycle " << c.cycle;
    EXPECT_EQ(phases[c.cycle],
              (std::vector<int>{GC_PHASE_SWEEP_TERMINATION, GC_PHASE_MARK,
                                GC_PHASE_MARK_TERMINATION, GC_PHASE_SWEEP}))
        << "cycle " << c.cycle;
  }
  std::map<int, int> activities;
  for (const gc_event& e : rec.events) {
    if (e.kind == GC_EVENT_ACTIVITY_BEGIN) activities[e.detail]++;
  }
  EXPECT_GT(activities[GC_ACTIVITY_MARK_WORKER], 0);
  EXPECT_GT(activities[GC_ACTIVITY_ALLOC_SLOW_PATH], 0);
  EXPECT_GT(activities[GC_ACTIVITY_BLOCKED], 0);  // gc_collect waits
  EXPECT_GT(activities[GC_ACTIVITY_SWEEP], 0);
}

// With a finalizer registered every cycle enters the finalizer phase
// between MARK and MARK_TERMINATION, reported as a PHASE like the others;
// its pauses are reported like the others and sum to the cycle hook's (a
// concurrent cycle has a third one: the finalizer phase runs with the
// world restarted and ends in a final pause of its own).
TEST_P(EventsTest, TheFinalizerPhaseIsReportedBetweenMarkAndTermination) {
  gc_config cfg;
  gc_config_init(&cfg);
  cfg.verify = 1;
  cfg.stop_the_world = GetParam();
  cfg.finalizer_thread = 0;
  gc_heap* h = gc_heap_create(&cfg);
  ASSERT_NE(h, nullptr) << gc_last_error();
  Recorder rec;
  const gc_event_listener l = AllRecorded();
  ASSERT_EQ(gc_add_event_listener(h, &l, &rec), 0);
  gc_mutator* m = gc_thread_attach(h);
  static void* kept;
  ASSERT_EQ(gc_add_root(h, &kept), 0);
  ASSERT_TRUE(KeepAFinalizableCell(m, RegisterCell(h), &kept))
      << gc_last_error();
  for (int i = 0; i < 3; i++) gc_collect(m);
  ASSERT_EQ(gc_remove_event_listener(h, &l, &rec), 0);
  ASSERT_EQ(gc_remove_root(h, &kept), 0);
  gc_thread_detach(m);
  gc_heap_destroy(h);
  ASSERT_GE(rec.cycles.size(), 3u);
  std::map<uint64_t, std::vector<int>> phases;
  std::map<uint64_t, uint64_t> pause_ns, pauses;
  for (const gc_event& e : rec.events) {
    if (e.kind == GC_EVENT_PHASE) phases[e.cycle].push_back(e.detail);
    if (e.kind == GC_EVENT_MUTATORS_RESTARTED) {
      pause_ns[e.cycle] += e.ns;
      pauses[e.cycle]++;
    }
  }
  for (const gc_cycle_info& c : rec.cycles) {
    EXPECT_EQ(phases[c.cycle],
              (std::vector<int>{GC_PHASE_SWEEP_TERMINATION, GC_PHASE_MARK,
                                GC_PHASE_MARK_FINALIZERS,
                                GC_PHASE_MARK_TERMINATION, GC_PHASE_SWEEP}))
        << "cycle " << c.cycle;
    EXPECT_EQ(pauses[c.cycle], c.pauses) << "cycle " << c.cycle;
    EXPECT_EQ(pause_ns[c.cycle], c.pause_ns) << "cycle " << c.cycle;
    if (GetParam() == 0) {
      EXPECT_GE(c.pauses, 3u) << "cycle " << c.cycle;
    }
  }
}

// Listeners come and go while events fire on several threads: once
// gc_remove_event_listener returns, the listener is never called again
// (its data is freed at once: asan catches a late call; so does the
// check of its state).
TEST_P(EventsTest, ListenersAddedAndRemovedWhileEventsFire) {
  gc_heap* h = NewHeap(GetParam());
  const gc_type_id cell = RegisterCell(h);
  struct Data {
    std::atomic<bool> removed{false};
    std::atomic<int> calls{0};
    std::atomic<int>* late;
  };
  std::atomic<int> late{0};
  std::atomic<bool> stop{false};
  gc_event_listener l;
  memset(&l, 0, sizeof(l));
  l.struct_size = sizeof(l);
  l.activity_begin = l.activity_end =
      l.phase = [](const gc_event*, void* data) {
        auto* d = static_cast<Data*>(data);
        if (d->removed.load()) d->late->fetch_add(1);
        d->calls.fetch_add(1);
      };
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; t++) {
    threads.emplace_back([&, t] {
      gc_mutator* m = gc_thread_attach(h);
      for (int i = 0; !stop.load(); i++) {
        gc_alloc(m, cell, sizeof(Cell));
        if (i % 50000 == 0 && t == 0) gc_collect(m);
      }
      gc_thread_detach(m);
    });
  }
  // At least 300 rounds, and on until some listener was called: the
  // allocating threads may not even have started during the first rounds
  // on a loaded machine (seen in CI: 300 rounds with no call at all).
  int total_calls = 0;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (int i = 0; i < 300 || (total_calls == 0 &&
                              std::chrono::steady_clock::now() < deadline);
       i++) {
    auto* d = new Data;
    d->late = &late;
    ASSERT_EQ(gc_add_event_listener(h, &l, d), 0);
    if (i < 300) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    ASSERT_EQ(gc_remove_event_listener(h, &l, d), 0);
    d->removed.store(true);
    total_calls += d->calls.load();
    delete d;
  }
  stop.store(true);
  for (auto& t : threads) t.join();
  EXPECT_EQ(late.load(), 0);
  EXPECT_GT(total_calls, 0);
  gc_heap_destroy(h);
}

// Activities come on hot paths (every blocking bracket): the bus reports
// them only while some listener wants them, and never to one that does
// not. A C listener wants them when it sets activity_begin or
// activity_end.
class CountingListener final : public EventListener {
 public:
  explicit CountingListener(bool wants) : wants_(wants) {}
  bool WantsActivities() const override { return wants_; }
  void OnEvent(const Event& e) override {
    if (e.kind == EventKind::kActivityBegin ||
        e.kind == EventKind::kActivityEnd) {
      activities++;
    } else {
      others++;
    }
  }
  int activities = 0;
  int others = 0;

 private:
  const bool wants_;
};

TEST(EventBusTest, ActivitiesGoOnlyToListenersThatWantThem) {
  EventBus bus;
  CountingListener cycles_only(false), all(true);
  bus.Add(&cycles_only);
  EXPECT_TRUE(bus.active());
  EXPECT_FALSE(bus.activities_active());
  bus.Add(&all);
  EXPECT_TRUE(bus.activities_active());
  bus.Activity(true, Activity::kBlocked);
  bus.Activity(false, Activity::kBlocked);
  bus.EmitSimple(EventKind::kPhase, 2);
  EXPECT_EQ(all.activities, 2);
  EXPECT_EQ(all.others, 1);
  EXPECT_EQ(cycles_only.activities, 0);
  EXPECT_EQ(cycles_only.others, 1);
  ASSERT_TRUE(bus.Remove(&all));
  EXPECT_FALSE(bus.activities_active());
  EXPECT_TRUE(bus.active());
  ASSERT_TRUE(bus.Remove(&cycles_only));
  EXPECT_FALSE(bus.active());
}

TEST(EventsTest2, ACListenerWithoutActivityCallbacksTurnsNoActivityOn) {
  gc_heap* h = NewHeap(1);
  gc_event_listener cycles;
  memset(&cycles, 0, sizeof(cycles));
  cycles.struct_size = sizeof(cycles);
  cycles.stop_requested = Record;
  gc_event_listener acts = cycles;
  acts.activity_end = Record;
  Recorder r;
  ASSERT_EQ(gc_add_event_listener(h, &cycles, &r), 0);
  EXPECT_TRUE(h->events.active());
  EXPECT_FALSE(h->events.activities_active());
  ASSERT_EQ(gc_add_event_listener(h, &acts, &r), 0);
  EXPECT_TRUE(h->events.activities_active());
  ASSERT_EQ(gc_remove_event_listener(h, &acts, &r), 0);
  EXPECT_FALSE(h->events.activities_active());
  ASSERT_EQ(gc_remove_event_listener(h, &cycles, &r), 0);
  gc_heap_destroy(h);
}

TEST(EventsDeathTest, ListenerThatAddsAListenerAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        gc_heap* h = NewHeap(0);
        static gc_heap* heap;
        heap = h;
        gc_event_listener l;
        memset(&l, 0, sizeof(l));
        l.struct_size = sizeof(l);
        l.mutator_attached = [](const gc_event*, void*) {
          gc_event_listener inner;
          memset(&inner, 0, sizeof(inner));
          inner.struct_size = sizeof(inner);
          gc_add_event_listener(heap, &inner, nullptr);
        };
        gc_add_event_listener(h, &l, nullptr);
        gc_thread_attach(h);
      },
      "an event listener added a listener");
}

TEST(EventsTest2, BadListenersAreRejected) {
  gc_heap* h = NewHeap(0);
  EXPECT_EQ(gc_add_event_listener(h, nullptr, nullptr), -1);
  gc_event_listener l;
  memset(&l, 0, sizeof(l));
  l.struct_size = 12;
  EXPECT_EQ(gc_add_event_listener(h, &l, nullptr), -1);
  EXPECT_NE(strstr(gc_last_error(), "struct_size"), nullptr);
  // An earlier layout (only cycle_start) is accepted; the rest stay NULL.
  l.struct_size = offsetof(gc_event_listener, phase);
  Recorder rec;
  l.cycle_start = Record;
  EXPECT_EQ(gc_add_event_listener(h, &l, &rec), 0);
  gc_mutator* m = gc_thread_attach(h);
  gc_collect(m);
  gc_thread_detach(m);
  EXPECT_EQ(gc_remove_event_listener(h, &l, &rec), 0);
  EXPECT_EQ(rec.kinds.size(), 1u);
  EXPECT_EQ(rec.kinds[GC_EVENT_CYCLE_START], 1);
  gc_heap_destroy(h);
}

INSTANTIATE_TEST_SUITE_P(Modes, EventsTest, ::testing::Values(0, 1),
                         [](const auto& info) {
                           return info.param ? "StopTheWorld" : "Concurrent";
                         });

// ---- counters ---------------------------------------------------------------

TEST(CountersTest, EqualTheStatisticsAfterACollection) {
  gc_heap* h = NewHeap(0);
  gc_mutator* m = gc_thread_attach(h);
  const gc_type_id cell = RegisterCell(h);
  void* keep[100] = {};
  ASSERT_EQ(gc_add_root_range(h, keep, 100), 0);
  for (int i = 0; i < 100000; i++) {
    void* p = gc_alloc(m, cell, sizeof(Cell));
    if (i % 1000 == 0) keep[i / 1000] = p;
  }
  keep[99] = gc_alloc_noscan(m, 100000);
  gc_collect(m);
  gc_counters c;
  c.struct_size = sizeof(c);
  gc_get_counters(h, &c);
  const gc_stats s = GetStats(h);
  EXPECT_EQ(c.struct_size, sizeof(c));
  EXPECT_EQ(c.cycles, s.cycles);
  EXPECT_EQ(c.heap_in_use, s.bytes_in_use);
  EXPECT_EQ(c.heap_goal, s.heap_goal);
  EXPECT_EQ(c.live_bytes, s.live_bytes);
  EXPECT_EQ(c.bytes_allocated, s.bytes_allocated);
  EXPECT_EQ(c.objects_allocated, s.objects_allocated);
  EXPECT_EQ(c.heap_bytes, s.heap_bytes);
  EXPECT_GE(c.objects_allocated, 100001u);
  // An older, shorter layout gets only its fields.
  gc_counters small;
  memset(&small, 0xab, sizeof(small));
  small.struct_size = offsetof(gc_counters, cycles);
  gc_get_counters(h, &small);
  EXPECT_EQ(small.struct_size, offsetof(gc_counters, cycles));
  EXPECT_EQ(small.bytes_allocated, s.bytes_allocated);
  EXPECT_EQ(small.cycles, 0xababababababababull);
  ASSERT_EQ(gc_remove_root_range(h, keep, 100), 0);
  gc_thread_detach(m);
  gc_heap_destroy(h);
}

// A sampling thread stopped halfway through gc_get_counters (the testing
// seam) holds nothing a mutator needs: another thread takes new spans,
// grows the heap by large objects and collects meanwhile. (gc_get_stats
// takes the heap lock, which every span refill needs.)
TEST(CountersTest, ASamplerStoppedInsideHoldsUpNoMutator) {
  gc_heap* h = NewHeap(0);
  struct Gate {
    std::mutex mu;
    std::condition_variable cv;
    bool inside = false, release = false;
  } gate;
  SetCountersHookForTesting(
      [](void* data) {
        auto* g = static_cast<Gate*>(data);
        std::unique_lock<std::mutex> l(g->mu);
        g->inside = true;
        g->cv.notify_all();
        g->cv.wait(l, [&] { return g->release; });
      },
      &gate);
  auto release = [&] {
    std::lock_guard<std::mutex> l(gate.mu);
    gate.release = true;
    gate.cv.notify_all();
  };
  gc_counters sampled;
  sampled.struct_size = sizeof(sampled);
  std::thread sampler([&] { gc_get_counters(h, &sampled); });
  {
    std::unique_lock<std::mutex> l(gate.mu);
    gate.cv.wait(l, [&] { return gate.inside; });
  }
  const bool finished = FinishesOnAttachedThread(
      h,
      [&](gc_mutator* m) {
        const gc_type_id cell = RegisterCell(h);
        for (int i = 0; i < 200000; i++) gc_alloc(m, cell, sizeof(Cell));
        for (int i = 0; i < 64; i++) gc_alloc_noscan(m, 1 << 20);
        gc_collect(m);
      },
      release);
  EXPECT_TRUE(finished) << "a mutator waited for the stopped sampler";
  release();
  sampler.join();
  SetCountersHookForTesting(nullptr, nullptr);
  gc_heap_destroy(h);
}

// ---- running out of memory
// ----------------------------------------------------

constexpr size_t kLimit = 16 << 20;

struct Cache {
  void* items[14] = {};  // 1 MiB each, rooted: the VM's droppable cache
  int calls = 0;
  size_t asked = 0;
};

TEST(OomTest, HandlerFreesMemoryAndTheAllocationIsRetried) {
  gc_heap* h = NewHeap(0, kLimit);
  gc_mutator* m = gc_thread_attach(h);
  Cache cache;
  ASSERT_EQ(gc_add_root_range(h, cache.items, 14), 0);
  for (void*& p : cache.items) {
    p = gc_alloc_noscan(m, 1 << 20);
    ASSERT_NE(p, nullptr) << gc_last_error();
  }
  // Without a handler the allocation fails after its collection.
  EXPECT_EQ(gc_alloc_noscan(m, 4 << 20), nullptr);
  EXPECT_NE(strstr(gc_last_error(), "hard limit"), nullptr) << gc_last_error();
  gc_set_oom_handler(
      h,
      [](gc_heap*, size_t bytes, void* data) {
        auto* c = static_cast<Cache*>(data);
        c->calls++;
        c->asked = bytes;
        for (void*& p : c->items) p = nullptr;  // drop the cache
        return 1;
      },
      &cache);
  void* big = gc_alloc_noscan(m, 4 << 20);
  EXPECT_NE(big, nullptr) << gc_last_error();
  EXPECT_EQ(cache.calls, 1);
  EXPECT_EQ(cache.asked, size_t{4} << 20);
  // A handler that gives up: the allocation fails with the reason.
  gc_set_oom_handler(
      h,
      [](gc_heap*, size_t, void* data) {
        return ++*static_cast<int*>(data), 0;
      },
      &cache.calls);
  void* keep = big;
  ASSERT_EQ(gc_add_root(h, &keep), 0);
  EXPECT_EQ(gc_alloc_noscan(m, 14 << 20), nullptr);
  EXPECT_EQ(cache.calls, 2);
  EXPECT_NE(strstr(gc_last_error(), "hard limit"), nullptr);
  gc_set_oom_handler(h, nullptr, nullptr);
  ASSERT_EQ(gc_remove_root(h, &keep), 0);
  ASSERT_EQ(gc_remove_root_range(h, cache.items, 14), 0);
  gc_thread_detach(m);
  gc_heap_destroy(h);
}

jmp_buf oom_jump;
int OomJump(gc_heap*, size_t, void*) { longjmp(oom_jump, 1); }

// A VM throws its out-of-memory exception from the handler: longjmp out of
// gc_alloc. The heap stays usable (no lock held, the thread running), ten
// times over.
TEST(OomTest, HandlerLongjmpsOutAndTheHeapStaysUsable) {
  gc_heap* h = NewHeap(0, kLimit);
  gc_mutator* m = gc_thread_attach(h);
  const gc_type_id cell = RegisterCell(h);
  void* full[15] = {};
  ASSERT_EQ(gc_add_root_range(h, full, 15), 0);
  for (void*& p : full) p = gc_alloc_noscan(m, 1 << 20);
  gc_set_oom_handler(h, OomJump, nullptr);
  volatile int jumps = 0;
  for (int i = 0; i < 10; i++) {
    if (setjmp(oom_jump) == 0) {
      gc_alloc_noscan(m, 8 << 20);
      ADD_FAILURE() << "the allocation returned";
    } else {
      jumps = jumps + 1;
    }
    // After the jump: the thread allocates, collects and polls as usual.
    void* c = gc_alloc(m, cell, sizeof(Cell));
    EXPECT_NE(c, nullptr);
    gc_collect(m);
    gc_safepoint(m);
  }
  EXPECT_EQ(jumps, 10);
  gc_set_oom_handler(h, nullptr, nullptr);
  for (void*& p : full) p = nullptr;
  gc_collect(m);
  EXPECT_NE(gc_alloc_noscan(m, 8 << 20), nullptr);
  ASSERT_EQ(gc_remove_root_range(h, full, 15), 0);
  gc_thread_detach(m);
  gc_heap_destroy(h);
}

TEST(PressureTest, CalledAfterCyclesWhoseLiveHeapIsNearTheLimit) {
  // No proportional goal (gc_percent < 0): only the explicit collections
  // below run cycles. (With the default, an automatic cycle could mark
  // while the 20 MiB were being allocated, counting them as allocated
  // black, and rightly call the hook a second time.)
  gc_config cfg;
  gc_config_init(&cfg);
  cfg.verify = 1;
  cfg.gc_percent = -1;
  cfg.max_heap_bytes = 32 << 20;
  gc_heap* h = gc_heap_create(&cfg);
  ASSERT_NE(h, nullptr) << gc_last_error();
  gc_mutator* m = gc_thread_attach(h);
  struct Seen {
    std::atomic<int> calls{0};
    std::atomic<uint64_t> heap{0}, limit{0}, thread{0};
  } seen;
  gc_set_memory_pressure_hook(
      h,
      [](gc_heap*, uint64_t heap_bytes, uint64_t limit, void* data) {
        auto* s = static_cast<Seen*>(data);
        s->heap.store(heap_bytes);
        s->limit.store(limit);
        s->thread.store(CurrentThreadId());
        s->calls.fetch_add(1);
      },
      &seen, 0.5);
  void* live[20] = {};
  ASSERT_EQ(gc_add_root_range(h, live, 20), 0);
  for (void*& p : live) p = gc_alloc_noscan(m, 1 << 20);  // 20 MiB live
  gc_collect(m);
  EXPECT_EQ(seen.calls.load(), 1);
  EXPECT_GE(seen.heap.load(), uint64_t{20} << 20);
  EXPECT_EQ(seen.limit.load(), uint64_t{32} << 20);
  EXPECT_NE(seen.thread.load(), CurrentThreadId());  // the driver thread
  for (int i = 1; i < 20; i++) live[i] = nullptr;    // 1 MiB live
  gc_collect(m);  // marks 1 MiB: below half the limit
  EXPECT_EQ(seen.calls.load(), 1);
  gc_collect(m);
  EXPECT_EQ(seen.calls.load(), 1);
  gc_set_memory_pressure_hook(h, nullptr, nullptr, 0);
  ASSERT_EQ(gc_remove_root_range(h, live, 20), 0);
  gc_thread_detach(m);
  gc_heap_destroy(h);
}

}  // namespace
}  // namespace gcheap
