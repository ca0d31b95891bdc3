// debug_alloc.cc: Boehm's debugging allocator, gc.h's GC_debug_* entry
// points (what GC_MALLOC and friends call when a program is built with
// GC_DEBUG; docs/boehm.md, "The debugging allocator").
//
// A debugging object is an ordinary object of the same kind, larger by a
// header and an end guard; the program gets the body:
//
//   base          DebugHeader: the caller's file and line, the requested
//                 size, the start guard                      (32 bytes)
//   base + 32     the body, `size` bytes (what the program gets)
//   body + RoundUp8(size)   the end guard; the object's last word holds
//                           it too
//
// As in Boehm, GC_base of the body is the header (base), GC_size is the
// whole object's, and the header is 32 bytes. Both guards are a constant
// XORed with the body's address, so a header copied elsewhere does not read
// as valid.
//
// Checks. GC_debug_free and GC_debug_realloc check the object first: a
// guard overwritten (the program wrote past its body's end, or before its
// start) is reported on stderr with the object's file, line and size, and
// the free goes on, as Boehm's does. GC_debug_free of a collectable object
// does not free it, as in Boehm: it marks the header deallocated (its size
// field set to the whole object's size, which no live header holds) and
// fills the body with a freed marker, so a use after the free reads the
// marker and a second GC_debug_free is reported ("previously deallocated")
// and ignored; the collector reclaims the object once unreachable. An
// uncollectable object is freed (GC_free), as is every object when
// GC_find_leak is set. A pointer that is not a debugging object's body (no
// guard where one belongs) is reported and then treated as Boehm does:
// GC_debug_free clears it with the marker, GC_debug_realloc reallocates it
// with GC_realloc. A pointer outside the heap aborts.
//
// Finalizers registered through GC_debug_register_finalizer* are registered
// on the base with a closure {fn, client data}, a collectable object that
// the finalizer table keeps (client data is traced): the program's
// function gets the body's address, as Boehm's debugging finalizers do.
//
// Displacements: with GC_all_interior_pointers off, the body's offset (32)
// is registered as a displacement at the first debugging allocation, and
// GC_debug_register_displacement(n) registers n and 32 + n, so a pointer to
// a body (or to n bytes into it) keeps its object.
//
// At each collection once a debugging object exists (Boehm's
// GC_check_heap): in the pause that ends mark termination (world stopped,
// marks final; the "restarting" world hook, threads.cc), CheckDebugObjects
// walks every in-use span and checks each marked object that carries
// debugging information (its start guard or its last word is a guard for
// its body; not deallocated); up to kMaxSmashed clobbered addresses are
// recorded, with no allocation and no output in the pause. The next
// AfterCollectionPoint on a Boehm thread (after GC_gcollect, or after an
// allocation: the check raises g.fin_ready to get there) prints them in
// Boehm's words and clears the list. A smashed object is reported at every
// collection while it lives, as Boehm does. An object whose header a
// stopped thread is writing (BThread::debug_annotating) is skipped, so a
// half-written header is never reported.
//
// Not done (docs/boehm.md): back pointers (GC_get_back_ptr_info) and
// GC_debug_gcj_malloc (no gcj kind here).
#include <string.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>

#define GC_THREADS 1
#define GC_NO_THREAD_REDIRECTS 1
#include <gc/gc.h>

#include "runtime/boehm/boehm_internal.h"

