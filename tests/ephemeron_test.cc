// Tests for ephemerons through the C API (runtime/weak_api.cc, the marker's
// wait lists in gc/mark.cc, the sweep's clearing in gc/weak.cc): the value
// lives exactly while the key is reachable other than through the value;
// strong pairs; reads and writes; chains of 100,000 ephemerons whose values
// are the next keys, in both orders, whose marking work (wait-list
// operations) stays linear; a read during concurrent marking; value reads
// while dead keys' spans are freed (run under tsan); and a
// multi-threaded stress test of weak-keyed tables rewired while cycles mark
// and sweep (run under tsan). Verify is on: it applies the ephemeron rule.
// The suite runs concurrently and again as ephemeron_test_stw (GC_STW=1).
#include <atomic>
#include <chrono>
#include <cstdio>
#include <random>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/gc.h"
#include "tests/gc_test_util.h"
#include "tools/mark_window.h"

namespace gcheap {
namespace {

class EphemeronTest : public GcTest {
 protected:
  static constexpr int kRoots = 8;
  void* roots_[kRoots] = {};
  void SetUp() override {
    GcTest::SetUp();
    ASSERT_EQ(gc_add_root_range(heap_, roots_, kRoots), 0);
  }
  void TearDown() override {
    if (heap_ != nullptr) gc_remove_root_range(heap_, roots_, kRoots);
    GcTest::TearDown();
  }
  void* NewEph(void* key, void* value) {
    void* e = gc_ephemeron_new(m_, key, value);
    EXPECT_NE(e, nullptr) << gc_last_error();
    return e;
  }
  uint64_t Live() {
    gc_collect(m_);
    return Stats().live_objects;
  }
};

TEST_F(EphemeronTest, TheValueLivesExactlyWhileTheKeyDoes) {
  Cell* key = NewCell(nullptr, nullptr, 1);
  roots_[0] = key;
  Cell* value = NewCell(nullptr, nullptr, 2);
  void* e = NewEph(key, value);
  roots_[1] = e;
  EXPECT_EQ(Live(), 3u);  // key, value, ephemeron
  EXPECT_EQ(gc_ephemeron_key(m_, e), key);
  EXPECT_EQ(gc_ephemeron_value(m_, e), value);
  EXPECT_EQ(static_cast<Cell*>(gc_ephemeron_value(m_, e))->value, 2);
  roots_[0] = nullptr;
  EXPECT_EQ(Live(), 1u);  // the ephemeron alone, cleared
  EXPECT_EQ(gc_ephemeron_key(m_, e), nullptr);
  EXPECT_EQ(gc_ephemeron_value(m_, e), nullptr);
  EXPECT_EQ(Stats().ephemerons_cleared, 1u);
}

TEST_F(EphemeronTest, AValueThatRefersToItsKeyDoesNotKeepTheEntry) {
  // WeakMap's classic cycle: map.set(k, {k}).
  Cell* key = NewCell(nullptr, nullptr, 1);
  roots_[0] = key;
  Cell* value = NewCell(key, nullptr, 2);
  roots_[1] = NewEph(key, value);
  EXPECT_EQ(Live(), 3u);
  roots_[0] = nullptr;
  EXPECT_EQ(Live(), 1u);
  EXPECT_EQ(gc_ephemeron_value(m_, roots_[1]), nullptr);
}

TEST_F(EphemeronTest, ADeadEphemeronKeepsNothing) {
  Cell* key = NewCell(nullptr, nullptr, 1);
  roots_[0] = key;
  NewEph(key, NewCell(nullptr, nullptr, 2));  // not held
  EXPECT_EQ(Live(), 1u);
}

TEST_F(EphemeronTest, NullAndImmediateKeysMakeStrongPairs) {
  void* imm = reinterpret_cast<void*>(uintptr_t{42});
  roots_[0] = NewEph(nullptr, NewCell(nullptr, nullptr, 1));
  roots_[1] = NewEph(imm, NewCell(nullptr, nullptr, 2));
  EXPECT_EQ(Live(), 4u);
  EXPECT_EQ(gc_ephemeron_key(m_, roots_[0]), nullptr);
  EXPECT_EQ(static_cast<Cell*>(gc_ephemeron_value(m_, roots_[0]))->value, 1);
  EXPECT_EQ(gc_ephemeron_key(m_, roots_[1]), imm);
  EXPECT_EQ(static_cast<Cell*>(gc_ephemeron_value(m_, roots_[1]))->value, 2);
}

TEST_F(EphemeronTest, KeysThatAreEphemeronsAndChainsThroughNext) {
  // A bucket of three entries linked by next; the middle key dies.
  Cell* k[3];
  for (int i = 0; i < 3; i++) k[i] = NewCell(nullptr, nullptr, i);
  roots_[2] = k[0];
  roots_[3] = k[2];
  roots_[4] = k[1];
  void* e2 = NewEph(k[2], NewCell(nullptr, nullptr, 12));
  roots_[1] = e2;
  void* e1 = NewEph(k[1], NewCell(nullptr, nullptr, 11));
  gc_ephemeron_set_next(m_, e1, e2);
  roots_[1] = e1;
  void* e0 = NewEph(k[0], NewCell(nullptr, nullptr, 10));
  gc_ephemeron_set_next(m_, e0, e1);
  roots_[0] = e0;
  roots_[1] = nullptr;
  roots_[4] = nullptr;              // k[1] dies
  EXPECT_EQ(Live(), 3u + 2u + 2u);  // 3 ephemerons, 2 keys, 2 values
  EXPECT_EQ(gc_ephemeron_next(m_, e0), e1);
  EXPECT_EQ(gc_ephemeron_next(m_, e1), e2);
  EXPECT_EQ(gc_ephemeron_key(m_, e1), nullptr);
  EXPECT_EQ(static_cast<Cell*>(gc_ephemeron_value(m_, e2))->value, 12);
  // An ephemeron as a key (an entry keyed by another entry).
  void* meta = NewEph(e2, NewCell(nullptr, nullptr, 99));
  roots_[5] = meta;
  gc_ephemeron_set_next(m_, e1, nullptr);  // e2 unreachable now
  EXPECT_EQ(Live(), 6u);  // e0, e1, k0, k2, the value of e0, meta
  EXPECT_EQ(gc_ephemeron_value(m_, meta), nullptr);
}

TEST_F(EphemeronTest, SetValueAndClear) {
  Cell* key = NewCell(nullptr, nullptr, 1);
  roots_[0] = key;
  void* e = NewEph(key, nullptr);
  roots_[1] = e;
  EXPECT_EQ(gc_ephemeron_value(m_, e), nullptr);
  gc_ephemeron_set_value(m_, e, NewCell(nullptr, nullptr, 5));
  EXPECT_EQ(Live(), 3u);
  EXPECT_EQ(static_cast<Cell*>(gc_ephemeron_value(m_, e))->value, 5);
  gc_ephemeron_clear(m_, e);
  EXPECT_EQ(gc_ephemeron_key(m_, e), nullptr);
  EXPECT_EQ(gc_ephemeron_value(m_, e), nullptr);
  EXPECT_EQ(Live(), 2u);
}

TEST_F(EphemeronTest, IsEphemeronAndMisuse) {
  void* e = NewEph(nullptr, nullptr);
  roots_[0] = e;
  Cell* c = NewCell(nullptr, nullptr, 1);
  EXPECT_EQ(gc_is_ephemeron(heap_, e), 1);
  EXPECT_EQ(gc_is_ephemeron(heap_, c), 0);
  EXPECT_EQ(gc_is_ephemeron(heap_, nullptr), 0);
  EXPECT_EQ(gc_is_ephemeron(heap_, static_cast<char*>(e) + 8), 0);
  EXPECT_DEATH(gc_ephemeron_value(m_, c), "not an ephemeron of this heap");
}

// A chain of n ephemerons E_i = {K_i, K_{i+1}}: K_0 alone is rooted, the
// table holds every ephemeron. Marking must keep every key (each reached
// only through the previous entry's value) with wait-list work linear in n
// whatever the order the entries are scanned in: each ephemeron is
// appended to a wait list at most once and taken at most once.
class EphemeronChainTest : public EphemeronTest,
                           public ::testing::WithParamInterface<bool> {};

TEST_P(EphemeronChainTest, MarkingAChainOf100000IsLinearInEitherOrder) {
  const bool reverse = GetParam();
  constexpr size_t kN = 100000;
  gc_type_id table_t = RegisterSmallType(heap_, "Table", 8, 0, 8, 1);
  ASSERT_NE(table_t, 0u);
  void** table = static_cast<void**>(gc_alloc(m_, table_t, 8 + kN * 8));
  roots_[0] = table;
  Cell* key = NewCell(nullptr, nullptr, 0);
  roots_[1] = key;  // K_0
  roots_[2] = key;  // the previous key, while building
  for (size_t i = 0; i < kN; i++) {
    Cell* next = NewCell(nullptr, nullptr, static_cast<int64_t>(i + 1));
    roots_[3] = next;
    void* e = NewEph(roots_[2], next);
    table = static_cast<void**>(roots_[0]);
    const size_t at = 1 + (reverse ? kN - 1 - i : i);
    gc_write_barrier(m_, table, &table[at], e);
    roots_[2] = next;
  }
  roots_[2] = roots_[3] = nullptr;
  gc_collect(m_);  // garbage from the build goes
  const uint64_t ops0 = Stats().ephemeron_wait_ops;
  gc_collect(m_);
  const uint64_t ops = Stats().ephemeron_wait_ops - ops0;
  EXPECT_EQ(Stats().live_objects, 1 + 1 + 2 * kN);  // table, K_0, E_i, K_i+1
  EXPECT_LE(ops, 2 * kN) << "wait-list work is not linear";
  printf("%s chain of %zu: %lu wait-list operations in one cycle\n",
         reverse ? "reversed" : "forward", kN, static_cast<unsigned long>(ops));
  // Every value reads back, following the chain.
  table = static_cast<void**>(roots_[0]);
  for (size_t i = 0; i < kN; i++) {
    void* e = table[1 + (reverse ? kN - 1 - i : i)];
    ASSERT_EQ(static_cast<Cell*>(gc_ephemeron_value(m_, e))->value,
              static_cast<int64_t>(i + 1));
  }
  // K_0 goes: the whole chain is cleared in one cycle.
  const uint64_t cleared0 = Stats().ephemerons_cleared;
  roots_[1] = nullptr;
  gc_collect(m_);
  EXPECT_EQ(Stats().ephemerons_cleared - cleared0, kN);
  EXPECT_EQ(Stats().live_objects, 1 + kN);
}

INSTANTIATE_TEST_SUITE_P(Orders, EphemeronChainTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& i) {
                           return i.param ? "Reversed" : "Forward";
                         });

// While a concurrent cycle marks, a value read keeps its key and value.
TEST(EphemeronConcurrentTest, AValueReadDuringMarkingKeepsTheEntry) {
  gc_heap* h = NewConcurrentHeap();
  gc_mutator* m = gc_thread_attach(h);
  gc_type_id cell = RegisterCell(h);
  void* roots[3] = {};
  ASSERT_EQ(gc_add_root_range(h, roots, 3), 0);
  void* key = gc_alloc(m, cell, sizeof(Cell));
  roots[0] = key;
  void* value = gc_alloc(m, cell, sizeof(Cell));
  roots[1] = gc_ephemeron_new(m, key, value);
  roots[0] = nullptr;  // only the ephemeron names the key now
  {
    MarkWindow window(h, m);
    window.Open();
    roots[2] = gc_ephemeron_value(m, roots[1]);
    ASSERT_EQ(roots[2], value);
    window.Close();
  }
  // The read kept the key too: the entry survives with its value.
  EXPECT_EQ(gc_ephemeron_key(m, roots[1]), key);
  EXPECT_EQ(gc_ephemeron_value(m, roots[1]), value);
  roots[2] = nullptr;
  gc_collect(m);
  EXPECT_EQ(gc_ephemeron_value(m, roots[1]), nullptr);
  gc_remove_root_range(h, roots, 3);
  gc_thread_detach(m);
  gc_heap_destroy(h);
}

// Readers call gc_ephemeron_value on entries whose keys (large objects,
// each in a span of its own) die, while gc_collect and the background
// sweeper sweep and free the keys' spans: a read must return the value or
// NULL, and must not look at a dead key's span, which may be freed under
// it (gc_ephemeron_value resolved the dead key's word to tell a dead key
// from none, reading a freed MSpan: tsan saw the race in oracle_mt_test).
// Run under tsan.
TEST(EphemeronConcurrentTest, ValueReadsWhileDeadKeysSpansAreFreed) {
  gc_heap* h = NewConcurrentHeap();
  gc_mutator* m = gc_thread_attach(h);
  gc_type_id cell = RegisterCell(h);
  constexpr int kEntries = 64, kReaders = 2, kRounds = 12;
  void* roots[2 * kEntries] = {};  // ephemerons, then their values
  ASSERT_EQ(gc_add_root_range(h, roots, 2 * kEntries), 0);
  std::atomic<int> round{-1}, bad{0};
  std::atomic<bool> done{false};
  std::vector<std::thread> readers;
  for (int t = 0; t < kReaders; t++) {
    readers.emplace_back([&, t] {
      gc_mutator* rm = gc_thread_attach(h);
      std::mt19937 rng(t);
      while (!done.load()) {
        if (round.load() >= 0) {
          for (int i = 0; i < kEntries; i++) {
            // (Few reads while a cycle marks: each keeps its key alive.)
            if (rng() % 8 != 0) continue;
            void* e = __atomic_load_n(&roots[i], __ATOMIC_ACQUIRE);
            if (e == nullptr) continue;
            void* v = gc_ephemeron_value(rm, e);
            if (v != nullptr &&
                v != __atomic_load_n(&roots[kEntries + i], __ATOMIC_ACQUIRE)) {
              bad.fetch_add(1);
            }
          }
        }
        gc_enter_blocking(rm);
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        gc_leave_blocking(rm);
      }
      gc_thread_detach(rm);
    });
  }
  for (int r = 0; r < kRounds; r++) {
    gc_enter_blocking(m);
    round.store(-1);  // readers pause while the entries are replaced
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    gc_leave_blocking(m);
    for (int i = 0; i < kEntries; i++) {
      void* key = gc_alloc_noscan(m, 40 << 10);  // a large object: own span
      ASSERT_NE(key, nullptr);
      void* value = gc_alloc(m, cell, sizeof(Cell));
      __atomic_store_n(&roots[kEntries + i], value, __ATOMIC_RELEASE);
      __atomic_store_n(&roots[i], gc_ephemeron_new(m, key, value),
                       __ATOMIC_RELEASE);
    }
    round.store(r);
    for (int c = 0; c < 4; c++) gc_collect(m);
  }
  done = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(bad.load(), 0);
  // Unread since: every key is dead now.
  gc_collect(m);
  for (int i = 0; i < kEntries; i++) {
    EXPECT_EQ(gc_ephemeron_value(m, roots[i]), nullptr) << i;
  }
  gc_remove_root_range(h, roots, 2 * kEntries);
  gc_thread_detach(m);
  gc_heap_destroy(h);
}

// Threads keep weak-keyed tables (buckets of ephemerons chained by next):
// they insert entries, drop and re-root keys, replace values, unlink
// entries and look keys up, while cycles run. An entry whose key is rooted
// must read its key and current value; one whose key is not reads NULL or
// its key and intact value, and once NULL stays NULL. Values often point
// back at their key (which must not keep it). Verify is on.
TEST(EphemeronStressTest, TablesRewiredDuringMarkingStayConsistent) {
  gc_heap* h = NewStressHeap();
  ASSERT_NE(h, nullptr);
  gc_type_id cell = RegisterCell(h);
  constexpr int kThreads = 5, kKeys = 48, kBuckets = 8;
  const StressDeadline deadline(std::chrono::milliseconds(2500));
  std::atomic<int> errors{0};
  std::atomic<uint64_t> lookups{0}, dead{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; t++) {
    ts.emplace_back([&, t] {
      gc_mutator* m = gc_thread_attach(h);
      // roots: buckets, rooted keys, and a scratch slot.
      void* buckets[kBuckets] = {};
      void* keys[kKeys] = {};
      void* scratch[2] = {};
      gc_add_root_range(h, buckets, kBuckets);
      gc_add_root_range(h, keys, kKeys);
      gc_add_root_range(h, scratch, 2);
      struct Entry {  // what the program knows of an entry
        void* eph = nullptr;
        void* key = nullptr;
        int64_t magic = 0;
        int key_slot = -1;  // keys[] slot holding key, or -1
        bool seen_dead = false;
        bool linked = false;
      };
      std::vector<Entry> es;
      std::mt19937_64 rng(t * 31337 + 7);
      int64_t magic = (int64_t{t} << 40) + 1;
      uint64_t iter = 0;
      auto check = [&](Entry& e) {
        if (!e.linked) return;
        void* k = gc_ephemeron_key(m, e.eph);
        void* v = gc_ephemeron_value(m, e.eph);
        lookups++;
        if (e.key_slot >= 0) {
          if (k != e.key || v == nullptr ||
              static_cast<Cell*>(v)->value != e.magic) {
            errors++;
          }
        } else if (k == nullptr) {
          if (v != nullptr) errors++;
          e.seen_dead = true;
          dead++;
        } else if (e.seen_dead || k != e.key || v == nullptr ||
                   static_cast<Cell*>(v)->value != e.magic) {
          errors++;
        }
      };
      while (deadline.Running(&iter)) {
        const int b = static_cast<int>(rng() % kBuckets);
        switch (rng() % 10) {
          case 0:
          case 1: {  // insert at the head of bucket b
            const int slot = static_cast<int>(rng() % kKeys);
            if (keys[slot] != nullptr) break;
            void* k = gc_alloc(m, cell, sizeof(Cell));
            keys[slot] = k;
            auto* v = static_cast<Cell*>(gc_alloc(m, cell, sizeof(Cell)));
            v->value = magic;
            if (rng() % 2) gc_write_barrier(m, v, &v->car, k);  // value->key
            scratch[0] = v;
            void* e = gc_ephemeron_new(m, k, v);
            scratch[0] = nullptr;
            gc_ephemeron_set_next(m, e, buckets[b]);
            buckets[b] = e;
            es.push_back(Entry{e, k, magic++, slot, false, true});
            if (es.size() > 400) {
              // Forget the oldest half (they stay in their buckets, their
              // keys unrooted).
              for (size_t i = 0; i < 200; i++) {
                if (es[i].key_slot >= 0) keys[es[i].key_slot] = nullptr;
              }
              es.erase(es.begin(), es.begin() + 200);
            }
            break;
          }
          case 2: {  // drop a key's root
            if (es.empty()) break;
            Entry& e = es[rng() % es.size()];
            if (e.key_slot >= 0) keys[e.key_slot] = nullptr;
            e.key_slot = -1;
            break;
          }
          case 3: {  // replace a value of a live entry
            if (es.empty()) break;
            Entry& e = es[rng() % es.size()];
            if (e.key_slot < 0 || !e.linked) break;
            auto* v = static_cast<Cell*>(gc_alloc(m, cell, sizeof(Cell)));
            v->value = e.magic = magic++;
            gc_ephemeron_set_value(m, e.eph, v);
            break;
          }
          case 4: {  // unlink the head of bucket b
            void* head = buckets[b];
            if (head == nullptr) break;
            buckets[b] = gc_ephemeron_next(m, head);
            for (Entry& e : es) {
              if (e.eph == head) {
                e.linked = false;
                if (e.key_slot >= 0) keys[e.key_slot] = nullptr;
                e.key_slot = -1;
              }
            }
            break;
          }
          case 5:
          case 6:
          case 7: {  // look up
            if (es.empty()) break;
            check(es[rng() % es.size()]);
            break;
          }
          case 8:  // garbage, for automatic cycles
            for (int k = 0; k < 16; k++) gc_alloc(m, cell, sizeof(Cell));
            break;
          case 9:
            if (t == 0 && rng() % 256 == 0) gc_collect(m);
            break;
        }
      }
      for (Entry& e : es) check(e);
      gc_remove_root_range(h, buckets, kBuckets);
      gc_remove_root_range(h, keys, kKeys);
      gc_remove_root_range(h, scratch, 2);
      gc_thread_detach(m);
    });
  }
  for (auto& th : ts) th.join();
  printf("%lu lookups, %lu found dead, %lu cycles, %lu wait-list operations\n",
         static_cast<unsigned long>(lookups.load()),
         static_cast<unsigned long>(dead.load()),
         static_cast<unsigned long>(GetStats(h).cycles),
         static_cast<unsigned long>(GetStats(h).ephemeron_wait_ops));
  EXPECT_EQ(errors.load(), 0);
  EXPECT_GT(dead.load(), 0u);
  EXPECT_GT(GetStats(h).cycles, 2u);
  gc_heap_destroy(h);
}

}  // namespace
}  // namespace gcheap
