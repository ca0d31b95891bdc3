// finalize.cc: Boehm's finalization and disappearing links on gcheap's
// finalizers and weak cells (issue 12's gc_register_finalizer and
// WeakProcessor; docs/boehm.md, "Finalization").
//
// Finalizers: GC_register_finalizer (ordered), _ignore_self, _no_order and
// _unreachable register a gcheap finalizer (GC_FINALIZE_ORDERED /
// _IGNORE_SELF / _UNORDERED / _UNREACHABLE) whose data is a record {fn, client
// data} in an uncollectable object: Boehm traces the client data, and so does
// the uncollectable table's root scanner here. A table (object -> record) gives
// back the old finalizer as Boehm's out-parameters do. gcheap's finalizer
// thread is off: ready finalizers run in GC_invoke_finalizers
// (gc_run_finalizers), which the library calls itself after a collection or an
// allocation once the notifier said some are ready, unless
// GC_finalize_on_demand is set; then it calls the program's
// GC_finalizer_notifier instead (on a Boehm thread, never on the collector's).
// The program's finalizer runs inside a blocking bracket, like all program code
// (boehm_internal.h).
//
// Disappearing links: each registered link (short or long) owns a gcheap
// weak cell naming its object. At the end of every cycle's mark
// termination (the world hook "restarting", world stopped, marks final),
// every link whose cell reads NULL (short: not strongly reachable; long:
// freed) is cleared to NULL, as Boehm clears it inside the collection, and
// dropped. A link that lies inside a heap object (its holder, found when
// the link is registered or moved) is dropped without a write in the first
// cycle that finds the holder dead, whether or not its target lives
// (Boehm's GC_remove_dangling_disappearing_links): the holder's slot is
// freed by that cycle's sweep and may then hold another object, which a
// later clearing must not write into. The link table is changed only
// inside running brackets, so no pause ever finds it locked.
//
// Invariant: a listed link's holder (if any) is the object allocated when
// the link was registered or moved: never swept, since the mark
// termination that finds it unmarked drops the link before the sweep.
#include <string.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>

#define GC_THREADS 1
#define GC_NO_THREAD_REDIRECTS 1
#include <gc/gc.h>
#include <gc/javaxfc.h>

#include "absl/container/flat_hash_map.h"
#include "gc/collector.h"
#include "gc/weak.h"
#include "runtime/boehm/boehm_internal.h"
#include "runtime/runtime.h"

using gcheap::boehm::BThread;
using gcheap::boehm::g;
using gcheap::boehm::RunningBracket;

