// mark_procs.cc: Boehm's gc_mark.h object kinds and mark procedures
// (GC_new_free_list, GC_new_proc, GC_new_kind, GC_generic_malloc,
// GC_generic_malloc_many, GC_mark_and_push, GC_signal_mark_stack_overflow,
// the plausible-heap-address bounds) on gcheap's trace callbacks.
//
// Design:
//  - Boehm's built-in kinds keep their numbers (0 PTRFREE, 1 NORMAL,
//    2 UNCOLLECTABLE, 3 AUNCOLLECTABLE) and map to GC_malloc_atomic,
//    GC_malloc and the uncollectable allocators. A kind made by GC_new_kind
//    gets a number from kFirstKind on. Its descriptor template decides its
//    gcheap representation: a length descriptor with the object size added
//    is Boehm's NORMAL (gc_alloc_conservative), length 0 without it is
//    PTRFREE (gc_alloc_noscan), anything else (a mark procedure, a bitmap,
//    a per-object descriptor) is a gcheap type with a trace callback
//    (TraceKind) whose user_data is the kind.
//  - TraceKind interprets the descriptor as Boehm's marker does, on a
//    local mark stack of {start, descr} entries (the layout of Boehm's
//    struct GC_ms_entry) owned by the marking thread: a length range is
//    read word by word, a bitmap's set bits (msb first) name words, a
//    procedure is called as proc(addr, top, limit, env) and the entries it
//    pushes are interpreted in turn until the stack is empty. Every word
//    found goes to gcheap's visit function as a (copied) slot, where any
//    value that does not resolve to an object is ignored and an interior
//    pointer keeps its object: a superset of what Boehm retains, never
//    less (with GC_all_interior_pointers off too).
//  - GC_mark_and_push(obj, ...) called from a procedure visits obj at once
//    through the calling thread's current trace (thread-local MarkContext)
//    and returns the stack pointer unchanged; outside a trace it does
//    nothing (nothing is being marked).
//  - Overflow: GC_signal_mark_stack_overflow discards entries, as Boehm's
//    does (which then rescans the heap); here the object's trace is then
//    run again from its start with a stack twice as large (a procedure
//    only marks: running it again is harmless), up to kMaxStack entries.
//  - Mostly-concurrent marking (on request) refuses such a kind with a
//    message: its final pause rescans dirty heap pages, and a procedure
//    may read memory outside the heap whose writes nothing records.
//  - GC_least_plausible_heap_addr / GC_greatest_plausible_heap_addr span
//    the whole address space above the first page: GC_MARK_AND_PUSH calls
//    GC_mark_and_push for every candidate, which checks it (a wide range is
//    safe, and gcheap's arenas may be anywhere).
// Invariants: kinds and procedures are only appended (under g_mu; readers
// index published entries, counts are release/acquire); a MarkContext is
// live only while its TraceKind call runs on its thread.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <atomic>
#include <mutex>
#include <vector>

#define GC_THREADS 1
#define GC_NO_THREAD_REDIRECTS 1
#include <gc/gc.h>
#include <gc/gc_mark.h>

#include "heap/mheap.h"
#include "heap/mspan.h"
#include "runtime/boehm/boehm_internal.h"
#include "runtime/runtime.h"

extern "C" {
void* GC_least_plausible_heap_addr = reinterpret_cast<void*>(4096);
void* GC_greatest_plausible_heap_addr = reinterpret_cast<void*>(~uintptr_t{0});
}

