// api.cc: the C API (runtime/gc.h) over gc_heap and gc_mutator.
#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "heap/error.h"
#include "runtime/api_internal.h"
#include "runtime/gc.h"
#include "runtime/process.h"
#include "runtime/runtime.h"

using gcheap::CheckHeap;
using gcheap::CheckMutator;
using gcheap::GcReason;
using gcheap::IsLayoutSize;
using gcheap::kMinStructSize;
using gcheap::Misuse;
using gcheap::SetLastError;

namespace gcheap {

#if defined(GCHEAP_DEBUG) && GCHEAP_DEBUG
// A barrier's debug checks: m is the calling thread's mutator, obj an
// object of m's heap, the n slots from `slot` lie inside it, and none of
// the n values to be stored points into another heap (which neither heap
// would trace: its target could be freed while this slot refers to it).
void CheckBarrier(gc_mutator* m, const char* fn, const void* obj,
                  void* const* slot, void* const* values, size_t n) {
  CheckMutator(m, fn);
  gcheap::MHeap& heap = m->heap->heap;
  gcheap::ObjectRef r;
  if (!heap.FindObject(reinterpret_cast<uintptr_t>(obj), &r)) {
    Misuse(fn, "obj is not an object of this heap");
  }
  if (n == 0) return;
  const uintptr_t s = reinterpret_cast<uintptr_t>(slot);
  const size_t size =
      r.span->is_large() ? r.span->limit - r.span->start : r.span->elemsize;
  if (s < r.base || n > size / sizeof(void*) ||
      s + n * sizeof(void*) > r.base + size) {
    Misuse(fn, n == 1 ? "slot is not inside obj" : "slots are not inside obj");
  }
  for (size_t i = 0; i < n; i++) {
    void* v = __atomic_load_n(&values[i], __ATOMIC_RELAXED);
    const uintptr_t p =
        reinterpret_cast<uintptr_t>(v) & ~m->heap->config.tag_mask;
    const void* other;
    if (p < 4096 || heap.FindObject(p, &r) || !heap.InOtherHeap(p, &other)) {
      continue;
    }
    char msg[256];
    snprintf(msg, sizeof(msg),
             "storing %p, a pointer into another heap (%p), into slot %p of "
             "object %p of heap %p: a heap does not trace pointers into "
             "another",
             v, other, static_cast<const void*>(slot + i), obj,
             static_cast<const void*>(m->heap));
    Misuse(fn, msg);
  }
}
#endif

}  // namespace gcheap

static_assert(GC_MAX_ALLOC_BYTES == gcheap::kMaxAllocBytes,
              "gc.h and the allocator must agree on the largest request");

namespace {

// gc_config.min_heap_bytes' lowest accepted value: below it a heap would
// collect every few allocations.
constexpr size_t kMinHeapFloor = size_t{256} << 10;

#if defined(GCHEAP_DEBUG) && GCHEAP_DEBUG
using gcheap::CheckBarrier;
#endif
using gcheap::RecordStore;

// Parses "123", "64K", "512M", "2G". False if malformed.
bool ParseBytes(const char* s, size_t* out) {
  char* end = nullptr;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno != 0 || end == s) return false;
  unsigned long long mul = 1;
  if (*end == 'K' || *end == 'k')
    mul = 1ull << 10, end++;
  else if (*end == 'M' || *end == 'm')
    mul = 1ull << 20, end++;
  else if (*end == 'G' || *end == 'g')
    mul = 1ull << 30, end++;
  if (*end == 'B' || *end == 'b') end++;
  if (*end != '\0') return false;
  *out = static_cast<size_t>(v * mul);
  return true;
}

void EnvWarning(const char* var, const char* value) {
  fprintf(stderr, "gcheap: ignoring %s=%s (not understood)\n", var, value);
}

// An output struct's struct_size (versioned structs, gc.h): a layout size,
// else API misuse (an uninitialized struct).
template <typename T>
size_t CallerLayoutSize(const T* out, const char* fn, const char* type) {
  if (out == nullptr) Misuse(fn, "out is NULL");
  const size_t n = out->struct_size;
  if (!IsLayoutSize(n)) {
    char msg[160];
    snprintf(msg, sizeof(msg),
             "out->struct_size is %zu: set it to sizeof(%s) before the call", n,
             type);
    Misuse(fn, msg);
  }
  return n;
}