namespace {

struct DebugHeader {
  const char* file;
  uintptr_t line;
  uintptr_t size;  // requested; the whole object's size once freed
  uintptr_t start_guard;
};
static_assert(sizeof(DebugHeader) == 32, "Boehm's debug header size");

constexpr uintptr_t kStartGuard = 0x5ca1ab1edeb06a7eull;
constexpr uintptr_t kEndGuard = 0xdeb0e4d5a1e6ca4dull;
// A freed collectable body's words (Boehm's marker value, so a program or
// debugger that knows it recognizes a use after free).
constexpr uintptr_t kFreedMarker = 0xefbeaddedeadbeefull;
// What a debugging object adds to the request: the header and one word
// for the end guard (after the body rounded up to a word).
constexpr size_t kExtraBytes = sizeof(DebugHeader) + sizeof(uintptr_t);

size_t RoundUpWord(size_t n) { return (n + 7) & ~size_t{7}; }

char* Body(DebugHeader* h) { return reinterpret_cast<char*>(h + 1); }
uintptr_t StartGuardOf(const char* body) {
  return kStartGuard ^ reinterpret_cast<uintptr_t>(body);
}
uintptr_t EndGuardOf(const char* body) {
  return kEndGuard ^ reinterpret_cast<uintptr_t>(body);
}
// The object's last word, for an object of `whole` bytes (GC_size).
uintptr_t* LastWord(DebugHeader* h, size_t whole) {
  return reinterpret_cast<uintptr_t*>(reinterpret_cast<char*>(h) +
                                      (whole & ~size_t{7})) -
         1;
}
uintptr_t* LastWord(DebugHeader* h) { return LastWord(h, GC_size(h)); }

std::atomic<bool> g_debugging_started{false};

// Once, at the first debugging allocation: without interior pointers, a
// pointer to a body must keep its object.
void StartDebugging() {
  if (g_debugging_started.exchange(true)) return;
  if (!GC_get_all_interior_pointers()) {
    GC_register_displacement(sizeof(DebugHeader));
  }
}

// Writes the header and the guards of the object p, allocated for a
// request of n bytes; returns the body. Meanwhile the calling thread's
// record names p (a collection's check skips it; signal fences: the
// thread may be stopped by a signal anywhere in between).
void* Annotate(void* p, size_t n, const char* file, int line) {
  auto* h = static_cast<DebugHeader*>(p);
  gcheap::boehm::BThread* t = gcheap::boehm::Self();
  if (t != nullptr) t->debug_annotating = p;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  char* body = Body(h);
  h->file = file;
  h->line = static_cast<uintptr_t>(line);
  h->size = n;
  h->start_guard = StartGuardOf(body);
  const uintptr_t end = EndGuardOf(body);
  memcpy(body + RoundUpWord(n), &end, sizeof(end));
  *LastWord(h) = end;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  if (t != nullptr) t->debug_annotating = nullptr;
  return body;
}

// The address in h's object that no longer holds what it should, or null
// when the object is intact.
const void* Clobbered(DebugHeader* h, size_t whole) {
  char* body = Body(h);
  if (whole < kExtraBytes || h->size > whole - kExtraBytes) return &h->size;
  if (h->start_guard != StartGuardOf(body)) return &h->start_guard;
  if (*LastWord(h, whole) != EndGuardOf(body)) return LastWord(h, whole);
  uintptr_t end;
  memcpy(&end, body + RoundUpWord(h->size), sizeof(end));
  if (end != EndGuardOf(body)) return body + RoundUpWord(h->size);
  return nullptr;
}

// The file and line are printed only when the header is intact (a write
// that reached the start guard may have overwritten the file pointer).
void ReportSmashed(const char* what, DebugHeader* h, const void* at) {
  const void* body = Body(h);
  if (at <= static_cast<const void*>(&h->start_guard) || h->file == nullptr) {
    fprintf(stderr, "%s %p in or near object at %p(<smashed>, appr. sz= %zu)\n",
            what, at, body, GC_size(h) - kExtraBytes);
  } else {
    fprintf(stderr, "%s %p in or near object at %p (%s:%d, sz= %zu)\n", what,
            at, body, h->file, static_cast<int>(h->line),
            static_cast<size_t>(h->size));
  }
}

// The header of the debugging object whose body p is; null (after the
// report) when p is in the heap but not a body; aborts outside the heap.
DebugHeader* HeaderOf(void* p, const char* caller, const char* abort_with) {
  void* base = GC_base(p);
  if (base == nullptr) {
    fprintf(stderr, "Attempt to %s invalid pointer %p\n", caller, p);
    fprintf(stderr, "gcheap libgc: %s\n", abort_with);
    abort();
  }
  auto* h = static_cast<DebugHeader*>(base);
  if (Body(h) != p) {
    fprintf(stderr, "GC_debug_%s called on pointer %p w/o debugging info\n",
            caller, p);
    return nullptr;
  }
  return h;
}

void* ReturnNull(const char* fn, size_t n, const char* file, int line) {
  fprintf(stderr, "%s(%zu) returning NULL (%s:%d)\n", fn, n,
          file != nullptr ? file : "?", line);
  return nullptr;
}

// One debugging allocation: n bytes from alloc, annotated.
template <typename AllocFn>
void* DebugAlloc(AllocFn alloc, const char* fn, size_t n, const char* file,
                 int line) {
  void* p = n > SIZE_MAX - kExtraBytes - 8
                ? nullptr
                : alloc(RoundUpWord(n) + kExtraBytes);
  if (p == nullptr) return ReturnNull(fn, n, file, line);
  StartDebugging();
  return Annotate(p, n, file, line);
}

// The debugging finalizer's closure, the client data of the finalizer
// registered on the base.
struct Closure {
  GC_finalization_proc fn;
  void* client_data;
};

void GC_CALLBACK InvokeDebugFinalizer(void* base, void* data) {
  auto* c = static_cast<Closure*>(data);
  c->fn(Body(static_cast<DebugHeader*>(base)), c->client_data);
}

using RegisterFn = void (*)(void*, GC_finalization_proc, void*,
                            GC_finalization_proc*, void**);

// Registers fn on obj's base through reg (one of GC_register_finalizer*),
// with the out-parameters of the program's own view (its function and
// client data, not the closure's).
void RegisterDebugFinalizer(RegisterFn reg, const char* name, void* obj,
                            GC_finalization_proc fn, void* cd,
                            GC_finalization_proc* ofn, void** ocd) {
  void* base = GC_base(obj);
  if (base == nullptr) {
    // Not collected, so never finalized.
    if (ofn != nullptr) *ofn = nullptr;
    if (ocd != nullptr) *ocd = nullptr;
    return;
  }
  if (Body(static_cast<DebugHeader*>(base)) != obj) {
    fprintf(stderr, "%s called with non-base-pointer %p\n", name, obj);
  }
  GC_finalization_proc old_fn = nullptr;
  void* old_cd = nullptr;
  if (fn == nullptr) {
    reg(base, nullptr, nullptr, &old_fn, &old_cd);
  } else {
    auto* c = static_cast<Closure*>(GC_malloc(sizeof(Closure)));
    if (c == nullptr) return;  // out of memory: nothing changed
    c->fn = fn;
    c->client_data = cd;
    reg(base, InvokeDebugFinalizer, c, &old_fn, &old_cd);
  }
  if (old_fn != nullptr && old_fn != InvokeDebugFinalizer) {
    fprintf(stderr, "Debuggable object at %p had a non-debug finalizer\n", obj);
    old_fn = nullptr;
    old_cd = nullptr;
  } else if (old_fn != nullptr) {
    auto* old = static_cast<Closure*>(old_cd);
    old_fn = old->fn;
    old_cd = old->client_data;
  }
  if (ofn != nullptr) *ofn = old_fn;
  if (ocd != nullptr) *ocd = old_cd;
}

// Clobbered addresses the last collections found (kMaxSmashed at most: the
// first kMaxSmashed - 1 and the last, as Boehm keeps them). Written in the
// pause by the collector's thread; read and cleared by PrintSmashed under
// g_print_mu, which no thread holds while stopped in a pause only if it
// is printing: the pause never takes it.
constexpr int kMaxSmashed = 20;
std::atomic<uintptr_t> g_smashed[kMaxSmashed];
std::atomic<int> g_n_smashed{0};
std::mutex g_print_mu;

void AddSmashed(const void* at) {
  const int i = g_n_smashed.load(std::memory_order_relaxed);
  g_smashed[i].store(reinterpret_cast<uintptr_t>(at),
                     std::memory_order_relaxed);
  if (i < kMaxSmashed - 1) {
    g_n_smashed.store(i + 1, std::memory_order_release);
  }
}

// Whether the object h (of `whole` bytes) carries debugging information
// and is not deallocated (Boehm's GC_has_other_debug_info > 0).
bool HasDebugInfo(DebugHeader* h, size_t whole) {
  if (whole < kExtraBytes) return false;
  const char* body = Body(h);
  if (h->start_guard != StartGuardOf(body) &&
      *LastWord(h, whole) != EndGuardOf(body)) {
    return false;
  }
  return h->size != whole;
}

}  // namespace

