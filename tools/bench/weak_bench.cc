// weak_bench: the VM-semantics workloads of issue 12 (weak-keyed tables of
// ephemerons, long ephemeron chains, finalizers, disappearing links) on
// one system per process, as tree_bench runs its workloads: gcheap in
// either collector mode, or Boehm GC 8.2 where Boehm has the feature.
// Each run prints one RESULT line:
//   RESULT system=S workload=W wall_ms cpu_ms max_rss_mb gcs mark_ms
//          pause_max_us pause_p99_us final_max_us final_p99_us ...extra
// where the pauses are per cycle (the sum of a cycle's stop-the-world
// pauses, from gcheap's cycle hook or Boehm's collection events), "final"
// is gcheap's last pause of a cycle (mark termination; with finalizers
// the pause after the finalizer phase) and mark_ms the clock time of
// marking (Boehm: its stopped-world mark). Every workload checks what it
// reads and exits non-zero on a wrong answer.
//
// Workloads
//   tables      (gcheap only: Boehm has no ephemerons) --tables weak-keyed
//               hash tables of --entries entries in --buckets buckets, each
//               bucket a chain of ephemerons {key, value, next}; the value
//               points back to its key (the case a table with strong
//               values would leak). Table t replaces (t % 8)/8 of its keys
//               every round (keys dying at eight rates, the first table
//               never), inserting the new key and purging cleared entries
//               from the bucket it inserts into; every round also looks up
//               a sample of live keys. --rounds rounds, a gc_collect after
//               each (cycles also start from allocation). At the end every
//               live key must be found with its value and every dead key's
//               entry must read as cleared. Extra: ephemerons, cleared,
//               wait_ops (gc_stats.ephemeron_wait_ops).
//   chains      (gcheap only) for each n of --chain_lengths, a chain of n
//               ephemerons e_i = {k_i, k_{i+1}}, linked through next in
//               forward or reverse order, only k_0 rooted: marking must
//               resolve the ephemerons one after the other. Prints one
//               line per (n, order): the collection's mark time and clock
//               time per ephemeron, and wait-list operations per
//               ephemeron (linear cost: the per-ephemeron figures stay
//               flat as n grows), then the collection that clears them all
//               once k_0 is dropped.
//   finalizers  --objects finalizable 32-byte objects in groups of --group
//               (a chain through `next`), --live of them reachable at any
//               time, --order ordered|unordered, --finalizers thread|demand
//               (gcheap: the heap's finalizer thread, or gc_run_finalizers
//               when the notifier said some are ready; Boehm: finalizers
//               invoked by its allocator, or GC_set_finalize_on_demand(1)
//               with GC_set_finalizer_notifier and GC_invoke_finalizers).
//               Boehm's ordered mode is GC_register_finalizer, unordered
//               GC_register_finalizer_no_order. Every object must be
//               finalized exactly once, after it was dropped (Boehm: all
//               but at most 0.01%, which its conservative scan of the
//               stack may keep; it gives up after 20 collections that
//               finalize nothing, and the run reports never_finalized).
//   links       --links objects of 16 bytes, each with a weak reference
//               (--kind short: gc_weak_create(GC_WEAK_SHORT) vs Boehm's
//               GC_general_register_disappearing_link; long: GC_WEAK_LONG
//               vs GC_register_long_link), --live of them reachable; a
//               link is read back when its object is dropped (it must
//               still name it) and --live allocations later (cleared or
//               not), then destroyed / unregistered.
//
//   bazel build //tools/bench:weak_bench
//   bazel-bin/tools/bench/weak_bench --system=gcheap --workload=tables
//   bazel-bin/tools/bench/weak_bench --system=boehm --workload=finalizers
#include <gc/gc.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "runtime/gc.h"
#include "tools/bench/bench_util.h"

ABSL_FLAG(std::string, system, "gcheap", "gcheap | gcheap-stw | boehm");
ABSL_FLAG(std::string, workload, "tables",
          "tables | chains | finalizers | links");
ABSL_FLAG(int, tables, 64, "tables: weak-keyed tables");
ABSL_FLAG(int, entries, 4096, "tables: entries per table");
ABSL_FLAG(int, buckets, 256, "tables: buckets per table");
ABSL_FLAG(int, rounds, 20, "tables: rounds");
ABSL_FLAG(std::string, chain_lengths, "1000,10000,100000",
          "chains: chain lengths");