// Copies what the caller's layout (n bytes) holds of *full and sets its
// struct_size to the bytes filled; a newer layout keeps its extra bytes.
template <typename T>
void FillCallerLayout(T* caller, T* full, size_t n) {
  const size_t filled = std::min(n, sizeof(T));
  full->struct_size = filled;
  memcpy(caller, full, filled);
}

int StatusToInt(const gcheap::Status& st) {
  if (st.ok()) return 0;
  SetLastError("%s", st.message());
  return -1;
}

}  // namespace

extern "C" {

void gc_config_init(gc_config* cfg) {
  *cfg = gc_config{};
  cfg->struct_size = sizeof(gc_config);
  cfg->gc_percent = 100;
  cfg->stop_the_world = 0;  // concurrent marking
  cfg->finalizer_thread = 1;
  if (const char* v = getenv("GC_PERCENT")) {
    if (strcmp(v, "off") == 0) {
      cfg->gc_percent = -1;
    } else {
      char* end;
      long p = strtol(v, &end, 10);
      if (end != v && *end == '\0')
        cfg->gc_percent = static_cast<int>(p);
      else
        EnvWarning("GC_PERCENT", v);
    }
  }
  if (const char* v = getenv("GC_MEMORY_LIMIT")) {
    if (!ParseBytes(v, &cfg->memory_limit_bytes))
      EnvWarning("GC_MEMORY_LIMIT", v);
  }
  if (const char* v = getenv("GC_MAX_HEAP")) {
    if (!ParseBytes(v, &cfg->max_heap_bytes)) EnvWarning("GC_MAX_HEAP", v);
  }
  if (const char* v = getenv("GC_WORKERS")) cfg->gc_workers = atoi(v);
  if (const char* v = getenv("GCTRACE")) cfg->trace = atoi(v) != 0;
  if (const char* v = getenv("GC_VERIFY")) cfg->verify = atoi(v) != 0;
  if (const char* v = getenv("GC_STW")) cfg->stop_the_world = atoi(v) != 0;
  if (const char* v = getenv("GC_CONSERVATIVE_STACKS")) {
    cfg->conservative_stacks = atoi(v) != 0;
  }
  if (const char* v = getenv("GC_TRACE_FILE"); v != nullptr && *v != '\0') {
    cfg->trace_file = v;
  }
}

gc_heap* gc_heap_create(const gc_config* cfg) {
  gc_config c;
  if (cfg == nullptr) {
    gc_config_init(&c);
  } else {
    const size_t n = cfg->struct_size;
    if (n == 0) {
      SetLastError(
          "gc_heap_create: cfg->struct_size is 0: initialize the config with "
          "gc_config_init");
      return nullptr;
    }
    if (!IsLayoutSize(n) || n > sizeof(gc_config)) {
      SetLastError(
          "gc_heap_create: cfg->struct_size is %zu, which is no gc_config "
          "layout's (this library's is %zu bytes; an earlier layout is a "
          "multiple of 8 of at least %zu): an uninitialized config, or one "
          "from a newer gcheap",
          n, sizeof(gc_config), kMinStructSize);
      return nullptr;
    }
    // Fields the caller's layout lacks take gc_config_init's values.
    if (n < sizeof(gc_config)) gc_config_init(&c);
    memcpy(&c, cfg, n);
    c.struct_size = sizeof(gc_config);
  }
  if (c.gc_workers < 0 || c.gc_workers > 256) {
    SetLastError("gc_heap_create: gc_workers must be 0..256 (got %d)",
                 c.gc_workers);
    return nullptr;
  }
  if (c.max_heap_bytes != 0 && c.max_heap_bytes < (1u << 20)) {
    SetLastError(
        "gc_heap_create: max_heap_bytes %zu is below the 1 MiB minimum",
        c.max_heap_bytes);
    return nullptr;
  }
  if (c.min_heap_bytes != 0 && c.min_heap_bytes < kMinHeapFloor) {
    SetLastError(
        "gc_heap_create: min_heap_bytes %zu is below the %zu KiB minimum (0: "
        "the default, 4 MiB)",
        c.min_heap_bytes, kMinHeapFloor >> 10);
    return nullptr;
  }
  gc_heap* h = gcheap::NewHeap(c);
  if (h != nullptr && c.trace_file != nullptr) {
    std::string error;
    if (!h->observers.StartTrace(c.trace_file, &error)) {
      gcheap::DeleteHeap(h);
      SetLastError("gc_heap_create: trace_file: %s", error.c_str());
      return nullptr;
    }
    h->config.trace_file = nullptr;  // the caller's string is not kept
  }
  return h;
}

void gc_heap_destroy(gc_heap* heap) {
  if (heap == nullptr) return;
  CheckHeap(heap, "gc_heap_destroy");
  if (gcheap::ExitBegun()) {
    // Its threads may wait for a stop that never comes (process.h): free
    // nothing; the process is ending. Later use of it is misuse.
    heap->magic = 0;
    return;
  }
  heap->finalizer_thread.Stop();  // it is attached
  if (size_t n = heap->attached_count(); n != 0) {
    char msg[96];
    snprintf(msg, sizeof(msg), "%zu mutator(s) still attached", n);
    Misuse("gc_heap_destroy", msg);
  }
  gcheap::DeleteHeap(heap);
}

gc_mutator* gc_thread_attach(gc_heap* heap) {
  CheckHeap(heap, "gc_thread_attach");
  return heap->Attach();
}

void gc_thread_detach(gc_mutator* m) {
  CheckMutator(m, "gc_thread_detach");
  m->heap->Detach(m);
}

gc_mutator* gc_current_mutator(gc_heap* heap) {
  CheckHeap(heap, "gc_current_mutator");
  return gcheap::CurrentMutator(heap);
}

void gc_type_desc_init(gc_type_desc* desc) {
  *desc = gc_type_desc{};
  desc->struct_size = sizeof(gc_type_desc);
}

gc_type_id gc_register_type(gc_heap* heap, const gc_type_desc* desc) {
  CheckHeap(heap, "gc_register_type");
  gcheap::ForkGate::Pass pass(&heap->api_gate);
  if (desc == nullptr) {
    SetLastError("gc_register_type: desc is NULL");
    return 0;
  }
  // 0: this layout, zero-filled by an initializer (see gc.h); the layout
  // before weak slots ends at weak_bitmap.
  constexpr size_t kBeforeWeak = offsetof(gc_type_desc, weak_bitmap);
  if (desc->struct_size != 0 && desc->struct_size != sizeof(gc_type_desc) &&
      desc->struct_size != kBeforeWeak) {
    SetLastError(
        "gc_register_type: desc->struct_size is %zu, not sizeof(gc_type_desc) "
        "(%zu), an earlier layout's (%zu) or 0: an uninitialized description? "
        "(use gc_type_desc_init)",
        desc->struct_size, sizeof(gc_type_desc), kBeforeWeak);
    return 0;
  }
  // 0 reads every field, as a zero-filled initializer of this header has.
  const bool has_weak = desc->struct_size != kBeforeWeak;
  gcheap::TypeSpec spec;
  spec.name = desc->name;
  spec.size = desc->size;
  spec.ptrmap = desc->ptr_bitmap;
  spec.ptrmap_words = desc->ptr_bitmap_words;
  spec.elem_size = desc->elem_size;
  spec.elem_ptrmap = desc->elem_ptr_bitmap;
  spec.elem_ptrmap_words = desc->elem_ptr_bitmap_words;
  spec.trace = desc->trace;
  spec.trace_ctx = desc->trace_ctx;
  spec.user_data = desc->user_data;
  if (has_weak) {
    spec.weakmap = desc->weak_bitmap;
    spec.weakmap_words = desc->weak_bitmap_words;
    spec.weak_kind = desc->weak_kind;
  }
  gcheap::StatusOr<uint16_t> id = heap->types.Register(spec);
  if (!id.ok()) {
    SetLastError("gc_register_type: %s", id.status().message());
    return 0;
  }
  return *id;
}

}  // extern "C"