namespace {

struct FinRecord {
  GC_finalization_proc fn;
  void* client_data;
};

std::mutex g_fin_mu;
// (Never destroyed, nor is g_links: boehm_internal.h, NeverDestroyed.)
gcheap::boehm::NeverDestroyed<absl::flat_hash_map<void*, FinRecord*>> g_fin_;
auto& g_fin = *g_fin_;  // object -> record

void RunFinalizer(gc_mutator* m, void* obj, void* data) {
  auto* rec = static_cast<FinRecord*>(data);
  const FinRecord r = *rec;
  {
    std::lock_guard<std::mutex> l(g_fin_mu);
    auto it = g_fin.find(obj);
    if (it != g_fin.end() && it->second == rec) g_fin.erase(it);
  }
  // The program's code runs blocked for gcheap, as everywhere (and is
  // stopped with the signal there: it is not inside gcheap).
  gcheap::boehm::LeaveGcheap(m);
  GC_free(rec);
  r.fn(obj, r.client_data);
  gcheap::boehm::EnterGcheap(m);
}

void Notifier(gc_heap*, void*) {
  g.fin_ready.store(true, std::memory_order_release);
}

void RegisterFinalizer(void* obj, GC_finalization_proc fn, void* cd,
                       GC_finalization_proc* ofn, void** ocd, int mode) {
  gcheap::boehm::EnsureInit();
  if (GC_base(obj) != obj) {
    // Boehm ignores an object it does not manage.
    if (ofn != nullptr) *ofn = nullptr;
    if (ocd != nullptr) *ocd = nullptr;
    return;
  }
  FinRecord* rec = nullptr;
  if (fn != nullptr) {
    rec = static_cast<FinRecord*>(GC_malloc_uncollectable(sizeof(FinRecord)));
    if (rec == nullptr) return;
    rec->fn = fn;
    rec->client_data = cd;
  }
  FinRecord* old = nullptr;
  {
    RunningBracket b;  // no pause while the tables change
    std::lock_guard<std::mutex> l(g_fin_mu);
    auto it = g_fin.find(obj);
    if (it != g_fin.end()) old = it->second;
    if (gc_register_finalizer(b.m(), obj,
                              fn != nullptr ? RunFinalizer : nullptr, rec,
                              mode) != 0) {
      fprintf(stderr, "gcheap libgc: GC_register_finalizer: %s\n",
              gc_last_error());
      abort();
    }
    if (rec != nullptr) {
      g_fin[obj] = rec;
    } else if (old != nullptr) {
      g_fin.erase(obj);
    }
  }
  if (ofn != nullptr) *ofn = old != nullptr ? old->fn : nullptr;
  if (ocd != nullptr) *ocd = old != nullptr ? old->client_data : nullptr;
  if (old != nullptr) GC_free(old);
}

// ---- disappearing links -----------------------------------------------------

struct Link {
  gcheap::WeakCell cell;
  bool is_long;
  // The base of the heap object the link lies in, or 0 (static, malloc'ed
  // or stack memory).
  uintptr_t holder;
};

std::mutex g_links_mu;
gcheap::boehm::NeverDestroyed<absl::flat_hash_map<void**, Link*>[2]> g_links_;
auto& g_links = *g_links_;  // [0] short, [1] long

// The calling Boehm thread's record (registering it if need be).
BThread* CurrentThread() {
  gcheap::boehm::CurrentMutator();
  return gcheap::boehm::Self();
}

gcheap::WeakProcessor& Weak() { return g.heap->collector->weak(); }

// A link must be an aligned word (API misuse otherwise, as in Boehm).
void CheckLinkAddress(void** link, const char* what) {
  if ((reinterpret_cast<uintptr_t>(link) & (sizeof(void*) - 1)) != 0) {
    fprintf(stderr, "gcheap libgc: bad %s %p\n", what,
            static_cast<void*>(link));
    abort();
  }
}

// The heap object the link lies in (its base), or 0. Outside brackets
// (GC_base may take one).
uintptr_t Holder(void** link) {
  return reinterpret_cast<uintptr_t>(GC_base(link));
}

int RegisterLink(void** link, const void* obj, bool is_long) {
  gcheap::boehm::EnsureInit();
  CheckLinkAddress(link, "disappearing link");
  const uintptr_t holder = Holder(link);
  RunningBracket b;
  std::lock_guard<std::mutex> l(g_links_mu);
  auto& table = g_links[is_long];
  if (table.contains(link)) return GC_DUPLICATE;
  auto* k = new Link;
  k->is_long = is_long;
  k->holder = holder;
  k->cell.kind = is_long ? gcheap::kWeakLong : gcheap::kWeakShort;
  if (!Weak().Link(&k->cell, reinterpret_cast<uintptr_t>(obj),
                   g.heap->collector->weak_phase())) {
    delete k;
    return GC_UNIMPLEMENTED;  // obj is not an object of the heap
  }
  table.emplace(link, k);
  return GC_SUCCESS;
}

int UnregisterLink(void** link, bool is_long) {
  if (!g.initialized.load()) return 0;
  RunningBracket b;
  std::lock_guard<std::mutex> l(g_links_mu);
  auto& table = g_links[is_long];
  auto it = table.find(link);
  if (it == table.end()) return 0;
  Weak().Unlink(&it->second->cell);
  delete it->second;
  table.erase(it);
  return 1;
}

int MoveLink(void** link, void** new_link, bool is_long) {
  if (!g.initialized.load()) return GC_NOT_FOUND;
  CheckLinkAddress(new_link, "new link");
  const uintptr_t holder = Holder(new_link);
  RunningBracket b;
  std::lock_guard<std::mutex> l(g_links_mu);
  auto& table = g_links[is_long];
  auto it = table.find(link);
  if (it == table.end()) return GC_NOT_FOUND;
  if (new_link == link) return GC_SUCCESS;
  if (table.contains(new_link)) return GC_DUPLICATE;
  Link* k = it->second;
  k->holder = holder;
  table.erase(it);
  table.emplace(new_link, k);
  return GC_SUCCESS;
}

// Whether the link's holder survives this cycle (marks final): true for a
// link outside the heap.
bool HolderLives(const Link* k) {
  if (k->holder == 0) return true;
  gcheap::ObjectRef r;
  const bool found = g.heap->heap.FindObject(k->holder, &r);
  GC_DCHECK(found && r.base == k->holder,
            "a disappearing link's holder was freed while the link was listed");
  return found && r.span->IsMarked(r.index);
}

}  // namespace