ABSL_FLAG(int64_t, objects, 1000000, "finalizers: finalizable objects");
ABSL_FLAG(int, group, 1, "finalizers: objects per chain (ordered depth)");
ABSL_FLAG(std::string, order, "ordered", "finalizers: ordered | unordered");
ABSL_FLAG(std::string, finalizers, "thread", "finalizers: thread | demand");
ABSL_FLAG(int64_t, links, 1000000, "links: objects with a weak reference");
ABSL_FLAG(std::string, kind, "short", "links: short | long");
ABSL_FLAG(int, live, 10000, "finalizers, links: objects kept reachable");

namespace gcheap {
namespace {

using Clock = std::chrono::steady_clock;

using bench::CpuMs;
using bench::Fail;
using bench::MaxRssMb;

// Per-cycle figures, written by a GC hook (any thread) into a fixed log.
struct CycleLog {
  static constexpr size_t kMax = 1 << 16;
  struct Cycle {
    uint64_t pause_ns, final_ns, mark_ns;
  };
  std::unique_ptr<Cycle[]> cycles{new Cycle[kMax]};
  std::atomic<size_t> n{0};

  void Add(uint64_t pause_ns, uint64_t final_ns, uint64_t mark_ns) {
    const size_t i = n.fetch_add(1, std::memory_order_relaxed);
    if (i < kMax) cycles[i] = {pause_ns, final_ns, mark_ns};
  }
  size_t count() const { return std::min(n.load(), kMax); }
};

CycleLog* cycle_log = nullptr;

// Nearest-rank percentile (p in (0, 1]) and max of a field, in us.
struct Summary {
  double max_us = 0, p99_us = 0;
};
template <typename Field>
Summary Summarize(Field field) {
  std::vector<double> v;
  for (size_t i = 0; i < cycle_log->count(); i++) {
    v.push_back(field(cycle_log->cycles[i]) / 1e3);
  }
  if (v.empty()) return {NAN, NAN};
  std::sort(v.begin(), v.end());
  const size_t rank = static_cast<size_t>(std::ceil(0.99 * v.size()));
  return {v.back(), v[std::clamp<size_t>(rank, 1, v.size()) - 1]};
}

struct Run {
  Clock::time_point t0 = Clock::now();
  double cpu0 = CpuMs();

  void Finish(const std::string& system, const std::string& workload,
              const std::string& extra) {
    const double wall =
        std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    const double cpu = CpuMs() - cpu0;
    double mark_ms = 0;
    for (size_t i = 0; i < cycle_log->count(); i++) {
      mark_ms += cycle_log->cycles[i].mark_ns / 1e6;
    }
    const Summary pause =
        Summarize([](const CycleLog::Cycle& c) { return c.pause_ns; });
    const Summary fin =
        Summarize([](const CycleLog::Cycle& c) { return c.final_ns; });
    printf(
        "RESULT system=%s workload=%s wall_ms=%.1f cpu_ms=%.1f "
        "max_rss_mb=%.1f gcs=%zu mark_ms=%.1f pause_max_us=%.1f "
        "pause_p99_us=%.1f final_max_us=%.1f final_p99_us=%.1f %s\n",
        system.c_str(), workload.c_str(), wall, cpu, MaxRssMb(),
        cycle_log->count(), mark_ms, pause.max_us, pause.p99_us, fin.max_us,
        fin.p99_us, extra.c_str());
    fflush(stdout);
  }
};

// ---------------------------------------------------------------------------
// gcheap.

constexpr uint64_t kMagic = 0x5eed5eed5eed5eedull;

struct Value {  // a table's value: points back to its key
  void* key;
  uint64_t id;
};

struct Fin {  // a finalizable object
  Fin* next;
  uint64_t magic;
  uint64_t id;
  uint64_t pad;
};

struct Plain {  // a weakly referenced object (noscan)
  uint64_t magic;
  uint64_t id;
};

class Gcheap {
 public:
  Gcheap(bool stw, bool finalizer_thread) {
    gc_config cfg;
    gc_config_init(&cfg);
    cfg.stop_the_world = stw ? 1 : 0;
    cfg.finalizer_thread = finalizer_thread ? 1 : 0;
    heap = gc_heap_create(&cfg);
    if (heap == nullptr) Fail(gc_last_error());
    gc_set_cycle_hook(
        heap,
        [](const gc_cycle_info* i, void*) {
          cycle_log->Add(i->pause_ns, i->pause2_ns, i->mark_ns);
        },
        nullptr);
    m = gc_thread_attach(heap);
    if (m == nullptr) Fail(gc_last_error());
    static const uint64_t kValueMap = 0b01, kFinMap = 0b0001;
    value_t = Register("Value", sizeof(Value), &kValueMap, 1);
    fin_t = Register("Fin", sizeof(Fin), &kFinMap, 1);
  }
  ~Gcheap() {
    gc_thread_detach(m);
    gc_heap_destroy(heap);
  }