// Helpers of gc_alloc. Outside the extern "C" block: an anonymous namespace
// inside it still gives them C linkage, i.e. global unprefixed symbols.
namespace {

// Slow part of allocation: the allocator failed (limit, OS). Collect and
// retry; then, while the embedder's out-of-memory handler asks for it,
// collect and retry again; then give up with the reason.
void* AllocRetry(gc_mutator* m, const gcheap::TypeInfo* t, uint16_t type,
                 size_t bytes) {
  for (;;) {
    m->heap->Collect(m, GcReason::kAllocFailure, /*finish_sweep=*/true);
    void* p = (t == nullptr || t->noscan) ? m->mcache->Alloc(bytes, true)
                                          : m->mcache->AllocTyped(bytes, type);
    if (p != nullptr) return p;
    {
      std::string why = gcheap::LastError();
      SetLastError("gc_alloc: %zu bytes: %s (after a collection)", bytes,
                   why.c_str());
    }
    // Nothing of this frame needs cleaning up here: the handler may
    // longjmp out (gc.h).
    if (!m->heap->observers.CallOomHandler(bytes)) return nullptr;
  }
}

inline void PollAtAlloc(gc_mutator* m) {
  if (m->poll.load(std::memory_order_relaxed) != 0) gc_safepoint_slow(m);
}

// After a successful allocation: a large one checks the GC trigger and
// charges its assist at the next safepoint, as a refill does (the mcache
// sets kPollRefill itself when it refills; it marks black in bulk).
inline void* AllocDone(gc_mutator* m, void* p, size_t bytes) {
  if (bytes > gcheap::kMaxSmallSize) m->poll.fetch_or(gcheap::kPollRefill);
  return p;
}

// gc_alloc's body, also gc_alloc_conservative's (fn names the caller in
// error messages).
void* AllocOfType(gc_mutator* m, gc_type_id type, size_t bytes,
                  const char* fn) {
  const gcheap::TypeInfo* t = m->heap->types.Get(type);
  if (t == nullptr) {
    SetLastError("%s: unknown type id %u", fn, type);
    return nullptr;
  }
  if (bytes < t->size) {
    SetLastError("%s: %zu bytes is smaller than type '%s' (%zu bytes)", fn,
                 bytes, t->name.c_str(), t->size);
    return nullptr;
  }
  if (bytes > GC_MAX_ALLOC_BYTES) {
    SetLastError(
        "%s: allocation size overflow: %zu bytes requested (the "
        "maximum, GC_MAX_ALLOC_BYTES, is %zu)",
        fn, bytes, GC_MAX_ALLOC_BYTES);
    return nullptr;
  }
  // Poll before allocating: a collection here cannot free the new object.
  PollAtAlloc(m);
  // A typed object is at least 8-byte aligned: pointer-free types under 16
  // bytes would otherwise share a tiny block aligned only to their size
  // (a struct with a char tail can have an odd size).
  if (t->noscan && bytes < gcheap::kTinySize) bytes = (bytes + 7) & ~size_t{7};
  void* p = t->noscan
                ? m->mcache->Alloc(bytes, true)
                : m->mcache->AllocTyped(bytes, static_cast<uint16_t>(type));
  if (__builtin_expect(p == nullptr, 0)) {
    p = AllocRetry(m, t, static_cast<uint16_t>(type), bytes);
    if (p == nullptr) return nullptr;
  }
  return AllocDone(m, p, bytes);
}

}  // namespace