namespace gcheap::boehm {

// The world hook "restarting" at the end of mark termination: clear the
// links of objects found dead and drop the links inside dead objects
// (world stopped, the marks final).
void ClearDeadLinks() {
  if (g.heap->collector->phase() != gcheap::GcPhase::kSweep) return;
  // No other thread holds g_links_mu: they take it in running brackets.
  std::lock_guard<std::mutex> l(g_links_mu);
  for (auto& table : g_links) {
    for (auto it = table.begin(); it != table.end();) {
      Link* k = it->second;
      // A link inside a dying object is dropped unwritten: the sweep frees
      // its memory (another object may hold the slot by the time the
      // target dies).
      const bool holder_lives = HolderLives(k);
      if (holder_lives) {
        const gcheap::WeakRead r =
            Weak().Read(&k->cell.target, gcheap::WeakWord::kHandle, k->is_long,
                        gcheap::WeakPhase::kSweep);
        if (r.value != 0) {
          ++it;
          continue;
        }
        *it->first = nullptr;
      }
      Weak().Unlink(&k->cell);
      delete k;
      table.erase(it++);
    }
  }
}

// After an allocation (flag set by the notifier) or a GC_gcollect (always:
// the notifier may run on the driver thread after gc_collect returned) on
// a Boehm thread: run, or announce with GC_finalize_on_demand, the
// finalizers the last cycles made ready.
void AfterCollectionPoint(bool collected) {
  if (GC_LIKELY(!collected && !g.fin_ready.load(std::memory_order_relaxed))) {
    return;
  }
  if (CurrentThread()->in_finalizers) return;
  g.fin_ready.store(false, std::memory_order_relaxed);
  PrintSmashed();
  if (GC_finalize_on_demand) {
    GC_finalizer_notifier_proc n = GC_finalizer_notifier;
    if (n != nullptr && GC_should_invoke_finalizers()) n();
  } else {
    GC_invoke_finalizers();
  }
}

void InitFinalization() {
  gc_set_finalizer_notifier(g.heap, Notifier, nullptr);
}

}  // namespace gcheap::boehm

extern "C" {

void GC_register_finalizer(void* obj, GC_finalization_proc fn, void* cd,
                           GC_finalization_proc* ofn, void** ocd) {
  RegisterFinalizer(obj, fn, cd, ofn, ocd, GC_FINALIZE_ORDERED);
}
void GC_register_finalizer_ignore_self(void* obj, GC_finalization_proc fn,
                                       void* cd, GC_finalization_proc* ofn,
                                       void** ocd) {
  RegisterFinalizer(obj, fn, cd, ofn, ocd, GC_FINALIZE_IGNORE_SELF);
}
void GC_register_finalizer_no_order(void* obj, GC_finalization_proc fn,
                                    void* cd, GC_finalization_proc* ofn,
                                    void** ocd) {
  RegisterFinalizer(obj, fn, cd, ofn, ocd, GC_FINALIZE_UNORDERED);
}
// Not run while an object made ready in the same cycle (an unordered one
// included) reaches it (Boehm: with GC_java_finalization, which is on).
void GC_register_finalizer_unreachable(void* obj, GC_finalization_proc fn,
                                       void* cd, GC_finalization_proc* ofn,
                                       void** ocd) {
  RegisterFinalizer(obj, fn, cd, ofn, ocd, GC_FINALIZE_UNREACHABLE);
}

int GC_invoke_finalizers(void) {
  if (!g.initialized.load()) return 0;
  BThread* t = CurrentThread();
  if (t->in_finalizers) return 0;  // a finalizer's own call
  t->in_finalizers = true;
  int n;
  {
    RunningBracket b;
    n = gc_run_finalizers(b.m());
  }
  t->in_finalizers = false;
  return n;
}

int GC_should_invoke_finalizers(void) {
  if (!g.initialized.load()) return 0;
  RunningBracket b;
  return gc_finalizers_pending(g.heap) > 0 ? 1 : 0;
}

void GC_set_finalize_on_demand(int v) { GC_finalize_on_demand = v; }
int GC_get_finalize_on_demand(void) { return GC_finalize_on_demand; }
void GC_set_java_finalization(int v) { GC_java_finalization = v; }
int GC_get_java_finalization(void) { return GC_java_finalization; }
void GC_set_finalizer_notifier(GC_finalizer_notifier_proc p) {
  GC_finalizer_notifier = p;
}
GC_finalizer_notifier_proc GC_get_finalizer_notifier(void) {
  return GC_finalizer_notifier;
}

void GC_finalize_all(void) {
  // Every registered finalizer runs now, reachable objects' too (javaxfc.h:
  // for the end of the program).
  for (;;) {
    void* obj = nullptr;
    FinRecord* rec = nullptr;
    {
      RunningBracket b;
      std::lock_guard<std::mutex> l(g_fin_mu);
      if (g_fin.empty()) break;
      auto it = g_fin.begin();
      obj = it->first;
      rec = it->second;
      g_fin.erase(it);
      gc_register_finalizer(b.m(), obj, nullptr, nullptr, GC_FINALIZE_ORDERED);
    }
    const FinRecord r = *rec;
    GC_free(rec);
    r.fn(obj, r.client_data);
  }
  GC_invoke_finalizers();
}

int GC_general_register_disappearing_link(void** link, const void* obj) {
  return RegisterLink(link, obj, false);
}
int GC_register_disappearing_link(void** link) {
  return RegisterLink(link, GC_base(*link), false);
}
int GC_unregister_disappearing_link(void** link) {
  return UnregisterLink(link, false);
}
int GC_move_disappearing_link(void** link, void** new_link) {
  return MoveLink(link, new_link, false);
}
int GC_register_long_link(void** link, const void* obj) {
  return RegisterLink(link, obj, true);
}
int GC_unregister_long_link(void** link) { return UnregisterLink(link, true); }
int GC_move_long_link(void** link, void** new_link) {
  return MoveLink(link, new_link, true);
}

}  // extern "C"