  gc_type_id Register(const char* name, size_t size, const uint64_t* map,
                      size_t words) {
    gc_type_desc d;
    gc_type_desc_init(&d);
    d.name = name;
    d.size = size;
    d.ptr_bitmap = map;
    d.ptr_bitmap_words = words;
    const gc_type_id t = gc_register_type(heap, &d);
    if (t == 0) Fail(gc_last_error());
    return t;
  }
  void* Alloc(gc_type_id t, size_t bytes) {
    void* p = t == 0 ? gc_alloc_noscan(m, bytes) : gc_alloc(m, t, bytes);
    if (p == nullptr) Fail(gc_last_error());
    return p;
  }
  // A root range the caller owns (unregistered by the destructor).
  struct Roots {
    Roots(gc_heap* h, size_t n) : h(h), v(n, nullptr) {
      if (gc_add_root_range(h, v.data(), n) != 0) Fail(gc_last_error());
    }
    ~Roots() { gc_remove_root_range(h, v.data(), v.size()); }
    void*& operator[](size_t i) { return v[i]; }
    gc_heap* h;
    std::vector<void*> v;
  };
  gc_stats Stats() {
    gc_stats s;
    s.struct_size = sizeof(s);
    gc_get_stats(heap, &s);
    return s;
  }

  gc_heap* heap;
  gc_mutator* m;
  gc_type_id value_t, fin_t;
};

// ---- tables ---------------------------------------------------------------

uint64_t Hash(const void* p) {
  uint64_t x = reinterpret_cast<uintptr_t>(p) >> 4;
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  return x;
}

int RunTables(Gcheap& g, const std::string& system) {
  const int ntables = absl::GetFlag(FLAGS_tables);
  const int entries = absl::GetFlag(FLAGS_entries);
  const int nbuckets = absl::GetFlag(FLAGS_buckets);
  const int rounds = absl::GetFlag(FLAGS_rounds);
  if (ntables < 1 || entries < 1 || nbuckets < 1 || rounds < 0) {
    Fail("--tables, --entries, --buckets must be positive");
  }
  gc_mutator* m = g.m;
  // A table: nbuckets pointer slots, each the head of an ephemeron chain.
  std::vector<uint64_t> map((nbuckets + 63) / 64, ~0ull);
  if (nbuckets % 64 != 0) map.back() = (1ull << (nbuckets % 64)) - 1;
  const gc_type_id table_t =
      g.Register("Table", sizeof(void*) * nbuckets, map.data(), map.size());
  Gcheap::Roots tables(g.heap, ntables);
  Gcheap::Roots keys(g.heap, size_t{1} * ntables * entries);
  Gcheap::Roots scratch(g.heap, 1);
  uint64_t next_id = 1, inserted = 0, purged = 0, lookups = 0;

  auto insert = [&](int t, void* key) {
    auto* v = static_cast<Value*>(g.Alloc(g.value_t, sizeof(Value)));
    v->key = key;  // initializing stores: no barrier needed
    v->id = next_id++;
    scratch[0] = v;
    void* e = gc_ephemeron_new(m, key, v);
    if (e == nullptr) Fail(gc_last_error());
    scratch[0] = nullptr;
    auto** b = static_cast<void**>(tables[t]);
    void** head = &b[Hash(key) % nbuckets];
    // Purge the bucket's cleared entries (their key died) as a WeakMap
    // does on its own schedule.
    void* prev = nullptr;
    for (void* c = *head; c != nullptr;) {
      void* next = gc_ephemeron_next(m, c);
      if (gc_ephemeron_key(m, c) == nullptr) {
        if (prev == nullptr) {
          gc_write_barrier(m, b, head, next);
        } else {
          gc_ephemeron_set_next(m, prev, next);
        }
        purged++;
      } else {
        prev = c;
      }
      c = next;
    }
    gc_ephemeron_set_next(m, e, *head);
    gc_write_barrier(m, b, head, e);
    inserted++;
  };
  auto find = [&](int t, void* key) -> void* {
    auto** b = static_cast<void**>(tables[t]);
    for (void* c = b[Hash(key) % nbuckets]; c != nullptr;
         c = gc_ephemeron_next(m, c)) {
      if (gc_ephemeron_key(m, c) == key) return gc_ephemeron_value(m, c);
    }
    return nullptr;
  };
  auto check = [&](int t, void* key) {
    auto* v = static_cast<Value*>(find(t, key));
    if (v == nullptr || v->key != key) Fail("a live key's entry was lost");
    lookups++;
  };

  const gc_stats s0 = g.Stats();
  Run run;
  for (int t = 0; t < ntables; t++) {
    tables[t] = g.Alloc(table_t, sizeof(void*) * nbuckets);
    for (int j = 0; j < entries; j++) {
      void* k = g.Alloc(0, 16);
      keys[size_t{1} * t * entries + j] = k;
      insert(t, k);
    }
  }
  size_t cursor = 0;
  for (int r = 0; r < rounds; r++) {
    for (int t = 0; t < ntables; t++) {
      const int replace = entries * (t % 8) / 8;
      for (int j = 0; j < replace; j++) {
        const size_t slot = size_t{1} * t * entries + (cursor + j) % entries;
        void* k = g.Alloc(0, 16);
        keys[slot] = k;  // the old key is dropped here
        insert(t, k);
      }
      for (int j = 0; j < entries; j += 61) {
        check(t, keys[size_t{1} * t * entries + j]);
      }
    }
    cursor += entries / 8 + 1;
    gc_collect(m);
  }
  // Final check: every live key is found; after a collection every other
  // entry reads as cleared.
  gc_collect(m);
  uint64_t live = 0, cleared = 0;
  for (int t = 0; t < ntables; t++) {
    for (int j = 0; j < entries; j++)
      check(t, keys[size_t{1} * t * entries + j]);
    auto** b = static_cast<void**>(tables[t]);
    for (int i = 0; i < nbuckets; i++) {
      for (void* c = b[i]; c != nullptr; c = gc_ephemeron_next(m, c)) {
        if (gc_ephemeron_key(m, c) != nullptr) {
          live++;
        } else if (gc_ephemeron_value(m, c) != nullptr) {
          Fail("a cleared entry kept its value");
        } else {
          cleared++;
        }
      }
    }
  }
  if (live != uint64_t{1} * ntables * entries) {
    Fail("live entries " + std::to_string(live) + " != live keys");
  }
  const gc_stats s1 = g.Stats();
  char extra[256];
  snprintf(extra, sizeof(extra),
           "ephemerons=%llu purged=%llu unpurged_cleared=%llu cleared=%llu "
           "lookups=%llu wait_ops=%llu",
           (unsigned long long)inserted, (unsigned long long)purged,
           (unsigned long long)cleared,
           (unsigned long long)(s1.ephemerons_cleared - s0.ephemerons_cleared),
           (unsigned long long)lookups,
           (unsigned long long)(s1.ephemeron_wait_ops - s0.ephemeron_wait_ops));
  run.Finish(system, "tables", extra);
  return 0;
}

// ---- chains ---------------------------------------------------------------

int RunChains(Gcheap& g, const std::string& system) {
  gc_mutator* m = g.m;
  Run run;
  for (absl::string_view s :
       absl::StrSplit(absl::GetFlag(FLAGS_chain_lengths), ',')) {
    size_t n = 0;
    if (!absl::SimpleAtoi(s, &n) || n < 1) Fail("bad --chain_lengths");
    for (bool reverse : {false, true}) {
      Gcheap::Roots keys(g.heap, n + 1);
      Gcheap::Roots list(g.heap, 1);
      for (size_t i = 0; i <= n; i++) keys[i] = g.Alloc(0, 16);
      // e_i = {k_i, k_{i+1}}; the list holds e_0..e_{n-1} (forward) or
      // e_{n-1}..e_0 (reverse).
      for (size_t j = 0; j < n; j++) {
        const size_t i = reverse ? j : n - 1 - j;
        void* e = gc_ephemeron_new(m, keys[i], keys[i + 1]);
        if (e == nullptr) Fail(gc_last_error());
        gc_ephemeron_set_next(m, e, list[0]);
        list[0] = e;
      }
      for (size_t i = 1; i <= n; i++) keys[i] = nullptr;  // only k_0 rooted
      gc_collect(m);  // settle: the allocation's garbage, a finished sweep
      const gc_stats s0 = g.Stats();
      const size_t c0 = cycle_log->count();
      const auto t0 = Clock::now();
      gc_collect(m);
      const double ms =
          std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      const gc_stats s1 = g.Stats();
      if (cycle_log->count() != c0 + 1) Fail("expected one cycle");
      const CycleLog::Cycle c = cycle_log->cycles[c0];
      // Nothing was cleared: every key is reachable through the chain.
      if (s1.ephemerons_cleared != s0.ephemerons_cleared) {
        Fail("a reachable chain lost ephemerons");
      }
      size_t count = 0;
      for (void* e = list[0]; e != nullptr; e = gc_ephemeron_next(m, e)) {
        if (gc_ephemeron_value(m, e) == nullptr) Fail("a value was lost");
        count++;
      }
      if (count != n) Fail("chain length changed");
      // Drop k_0: the next collection clears the whole chain.
      keys[0] = nullptr;
      const auto t1 = Clock::now();
      gc_collect(m);
      const double dead_ms =
          std::chrono::duration<double, std::milli>(Clock::now() - t1).count();
      const gc_stats s2 = g.Stats();
      if (s2.ephemerons_cleared - s1.ephemerons_cleared != n) {
        Fail("dropping k_0 cleared " +
             std::to_string(s2.ephemerons_cleared - s1.ephemerons_cleared) +
             " of " + std::to_string(n));
      }
      const double mark_ms =
          (system == "gcheap-stw" ? c.pause_ns : c.mark_ns) / 1e6;
      printf(
          "CHAIN system=%s n=%zu order=%s collect_ms=%.2f mark_ms=%.2f "
          "final_us=%.1f ns_per_eph_collect=%.1f ns_per_eph_mark=%.1f "
          "wait_ops_per_eph=%.2f dead_collect_ms=%.2f\n",
          system.c_str(), n, reverse ? "reverse" : "forward", ms, mark_ms,
          c.final_ns / 1e3, ms * 1e6 / n, mark_ms * 1e6 / n,
          double(s1.ephemeron_wait_ops - s0.ephemeron_wait_ops) / n, dead_ms);
      fflush(stdout);
    }
  }
  run.Finish(system, "chains", "");
  return 0;
}

// ---- finalizers and links: one template over the two systems --------------

std::atomic<uint64_t> finalized{0};
std::atomic<bool> notified{false};

bool Ordered() {
  const std::string o = absl::GetFlag(FLAGS_order);
  if (o != "ordered" && o != "unordered") Fail("--order: ordered|unordered");
  return o == "ordered";
}
bool OnDemand() {
  const std::string f = absl::GetFlag(FLAGS_finalizers);
  if (f != "thread" && f != "demand") Fail("--finalizers: thread|demand");
  return f == "demand";
}
bool LongLinks() {
  const std::string k = absl::GetFlag(FLAGS_kind);
  if (k != "short" && k != "long") Fail("--kind: short|long");
  return k == "long";
}

void Finalized(void* obj) {
  auto* f = static_cast<Fin*>(obj);
  if (f->magic != kMagic) Fail("a finalizer saw a clobbered object");
  f->magic = 0;  // finalized twice would fail here
  finalized.fetch_add(1, std::memory_order_relaxed);
}

// What a system offers the two workloads.
struct GcheapSys {
  Gcheap& g;
  bool demand, ordered;
  gc_mutator* m() { return g.m; }