extern "C" {

int gc_version(void) { return GCHEAP_VERSION; }

const char* gc_version_string(void) { return GCHEAP_VERSION_STRING; }

// The names in parentheses: gc.h also defines them as macros (the inline
// paths).
void*(gc_alloc)(gc_mutator* m, gc_type_id type, size_t bytes) {
  DEBUG_CHECK_RUNNING(m, "gc_alloc");
  return AllocOfType(m, type, bytes, "gc_alloc");
}

void* gc_alloc_conservative(gc_mutator* m, size_t bytes) {
  DEBUG_CHECK_RUNNING(m, "gc_alloc_conservative");
  const gc_type_id type = m->heap->ConservativeType();
  if (type == 0) return nullptr;
  // Whole words: every word is a slot. (A size past the maximum is
  // reported by AllocOfType before rounding could wrap.)
  if (bytes <= GC_MAX_ALLOC_BYTES) bytes = (bytes + 7) & ~size_t{7};
  return AllocOfType(m, type, bytes, "gc_alloc_conservative");
}

void*(gc_alloc_noscan)(gc_mutator* m, size_t bytes) {
  DEBUG_CHECK_RUNNING(m, "gc_alloc_noscan");
  if (bytes > GC_MAX_ALLOC_BYTES) {
    SetLastError(
        "gc_alloc_noscan: allocation size overflow: %zu bytes requested (the "
        "maximum, GC_MAX_ALLOC_BYTES, is %zu)",
        bytes, GC_MAX_ALLOC_BYTES);
    return nullptr;
  }
  PollAtAlloc(m);
  void* p = m->mcache->Alloc(bytes, true);
  if (__builtin_expect(p == nullptr, 0)) {
    p = AllocRetry(m, nullptr, 0, bytes);
    if (p == nullptr) return nullptr;
  }
  return AllocDone(m, p, bytes);
}

const char* gc_last_error(void) { return gcheap::LastError(); }

void gc_collect(gc_mutator* m) {
  CheckMutator(m, "gc_collect");
  if constexpr (kDebugBuild) gcheap::CheckNotInHeapWalk("gc_collect");
  m->heap->Collect(m, GcReason::kExplicit, /*finish_sweep=*/true);
}

int gc_add_root(gc_heap* heap, void** slot) {
  CheckHeap(heap, "gc_add_root");
  gcheap::ForkGate::Pass pass(&heap->api_gate);
  return StatusToInt(heap->roots.AddSlot(slot));
}

int gc_remove_root(gc_heap* heap, void** slot) {
  CheckHeap(heap, "gc_remove_root");
  gcheap::ForkGate::Pass pass(&heap->api_gate);
  return StatusToInt(heap->roots.RemoveSlot(slot));
}

int gc_add_root_range(gc_heap* heap, void** start, size_t count) {
  CheckHeap(heap, "gc_add_root_range");
  gcheap::ForkGate::Pass pass(&heap->api_gate);
  return StatusToInt(heap->roots.AddRange(start, count));
}

int gc_remove_root_range(gc_heap* heap, void** start, size_t count) {
  CheckHeap(heap, "gc_remove_root_range");
  gcheap::ForkGate::Pass pass(&heap->api_gate);
  return StatusToInt(heap->roots.RemoveRange(start, count));
}

int gc_add_root_scanner(gc_heap* heap, gc_root_scanner_fn fn, void* data) {
  CheckHeap(heap, "gc_add_root_scanner");
  gcheap::ForkGate::Pass pass(&heap->api_gate);
  return StatusToInt(heap->roots.AddScanner(
      reinterpret_cast<gcheap::RootScannerFn>(fn), data));
}

int gc_remove_root_scanner(gc_heap* heap, gc_root_scanner_fn fn, void* data) {
  CheckHeap(heap, "gc_remove_root_scanner");
  gcheap::ForkGate::Pass pass(&heap->api_gate);
  return StatusToInt(heap->roots.RemoveScanner(
      reinterpret_cast<gcheap::RootScannerFn>(fn), data));
}

// A mutator's scanners are its own thread's to change; the collector reads
// them only while that thread cannot (runtime/thread_roots.h).
int gc_add_mutator_root_scanner(gc_mutator* m, gc_root_scanner_fn fn,
                                void* data) {
  CheckMutator(m, "gc_add_mutator_root_scanner");
  if (fn == nullptr) {
    SetLastError("gc_add_mutator_root_scanner: the scanner is NULL");
    return -1;
  }
  m->roots.scanners.push_back(
      {reinterpret_cast<gcheap::RootScannerFn>(fn), data});
  return 0;
}

int gc_remove_mutator_root_scanner(gc_mutator* m, gc_root_scanner_fn fn,
                                   void* data) {
  CheckMutator(m, "gc_remove_mutator_root_scanner");
  auto& v = m->roots.scanners;
  const auto f = reinterpret_cast<gcheap::RootScannerFn>(fn);
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (it->fn == f && it->data == data) {
      v.erase(it);
      return 0;
    }
  }
  SetLastError(
      "gc_remove_mutator_root_scanner: the scanner is not registered with "
      "this mutator");
  return -1;
}