namespace {

using gcheap::boehm::g;
using gcheap::boehm::RunningBracket;

// Boehm's struct GC_ms_entry (gc_pmark.h): the start and the descriptor.
struct Entry {
  void* start;
  GC_word descr;
};

constexpr unsigned kPtrFree = 0, kNormal = 1, kUncollectable = 2,
                   kAtomicUncollectable = 3;
constexpr unsigned kFirstKind = 8;
constexpr unsigned kMaxKinds = 64;
constexpr size_t kInitialStack = 1024;
constexpr size_t kMaxStack = size_t{1} << 24;

enum class Rep { kNoscan, kConservative, kTraced };

struct KindRec {
  void** free_list;  // GC_new_kind's argument, kept as Boehm keeps it
  GC_word descr;     // the template
  bool add_size;
  Rep rep;
  gc_type_id type;  // kTraced
};

std::mutex g_mu;
GC_mark_proc g_procs[GC_MAX_MARK_PROCS];
// Boehm reserves the first GC_RESERVED_MARK_PROCS indices (gcj's).
std::atomic<unsigned> g_nprocs{GC_RESERVED_MARK_PROCS};
KindRec g_kinds[kMaxKinds];
std::atomic<unsigned> g_nkinds{0};

// The trace running on this thread (TraceKind), for GC_mark_and_push.
struct MarkContext {
  gc_visit_fn visit;
  void* visit_ctx;
  std::vector<Entry>* stack;
  bool overflow;
};
thread_local MarkContext* tls_ctx = nullptr;
thread_local std::vector<Entry>* tls_stack = nullptr;

void VisitWord(MarkContext* c, GC_word w) {
  void* v = reinterpret_cast<void*>(w);
  c->visit(&v, c->visit_ctx);
}

GC_word LoadWord(const void* p) {
  return __atomic_load_n(static_cast<const GC_word*>(p), __ATOMIC_RELAXED);
}

// Interprets one descriptor for the memory at start; a procedure pushes
// above top (index of the last entry). Returns the new top.
size_t Interpret(MarkContext* c, void* start, GC_word descr, size_t top) {
  for (int depth = 0;; depth++) {
    switch (descr & GC_DS_TAGS) {
      case GC_DS_LENGTH: {
        auto* p = static_cast<char*>(start);
        for (size_t off = 0; off + sizeof(GC_word) <= descr;
             off += sizeof(GC_word)) {
          VisitWord(c, LoadWord(p + off));
        }
        return top;
      }
      case GC_DS_BITMAP: {
        auto* p = static_cast<GC_word*>(start);
        for (GC_word bits = descr & ~GC_word{GC_DS_TAGS}; bits != 0;
             bits <<= 1, p++) {
          if (static_cast<GC_signed_word>(bits) < 0) VisitWord(c, LoadWord(p));
        }
        return top;
      }
      case GC_DS_PROC: {
        const unsigned i = (descr >> GC_DS_TAG_BITS) & (GC_MAX_MARK_PROCS - 1);
        if (i >= g_nprocs.load(std::memory_order_acquire) ||
            g_procs[i] == nullptr) {
          fprintf(stderr,
                  "gcheap libgc: mark descriptor names mark procedure %u, "
                  "which GC_new_proc never returned\n",
                  i);
          abort();
        }
        const GC_word env = descr >> (GC_DS_TAG_BITS + GC_LOG_MAX_MARK_PROCS);
        Entry* base = c->stack->data();
        Entry* limit = base + c->stack->size();
        auto* r = reinterpret_cast<Entry*>(
            g_procs[i](static_cast<GC_word*>(start),
                       reinterpret_cast<GC_ms_entry*>(base + top),
                       reinterpret_cast<GC_ms_entry*>(limit), env));
        if (r < base || r >= limit) {
          fprintf(stderr,
                  "gcheap libgc: mark procedure %u returned a mark stack "
                  "pointer outside [stack, limit) (%p, [%p, %p), pushed "
                  "from %p)\n",
                  i, static_cast<void*>(r), static_cast<void*>(base),
                  static_cast<void*>(limit), static_cast<void*>(base + top));
          abort();
        }
        return static_cast<size_t>(r - base);
      }
      default: {  // GC_DS_PER_OBJECT
        const GC_word off = descr & ~GC_word{GC_DS_TAGS};
        if (static_cast<GC_signed_word>(descr) >= 0) {
          descr = LoadWord(static_cast<char*>(start) + off);
        } else {
          auto* type = reinterpret_cast<char*>(LoadWord(start));
          if (type == nullptr) return top;
          descr = LoadWord(type - (static_cast<GC_signed_word>(descr) +
                                   (GC_INDIR_PER_OBJ_BIAS - GC_DS_PER_OBJECT)));
        }
        if (descr == 0) return top;
        if (depth > 0 && (descr & GC_DS_TAGS) == GC_DS_PER_OBJECT) {
          return top;  // Boehm does not chain per-object descriptors
        }
        continue;
      }
    }
  }
}

// The trace callback of a kind with a mark procedure, a bitmap or a
// per-object descriptor.
void TraceKind(void* obj, gc_visit_fn visit, void* visit_ctx, void* user_data) {
  const KindRec* k = static_cast<const KindRec*>(user_data);
  GC_word descr = k->descr;
  if (k->add_size) {
    gcheap::ObjectRef r;
    if (!g.heap->heap.FindObject(reinterpret_cast<uintptr_t>(obj), &r)) return;
    descr += r.span->elemsize;
  }
  if (tls_stack == nullptr) {
    tls_stack = new std::vector<Entry>(kInitialStack);  // the thread's own
  }
  MarkContext c{visit, visit_ctx, tls_stack, false};
  MarkContext* const outer = tls_ctx;
  tls_ctx = &c;
  for (;;) {
    c.overflow = false;
    size_t top = Interpret(&c, obj, descr, 0);
    while (top > 0) {
      const Entry e = (*c.stack)[top];
      top = Interpret(&c, e.start, e.descr, top - 1);
    }
    if (!c.overflow) break;
    if (c.stack->size() >= kMaxStack) {
      fprintf(stderr, "gcheap libgc: mark stack of %zu entries overflowed\n",
              c.stack->size());
      abort();
    }
    c.stack->resize(c.stack->size() * 2);
  }
  tls_ctx = outer;
}

// The allocation of one object of a kind, `bytes` already padded.
void* AllocKind(size_t bytes, unsigned kind) {
  gcheap::boehm::EnsureInit();
  if (bytes > GC_MAX_ALLOC_BYTES) return GC_get_oom_fn()(bytes);
  if (bytes < 16) bytes = 16;
  const unsigned n = g_nkinds.load(std::memory_order_acquire);
  const bool custom = kind >= kFirstKind && kind - kFirstKind < n;
  const Rep rep = custom             ? g_kinds[kind - kFirstKind].rep
                  : kind == kPtrFree ? Rep::kNoscan
                                     : Rep::kConservative;
  void* p;
  {
    RunningBracket b;
    switch (rep) {
      case Rep::kNoscan:
        p = gc_alloc_noscan(b.m(), bytes);
        break;
      case Rep::kConservative:
        p = gc_alloc_conservative(b.m(), bytes);
        break;
      default:
        p = gc_alloc(b.m(), g_kinds[kind - kFirstKind].type, bytes);
        break;
    }
  }
  gcheap::boehm::AfterCollectionPoint(false);
  return p != nullptr ? p : GC_get_oom_fn()(bytes);
}

void CheckKind(int kind, const char* fn) {
  const unsigned n = g_nkinds.load(std::memory_order_acquire);
  const auto k = static_cast<unsigned>(kind);
  if (kind < 0 || (k > kAtomicUncollectable && k < kFirstKind) ||
      k >= kFirstKind + n) {
    fprintf(stderr, "gcheap libgc: %s: no object kind %d\n", fn, kind);
    abort();
  }
}

}  // namespace

