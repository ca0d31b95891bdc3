// finalize_api.cc: the C API of finalization (runtime/gc.h, "finalization")
// over the collector's Finalization (gc/finalize.h) and the cleanups kept
// in the specials table (gc/specials.h).
//
// A gc_cleanup is the collector's Cleanup; a gc_guardian wraps the
// collector's Guardian with its heap and a magic number. Registering a
// finalizer or a cleanup starts the heap's finalizer thread when the heap
// has one (runtime/finalizer_thread.h).
#include <new>
#include <string>

#include "gc/finalize.h"
#include "heap/error.h"
#include "runtime/api_internal.h"
#include "runtime/finalizer_thread.h"
#include "runtime/gc.h"
#include "runtime/process.h"
#include "runtime/runtime.h"

namespace {

constexpr uint32_t kGuardianMagic = 0x67756172;  // "guar"
constexpr uint32_t kGuardianDead = 0xdead0003;

}  // namespace

struct gc_guardian {
  gcheap::Guardian* g = nullptr;
  gc_heap* heap = nullptr;
  uint32_t magic = kGuardianMagic;
};

namespace gcheap::api {

// obj resolved to its object of m's heap, or false with the error set.
bool ResolveObject(gc_mutator* m, const void* obj, const char* fn,
                   ObjectRef* r) {
  if (!m->heap->heap.FindObject(reinterpret_cast<uintptr_t>(obj), r)) {
    SetLastError("%s: %p is not an object of this heap", fn, obj);
    return false;
  }
  return true;
}

bool CheckMode(int mode, const char* fn) {
  if (mode == GC_FINALIZE_ORDERED || mode == GC_FINALIZE_UNORDERED ||
      mode == GC_FINALIZE_IGNORE_SELF || mode == GC_FINALIZE_UNREACHABLE) {
    return true;
  }
  SetLastError(
      "%s: mode must be GC_FINALIZE_ORDERED, GC_FINALIZE_UNORDERED, "
      "GC_FINALIZE_IGNORE_SELF or GC_FINALIZE_UNREACHABLE (got %d)",
      fn, mode);
  return false;
}

void CheckGuardian(const gc_guardian* g, const char* fn) {
  if (g == nullptr) Misuse(fn, "guardian is NULL");
  if (g->magic == kGuardianDead) Misuse(fn, "use of a destroyed guardian");
  if (g->magic != kGuardianMagic) Misuse(fn, "not a gc_guardian");
}

void EnsureFinalizerThread(gc_heap* h) {
  if (h->config.finalizer_thread) h->finalizer_thread.EnsureStarted();
}

}  // namespace gcheap::api

using gcheap::Misuse;
using gcheap::SetLastError;
using gcheap::api::CheckGuardian;
using gcheap::api::CheckMode;
using gcheap::api::ResolveObject;