int gc_add_conservative_root_range(gc_heap* heap, const void* start,
                                   size_t bytes) {
  CheckHeap(heap, "gc_add_conservative_root_range");
  gcheap::ForkGate::Pass pass(&heap->api_gate);
  return StatusToInt(heap->roots.AddConservativeRange(start, bytes));
}

int gc_remove_conservative_root_range(gc_heap* heap, const void* start,
                                      size_t bytes) {
  CheckHeap(heap, "gc_remove_conservative_root_range");
  gcheap::ForkGate::Pass pass(&heap->api_gate);
  return StatusToInt(heap->roots.RemoveConservativeRange(start, bytes));
}

int gc_register_displacement(gc_heap* heap, size_t offset) {
  CheckHeap(heap, "gc_register_displacement");
  gcheap::Displacements* d = heap->collector->displacements();
  if (d == nullptr) {
    SetLastError(
        "gc_register_displacement: the heap was created without "
        "gc_config.ambiguous_displacements (every interior pointer is "
        "recognized)");
    return -1;
  }
  if (offset >= gcheap::Displacements::kLimit) {
    SetLastError("gc_register_displacement: offset %zu is not below %zu",
                 offset, gcheap::Displacements::kLimit);
    return -1;
  }
  d->Add(offset);
  return 0;
}