namespace gcheap::boehm {
bool InMarkProcedure() { return tls_ctx != nullptr; }
}  // namespace gcheap::boehm

extern "C" {

void** GC_new_free_list_inner(void) {
  // Boehm's array of free lists, one per granule count (MAXOBJGRANULES + 1
  // entries). gcheap never uses it; it lives as long as the kind.
  return static_cast<void**>(calloc(129, sizeof(void*)));
}
void** GC_new_free_list(void) { return GC_new_free_list_inner(); }

unsigned GC_new_proc_inner(GC_mark_proc proc) {
  const unsigned n = g_nprocs.load(std::memory_order_relaxed);
  if (n >= GC_MAX_MARK_PROCS) {
    fprintf(stderr, "gcheap libgc: GC_new_proc: more than %d procedures\n",
            GC_MAX_MARK_PROCS);
    abort();
  }
  g_procs[n] = proc;
  g_nprocs.store(n + 1, std::memory_order_release);
  return n;
}
unsigned GC_new_proc(GC_mark_proc proc) {
  std::lock_guard<std::mutex> l(g_mu);
  return GC_new_proc_inner(proc);
}

unsigned GC_new_kind_inner(void** free_list, GC_word descr, int add_size,
                           int /*clear: gcheap zeroes every object*/) {
  gcheap::boehm::EnsureInit();
  const unsigned n = g_nkinds.load(std::memory_order_relaxed);
  if (n >= kMaxKinds || free_list == nullptr) {
    fprintf(stderr, "gcheap libgc: GC_new_kind: %s\n",
            free_list == nullptr ? "no free list" : "too many kinds");
    abort();
  }
  KindRec* k = &g_kinds[n];
  k->free_list = free_list;
  k->descr = descr;
  k->add_size = add_size != 0;
  k->type = 0;
  if ((descr & GC_DS_TAGS) == GC_DS_LENGTH && k->add_size && descr == 0) {
    k->rep = Rep::kConservative;  // Boehm's NORMAL
  } else if ((descr & GC_DS_TAGS) == GC_DS_LENGTH && !k->add_size &&
             descr == 0) {
    k->rep = Rep::kNoscan;  // PTRFREE
  } else {
    if (strcmp(gcheap::boehm::MarkingModeName(), "mostly-concurrent") == 0) {
      // The final pause rescans dirty heap pages only; a procedure may
      // read memory outside the heap (guile's VM stacks), whose writes
      // during the concurrent mark nothing records.
      fprintf(stderr,
              "gcheap libgc: GC_new_kind: a kind with a mark procedure, "
              "bitmap or per-object descriptor needs stop-the-world "
              "marking (unset GC_GCHEAP_DIRTY_PAGES)\n");
      abort();
    }
    k->rep = Rep::kTraced;
    gc_type_desc d;
    gc_type_desc_init(&d);
    d.name = "GC_new_kind";
    d.size = 16;
    d.trace_ctx = &TraceKind;
    d.user_data = k;
    {
      RunningBracket b;
      k->type = gc_register_type(g.heap, &d);
    }
    if (k->type == 0) {
      fprintf(stderr, "gcheap libgc: GC_new_kind: %s\n", gc_last_error());
      abort();
    }
  }
  g_nkinds.store(n + 1, std::memory_order_release);
  return kFirstKind + n;
}
unsigned GC_new_kind(void** free_list, GC_word descr, int add_size, int clear) {
  std::lock_guard<std::mutex> l(g_mu);
  return GC_new_kind_inner(free_list, descr, add_size, clear);
}

void* GC_generic_malloc(size_t lb, int kind) {
  CheckKind(kind, "GC_generic_malloc");
  switch (kind) {
    case kPtrFree:
      return GC_malloc_atomic(lb);
    case kNormal:
      return GC_malloc(lb);
    case kUncollectable:
      return GC_malloc_uncollectable(lb);
    case kAtomicUncollectable:
      return GC_malloc_atomic_uncollectable(lb);
    default:
      return AllocKind(lb + g.pad, static_cast<unsigned>(kind));
  }
}
void* GC_generic_malloc_ignore_off_page(size_t lb, int kind) {
  return GC_generic_malloc(lb, kind);
}
void* GC_generic_or_special_malloc(size_t lb, int kind) {
  return GC_generic_malloc(lb, kind);
}

// Boehm's contract: lb already holds the extra byte (GC_malloc_many adds
// it); the objects are linked through their first word, the rest zero.
void GC_generic_malloc_many(size_t lb, int kind, void** result) {
  CheckKind(kind, "GC_generic_malloc_many");
  if (kind == kUncollectable || kind == kAtomicUncollectable) {
    void* p = GC_generic_malloc(lb, kind);
    *result = p;
    return;
  }
  const size_t each = lb < sizeof(void*) ? sizeof(void*) : lb;
  size_t count = 4096 / each;
  if (count == 0) count = 1;
  if (count > 256) count = 256;
  void* head = nullptr;
  for (size_t i = 0; i < count; i++) {
    void* p = AllocKind(each, static_cast<unsigned>(kind));
    if (p == nullptr) break;
    *static_cast<void**>(p) = head;
    head = p;
  }
  *result = head;
}

GC_ms_entry* GC_mark_and_push(void* obj, GC_ms_entry* msp, GC_ms_entry*,
                              void**) {
  if (MarkContext* c = tls_ctx) {
    VisitWord(c, reinterpret_cast<GC_word>(obj));
  }
  return msp;
}

GC_ms_entry* GC_signal_mark_stack_overflow(GC_ms_entry* msp) {
  MarkContext* c = tls_ctx;
  if (c == nullptr) return msp;
  c->overflow = true;  // the trace is run again with a larger stack
  Entry* base = c->stack->data();
  auto* p = reinterpret_cast<Entry*>(msp);
  const size_t discard = c->stack->size() / 8;
  return reinterpret_cast<GC_ms_entry*>(
      p - base > static_cast<ptrdiff_t>(discard) ? p - discard : base);
}

}  // extern "C"