  void** NewRing(size_t n) {
    void** r = new void*[n]();
    if (gc_add_root_range(g.heap, r, n) != 0) Fail(gc_last_error());
    return r;
  }
  void DeleteRing(void** r, size_t n) {
    gc_remove_root_range(g.heap, r, n);
    delete[] r;
  }
  Fin* NewFin() { return static_cast<Fin*>(g.Alloc(g.fin_t, sizeof(Fin))); }
  void Link(Fin* from, Fin* to) {
    gc_write_barrier(g.m, from, reinterpret_cast<void**>(&from->next), to);
  }
  void SetRing(void** ring, size_t i, void* p) { ring[i] = p; }
  void RegisterFinalizer(Fin* f) {
    if (gc_register_finalizer(
            g.m, f, [](gc_mutator*, void* obj, void*) { Finalized(obj); },
            nullptr,
            ordered ? GC_FINALIZE_ORDERED : GC_FINALIZE_UNORDERED) != 0) {
      Fail(gc_last_error());
    }
  }
  void SetupFinalizers() {
    if (demand) {
      gc_set_finalizer_notifier(
          g.heap, [](gc_heap*, void*) { notified.store(true); }, nullptr);
    }
  }
  void Poll() {
    if (demand && notified.exchange(false, std::memory_order_relaxed)) {
      gc_run_finalizers(g.m);
    }
  }
  // Collects and runs finalizers until every object is finalized (exact
  // roots: every dropped object is).
  static constexpr bool kExact = true;
  void Drain(uint64_t want) {
    for (int i = 0; i < 10000 && finalized.load() < want; i++) {
      gc_collect(g.m);
      if (demand) {
        gc_run_finalizers(g.m);
      } else {
        gc_enter_blocking(g.m);
        for (int w = 0; w < 1000 && gc_finalizers_pending(g.heap) != 0; w++) {
          std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
        gc_leave_blocking(g.m);
      }
    }
  }

  Plain* NewPlain() { return static_cast<Plain*>(g.Alloc(0, sizeof(Plain))); }
  struct LinkCell {
    gc_weak* w = nullptr;
  };
  void MakeLink(LinkCell* c, Plain* p, bool is_long) {
    c->w = gc_weak_create(g.m, p, is_long ? GC_WEAK_LONG : GC_WEAK_SHORT);
    if (c->w == nullptr) Fail(gc_last_error());
  }
  void* ReadLink(LinkCell* c) { return gc_weak_get(g.m, c->w); }
  void DropLink(LinkCell* c, bool) { gc_weak_destroy(g.m, c->w); }
};

struct BoehmSys {
  bool demand, ordered;