void gc_write_barrier_slow(gc_mutator* m, void* obj, void** slot, void* value) {
#if defined(GCHEAP_DEBUG) && GCHEAP_DEBUG
  CheckBarrier(m, "gc_write_barrier", obj, slot, &value, 1);
#endif
  (void)obj;
  if (m->wb_enabled.load(std::memory_order_relaxed) != 0) {
    // Hybrid barrier: shade the value being overwritten (so nothing
    // reachable when marking began is lost) and the value being stored.
    RecordStore(m, __atomic_load_n(slot, __ATOMIC_RELAXED), value);
  }
  __atomic_store_n(slot, value, __ATOMIC_RELEASE);
}

int gc_write_barrier_cas_slow(gc_mutator* m, void* obj, void** slot,
                              void** expected, void* desired) {
#if defined(GCHEAP_DEBUG) && GCHEAP_DEBUG
  CheckBarrier(m, "gc_write_barrier_cas", obj, slot, &desired, 1);
#endif
  (void)obj;
  void* const old = *expected;
  const bool ok = __atomic_compare_exchange_n(
      slot, expected, desired, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
  // The barrier cannot have been switched in between: that takes a stop of
  // the world, and this thread is not at a safepoint.
  if (ok && m->wb_enabled.load(std::memory_order_relaxed) != 0) {
    RecordStore(m, old, desired);
  }
  return ok ? 1 : 0;
}

void* gc_write_barrier_exchange_slow(gc_mutator* m, void* obj, void** slot,
                                     void* value) {
#if defined(GCHEAP_DEBUG) && GCHEAP_DEBUG
  CheckBarrier(m, "gc_write_barrier_exchange", obj, slot, &value, 1);
#endif
  (void)obj;
  void* old = __atomic_exchange_n(slot, value, __ATOMIC_ACQ_REL);
  if (m->wb_enabled.load(std::memory_order_relaxed) != 0) {
    RecordStore(m, old, value);
  }
  return old;
}

void gc_write_barrier_copy_slow(gc_mutator* m, void* dst_obj, void** dst,
                                void* const* src, size_t n) {
#if defined(GCHEAP_DEBUG) && GCHEAP_DEBUG
  CheckBarrier(m, "gc_write_barrier_copy", dst_obj, dst, src, n);
#endif
  (void)dst_obj;
  if (m->wb_enabled.load(std::memory_order_relaxed) == 0) {
    gc_move_slots_(dst, src, n);
    return;
  }
  // Marking: word by word in memmove's order (a word of src is read before
  // the copy overwrites it), recording each overwritten and each stored
  // value, as n gc_write_barrier calls would.
  auto move = [&](size_t i) {
    void* v = __atomic_load_n(&src[i], __ATOMIC_ACQUIRE);
    RecordStore(m, __atomic_load_n(&dst[i], __ATOMIC_RELAXED), v);
    __atomic_store_n(&dst[i], v, __ATOMIC_RELEASE);
  };
  if (reinterpret_cast<uintptr_t>(dst) <= reinterpret_cast<uintptr_t>(src)) {
    for (size_t i = 0; i < n; i++) move(i);
  } else {
    for (size_t i = n; i-- > 0;) move(i);
  }
}

void gc_safepoint_slow(gc_mutator* m) {
  DEBUG_CHECK_RUNNING(m, "gc_safepoint");
  uint32_t poll = m->poll.load(std::memory_order_relaxed);
  if (poll & gcheap::kPollStop) m->heap->Park(m);
  if (poll & gcheap::kPollFlush) {
    // The ragged barrier: shade our own buffer, then acknowledge.
    m->heap->FlushWriteBarrierBuffer(m);
    m->poll.fetch_and(~gcheap::kPollFlush, std::memory_order_release);
  }
  if (poll & gcheap::kPollRefill) {
    m->poll.fetch_and(~gcheap::kPollRefill, std::memory_order_relaxed);
    gcheap::Collector* c = m->heap->collector.get();
    // What the mcache took since the last refill (a span's free slots, a
    // large object); only a concurrent mark charges it.
    const uint64_t taken = m->mcache->TakeAllocatedBytes();
    if (c->marking()) {
      // A concurrent cycle is marking: pay the assist for what was taken
      // (waiting for background credit when there is nothing to mark);
      // then if the heap already passed its hard goal, wait for the cycle
      // (counting as blocked); never on the thread that is ending the
      // process (runtime/process.h).
      c->ChargeAssist(&m->gcstate, taken);
      if (gcheap::IsExitingThread()) return;
      // Still in debt with nothing to mark: wait (blocked) for background
      // credit, then steal it (running), until paid or marking ends.
      while (c->InAssistDebt(&m->gcstate)) {
        m->heap->EnterBlocking(m);
        c->WaitForAssistCredit(&m->gcstate);
        m->heap->LeaveBlocking(m);
        c->Assist(&m->gcstate);
      }
      m->heap->EnterBlocking(m);
      c->WaitIfOverGoal();
      m->heap->LeaveBlocking(m);
    } else if (c->TriggerReached()) {
      m->heap->Collect(m, GcReason::kHeapGoal, /*finish_sweep=*/false,
                       c->cycles());
    }
  }
}

void gc_enter_blocking(gc_mutator* m) {
  DEBUG_CHECK_MUTATOR(m, "gc_enter_blocking");
#if defined(GCHEAP_DEBUG) && GCHEAP_DEBUG && defined(__x86_64__)
  const bool outermost = m->blocking_depth == 0;
#endif
  m->heap->EnterBlocking(m);
#if defined(GCHEAP_DEBUG) && GCHEAP_DEBUG && defined(__x86_64__)
  // The capture's window (gc/stack_scan.h) must reach our caller's frame:
  // the caller's registers were spilled below it, into frames that its
  // blocking calls overwrite. (Frame pointers: the caller's stack pointer
  // was this frame's address plus the saved frame pointer and the return
  // address.)
  if (outermost && m->heap->config.conservative_stacks != 0) {
    const gcheap::StackContext& c = m->roots.context;
    const uintptr_t caller_sp =
        reinterpret_cast<uintptr_t>(__builtin_frame_address(0)) +
        2 * sizeof(void*);
    GC_CHECK(caller_sp <= c.sp + c.window_words * sizeof(uintptr_t),
             "the stack capture's window does not reach the caller of "
             "gc_enter_blocking (StackContext::kWindowBytes is too small)");
  }
#endif
}

void gc_leave_blocking(gc_mutator* m) {
  DEBUG_CHECK_MUTATOR(m, "gc_leave_blocking");
  if (m->blocking_depth == 0) {
    Misuse("gc_leave_blocking",
           "no matching gc_enter_blocking (the thread is not inside a "
           "blocking bracket)");
  }
  m->heap->LeaveBlocking(m);
}

const uint32_t* gc_mutator_safepoint_flag_address(gc_mutator* m) {
  CheckMutator(m, "gc_mutator_safepoint_flag_address");
  return reinterpret_cast<const uint32_t*>(&m->poll);
}

const uint32_t* gc_mutator_barrier_flag_address(gc_mutator* m) {
  CheckMutator(m, "gc_mutator_barrier_flag_address");
  return reinterpret_cast<const uint32_t*>(&m->wb_enabled);
}

void gc_get_stats(gc_heap* heap, gc_stats* caller) {
  CheckHeap(heap, "gc_get_stats");
  const size_t n = CallerLayoutSize(caller, "gc_get_stats", "gc_stats");
  gcheap::ForkGate::Pass pass(&heap->api_gate);
  gc_stats full{};
  gc_stats* out = &full;
  gcheap::HeapStats hs = heap->heap.ReadStats();
  gcheap::CollectorStats cs = heap->collector->ReadStats();
  out->bytes_in_use = hs.heap_live_bytes;
  out->heap_bytes = hs.in_use_bytes;
  out->mapped_bytes = hs.mapped_bytes;
  out->released_bytes = hs.released_bytes;
  out->heap_goal = cs.heap_goal >= (~size_t{0} >> 1) ? 0 : cs.heap_goal;
  out->objects_allocated = hs.nmalloc;
  out->objects_freed = hs.nfree;
  out->live_objects = cs.live_objects;
  out->live_bytes = cs.live_bytes;
  out->cycles = cs.cycles;
  out->pause_total_ns = cs.pause_total_ns;
  out->pause_last_ns = cs.pause_last_ns;
  out->pause_max_ns = cs.pause_max_ns;
  static_assert(GC_PAUSE_BUCKETS == gcheap::kPauseBuckets);
  static_assert(GC_NUM_SIZE_CLASSES == gcheap::kNumSizeClasses);
  for (int i = 0; i < GC_PAUSE_BUCKETS; i++)
    out->pause_hist[i] = cs.pause_hist[i];
  out->stw_pauses = cs.stw_pauses;
  out->mark_ns_total = cs.mark_ns_total;
  out->assist_ns_total = cs.assist_ns_total;
  out->bg_mark_cpu_ns_total = cs.bg_mark_cpu_ns_total;
  out->cpu_limiter_engaged = cs.limiter_engaged;
  out->scan_bytes_total = cs.scan_bytes_total;
  {
    const size_t n = static_cast<size_t>(
        std::min<uint64_t>(cs.cycles, gcheap::CollectorStats::kRecentPauses));
    std::vector<uint64_t> recent(cs.recent_pauses, cs.recent_pauses + n);
    std::sort(recent.begin(), recent.end());
    auto rank = [&](double p) {
      return n == 0 ? 0
                    : recent[std::min(n - 1,
                                      static_cast<size_t>(p * (n - 1) + 0.5))];
    };
    out->pause_p50_ns = rank(0.50);
    out->pause_p99_ns = rank(0.99);
  }
  for (int c = 0; c < GC_NUM_SIZE_CLASSES; c++) {
    out->by_class[c].object_size = gcheap::kClassToSize[c];
    out->by_class[c].allocated = hs.by_class[c].nmalloc;
    out->by_class[c].freed = hs.by_class[c].nfree;
  }
  out->bytes_allocated = heap->heap.AllocatedBytes();
  out->release_failures = hs.release_failures;
  {
    gcheap::WeakProcessor& weak = heap->collector->weak();
    const gcheap::WeakCounts wc = weak.counts();
    out->weak_cleared = wc.cells + wc.slots;
    out->ephemerons_cleared = wc.ephemerons;
    out->ephemeron_wait_ops = weak.referents().wait_ops();
  }
  FillCallerLayout(caller, &full, n);
}

void gc_get_perf_counters(gc_heap* heap, gc_perf_counters* caller) {
  CheckHeap(heap, "gc_get_perf_counters");
  const size_t n =
      CallerLayoutSize(caller, "gc_get_perf_counters", "gc_perf_counters");
  gcheap::ForkGate::Pass pass(&heap->api_gate);
  const gcheap::HeapCounters h = heap->heap.ReadCounters();
  const gcheap::Collector::Counters c = heap->collector->ReadCounters();
  gc_perf_counters full{};
  full.spanset_ops = h.spanset_ops;
  full.spanset_contended = h.spanset_retries;
  full.heap_locks = h.heap_locks;
  full.heap_lock_waits = h.heap_lock_waits;
  full.sweep_lockers = h.sweep_lockers;
  full.refills = h.refills;
  full.refills_heap_lock = h.refills_heap_lock;
  full.refills_empty_span = h.refills_empty_span;
  full.heap_live_updates = h.heap_live_updates;
  full.large_allocs = h.large_allocs;
  full.marked_objects = heap->collector->ReadStats().marked_objects_total;
  full.mark_races = c.mark_races;
  full.pool_ops = c.pool_ops;
  full.pool_waits = c.pool_waits;
  full.pool_steals = c.pool_steals;
  FillCallerLayout(caller, &full, n);
}

void gc_set_cycle_hook(gc_heap* heap, gc_cycle_hook_fn fn, void* data) {
  CheckHeap(heap, "gc_set_cycle_hook");
  gcheap::ForkGate::Pass pass(&heap->api_gate);
  if (fn == nullptr) {
    heap->collector->SetCycleHook(nullptr);
    return;
  }
  heap->collector->SetCycleHook([fn, data](const gcheap::CycleInfo& c) {
    // No embedder callback once process exit has begun (process.h).
    if (gcheap::ExitBegun()) return;
    const gc_cycle_info i = gcheap::ToCycleInfo(c);
    fn(&i, data);
  });
}

}  // extern "C"