namespace gcheap::boehm {

// Whether a stopped thread is writing h's header (the world is stopped and
// the caller holds g.threads_mu). No allocation: this runs in the pause.
bool BeingAnnotated(const void* h) {
  for (const BThread* t : *g.threads) {
    if (t->debug_annotating == h) return true;
  }
  return false;
}

// Marked objects only: one allocated black by a mostly-concurrent mark is
// checked by the next collection (a slot the mark counts as black may
// still be free, holding a dead object's stale header). ForEachSpan takes
// the heap lock, which no stopped thread holds: the threads stopped by
// signals were outside gcheap, those inside it are parked at gcheap's
// safepoints (no lock held there), and a thread inside gcheap that counts
// as blocked is not stopped and releases it.
void CheckDebugObjects() {
  if (!g_debugging_started.load(std::memory_order_relaxed)) return;
  const int before = g_n_smashed.load(std::memory_order_relaxed);
  g.heap->heap.ForEachSpan([&](const gcheap::MSpan* s) {
    if (s->elemsize < kExtraBytes) return;
    for (size_t i = 0; i < s->nelems; i++) {
      if (!s->IsMarked(i)) continue;
      auto* h = reinterpret_cast<DebugHeader*>(s->start + i * s->elemsize);
      if (!HasDebugInfo(h, s->elemsize) || BeingAnnotated(h)) continue;
      if (const void* at = Clobbered(h, s->elemsize)) AddSmashed(at);
    }
  });
  if (g_n_smashed.load(std::memory_order_relaxed) != before) {
    g.fin_ready.store(true, std::memory_order_relaxed);
  }
}

void PrintSmashed() {
  if (g_n_smashed.load(std::memory_order_acquire) == 0) return;
  std::lock_guard<std::mutex> l(g_print_mu);
  const int n = g_n_smashed.exchange(0, std::memory_order_acquire);
  if (n == 0) return;
  fprintf(stderr, "GC_check_heap_block: found %d smashed heap objects:\n", n);
  for (int i = 0; i < n; i++) {
    const auto at = reinterpret_cast<void*>(
        g_smashed[i].exchange(0, std::memory_order_relaxed));
    auto* h = static_cast<DebugHeader*>(GC_base(at));
    if (h != nullptr) ReportSmashed("", h, at);
  }
}

}  // namespace gcheap::boehm