  void** NewRing(size_t n) {
    auto** r = static_cast<void**>(GC_MALLOC_UNCOLLECTABLE(n * sizeof(void*)));
    if (r == nullptr) Fail("Boehm GC: out of memory");
    return r;
  }
  void DeleteRing(void** r, size_t) { GC_FREE(r); }
  Fin* NewFin() {
    auto* f = static_cast<Fin*>(GC_MALLOC(sizeof(Fin)));
    if (f == nullptr) Fail("Boehm GC: out of memory");
    return f;
  }
  void Link(Fin* from, Fin* to) { from->next = to; }
  void SetRing(void** ring, size_t i, void* p) { ring[i] = p; }
  void RegisterFinalizer(Fin* f) {
    auto fn = [](void* obj, void*) { Finalized(obj); };
    if (ordered) {
      GC_register_finalizer(f, fn, nullptr, nullptr, nullptr);
    } else {
      GC_register_finalizer_no_order(f, fn, nullptr, nullptr, nullptr);
    }
  }
  void SetupFinalizers() {
    if (demand) {
      GC_set_finalize_on_demand(1);
      GC_set_finalizer_notifier([] { notified.store(true); });
    }
  }
  void Poll() {
    if (demand && notified.exchange(false, std::memory_order_relaxed)) {
      GC_invoke_finalizers();
    }
  }
  // Boehm scans the C stack and registers conservatively: a stale copy of
  // a pointer may keep a few objects (and what they reach) from being
  // finalized for ever, so the loop gives up after a bounded number of
  // collections that finalized nothing new.
  static constexpr bool kExact = false;
  void Drain(uint64_t want) {
    uint64_t last = 0;
    for (int idle = 0; idle < 20 && finalized.load() < want;) {
      idle = finalized.load() == last ? idle + 1 : 0;
      last = finalized.load();
      GC_gcollect();
      GC_invoke_finalizers();
    }
  }