extern "C" {

int gc_register_finalizer(gc_mutator* m, void* obj, gc_finalizer_fn fn,
                          void* data, int mode) {
  DEBUG_CHECK_MUTATOR(m, "gc_register_finalizer");
  if (!CheckMode(mode, "gc_register_finalizer")) return -1;
  gcheap::ObjectRef r;
  if (!ResolveObject(m, obj, "gc_register_finalizer", &r)) return -1;
  gcheap::Finalization& fin = m->heap->collector->finalization();
  if (fn == nullptr) {
    fin.Unregister(r.base);
    return 0;
  }
  gcheap::Registration reg;
  reg.obj = reinterpret_cast<uintptr_t>(obj);
  reg.fn = reinterpret_cast<void (*)()>(fn);
  reg.data = data;
  reg.mode = static_cast<uint8_t>(mode);
  fin.Register(r.base, reg);
  gcheap::api::EnsureFinalizerThread(m->heap);
  return 0;
}

gc_cleanup* gc_add_cleanup(gc_mutator* m, void* obj, gc_cleanup_fn fn,
                           void* arg) {
  DEBUG_CHECK_MUTATOR(m, "gc_add_cleanup");
  if (fn == nullptr) {
    SetLastError("gc_add_cleanup: fn is NULL");
    return nullptr;
  }
  gcheap::ObjectRef r;
  if (!ResolveObject(m, obj, "gc_add_cleanup", &r)) return nullptr;
  auto* c = new (std::nothrow) gcheap::Cleanup;
  if (c == nullptr) {
    SetLastError("gc_add_cleanup: out of memory");
    return nullptr;
  }
  c->fn = reinterpret_cast<void (*)()>(fn);
  c->arg = arg;
  gcheap::SpecialsTable& sp = m->heap->collector->weak().specials();
  {
    std::lock_guard<std::mutex> g(sp.LockOf(r.span));
    if (!sp.AddCleanup(r.span, r.index, r.base, c)) {
      delete c;
      SetLastError("gc_add_cleanup: out of memory for the object's record");
      return nullptr;
    }
  }
  gcheap::api::EnsureFinalizerThread(m->heap);
  return reinterpret_cast<gc_cleanup*>(c);
}

void gc_cancel_cleanup(gc_mutator* m, gc_cleanup* handle) {
  DEBUG_CHECK_MUTATOR(m, "gc_cancel_cleanup");
  if (handle == nullptr) Misuse("gc_cancel_cleanup", "cleanup is NULL");
  auto* c = reinterpret_cast<gcheap::Cleanup*>(handle);
  gcheap::WeakProcessor& weak = m->heap->collector->weak();
  for (;;) {
    int st = c->state.load(std::memory_order_acquire);
    if (st == gcheap::Cleanup::kRegistered) {
      // Its object has a record the sweep processes under this lock: the
      // span stays while we hold it and the cleanup is still registered.
      gcheap::MSpan* s = weak.heap()->SpanAt(c->obj);
      if (s == nullptr) continue;  // queued meanwhile; reread the state
      std::lock_guard<std::mutex> g(weak.specials().LockOf(s));
      if (c->state.load(std::memory_order_acquire) !=
          gcheap::Cleanup::kRegistered) {
        continue;
      }
      gcheap::ObjectRef r;
      GC_CHECK(weak.heap()->FindObject(c->obj, &r),
               "a registered cleanup's object is gone");
      weak.specials().RemoveCleanup(s, r.index, r.base, c);
      delete c;
      return;
    }
    if (st == gcheap::Cleanup::kQueued) {
      // The runner frees it unrun.
      if (c->state.compare_exchange_strong(st, gcheap::Cleanup::kCancelled)) {
        return;
      }
      continue;
    }
    Misuse("gc_cancel_cleanup",
           "the cleanup already ran, is running or was cancelled");
  }
}

gc_guardian* gc_guardian_create(gc_heap* heap) {
  gcheap::CheckHeap(heap, "gc_guardian_create");
  auto* g = new (std::nothrow) gc_guardian;
  if (g == nullptr) {
    SetLastError("gc_guardian_create: out of memory");
    return nullptr;
  }
  g->heap = heap;
  g->g = heap->collector->finalization().NewGuardian();
  return g;
}

void gc_guardian_destroy(gc_guardian* g) {
  if (g == nullptr) return;
  CheckGuardian(g, "gc_guardian_destroy");
  g->heap->collector->finalization().DestroyGuardian(g->g);
  g->magic = kGuardianDead;
  delete g;
}

int gc_guardian_register(gc_mutator* m, gc_guardian* g, void* obj, int mode) {
  DEBUG_CHECK_MUTATOR(m, "gc_guardian_register");
  CheckGuardian(g, "gc_guardian_register");
  if (g->heap != m->heap) {
    Misuse("gc_guardian_register", "the guardian belongs to another heap");
  }
  if (!CheckMode(mode, "gc_guardian_register")) return -1;
  gcheap::ObjectRef r;
  if (!ResolveObject(m, obj, "gc_guardian_register", &r)) return -1;
  gcheap::Registration reg;
  reg.obj = reinterpret_cast<uintptr_t>(obj);
  reg.guardian = g->g;
  reg.mode = static_cast<uint8_t>(mode);
  m->heap->collector->finalization().Register(r.base, reg);
  return 0;
}

void* gc_guardian_pop(gc_mutator* m, gc_guardian* g) {
  DEBUG_CHECK_MUTATOR(m, "gc_guardian_pop");
  CheckGuardian(g, "gc_guardian_pop");
  if (g->heap != m->heap) {
    Misuse("gc_guardian_pop", "the guardian belongs to another heap");
  }
  return reinterpret_cast<void*>(m->heap->collector->finalization().Pop(g->g));
}

int gc_run_finalizers(gc_mutator* m) {
  gcheap::CheckMutator(m, "gc_run_finalizers");
  return gcheap::RunFinalizers(m);
}

size_t gc_finalizers_pending(gc_heap* heap) {
  gcheap::CheckHeap(heap, "gc_finalizers_pending");
  gcheap::ForkGate::Pass pass(&heap->api_gate);
  return heap->collector->finalization().pending();
}

void gc_set_finalizer_notifier(gc_heap* heap, gc_finalizer_notifier_fn fn,
                               void* data) {
  gcheap::CheckHeap(heap, "gc_set_finalizer_notifier");
  gcheap::ForkGate::Pass pass(&heap->api_gate);
  if (fn == nullptr) {
    heap->collector->finalization().SetNotifier(nullptr);
    return;
  }
  heap->collector->finalization().SetNotifier([heap, fn, data] {
    // No embedder callback once process exit has begun (process.h).
    if (!gcheap::ExitBegun()) fn(heap, data);
  });
}

}  // extern "C"