extern "C" {

void* GC_debug_malloc(size_t n, const char* s, int i) {
  return DebugAlloc(GC_malloc, "GC_debug_malloc", n, s, i);
}
void* GC_debug_malloc_atomic(size_t n, const char* s, int i) {
  return DebugAlloc(GC_malloc_atomic, "GC_debug_malloc_atomic", n, s, i);
}
void* GC_debug_malloc_uncollectable(size_t n, const char* s, int i) {
  return DebugAlloc(GC_malloc_uncollectable, "GC_debug_malloc_uncollectable", n,
                    s, i);
}
void* GC_debug_malloc_atomic_uncollectable(size_t n, const char* s, int i) {
  return DebugAlloc(GC_malloc_atomic_uncollectable,
                    "GC_debug_malloc_atomic_uncollectable", n, s, i);
}
void* GC_debug_malloc_ignore_off_page(size_t n, const char* s, int i) {
  return DebugAlloc(GC_malloc_ignore_off_page,
                    "GC_debug_malloc_ignore_off_page", n, s, i);
}
void* GC_debug_malloc_atomic_ignore_off_page(size_t n, const char* s, int i) {
  return DebugAlloc(GC_malloc_atomic_ignore_off_page,
                    "GC_debug_malloc_atomic_ignore_off_page", n, s, i);
}
void* GC_debug_malloc_stubborn(size_t n, const char* s, int i) {
  return GC_debug_malloc(n, s, i);
}
void GC_debug_change_stubborn(const void*) {}
void GC_debug_end_stubborn_change(const void*) {}
void GC_debug_ptr_store_and_dirty(void* p, const void* q) {
  GC_ptr_store_and_dirty(p, q);
}

char* GC_debug_strdup(const char* str, const char* s, int i) {
  if (str == nullptr) return nullptr;
  const size_t n = strlen(str) + 1;
  auto* copy = static_cast<char*>(GC_debug_malloc_atomic(n, s, i));
  if (copy != nullptr) memcpy(copy, str, n);
  return copy;
}
char* GC_debug_strndup(const char* str, size_t max, const char* s, int i) {
  if (str == nullptr) return nullptr;
  const size_t n = strnlen(str, max);
  auto* copy = static_cast<char*>(GC_debug_malloc_atomic(n + 1, s, i));
  if (copy != nullptr) {
    memcpy(copy, str, n);
    copy[n] = '\0';
  }
  return copy;
}

void GC_debug_free(void* p) {
  if (p == nullptr) return;
  DebugHeader* h = HeaderOf(p, "free", "Invalid pointer passed to free()");
  bool atomic = false;
  bool uncollectable = false;
  gcheap::boehm::ObjectKind(p, &atomic, &uncollectable);
  if (h != nullptr) {
    if (const void* at = Clobbered(h, GC_size(h))) {
      if (h->size == GC_size(h)) {
        ReportSmashed(
            "GC_debug_free: found previously deallocated (?) object at", h, at);
        return;  // a second free: ignored
      }
      ReportSmashed("GC_debug_free: found smashed location at", h, at);
    }
    h->size = GC_size(h);  // deallocated
  }
  void* base = GC_base(p);
  if (GC_find_leak || uncollectable) {
    GC_free(base);
    return;
  }
  // Collectable: the body (or, for a pointer without debugging info, the
  // object from p on) reads as the marker until the collector reclaims it.
  auto* w = static_cast<uintptr_t*>(p);
  auto* end = reinterpret_cast<uintptr_t*>(static_cast<char*>(base) +
                                           (GC_size(base) & ~size_t{7}));
  if (h != nullptr) --end;  // the last word keeps the end guard
  for (; w < end; w++) *w = kFreedMarker;
}

void* GC_debug_realloc(void* p, size_t n, const char* s, int i) {
  if (p == nullptr) return GC_debug_malloc(n, s, i);
  DebugHeader* h =
      HeaderOf(p, "realloc", "Invalid pointer passed to realloc()");
  if (h == nullptr) return GC_realloc(p, n);
  if (const void* at = Clobbered(h, GC_size(h))) {
    ReportSmashed("GC_debug_realloc: found smashed location at", h, at);
  }
  bool atomic = false;
  bool uncollectable = false;
  gcheap::boehm::ObjectKind(p, &atomic, &uncollectable);
  void* q;
  if (uncollectable) {
    q = atomic ? GC_debug_malloc_atomic_uncollectable(n, s, i)
               : GC_debug_malloc_uncollectable(n, s, i);
  } else {
    q = atomic ? GC_debug_malloc_atomic(n, s, i) : GC_debug_malloc(n, s, i);
  }
  if (q == nullptr) return nullptr;
  const size_t old =
      std::min<size_t>(h->size, GC_size(h) - kExtraBytes);  // if smashed
  memcpy(q, p, std::min(old, n));
  GC_debug_free(p);
  return q;
}

void* GC_debug_malloc_replacement(size_t n) {
  return GC_debug_malloc(n, "unknown", 0);
}
void* GC_debug_realloc_replacement(void* p, size_t n) {
  return GC_debug_realloc(p, n, "unknown", 0);
}

void GC_debug_register_displacement(size_t offset) {
  GC_register_displacement(offset);
  GC_register_displacement(sizeof(DebugHeader) + offset);
}

void GC_debug_register_finalizer(void* obj, GC_finalization_proc fn, void* cd,
                                 GC_finalization_proc* ofn, void** ocd) {
  RegisterDebugFinalizer(GC_register_finalizer, "GC_debug_register_finalizer",
                         obj, fn, cd, ofn, ocd);
}
void GC_debug_register_finalizer_ignore_self(void* obj, GC_finalization_proc fn,
                                             void* cd,
                                             GC_finalization_proc* ofn,
                                             void** ocd) {
  RegisterDebugFinalizer(GC_register_finalizer_ignore_self,
                         "GC_debug_register_finalizer_ignore_self", obj, fn, cd,
                         ofn, ocd);
}
void GC_debug_register_finalizer_no_order(void* obj, GC_finalization_proc fn,
                                          void* cd, GC_finalization_proc* ofn,
                                          void** ocd) {
  RegisterDebugFinalizer(GC_register_finalizer_no_order,
                         "GC_debug_register_finalizer_no_order", obj, fn, cd,
                         ofn, ocd);
}
void GC_debug_register_finalizer_unreachable(void* obj, GC_finalization_proc fn,
                                             void* cd,
                                             GC_finalization_proc* ofn,
                                             void** ocd) {
  RegisterDebugFinalizer(GC_register_finalizer_unreachable,
                         "GC_debug_register_finalizer_unreachable", obj, fn, cd,
                         ofn, ocd);
}

}  // extern "C"