  Plain* NewPlain() {
    auto* p = static_cast<Plain*>(GC_MALLOC_ATOMIC(sizeof(Plain)));
    if (p == nullptr) Fail("Boehm GC: out of memory");
    return p;
  }
  // The link word holds the hidden pointer; it lives in C memory, which
  // Boehm does not scan.
  struct LinkCell {
    GC_hidden_pointer h = 0;
  };
  void MakeLink(LinkCell* c, Plain* p, bool is_long) {
    c->h = GC_HIDE_POINTER(p);
    const int rc =
        is_long ? GC_register_long_link(reinterpret_cast<void**>(&c->h), p)
                : GC_general_register_disappearing_link(
                      reinterpret_cast<void**>(&c->h), p);
    if (rc != GC_SUCCESS) Fail("Boehm GC: link registration failed");
  }
  void* ReadLink(LinkCell* c) {
    // As Boehm's documentation says: reveal under the allocation lock, so
    // the collector cannot clear the link between the load and the use.
    return GC_call_with_alloc_lock(
        [](void* cell) -> void* {
          GC_hidden_pointer h = static_cast<LinkCell*>(cell)->h;
          return h == 0 ? nullptr : GC_REVEAL_POINTER(h);
        },
        c);
  }
  void DropLink(LinkCell* c, bool is_long) {
    if (is_long) {
      GC_unregister_long_link(reinterpret_cast<void**>(&c->h));
    } else {
      GC_unregister_disappearing_link(reinterpret_cast<void**>(&c->h));
    }
  }
};

template <typename Sys>
int RunFinalizers(Sys& sys, const std::string& system) {
  const int64_t n = absl::GetFlag(FLAGS_objects);
  const int group = absl::GetFlag(FLAGS_group);
  const size_t live = absl::GetFlag(FLAGS_live);
  if (n < 1 || group < 1 || live < 1) Fail("bad sizes");
  sys.SetupFinalizers();
  void** ring = sys.NewRing(live);
  Run run;
  int64_t made = 0;
  size_t slot = 0;
  while (made < n) {
    // A group: head -> ... -> tail, the head held by the ring.
    Fin* head = sys.NewFin();
    head->magic = kMagic;
    head->id = made++;
    sys.SetRing(ring, slot, head);  // drops the group it replaces
    slot = (slot + 1) % live;
    sys.RegisterFinalizer(head);
    Fin* cur = head;
    for (int i = 1; i < group && made < n; i++) {
      Fin* f = sys.NewFin();
      f->magic = kMagic;
      f->id = made++;
      sys.Link(cur, f);
      sys.RegisterFinalizer(f);
      cur = f;
    }
    if ((made & 1023) < static_cast<int64_t>(group)) sys.Poll();
  }
  for (size_t i = 0; i < live; i++) sys.SetRing(ring, i, nullptr);
  sys.Drain(n);
  // Boehm may keep a few (its kExact above), never more than 0.01%.
  const uint64_t missing = n - finalized.load();
  if (finalized.load() > static_cast<uint64_t>(n) ||
      (Sys::kExact ? missing != 0
                   : missing > static_cast<uint64_t>(n) / 10000)) {
    Fail("finalized " + std::to_string(finalized.load()) + " of " +
         std::to_string(n));
  }
  char extra[200];
  snprintf(extra, sizeof(extra),
           "objects=%lld group=%d order=%s finalizers=%s finalized=%llu "
           "never_finalized=%llu",
           (long long)n, group, absl::GetFlag(FLAGS_order).c_str(),
           absl::GetFlag(FLAGS_finalizers).c_str(),
           (unsigned long long)finalized.load(), (unsigned long long)missing);
  run.Finish(system, "finalizers", extra);
  sys.DeleteRing(ring, live);
  return 0;
}

template <typename Sys>
int RunLinks(Sys& sys, const std::string& system) {
  const int64_t n = absl::GetFlag(FLAGS_links);
  const size_t live = absl::GetFlag(FLAGS_live);
  const bool is_long = LongLinks();
  if (n < 1 || live < 1) Fail("bad sizes");
  void** ring = sys.NewRing(live);
  using Cell = typename Sys::LinkCell;
  // Cells of the last 2 * live links: stable addresses (Boehm's links).
  const size_t window = 2 * live;
  std::vector<Cell> cells(window);
  std::vector<Plain*> objs(window);
  uint64_t cleared = 0, kept = 0;
  Run run;
  auto retire = [&](int64_t i) {  // link i, dropped `live` allocations ago
    Cell* c = &cells[i % window];
    void* p = sys.ReadLink(c);
    if (p == nullptr) {
      cleared++;
    } else {
      if (p != objs[i % window]) Fail("a link names another object");
      kept++;
    }
    sys.DropLink(c, is_long);
  };
  for (int64_t i = 0; i < n; i++) {
    if (i >= static_cast<int64_t>(window)) retire(i - window);
    Plain* p = sys.NewPlain();
    p->magic = kMagic;
    p->id = i;
    const size_t slot = i % live;
    if (i >= static_cast<int64_t>(live)) {
      // The object about to be dropped is still reachable: its link must
      // name it.
      Cell* c = &cells[(i - live) % window];
      if (sys.ReadLink(c) != ring[slot]) Fail("a live object's link cleared");
    }
    sys.SetRing(ring, slot, p);
    objs[i % window] = p;
    sys.MakeLink(&cells[i % window], p, is_long);
  }
  for (int64_t i = std::max<int64_t>(0, n - window); i < n; i++) retire(i);
  char extra[200];
  snprintf(extra, sizeof(extra), "links=%lld kind=%s cleared=%llu kept=%llu",
           (long long)n, is_long ? "long" : "short",
           (unsigned long long)cleared, (unsigned long long)kept);
  run.Finish(system, "links", extra);
  for (size_t i = 0; i < live; i++) sys.SetRing(ring, i, nullptr);
  sys.DeleteRing(ring, live);
  return 0;
}

// ---------------------------------------------------------------------------

void BoehmEvent(GC_EventType e) {
  static Clock::time_point stop, mark, start;
  static uint64_t pause_ns, mark_ns;
  auto since = [](Clock::time_point t) {
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t)
            .count());
  };
  switch (e) {
    case GC_EVENT_START:
      pause_ns = mark_ns = 0;
      break;
    case GC_EVENT_PRE_STOP_WORLD:
      stop = Clock::now();
      break;
    case GC_EVENT_POST_START_WORLD:
      pause_ns += since(stop);
      break;
    case GC_EVENT_MARK_START:
      mark = Clock::now();
      break;
    case GC_EVENT_MARK_END:
      mark_ns += since(mark);
      break;
    case GC_EVENT_END:
      cycle_log->Add(pause_ns, pause_ns, mark_ns);
      break;
    default:
      break;
  }
}

int Main() {
  cycle_log = new CycleLog();
  const std::string system = absl::GetFlag(FLAGS_system);
  const std::string workload = absl::GetFlag(FLAGS_workload);
  if (system == "gcheap" || system == "gcheap-stw") {
    const bool demand = workload == "finalizers" && OnDemand();
    Gcheap g(system == "gcheap-stw", /*finalizer_thread=*/!demand);
    if (workload == "tables") return RunTables(g, system);
    if (workload == "chains") return RunChains(g, system);
    GcheapSys sys{g, demand, workload == "finalizers" && Ordered()};
    if (workload == "finalizers") return RunFinalizers(sys, system);
    if (workload == "links") return RunLinks(sys, system);
    Fail("unknown --workload " + workload);
  }
  if (system == "boehm") {
    if (workload == "tables" || workload == "chains") {
      Fail("Boehm GC has no ephemerons (docs/benchmarks.md)");
    }
    GC_INIT();
    GC_set_on_collection_event(&BoehmEvent);
    BoehmSys sys{workload == "finalizers" && OnDemand(),
                 workload == "finalizers" && Ordered()};
    if (workload == "finalizers") return RunFinalizers(sys, system);
    if (workload == "links") return RunLinks(sys, system);
    Fail("unknown --workload " + workload);
  }
  Fail("unknown --system " + system);
}

}  // namespace
}  // namespace gcheap

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Issue 12's VM-semantics workloads on one system (see the file's "
      "comment).\n  weak_bench --system=gcheap --workload=tables");
  absl::ParseCommandLine(argc, argv);
  return gcheap::Main();
}
