// boehm.cc: Boehm GC 8.2's allocation, roots, control and statistics API
// on one gcheap heap (docs/boehm.md maps each semantic onto gcheap).
//
//   GC_malloc               gc_alloc_conservative (every word ambiguous)
//   GC_malloc_atomic        gc_alloc_noscan (never scanned)
//   GC_malloc_uncollectable a conservative (or noscan) object kept in the
//                           uncollectable table, which the root scanner
//                           reports as precise roots until GC_free
//   GC_malloc_explicitly_typed  a gcheap type registered per descriptor
//                           (GC_make_descriptor: its pointer bitmap)
//   GC_free                 removes an uncollectable object from the table
//                           and clears the object; a conservative or
//                           atomic one goes on the calling thread's lists
//                           of freed objects, which its next allocations of
//                           that kind and size take from while no mark
//                           runs, until the next mark ends (Explicit frees,
//                           below); any other is reclaimed by the next
//                           collection (a large one's whole pages go back
//                           to the OS at once), its bytes credited against
//                           the trigger
// Pacing: Boehm 8.2's free-space divisor formula as gcheap's goal
// (PacedGoal, Collector::SetGoalFn).
// Sizes: request + g.pad (1 byte with GC_all_interior_pointers, Boehm's
// one-past-the-end rule), at least 16 bytes (never gcheap's tiny blocks).
// Roots: writable PT_LOAD segments of the main program (dl_iterate_phdr at
// init) and of every shared object loaded at each collection but this
// library (the dynamic linker's list, read in the pause; none with
// GC_no_dls), the
// GC_add_roots ranges, the stopped threads' stacks and registers
// (threads.cc), the uncollectable table and GC_push_other_roots.
// Every call into gcheap runs inside a RunningBracket (boehm_internal.h),
// but for the allocation fast path's bump of the thread's own window
// (AllocFast, below).
#include <dlfcn.h>
#include <link.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <vector>

#define GC_THREADS 1
#define GC_NO_THREAD_REDIRECTS 1
#include <gc/gc.h>
#include <gc/gc_mark.h>
#include <gc/gc_typed.h>
#include <gc/javaxfc.h>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "gc/conservative.h"
#include "gc/roots.h"
#include "heap/mheap.h"
#include "heap/mspan.h"
#include "runtime/boehm/boehm_internal.h"
#include "runtime/runtime.h"

namespace gcheap::boehm {
void InstallWorldHooks();
uintptr_t MainStackHi();
Globals g;
}  // namespace gcheap::boehm

using gcheap::boehm::g;
using gcheap::boehm::RunningBracket;

// ---- Boehm's exported variables -------------------------------------------
extern "C" {
int GC_all_interior_pointers = 1;
int GC_no_dls = 0;
int GC_java_finalization = 1;
int GC_finalize_on_demand = 0;
GC_word GC_free_space_divisor = 3;
GC_finalizer_notifier_proc GC_finalizer_notifier = nullptr;
int GC_dont_gc = 0;
int GC_dont_expand = 0;
int GC_full_freq = 19;
GC_word GC_non_gc_bytes = 0;
GC_word GC_max_retries = 0;
char* GC_stackbottom = nullptr;
int GC_dont_precollect = 0;
unsigned long GC_time_limit = GC_TIME_UNLIMITED;
int GC_find_leak = 0;
int GC_parallel = 0;
GC_word GC_gc_no = 0;
GC_on_heap_resize_proc GC_on_heap_resize = nullptr;
int GC_use_entire_heap = 0;
GC_push_other_roots_proc GC_push_other_roots = nullptr;
}

namespace {

void* DefaultOom(size_t) { return nullptr; }
void DefaultWarn(char* msg, GC_word arg) {
  if (getenv("GC_NO_WARN") == nullptr) fprintf(stderr, msg, arg);
}

std::atomic<GC_oom_func> g_oom{DefaultOom};
std::atomic<GC_warn_proc> g_warn{DefaultWarn};
std::atomic<GC_abort_func> g_abort{nullptr};

// Bytes GC_free cleared since the last collection.
std::atomic<size_t> g_expl_freed{0};
// gcheap's type of GC_malloc's objects (set at init; Explicit frees).
gc_type_id g_conservative_type = 0;

// Boehm's pacing inputs (PacedGoal): the static root ranges registered
// (the main program's data, GC_add_roots), and what the last root scan
// found in shared objects' data and in thread stacks.
std::atomic<size_t> g_static_root_bytes{0};
std::atomic<size_t> g_dl_root_bytes{0}, g_stack_bytes{0};

// Uncollectable objects: precise roots until GC_free.
// (The tables below are never destroyed: boehm_internal.h, NeverDestroyed.)
std::mutex g_uncoll_mu;
gcheap::boehm::NeverDestroyed<absl::flat_hash_set<void*>> g_uncollectable_;
auto& g_uncollectable = *g_uncollectable_;  // under g_uncoll_mu

// Typed descriptors: index + 1 into g_types (0 is "no descriptor"); a
// descriptor with no pointers has no gcheap type (kPointerFree).
std::mutex g_types_mu;
gcheap::boehm::NeverDestroyed<std::vector<gc_type_id>> g_types_;
auto& g_types = *g_types_;
constexpr gc_type_id kPointerFree = 0;  // never a registered type's id
gcheap::boehm::NeverDestroyed<
    absl::flat_hash_map<std::vector<uint64_t>, GC_descr>>
    g_descr_of_;
auto& g_descr_of = *g_descr_of_;
// The gcheap types GC_make_descriptor registered, one bit per type id (set
// before the descriptor is returned, so before any object of the type
// exists): the typed objects GC_free may list for reuse by
// GC_malloc_explicitly_typed (Explicit frees). Objects of the other
// non-conservative types (GC_new_kind's kinds, the layer's own records)
// are never taken from those lists, so they are not listed.
std::atomic<uint64_t> g_descr_types[65536 / 64];
bool IsDescriptorType(uint16_t type) {
  return (g_descr_types[type / 64].load(std::memory_order_relaxed) >>
          (type % 64)) &
         1;
}

// GC_PRINT_STATS.
bool g_print_stats = false;
FILE* g_log = stderr;
uint64_t g_avg_ms = 0;  // driver thread
std::atomic<uint64_t> g_cycles{0};
std::atomic<uint64_t> g_allocated_at_gc{0};  // AllocatedBytes() at the last

// GC_push_all and friends, valid while GC_push_other_roots runs.
gcheap::RootVisitor* g_push_visitor = nullptr;

// GC_set_on_collection_event and GC_set_start_callback. The notifier is
// called on the collector's driver thread, one event at a time, in Boehm's
// order: START, then the start callback, PRE_STOP_WORLD (gcheap's stop
// request: the listener below), POST_STOP_WORLD and MARK_START (the world
// hook once every Boehm thread is stopped), MARK_END and PRE_START_WORLD
// (the restarting hook: marking is complete), POST_START_WORLD,
// RECLAIM_START, RECLAIM_END and END (the listener, when the world was
// released; the sweep is lazy, as Boehm's). From PRE_STOP_WORLD to
// PRE_START_WORLD gcheap's world is stopped; around that, other threads
// may allocate (Boehm holds its lock; here only the driver calls). A
// mostly-concurrent cycle stops the world twice: each stop has its
// PRE/POST_STOP_WORLD and PRE/POST_START_WORLD, MARK_START comes in the
// first and MARK_END in the last, and RECLAIM_START to END follow the last.
// The gcheap listener is installed once, when the first notifier or start
// callback is set (or at initialization if one was set before), so
// programs without one pay nothing on gcheap's event bus.
std::atomic<GC_on_collection_event_proc> g_on_event{nullptr};
std::atomic<GC_start_callback_proc> g_start_callback{nullptr};
std::once_flag g_listener_once;

void OnStopRequested(const gc_event* e, void*) {
  if (e->count == 1) {  // the cycle's first pause
    gcheap::boehm::CollectionEvent(GC_EVENT_START);
    if (GC_start_callback_proc f = g_start_callback.load()) f();
  }
  gcheap::boehm::CollectionEvent(GC_EVENT_PRE_STOP_WORLD);
}

void OnMutatorsRestarted(const gc_event*, void*) {
  gcheap::boehm::CollectionEvent(GC_EVENT_POST_START_WORLD);
  // After a mostly-concurrent cycle's first pause the mark goes on.
  const gcheap::GcPhase p = g.heap->collector->phase();
  if (p != gcheap::GcPhase::kSweep && p != gcheap::GcPhase::kOff) return;
  gcheap::boehm::CollectionEvent(GC_EVENT_RECLAIM_START);
  gcheap::boehm::CollectionEvent(GC_EVENT_RECLAIM_END);
  gcheap::boehm::CollectionEvent(GC_EVENT_END);
}

// Needs the heap (initialized).
void InstallEventListener() {
  std::call_once(g_listener_once, [] {
    gc_event_listener l;
    memset(&l, 0, sizeof(l));
    l.struct_size = sizeof(l);
    l.stop_requested = OnStopRequested;
    l.mutators_restarted = OnMutatorsRestarted;
    RunningBracket b;
    GC_CHECK(gc_add_event_listener(g.heap, &l, nullptr) == 0,
             "the Boehm layer's event listener");
  });
}

void DoInit();

// GC_set_max_heap_size's value (0: none), kept for GC_init when set
// before it.
std::atomic<size_t> g_max_heap{0};
// gcheap's hard limit for Boehm's maximum heap size (0: none; at least
// gcheap's 1 MiB minimum).
size_t MaxHeapLimit(size_t max) {
  if (max == 0) return 0;
  return max < (size_t{1} << 20) ? size_t{1} << 20 : max;
}

// Boehm's requested heap size: GC_INITIAL_HEAP_SIZE plus every successful
// GC_expand_hp. The collector's trigger never lies below it.
std::atomic<size_t> g_requested_heap{0};
void RequestHeap(size_t bytes) {
  const size_t total = g_requested_heap.fetch_add(bytes) + bytes;
  g.heap->collector->RaiseMinHeap(total);
}

// This library's load bias (0 when linked statically into the program):
// its own data is gcheap's, from which no object is kept.
uintptr_t g_self_base = 0;

// The writable PT_LOAD segments (data, bss) of every shared object loaded
// now but this library, as ambiguous data words: the libraries loaded at
// initialization and those dlopen'ed later, as Boehm re-registers them at
// every collection. Called in the pause, so it takes no lock: it walks the
// dynamic linker's list (_r_debug.r_map, which the linker extends only
// with objects already mapped and unlinks before it unmaps one) instead of
// dl_iterate_phdr, whose loader lock a stopped thread may hold. A shared
// object's ELF header lies at its load bias (its first PT_LOAD starts at
// address 0); an object where it does not is skipped (none on Debian).
size_t ScanSharedObjects(gcheap::RootVisitor* v) {
  size_t bytes = 0;
  if (GC_no_dls) return bytes;
  for (const link_map* l = _r_debug.r_map; l != nullptr; l = l->l_next) {
    if (l->l_prev == nullptr || l->l_name == nullptr || l->l_name[0] == '\0') {
      continue;  // the main program: registered at initialization
    }
    if (l->l_addr == 0 || l->l_addr == g_self_base) continue;
    const auto* e = reinterpret_cast<const ElfW(Ehdr)*>(l->l_addr);
    if (memcmp(e->e_ident, ELFMAG, SELFMAG) != 0 ||
        e->e_phentsize != sizeof(ElfW(Phdr))) {
      continue;
    }
    const auto* ph =
        reinterpret_cast<const ElfW(Phdr)*>(l->l_addr + e->e_phoff);
    for (int i = 0; i < e->e_phnum; i++) {
      if (ph[i].p_type != PT_LOAD || (ph[i].p_flags & PF_W) == 0) continue;
      const char* lo = reinterpret_cast<const char*>(l->l_addr + ph[i].p_vaddr);
      v->Ambiguous(lo, lo + ph[i].p_memsz);
      bytes += ph[i].p_memsz;
    }
  }
  return bytes;
}

void RootScanner(gc_visit_fn visit, void* ctx, void*) {
  g_stack_bytes.store(gcheap::boehm::ScanThreadStacks(ctx),
                      std::memory_order_relaxed);
  g_dl_root_bytes.store(
      ScanSharedObjects(static_cast<gcheap::RootVisitor*>(ctx)),
      std::memory_order_relaxed);
  for (void* const& p : g_uncollectable) visit(const_cast<void**>(&p), ctx);
  if (GC_push_other_roots != nullptr) {
    g_push_visitor = static_cast<gcheap::RootVisitor*>(ctx);
    GC_push_other_roots();
    g_push_visitor = nullptr;
  }
}

// Boehm 8.2's pacing. A collection needs, first, an allocation budget
// since the last one (alloc.c, min_bytes_allocd):
//   M = (2 x pointer-containing live + pointer-free live / 4
//        + static roots + 2 x stacks) / GC_free_space_divisor
// and, second, a full heap: Boehm collects only when an allocation finds
// no free block (GC_collect_or_expand); when the heap is full before M was
// allocated, it grows the heap by heap / divisor, at least MINHINCR and at
// most MAXHINCR blocks (64 KiB, 8 MiB), instead. So the next collection
// comes when the heap, grown in those steps until it holds live + M, is
// full: in a growing program, well after M (w3m: 89 collections, where a
// goal of live + M alone made 124). g_boehm_heap models that heap size
// (bytes in use at which the next collection starts). It shrinks by what
// the live heap lost: Boehm would let a program whose live data dropped
// fill the freed space before collecting, but gcheap's freed space is not
// all reusable at once (partly filled spans of other size classes), and
// filling it grew w3m's peak RSS by 20 MiB. The divisor is read at every
// cycle's end (GC_set_free_space_divisor after initialization takes effect
// from the next collection, as in Boehm). The pointer-containing live
// bytes are the cycle's scan work (capped at the live bytes); the rest of
// the live heap is pointer-free. Runs in the mark-termination pause, one
// cycle at a time: g_boehm_heap and g_boehm_live are the driver's own.
//
// The model's heap is Boehm's whole heap, its own fragmentation inside it;
// gcheap's goal counts only the slots in use (heap_live), so the free slots
// of gcheap's partly filled spans would come on top of it. The goal is the
// model's heap less those free slots as the cycle found them (spans in use
// less heap_live, at mark termination; LessSpanSlack): the spans in use then
// peak near the model's heap, as Boehm's heap does. Stalin compiling boyer
// leaves most 48-byte spans nearly empty and goes on allocating 64-byte
// objects: 31 MiB of free slots at the peak, and a peak RSS 1.13x
// Boehm's before. The headroom over live never shrinks below half the
// model's, so heavy fragmentation costs collections, never a thrash.
//
// The floor under that goal (docs/decisions.md, "The Boehm layer's
// floor: 2 MiB while the heap stays small, 4 MiB after"):
// kSmallHeapFloor (the heap's min_heap_bytes, so also the first goal)
// while the heap has stayed small, that is while every collection so far
// found at most kSmallHeapLive live bytes and the model held no more than
// kSmallHeapFloor; gcheap's 4 MiB minimum goal from the first collection
// that found more, for good. That collection sets the next one where a
// first goal of 4 MiB would have come (after 4 MiB of allocation in all,
// if it started below that) and restarts the model there, as at
// initialization: a program that outgrows the small heap at once
// (Stalin's compiler; tree_bench's gcbench, binarytrees, mtgcbench)
// then paces from its second collection as it did from its first with a
// 4 MiB floor, one collection of a 2 MiB heap more.
constexpr size_t kMinHeapIncrement = size_t{64} << 10;  // MINHINCR x 4 KiB
constexpr size_t kMaxHeapIncrement = size_t{8} << 20;   // MAXHINCR x 4 KiB
constexpr size_t kSmallHeapFloor = size_t{2} << 20;
constexpr size_t kSmallHeapLive = kSmallHeapFloor / 2;
constexpr size_t kHeapFloor = size_t{4} << 20;  // gcheap's default min_heap
size_t g_boehm_heap = 0;
uint64_t g_boehm_live = 0;
bool g_heap_stayed_small = true;

// The model's next heap for a collection that found `live` bytes live and
// needs `need` bytes of heap.
size_t ModelHeap(uint64_t live, uint64_t need, GC_word d) {
  size_t heap = g_boehm_heap;
  if (live < g_boehm_live) {
    heap -= std::min<size_t>(heap, g_boehm_live - live);
  }
  g_boehm_live = live;
  while (heap < need) {
    heap += std::clamp<size_t>(heap / d, kMinHeapIncrement, kMaxHeapIncrement);
  }
  g_boehm_heap = heap;
  return heap;
}

// The model's heap less the free slots of the spans in use at mark
// termination (above), leaving at least half the headroom over live.
size_t LessSpanSlack(const gcheap::CycleSample& s, size_t heap) {
  const uint64_t in_use = g.heap->heap.in_use_bytes();
  const uint64_t slack = in_use > s.heap_at_end ? in_use - s.heap_at_end : 0;
  if (heap <= s.live_bytes) return heap;
  const uint64_t half_room = s.live_bytes + (heap - s.live_bytes) / 2;
  return std::max<uint64_t>(heap > slack ? heap - slack : 0, half_room);
}

size_t PacedGoal(const gcheap::CycleSample& s) {
  const uint64_t scan = std::min(s.scan_work, s.live_bytes);
  const uint64_t noscan = s.live_bytes - scan;
  const uint64_t roots = g_static_root_bytes.load(std::memory_order_relaxed) +
                         g_dl_root_bytes.load(std::memory_order_relaxed);
  const uint64_t stacks = g_stack_bytes.load(std::memory_order_relaxed);
  const GC_word d = GC_free_space_divisor != 0 ? GC_free_space_divisor : 3;
  const uint64_t need =
      s.live_bytes + (2 * scan + noscan / 4 + roots + 2 * stacks) / d;
  size_t heap = ModelHeap(s.live_bytes, need, d);
  if (g_heap_stayed_small) {
    if (s.live_bytes <= kSmallHeapLive && heap <= kSmallHeapFloor) {
      return kSmallHeapFloor;
    }
    // The model starts over: at the next collection, as at the first.
    g_heap_stayed_small = false;
    g_boehm_heap = 0;
    g_boehm_live = 0;
    if (s.heap_at_start < kHeapFloor) {
      // The next collection comes when the heap has allocated as much as
      // a first goal of 4 MiB allowed.
      return s.live_bytes + (kHeapFloor - s.heap_at_start);
    }
    heap = ModelHeap(s.live_bytes, need, d);
  }
  return std::max(LessSpanSlack(s, heap), kHeapFloor);
}

// "GC #K pause steps: first ... us; last ... us" (gc/stats.h, PauseSteps;
// the hook runs on the driver thread, where the record is read).
void PrintPauseSteps(uint64_t n) {
  using S = gcheap::PauseSteps;
  const S& p = g.heap->collector->last_pause_steps();
  const auto steps = [](const char* which, const uint64_t* v) {
    fprintf(g_log,
            "%s: stop %" PRIu64 ", roots %" PRIu64 ", dirty %" PRIu64
            ", drain %" PRIu64 ", finalizers %" PRIu64 ", termination %" PRIu64
            ", restart %" PRIu64,
            which, v[S::kStop] / 1000, v[S::kRoots] / 1000, v[S::kDirty] / 1000,
            v[S::kDrain] / 1000, v[S::kFinalizers] / 1000,
            v[S::kTermination] / 1000, v[S::kRestart] / 1000);
  };
  fprintf(g_log, "GC #%" PRIu64 " pause steps (us): ", n);
  steps("first", p.first);
  steps("; last", p.last);
  fputc('\n', g_log);
}

void CycleHook(const gc_cycle_info* info, void*) {
  // Allocation since the last collection counts from here (the world
  // runs again: a little allocation may already count as before it).
  g_allocated_at_gc.store(g.heap->heap.AllocatedBytes(),
                          std::memory_order_relaxed);
  g_expl_freed.store(0, std::memory_order_relaxed);
  const uint64_t n = g_cycles.fetch_add(1, std::memory_order_acq_rel) + 1;
  GC_gc_no = n;
  if (!g_print_stats) return;
  const gcheap::MHeap& h = g.heap->heap;
  const gcheap::HeapStats st = h.ReadStats();  // the world runs again
  const int64_t freed = static_cast<int64_t>(info->heap_end) -
                        static_cast<int64_t>(info->live_bytes);
  const uint64_t ms = info->pause_ns / 1000000, ns = info->pause_ns % 1000000;
  g_avg_ms = n == 1 ? ms : (g_avg_ms * (n - 1) + ms) / n;
  fprintf(g_log,
          "GC #%" PRIu64 " freed %" PRId64
          " bytes, heap %zu KiB (+ %zu KiB "
          "unmapped + 0 KiB internal)\n",
          n, freed, (st.mapped_bytes - st.released_bytes) >> 10,
          st.released_bytes >> 10);
  fprintf(g_log,
          "World-stopped marking took %" PRIu64 " ms %" PRIu64 " ns (%" PRIu64
          " ms in average)\n",
          ms, ns, g_avg_ms);
  fprintf(g_log, "GC #%" PRIu64 " mode: %s\n", n,
          gcheap::boehm::MarkingModeName());
  gcheap::boehm::PrintDirtyStats(g_log, n, info);
  PrintPauseSteps(n);
  fflush(g_log);  // whole lines, as Boehm writes them, even to a file
}

// The main program's writable segments: conservative root ranges for the
// process's life (it is never unloaded). Shared objects are scanned by
// ScanSharedObjects instead.
int RegisterMainProgram(struct dl_phdr_info* info, size_t, void*) {
  if (info->dlpi_name != nullptr && info->dlpi_name[0] != '\0') return 0;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD || (ph.p_flags & PF_W) == 0) continue;
    const void* start =
        reinterpret_cast<const void*>(info->dlpi_addr + ph.p_vaddr);
    gc_add_conservative_root_range(g.heap, start, ph.p_memsz);
    g_static_root_bytes.fetch_add(ph.p_memsz, std::memory_order_relaxed);
  }
  return 1;  // the main program comes first
}

size_t ParseSize(const char* s) {
  if (s == nullptr || *s == '\0') return 0;
  char* end = nullptr;
  unsigned long long v = strtoull(s, &end, 10);
  switch (end != nullptr ? *end : 0) {
    case 'k':
    case 'K':
      v <<= 10;
      break;
    case 'm':
    case 'M':
      v <<= 20;
      break;
    case 'g':
    case 'G':
      v <<= 30;
      break;
    default:
      break;
  }
  return static_cast<size_t>(v);
}

// While DoInit runs: true, and the thread running it. (Not a
// thread_local: with a second thread_local in this file, libgc.so.1 as
// linked here found a null mutator in the first allocation after
// initialization; the cause was not pinned down.)
std::atomic<bool> g_initializing{false};
std::atomic<pthread_t> g_init_thread{};
bool OnInitThread() {
  return g_initializing.load(std::memory_order_acquire) &&
         pthread_equal(g_init_thread.load(std::memory_order_relaxed),
                       pthread_self());
}

void DoInit() {
  g_init_thread.store(pthread_self(), std::memory_order_relaxed);
  g_initializing.store(true, std::memory_order_release);
  struct Done {
    ~Done() { g_initializing.store(false, std::memory_order_release); }
  } done;
  if (getenv("GC_PRINT_STATS") != nullptr ||
      getenv("GC_PRINT_VERBOSE_STATS") != nullptr) {
    g_print_stats = true;
    if (const char* f = getenv("GC_LOG_FILE")) {
      if (FILE* fp = fopen(f, "a")) g_log = fp;
    }
  }
  if (const char* d = getenv("GC_FREE_SPACE_DIVISOR")) {
    const long v = atol(d);
    if (v > 0) GC_free_space_divisor = static_cast<GC_word>(v);
  }
  if (getenv("GC_DONT_GC") != nullptr) GC_dont_gc++;
  g.pad = GC_all_interior_pointers ? 1 : 0;
  gcheap::boehm::InitThreads();
  gc_config cfg;
  gc_config_init(&cfg);
  // Stop-the-world marking unless a dirty-page source makes it
  // mostly-concurrent (dirty_pages.h).
  cfg.stop_the_world = gcheap::boehm::ChooseMarkingMode() ? 0 : 1;
  cfg.conservative_stacks = 0;
  // Finalizers run on Boehm threads (GC_invoke_finalizers), not on a
  // thread of gcheap's.
  cfg.finalizer_thread = 0;
  if (const char* m = getenv("GC_MARKERS")) {
    const int v = atoi(m);
    if (v > 0 && v <= 256) cfg.gc_workers = v;
  }
  // GC_all_interior_pointers = 0: data words need the base or a
  // registered displacement; stack words keep any interior pointer.
  cfg.ambiguous_displacements = GC_all_interior_pointers ? 0 : 1;
  // The environment wins over a GC_set_max_heap_size before GC_init, as
  // in Boehm.
  size_t max = g_max_heap.load();
  if (size_t env = ParseSize(getenv("GC_MAXIMUM_HEAP_SIZE"))) max = env;
  cfg.max_heap_bytes = MaxHeapLimit(max);
  cfg.min_heap_bytes = kSmallHeapFloor;  // PacedGoal raises it to 4 MiB
  g.heap = gc_heap_create(&cfg);
  if (g.heap == nullptr) {
    fprintf(stderr, "gcheap libgc: cannot create the heap: %s\n",
            gc_last_error());
    abort();
  }
  // GC_INITIAL_HEAP_SIZE: the heap is expanded to it, and no automatic
  // collection starts before that much is in use.
  if (size_t initial = ParseSize(getenv("GC_INITIAL_HEAP_SIZE"))) {
    if (g.heap->heap.Expand(initial)) RequestHeap(initial);
  }
  GC_parallel = g.heap->collector->workers() > 1;
  gcheap::boehm::InstallWorldHooks();
  gcheap::boehm::InstallDirtyPages();
  gcheap::boehm::InitFinalization();
  gc_add_root_scanner(g.heap, RootScanner, nullptr);
  gc_set_cycle_hook(g.heap, CycleHook, nullptr);
  g.heap->collector->SetGoalFn(PacedGoal);  // before any cycle
  Dl_info self;
  // dli_fbase is the load address; l_addr is the load bias: equal for a
  // shared object linked at 0. Linked statically, this code is the main
  // program's (its data is scanned with the program's).
  if (dladdr(reinterpret_cast<void*>(&DoInit), &self) != 0 &&
      self.dli_fbase != nullptr) {
    g_self_base = reinterpret_cast<uintptr_t>(self.dli_fbase);
  }
  g_conservative_type = g.heap->ConservativeType();
  dl_iterate_phdr(RegisterMainProgram, nullptr);
  const bool is_main = syscall(SYS_gettid) == getpid();
  gcheap::boehm::RegisterThread(
      is_main ? (GC_stackbottom != nullptr
                     ? reinterpret_cast<uintptr_t>(GC_stackbottom)
                     : gcheap::boehm::MainStackHi())
              : gcheap::boehm::StackHi(),
      is_main);
  for (int i = 0; i < GC_dont_gc; i++) g.heap->collector->DisableAutoCollect();
  g.initialized.store(true, std::memory_order_release);
  if (g_on_event.load() != nullptr || g_start_callback.load() != nullptr) {
    InstallEventListener();
  }
}

size_t Padded(size_t n) {
  n += g.pad;
  return n < 16 ? 16 : n;
}

void* OutOfMemory(size_t n) { return g_oom.load()(n); }

enum class Kind { kNormal, kAtomic };

// ---- Explicit frees --------------------------------------------------------
// Boehm hands a GC_free'd object out again at once; gcheap's allocator has
// no explicit free (a slot below a span's freeindex is allocatable only
// after the next sweep rebuilds its bitmap, a large object's pages only
// after the sweep frees its span). So the layer keeps the freed objects
// itself: GC_free clears a conservative, atomic or small typed object and
// puts it on the calling thread's lists, and that thread's next allocation
// of the same kind (for a typed one, the same type) and size takes it: a small
// one on the list of its (noscan, size class), linked through word 0, which
// holds the next object's address complemented (hidden from the conservative
// scan: a stale reference to one listed object must not keep the rest of its
// list); a large one in one of BThread::kFreedLarge slots, taken by a request
// of as many pages that it holds, its pages resident (as Boehm's free blocks),
// kFreedLargeBytes per thread at most (past that, it goes back to the OS
// at once as before). Word 1 holds the object's address ^ kFreedCookie;
// words 0 and 1 are cleared when it is handed out. For gcheap the object stays
// allocated all along. Safety (boehm_internal.h's invariants):
//  - the sweep must never free a listed object: every list is dropped at
//    the end of each mark termination (g.free_epoch, bumped by the world
//    hook with the world stopped; a list of an older epoch is emptied
//    unread), and what is listed after that was held by the program, so
//    marked, or allocated since;
//  - the collector never marks through an object while it is handed out:
//    lists are used only while the thread's mutator sees no mark
//    (wb_enabled clear; under parallel-stw marking only happens in the
//    pause). Push, pop and the epoch check run inside one running bracket
//    with no gcheap call in between, so no pause falls between them;
//  - double frees: an object whose word 1 already holds its cookie is not
//    listed again (a program's value that happens to equal it only costs
//    the reuse of that object);
//  - objects with weak handles or cleanups in their span and objects with
//    a finalizer registered are not listed (a registration keyed by the
//    address would pass to the next object there); nor are large typed
//    objects with pointers, nor a small one whose entry in the thread's
//    typed table holds another (type, class)'s list. They are reclaimed by
//    the next collection as before;
//  - a small typed object with pointers is listed by its gcheap type and
//    size class (BThread::freed_typed) and handed out only to a typed
//    allocation of that type and class: its span's type tag for the slot
//    is never rewritten. While listed, its words 0 and 1 hold the hidden
//    link and the cookie, which the precise scan of a stale reference
//    reads as values naming no heap object.
// A thread's lists die with it; their objects are reclaimed by the sweep.
// Reuse is not allocation for gcheap: a listed object's bytes are not
// credited against the trigger.
constexpr uintptr_t kFreedCookie = 0x9e3779b97f4a7c15;
using FreedLarge = gcheap::boehm::BThread::FreedLarge;

// The calling thread's lists, emptied first if a mark ended since they
// were filled. Inside a running bracket.
gcheap::boehm::BThread* FreedLists() {
  gcheap::boehm::BThread* t = gcheap::boehm::Self();
  const uint64_t epoch = g.free_epoch.load(std::memory_order_acquire);
  if (GC_UNLIKELY(t->freed_epoch != epoch)) {
    memset(t->freed, 0, sizeof(t->freed));
    memset(t->freed_large, 0, sizeof(t->freed_large));
    t->freed_large_bytes = 0;
    memset(t->freed_typed, 0, sizeof(t->freed_typed));
    t->freed_epoch = epoch;
  }
  return t;
}

// Debug builds: a listed object is allocated for gcheap, at its own base
// (boehm_internal.h's invariant: the sweep never freed it). Asked with the
// object query, not the span's synced state: an object that this thread's
// open allocation window handed out and that was freed before the window
// closed reads as free in its span until the mcache syncs it. Inside a
// running bracket (the query holds the heap lock).
void CheckListed(const void* w) {
  if constexpr (kDebugBuild) {
    const auto a = reinterpret_cast<uintptr_t>(w);
    gcheap::ObjectInfo o;
    GC_CHECK(g.heap->heap.QueryObject(a, &o) && o.base == a,
             "a GC_free'd object on a list is no longer allocated");
  }
}

size_t Pages(size_t bytes) {
  return (bytes + gcheap::kPageSize - 1) / gcheap::kPageSize;
}

// Whether the calling thread may take a listed object now: registered,
// and no mark runs (Explicit frees, above).
bool MayTakeFreed(gc_mutator* m) {
  return gcheap::boehm::Self() != nullptr &&
         m->wb_enabled.load(std::memory_order_relaxed) == 0;
}

// A small object's list: push, and pop (null when empty), linked through
// word 0 hidden (complemented).
void PushListed(void*& head, uintptr_t* w) {
  w[0] = ~reinterpret_cast<uintptr_t>(head);
  head = w;
}
uintptr_t* PopListed(void*& head) {
  auto* w = static_cast<uintptr_t*>(head);
  if (w != nullptr) head = reinterpret_cast<void*>(~w[0]);
  return w;
}

// A listed object w, taken off its list, handed out: cleared words 0 and
// 1 (the link and the cookie; GC_free cleared the rest).
void* HandOutListed(uintptr_t* w) {
  CheckListed(w);
  w[0] = 0;
  w[1] = 0;
  return w;
}

// The calling thread's typed-table entry of (type, size class).
gcheap::boehm::BThread::FreedTyped& TypedEntry(uint16_t type,
                                               size_t sizeclass) {
  return FreedLists()
      ->freed_typed[gcheap::boehm::BThread::FreedTypedIndex(type, sizeclass)];
}

// A freed object of the size that gcheap would give a request of `bytes`
// (padded) of this kind, taken off the calling thread's lists and
// cleared; null if there is none or a mark runs. Inside a running
// bracket, before any gcheap call.
void* TakeFreed(gc_mutator* m, size_t bytes, Kind kind) {
  if (!MayTakeFreed(m)) return nullptr;
  gcheap::boehm::BThread* t = FreedLists();
  const bool noscan = kind == Kind::kAtomic;
  if (!noscan) bytes = (bytes + 7) & ~size_t{7};  // gc_alloc_conservative's
  uintptr_t* w = nullptr;
  if (bytes <= gcheap::kMaxSmallSize) {
    w = PopListed(t->freed[noscan ? 1 : 0][gcheap::SizeToClass(bytes)]);
    if (w == nullptr) return nullptr;
  } else {
    for (FreedLarge& f : t->freed_large) {
      if (f.p != nullptr && f.noscan == noscan && f.bytes >= bytes &&
          f.npages == Pages(bytes)) {
        w = static_cast<uintptr_t*>(f.p);
        t->freed_large_bytes -= f.bytes;
        f = FreedLarge{};
        break;
      }
    }
    if (w == nullptr) return nullptr;
  }
  return HandOutListed(w);
}

// A freed typed object of gcheap type `type` in the size class a request
// of `bytes` (padded) gets, taken off the calling thread's typed lists and
// cleared; null if there is none or a mark runs. As TakeFreed.
void* TakeFreedTyped(gc_mutator* m, size_t bytes, gc_type_id type) {
  if (bytes > gcheap::kMaxSmallSize || !MayTakeFreed(m)) return nullptr;
  const size_t sizeclass = gcheap::SizeToClass((bytes + 7) & ~size_t{7});
  gcheap::boehm::BThread::FreedTyped& f =
      TypedEntry(static_cast<uint16_t>(type), sizeclass);
  if (f.type != type || f.sizeclass != sizeclass) return nullptr;
  uintptr_t* w = PopListed(f.head);
  return w != nullptr ? HandOutListed(w) : nullptr;
}

// The typed list that the small typed object r (with pointers) may go on:
// its (type, size class) entry when that is empty or already this pair's;
// null when the entry holds another pair's list.
gcheap::boehm::BThread::FreedTyped* TypedList(const gcheap::ObjectRef& r) {
  const uint16_t type = r.span->ObjType(r.index);
  const auto sizeclass =
      static_cast<uint8_t>(gcheap::SizeClassOf(r.span->spanclass));
  gcheap::boehm::BThread::FreedTyped& f = TypedEntry(type, sizeclass);
  if (f.head != nullptr && (f.type != type || f.sizeclass != sizeclass)) {
    return nullptr;
  }
  f.type = type;
  f.sizeclass = sizeclass;
  return &f;
}

// Whether the object r, which GC_free clears, may go on a list (above).
bool Reusable(const gcheap::ObjectRef& r) {
  const gcheap::MSpan* s = r.span;
  if (gcheap::boehm::Self() == nullptr ||
      s->gc_side.load(std::memory_order_acquire) != nullptr) {
    return false;
  }
  gcheap::Finalization& fin = g.heap->collector->finalization();
  if (fin.HasRegistrations() && fin.Registered(r.base)) return false;
  // Conservative, atomic, and small typed objects of a descriptor (large
  // typed ones are not listed: a large-object slot would have to match the
  // type too).
  return gcheap::NoScan(s->spanclass) ||
         s->ObjType(r.index) == g_conservative_type ||
         (!s->is_large() && IsDescriptorType(s->ObjType(r.index)));
}

// Whether r is a typed object with pointers of a GC_make_descriptor type
// (listed by type, above).
bool IsTyped(const gcheap::ObjectRef& r) {
  return !gcheap::NoScan(r.span->spanclass) &&
         IsDescriptorType(r.span->ObjType(r.index));
}

// Whether the object at base was already freed onto a list (its cookie).
bool FreedBefore(uintptr_t base) {
  return reinterpret_cast<const uintptr_t*>(base)[1] == (base ^ kFreedCookie);
}

// The large-object slot of the calling thread that an object of `bytes`
// may take, or null when they are full or would hold more than
// kFreedLargeBytes.
FreedLarge* LargeSlot(size_t bytes) {
  gcheap::boehm::BThread* t = FreedLists();
  if (bytes > t->kFreedLargeBytes - t->freed_large_bytes) return nullptr;
  for (FreedLarge& f : t->freed_large) {
    if (f.p == nullptr) return &f;
  }
  return nullptr;
}

// Puts the cleared object r (usable up to hi) on the calling thread's
// lists; `slot`: its large-object slot (LargeSlot), for a large one;
// `typed`: its typed list (TypedList), for a typed one.
void PutFreed(const gcheap::ObjectRef& r, uintptr_t hi, FreedLarge* slot,
              gcheap::boehm::BThread::FreedTyped* typed) {
  auto* w = reinterpret_cast<uintptr_t*>(r.base);
  const bool noscan = gcheap::NoScan(r.span->spanclass);
  if (typed != nullptr) {
    PushListed(typed->head, w);
  } else if (r.span->is_large()) {
    *slot = FreedLarge{w, hi - r.base, r.span->npages, noscan};
    gcheap::boehm::Self()->freed_large_bytes += hi - r.base;
  } else {
    PushListed(FreedLists()->freed[noscan ? 1 : 0]
                                  [gcheap::SizeClassOf(r.span->spanclass)],
               w);
  }
  w[1] = r.base ^ kFreedCookie;
}

// ---- The allocation fast path ----------------------------------------------
// GC_malloc and GC_malloc_atomic of up to GC_INLINE_ALLOC_MAX_ bytes (padded)
// bump the calling thread's allocation window for the size class, as
// gcheap's inline path does (runtime/gc.h, gc_mutator_head_), without
// leaving the thread's permanent blocking bracket: no running bracket, no
// call into gcheap, no clock or fence. It is taken only where the slow path
// would do nothing else: the thread is registered, not inside GC_do_blocking
// nor inside gcheap (roots.capture), its mutator's poll word is clear (no
// stop, no refill to check the trigger for, no flush), its list of freed
// objects of that kind and class is empty (Explicit frees, above), and the
// window has a slot. Why no pause can fall into the bump while the thread
// counts as blocked for gcheap: gcheap's own stop does not wait for it, but
// every pause's world hook stops each Boehm thread with the suspend signal
// before the collector touches an mcache (StartMark, the sweep flip), and
// a signal that lands while BThread::in_fast_alloc is set only records the
// request (threads.cc): the thread stops itself, with the new object in
// its registers, right after the bump (SuspendDeferred), and the pause
// waits for that acknowledgement. The bump neither blocks nor takes a
// lock, so the wait is a few instructions. gcheap stops of the world that
// call no world hook (heap walks, a heap dump, fork) are not reachable
// from Boehm's API (fork keeps only the forking thread, whose mcache is not
// mid-bump).
constexpr size_t kFastMaxBytes = GC_INLINE_ALLOC_MAX_;

GC_ALWAYS_INLINE void* AllocFast(size_t n, Kind kind) {
  gcheap::boehm::BThread* t = gcheap::boehm::tls_self;
  if (GC_UNLIKELY(t == nullptr) || n >= kFastMaxBytes) return nullptr;
  const size_t bytes = Padded(n);
  if (bytes > kFastMaxBytes) return nullptr;
  const size_t k = kind == Kind::kAtomic ? 1 : 0;  // noscan
  gc_mutator* m = t->m;
  auto* h = reinterpret_cast<gc_mutator_head_*>(m);
  void* p = nullptr;
  t->in_fast_alloc = 1;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  if (__atomic_load_n(&h->poll, __ATOMIC_RELAXED) == 0 && !t->blocked &&
      !m->roots.capture.load(std::memory_order_relaxed)) {
    const size_t cls = h->alloc_size_class[(bytes + 7) >> 3];
    if (t->freed[k][cls] == nullptr) {
      gc_alloc_window_* w = &h->alloc_windows[cls * 2 + k];
      const uintptr_t q = w->next;
      if (GC_LIKELY(q < w->end)) {
#ifdef GCHEAP_BOEHM_TESTING_HOOKS
        if (t->fast_alloc_hook_for_testing != nullptr) {
          t->fast_alloc_hook_for_testing();
        }
#endif
        p = gc_alloc_window_take_(w, q, k == 0,
                                  static_cast<uint16_t>(g_conservative_type));
      }
    }
  }
  std::atomic_signal_fence(std::memory_order_seq_cst);
  t->in_fast_alloc = 0;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  if (GC_UNLIKELY(t->stop_deferred)) gcheap::boehm::SuspendDeferred(t);
  return p;
}

void* Alloc(size_t n, Kind kind) {
  if (n > GC_MAX_ALLOC_BYTES) return OutOfMemory(n);
  if (GC_UNLIKELY(OnInitThread())) {
    // Re-entered from initialization: out-of-line code of a shared library
    // gcheap calls allocated through the program's operator new, which a
    // program may route here (libgccpp's). The optimized library links
    // libstdc++ in and binds its allocations to malloc (operator_new.cc),
    // so only the sanitizer builds, which load libstdc++.so, get here
    // (docs/boehm.md). The heap does not exist yet: zeroed malloc memory,
    // which only that library code holds and frees (GC_free ignores it).
    return calloc(1, n == 0 ? 1 : n);
  }
  if (void* p = AllocFast(n, kind); GC_LIKELY(p != nullptr)) {
    gcheap::boehm::AfterAllocation();
    return p;
  }
  void* p;
  {
    RunningBracket b;
    p = TakeFreed(b.m(), Padded(n), kind);
    if (p == nullptr) {
      p = kind == Kind::kAtomic ? gc_alloc_noscan(b.m(), Padded(n))
                                : gc_alloc_conservative(b.m(), Padded(n));
    }
  }
  gcheap::boehm::AfterAllocation();
  return p != nullptr ? p : OutOfMemory(n);
}

void* AllocUncollectable(size_t n, Kind kind) {
  void* p = Alloc(n, kind);
  if (p == nullptr || GC_UNLIKELY(OnInitThread())) return p;
  RunningBracket b;  // no pause while the table changes
  std::lock_guard<std::mutex> l(g_uncoll_mu);
  g_uncollectable.insert(p);
  return p;
}

// The object p points into (any interior byte), or false. The span's
// synced allocation state answers without a lock; a slot it shows free may
// be an object an allocation window handed out since its mcache last
// synced the span (this thread's or another's), which only the locked
// object query sees (MHeap::QueryObject reads the window's cursor). The
// query holds the heap lock: it runs in a running bracket, so that the
// collector never stops this thread with the lock held. (Callers are
// outside brackets, as the program's code is.)
bool FindObject(const void* p, gcheap::ObjectRef* r) {
  if (!g.initialized.load(std::memory_order_acquire)) return false;
  const auto a = reinterpret_cast<uintptr_t>(p);
  if (!g.heap->heap.FindObject(a, r)) return false;
  if (r->span->IsAllocated(r->index)) return true;
  // A mark procedure (GC_size of the object it marks) runs inside the
  // collector, on a marker or a thread assisting it: no bracket there.
  if (gcheap::boehm::InMarkProcedure()) return true;
  RunningBracket b;
  gcheap::ObjectInfo o;
  return g.heap->heap.QueryObject(a, &o);
}

bool IsAtomic(const gcheap::ObjectRef& r) {
  return gcheap::NoScan(r.span->spanclass);
}

bool IsUncollectable(uintptr_t base) {
  std::lock_guard<std::mutex> l(g_uncoll_mu);
  return g_uncollectable.contains(reinterpret_cast<void*>(base));
}

}  // namespace

namespace gcheap::boehm {
bool ObjectKind(const void* p, bool* atomic, bool* uncollectable) {
  gcheap::ObjectRef r;
  if (!FindObject(p, &r)) return false;
  *atomic = IsAtomic(r);
  *uncollectable = IsUncollectable(r.base);
  return true;
}
void EnsureInit() { std::call_once(g.init_once, DoInit); }
void CollectionEvent(int e) {
  if (GC_on_collection_event_proc f = g_on_event.load()) {
    f(static_cast<GC_EventType>(e));
  }
}
}  // namespace gcheap::boehm

extern "C" {

// ---- initialization ---------------------------------------------------------

void GC_init(void) { gcheap::boehm::EnsureInit(); }
int GC_is_init_called(void) { return g.initialized.load() ? 1 : 0; }
void GC_deinit(void) {}
unsigned GC_get_version(void) {
  return (GC_VERSION_MAJOR << 16) | (GC_VERSION_MINOR << 8) | GC_VERSION_MICRO;
}
void GC_set_handle_fork(int) {}
void GC_atfork_prepare(void) {}
void GC_atfork_parent(void) {}
void GC_atfork_child(void) {}
void GC_start_mark_threads(void) {}
void GC_set_markers_count(unsigned) {}
void GC_enable_incremental(void) {}
int GC_is_incremental_mode(void) { return 0; }
// gcheap's own (docs/boehm.md): how this library marks ("stw",
// "parallel-stw", "mostly-concurrent") and where mostly-concurrent marking
// learns the written pages ("none", "soft-dirty", "mprotect").
const char* GC_gcheap_marking_mode(void) {
  gcheap::boehm::EnsureInit();
  return gcheap::boehm::MarkingModeName();
}
const char* GC_gcheap_dirty_pages(void) {
  gcheap::boehm::EnsureInit();
  return gcheap::boehm::DirtyPagesName();
}
int GC_incremental_protection_needs(void) { return GC_PROTECTS_NONE; }

// ---- allocation -------------------------------------------------------------

void* GC_malloc(size_t n) { return Alloc(n, Kind::kNormal); }
void* GC_malloc_atomic(size_t n) { return Alloc(n, Kind::kAtomic); }
void* GC_malloc_ignore_off_page(size_t n) { return Alloc(n, Kind::kNormal); }
void* GC_malloc_atomic_ignore_off_page(size_t n) {
  return Alloc(n, Kind::kAtomic);
}
void* GC_malloc_uncollectable(size_t n) {
  return AllocUncollectable(n, Kind::kNormal);
}
void* GC_malloc_atomic_uncollectable(size_t n) {
  return AllocUncollectable(n, Kind::kAtomic);
}
void* GC_malloc_stubborn(size_t n) { return Alloc(n, Kind::kNormal); }
void GC_change_stubborn(const void*) {}
void GC_end_stubborn_change(const void*) {}
void GC_ptr_store_and_dirty(void* p, const void* q) {
  *static_cast<const void**>(p) = q;
}

void* GC_memalign(size_t align, size_t n) {
  if (align <= 16) return GC_malloc(n);
  if ((align & (align - 1)) != 0) return nullptr;
  // Over-allocate; an interior pointer keeps the object (with
  // GC_all_interior_pointers = 0, its offset is registered as a
  // displacement, as Boehm does).
  char* p = static_cast<char*>(GC_malloc(n + align));
  if (p == nullptr) return nullptr;
  const uintptr_t a =
      (reinterpret_cast<uintptr_t>(p) + align - 1) & ~(align - 1);
  const size_t off = a - reinterpret_cast<uintptr_t>(p);
  if (off != 0 && g.pad == 0) {
    if (off >= gcheap::Displacements::kLimit) return OutOfMemory(n);
    GC_register_displacement(off);
  }
  return reinterpret_cast<void*>(a);
}

int GC_posix_memalign(void** out, size_t align, size_t n) {
  if (align < sizeof(void*) || (align & (align - 1)) != 0) return EINVAL;
  void* p = GC_memalign(align, n);
  if (p == nullptr) return ENOMEM;
  *out = p;
  return 0;
}

// The caller promises that nothing refers to the object any more (Boehm's
// contract). The object stops being a root (uncollectable) and is cleared,
// so it keeps nothing alive even if a stale word still names it. A
// conservative, atomic or small typed one then goes on this thread's lists
// of freed objects for reuse (Explicit frees, above); any other waits for
// the next
// collection, its bytes credited against the trigger, and the pages wholly
// inside a large one go back to the OS now (MADV_DONTNEED: they read as
// zero). Inside a running bracket: no cycle starts, so none can free and
// reuse the slot while it is cleared. Freeing twice is harmless.
void GC_free(void* p) {
  if (p == nullptr) return;
  gcheap::ObjectRef r;
  if (!FindObject(p, &r)) return;
  RunningBracket b;
  {
    std::lock_guard<std::mutex> l(g_uncoll_mu);
    g_uncollectable.erase(reinterpret_cast<void*>(r.base));
  }
  const bool reusable = Reusable(r);
  if (reusable && FreedBefore(r.base)) return;  // already on a list
  const uintptr_t lo = r.base;
  const uintptr_t hi =
      std::min<uintptr_t>(r.base + r.span->elemsize, r.span->limit);
  FreedLarge* slot = nullptr;
  gcheap::boehm::BThread::FreedTyped* typed = nullptr;
  const bool listed =
      reusable && (IsTyped(r) ? (typed = TypedList(r)) != nullptr
                              : !r.span->is_large() ||
                                    (slot = LargeSlot(hi - lo)) != nullptr);
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t mid_lo = (lo + page - 1) & ~(page - 1);
  const uintptr_t mid_hi = hi & ~(page - 1);
  if (!listed && r.span->is_large() && mid_hi > mid_lo &&
      madvise(reinterpret_cast<void*>(mid_lo), mid_hi - mid_lo,
              MADV_DONTNEED) == 0) {
    memset(reinterpret_cast<void*>(lo), 0, mid_lo - lo);
    memset(reinterpret_cast<void*>(mid_hi), 0, hi - mid_hi);
  } else {
    memset(reinterpret_cast<void*>(lo), 0, hi - lo);
  }
  g_expl_freed.fetch_add(hi - lo, std::memory_order_relaxed);
  if (listed) {
    PutFreed(r, hi, slot, typed);
    return;
  }
  // Boehm does not count explicitly freed bytes as allocated since the
  // last collection (GC_adj_bytes_allocd): the trigger moves up by them.
  g.heap->collector->CreditFreed(hi - lo);
}

void* GC_malloc_many(size_t n) {
  // A list of objects linked through their first word, about a page's
  // worth, as Boehm hands out a block's free list.
  const size_t each = n < sizeof(void*) ? sizeof(void*) : n;
  size_t count = 4096 / Padded(each);
  if (count == 0) count = 1;
  if (count > 64) count = 64;
  void* head = nullptr;
  for (size_t i = 0; i < count; i++) {
    void* p = GC_malloc(each);
    if (p == nullptr) break;
    *static_cast<void**>(p) = head;
    head = p;
  }
  return head;
}

void* GC_realloc(void* old, size_t n) {
  if (old == nullptr) return GC_malloc(n);
  gcheap::ObjectRef r;
  if (!FindObject(old, &r)) return nullptr;
  if (n == 0) {
    GC_free(old);
    return nullptr;
  }
  const uintptr_t base = r.base;
  const size_t have =
      r.span->elemsize - g.pad - (reinterpret_cast<uintptr_t>(old) - base);
  const bool uncollectable = IsUncollectable(base);
  if (n <= have && n >= have / 2) {
    // Shrinking in place: clear what was dropped (no stale pointers).
    memset(static_cast<char*>(old) + n, 0, have - n);
    return old;
  }
  const Kind kind = IsAtomic(r) ? Kind::kAtomic : Kind::kNormal;
  void* p = uncollectable ? AllocUncollectable(n, kind) : Alloc(n, kind);
  if (p == nullptr) return nullptr;
  memcpy(p, old, n < have ? n : have);
  GC_free(old);
  return p;
}

char* GC_strdup(const char* s) {
  if (s == nullptr) return nullptr;
  const size_t n = strlen(s);
  char* p = static_cast<char*>(GC_malloc_atomic(n + 1));
  if (p != nullptr) memcpy(p, s, n + 1);
  return p;
}

char* GC_strndup(const char* s, size_t max) {
  if (s == nullptr) return nullptr;
  const size_t n = strnlen(s, max);
  char* p = static_cast<char*>(GC_malloc_atomic(n + 1));
  if (p != nullptr) {
    memcpy(p, s, n);
    p[n] = '\0';
  }
  return p;
}

// ---- typed allocation ------------------------------------------------------

GC_descr GC_make_descriptor(const GC_word* bm, size_t len) {
  gcheap::boehm::EnsureInit();
  std::vector<uint64_t> bits((len + 63) / 64 + 1, 0);
  bits[0] = len;
  for (size_t i = 0; i < len; i++) {
    if ((bm[i / GC_WORDSZ] >> (i % GC_WORDSZ)) & 1) {
      bits[1 + i / 64] |= uint64_t{1} << (i % 64);
    }
  }
  std::lock_guard<std::mutex> l(g_types_mu);
  auto it = g_descr_of.find(bits);
  if (it != g_descr_of.end()) return it->second;
  // No pointers: no gcheap type; its objects are atomic ones
  // (GC_malloc_explicitly_typed).
  gc_type_id id = kPointerFree;
  if (!std::all_of(bits.begin() + 1, bits.end(),
                   [](uint64_t w) { return w == 0; })) {
    gc_type_desc d;
    gc_type_desc_init(&d);
    d.name = "GC_descr";
    d.size = len * sizeof(GC_word);
    d.ptr_bitmap = bits.data() + 1;
    d.ptr_bitmap_words = bits.size() - 1;
    {
      RunningBracket b;
      id = gc_register_type(g.heap, &d);
    }
    if (id == 0) {
      fprintf(stderr, "gcheap libgc: GC_make_descriptor: %s\n",
              gc_last_error());
      abort();
    }
    GC_CHECK(id < 65536, "a gcheap type id beyond its 16-bit tags");
    g_descr_types[id / 64].fetch_or(uint64_t{1} << (id % 64),
                                    std::memory_order_relaxed);
  }
  g_types.push_back(id);
  const GC_descr descr = g_types.size();
  g_descr_of.emplace(std::move(bits), descr);
  return descr;
}

void* GC_malloc_explicitly_typed(size_t n, GC_descr d) {
  gc_type_id id = 0;
  {
    std::lock_guard<std::mutex> l(g_types_mu);
    if (d == 0 || d > g_types.size()) return GC_malloc(n);
    id = g_types[d - 1];
  }
  // A pointer-free object is allocated as an atomic one (zeroed all the
  // same, as Boehm's typed objects are): it lies in a noscan span either
  // way, and GC_free lists it for reuse by the atomic allocations, so it
  // must come from there too, or freed ones were never reused, nor their
  // bytes credited against the trigger (as often collected as if not
  // freed, where Boehm reuses them: BoehmPacing.ListedFreedObjects...).
  if (id == kPointerFree) return Alloc(n, Kind::kAtomic);
  void* p;
  {
    RunningBracket b;
    p = TakeFreedTyped(b.m(), Padded(n), id);
    if (p == nullptr) p = gc_alloc(b.m(), id, Padded(n));
  }
  return p != nullptr ? p : OutOfMemory(n);
}

void* GC_malloc_explicitly_typed_ignore_off_page(size_t n, GC_descr d) {
  return GC_malloc_explicitly_typed(n, d);
}

void* GC_calloc_explicitly_typed(size_t nelements, size_t element_size,
                                 GC_descr) {
  // Conservative: every word of the array is ambiguous.
  if (element_size != 0 && nelements > SIZE_MAX / element_size) return nullptr;
  return GC_malloc(nelements * element_size);
}

// ---- object queries ---------------------------------------------------------

void* GC_base(void* p) {
  gcheap::ObjectRef r;
  return FindObject(p, &r) ? reinterpret_cast<void*>(r.base) : nullptr;
}

int GC_is_heap_ptr(const void* p) {
  gcheap::ObjectRef r;
  if (!g.initialized.load(std::memory_order_acquire)) return 0;
  return g.heap->heap.FindObject(reinterpret_cast<uintptr_t>(p), &r) ? 1 : 0;
}

size_t GC_size(const void* p) {
  gcheap::ObjectRef r;
  return FindObject(p, &r) ? r.span->elemsize : 0;
}

void* GC_same_obj(void* p, void*) { return p; }
void* GC_pre_incr(void** p, ptrdiff_t how_much) {
  *p = static_cast<char*>(*p) + how_much;
  return *p;
}
void* GC_post_incr(void** p, ptrdiff_t how_much) {
  void* old = *p;
  *p = static_cast<char*>(*p) + how_much;
  return old;
}
void* GC_is_visible(void* p) { return p; }
void* GC_is_valid_displacement(void* p) { return p; }

// With GC_all_interior_pointers = 0 (at initialization), an ambiguous word
// of an object or a data segment retains an object only through its base
// or base + a registered displacement; otherwise registering changes
// nothing. Boehm aborts on an offset of HBLKSIZE (4096) or more.
void GC_register_displacement(size_t offset) {
  if (offset >= gcheap::Displacements::kLimit) {
    fprintf(stderr,
            "gcheap libgc: Bad argument to GC_register_displacement (%zu)\n",
            offset);
    abort();
  }
  gcheap::boehm::EnsureInit();
  if (g.pad != 0) return;  // every interior pointer is recognized
  RunningBracket b;
  GC_CHECK(gc_register_displacement(g.heap, offset) == 0,
           "the heap was created with ambiguous_displacements");
}
// Read at initialization only (after it, the heap's rule and the objects'
// padding stay as they were).
void GC_set_all_interior_pointers(int v) {
  if (!g.initialized.load()) GC_all_interior_pointers = v ? 1 : 0;
}
int GC_get_all_interior_pointers(void) { return GC_all_interior_pointers; }

// ---- roots ------------------------------------------------------------------

void GC_add_roots(void* lo, void* hi) {
  gcheap::boehm::EnsureInit();
  if (hi <= lo) return;
  RunningBracket b;
  gc_add_conservative_root_range(
      g.heap, lo, static_cast<char*>(hi) - static_cast<char*>(lo));
  g_static_root_bytes.fetch_add(static_cast<char*>(hi) - static_cast<char*>(lo),
                                std::memory_order_relaxed);
}

void GC_remove_roots(void* lo, void* hi) {
  if (!g.initialized.load() || hi <= lo) return;
  RunningBracket b;
  // Boehm removes whole registered ranges inside [lo, hi); gcheap's are
  // counted per (start, bytes): remove the exact range if registered.
  while (gc_remove_conservative_root_range(
             g.heap, lo, static_cast<char*>(hi) - static_cast<char*>(lo)) ==
         0) {
    g_static_root_bytes.fetch_sub(
        static_cast<char*>(hi) - static_cast<char*>(lo),
        std::memory_order_relaxed);
  }
}

void GC_clear_roots(void) {}
void GC_exclude_static_roots(void*, void*) {}
void GC_clear_exclusion_table(void) {}
int GC_is_tmp_root(void*) { return 0; }

void GC_set_push_other_roots(GC_push_other_roots_proc fn) {
  GC_push_other_roots = fn;
}
GC_push_other_roots_proc GC_get_push_other_roots(void) {
  return GC_push_other_roots;
}

void GC_push_all(void* lo, void* hi) {
  if (g_push_visitor != nullptr && lo < hi) g_push_visitor->Ambiguous(lo, hi);
}
// Eager pushes are Boehm's stack rule: any interior pointer retains.
void GC_push_all_eager(void* lo, void* hi) {
  if (g_push_visitor != nullptr && lo < hi) {
    g_push_visitor->AmbiguousStack(lo, hi);
  }
}
void GC_push_conditional(void* lo, void* hi, int) { GC_push_all(lo, hi); }
void GC_push_finalizer_structures(void) {}

// Boehm's mark bit, set by the client. Inside GC_push_other_roots (the
// collection in progress) the object is retained through this collection:
// it is pushed as an ambiguous root, so what it references survives too
// (Boehm sets the bit without scanning the contents; gcheap never keeps an
// object whose referents it may free). Outside a collection it changes
// nothing, as in Boehm, whose next full collection clears every mark bit
// before marking (ecl sets one at start-up). GC_is_marked and
// GC_clear_mark_bit are not provided: between collections gcheap's mark
// bits belong to the lazy sweep, and clearing one could free a live object.
void GC_set_mark_bit(const void* p) {
  if (g_push_visitor == nullptr) return;
  void* base = GC_base(const_cast<void*>(p));
  if (base != nullptr) g_push_visitor->Ambiguous(&base, &base + 1);
}

// Boehm's wrapper (gc_pthread_redirects.h maps dlopen to it): nothing to
// guard here, since the collector reads the loaded objects without the
// loader's lock, and nothing to register: every collection walks the
// dynamic linker's list (ScanSharedObjects), so the new object's data and
// bss are roots from the next collection on.
void* GC_dlopen(const char* path, int mode) { return dlopen(path, mode); }

void GC_set_no_dls(int v) { GC_no_dls = v; }
int GC_get_no_dls(void) { return GC_no_dls; }
void GC_set_stackbottom(void*, const struct GC_stack_base*) {}

// ---- control ---------------------------------------------------------------

void GC_gcollect(void) {
  gcheap::boehm::EnsureInit();
  if (GC_dont_gc > 0) return;
  {
    RunningBracket b;
    gc_collect(b.m());
  }
  gcheap::boehm::AfterCollectionPoint(true);
}

void GC_gcollect_and_unmap(void) { GC_gcollect(); }
int GC_try_to_collect(GC_stop_func) {
  GC_gcollect();
  return GC_dont_gc > 0 ? 0 : 1;
}
int GC_collect_a_little(void) { return 0; }
void GC_start_incremental_collection(void) {}

void GC_disable(void) {
  gcheap::boehm::EnsureInit();
  GC_dont_gc++;
  g.heap->collector->DisableAutoCollect();
}

void GC_enable(void) {
  gcheap::boehm::EnsureInit();
  if (GC_dont_gc <= 0) {
    g_warn.load()(
        const_cast<char*>("GC Warning: GC_enable without GC_disable (%lu)\n"),
        0);
    return;
  }
  GC_dont_gc--;
  g.heap->collector->EnableAutoCollect();
}

int GC_is_disabled(void) { return GC_dont_gc != 0; }
void GC_set_disable_automatic_collection(int) {}
int GC_get_disable_automatic_collection(void) { return 0; }

// Grows the heap by `bytes` and raises the requested heap size by as much,
// as Boehm does: no automatic collection starts before that much is in use.
int GC_expand_hp(size_t bytes) {
  gcheap::boehm::EnsureInit();
  RunningBracket b;  // no pause holds the heap lock meanwhile
  if (!g.heap->heap.Expand(bytes)) return 0;
  RequestHeap(bytes);
  return 1;
}

// In force at once: spans that would take the heap's in-use memory past it
// fail (after a collection and a retry), and the allocation returns the
// out-of-memory function's result. 0 removes the limit.
void GC_set_max_heap_size(GC_word n) {
  g_max_heap.store(n);
  if (!g.initialized.load(std::memory_order_acquire)) return;
  RunningBracket b;
  g.heap->heap.set_hard_limit(MaxHeapLimit(n));
}
void GC_set_free_space_divisor(GC_word v) {
  if (v > 0) GC_free_space_divisor = v;
}
GC_word GC_get_free_space_divisor(void) { return GC_free_space_divisor; }
void GC_set_dont_expand(int v) { GC_dont_expand = v; }
int GC_get_dont_expand(void) { return GC_dont_expand; }
void GC_set_full_freq(int v) { GC_full_freq = v; }
int GC_get_full_freq(void) { return GC_full_freq; }
void GC_set_non_gc_bytes(GC_word v) { GC_non_gc_bytes = v; }
GC_word GC_get_non_gc_bytes(void) { return GC_non_gc_bytes; }
void GC_set_max_retries(GC_word v) { GC_max_retries = v; }
GC_word GC_get_max_retries(void) { return GC_max_retries; }
void GC_set_dont_precollect(int v) { GC_dont_precollect = v; }
int GC_get_dont_precollect(void) { return GC_dont_precollect; }
void GC_set_time_limit(unsigned long v) { GC_time_limit = v; }
unsigned long GC_get_time_limit(void) { return GC_time_limit; }
void GC_set_find_leak(int v) { GC_find_leak = v; }
int GC_get_find_leak(void) { return GC_find_leak; }
int GC_get_parallel(void) { return GC_parallel; }
void GC_set_force_unmap_on_gcollect(int) {}
int GC_get_force_unmap_on_gcollect(void) { return 0; }
void GC_set_pages_executable(int) {}
int GC_get_pages_executable(void) { return 0; }
void GC_set_on_heap_resize(GC_on_heap_resize_proc f) { GC_on_heap_resize = f; }
void GC_set_on_collection_event(GC_on_collection_event_proc f) {
  g_on_event.store(f);
  if (f != nullptr && g.initialized.load()) InstallEventListener();
}
GC_on_collection_event_proc GC_get_on_collection_event(void) {
  return g_on_event.load();
}
void GC_set_start_callback(GC_start_callback_proc f) {
  g_start_callback.store(f);
  if (f != nullptr && g.initialized.load()) InstallEventListener();
}
GC_start_callback_proc GC_get_start_callback(void) {
  return g_start_callback.load();
}
GC_on_heap_resize_proc GC_get_on_heap_resize(void) { return GC_on_heap_resize; }
void GC_set_min_bytes_allocd(size_t) {}
size_t GC_get_min_bytes_allocd(void) { return 1; }
void GC_set_rate(int) {}
int GC_get_rate(void) { return 10; }
void GC_set_max_prior_attempts(int) {}
int GC_get_max_prior_attempts(void) { return 1; }
void* GC_clear_stack(void* p) { return p; }
void GC_noop1(GC_word) {}
void GC_set_log_fd(int fd) {
  if (FILE* f = fdopen(fd, "a")) g_log = f;
}

void* GC_call_with_alloc_lock(GC_fn_type fn, void* client_data) {
  // The allocation lock: no collection runs while fn runs (the thread
  // counts as running for gcheap, so a pause waits for it).
  RunningBracket b;
  static std::mutex lock;
  std::lock_guard<std::mutex> l(lock);
  return fn(client_data);
}

void GC_alloc_lock(void) {}
void GC_alloc_unlock(void) {}

void GC_set_oom_fn(GC_oom_func f) {
  g_oom.store(f != nullptr ? f : DefaultOom);
}
GC_oom_func GC_get_oom_fn(void) { return g_oom.load(); }
void GC_set_warn_proc(GC_warn_proc p) {
  g_warn.store(p != nullptr ? p : DefaultWarn);
}
GC_warn_proc GC_get_warn_proc(void) { return g_warn.load(); }
void GC_ignore_warn_proc(char*, GC_word) {}
// Boehm's: the message, the abort function with NULL, exit(1).
void GC_abort_on_oom(void) {
  fprintf(stderr, "Insufficient memory for the allocation\n");
  if (GC_abort_func f = g_abort.load()) f(nullptr);
  exit(1);
}
void GC_set_abort_func(GC_abort_func f) { g_abort.store(f); }
GC_abort_func GC_get_abort_func(void) { return g_abort.load(); }

// ---- statistics ------------------------------------------------------------

namespace {
gc_stats ReadStats() {
  gc_stats s;
  memset(&s, 0, sizeof(s));
  s.struct_size = sizeof(s);
  if (!g.initialized.load()) return s;
  RunningBracket b;
  gc_get_stats(g.heap, &s);
  return s;
}
size_t HeapSize(const gc_stats& s) { return s.mapped_bytes - s.released_bytes; }
size_t FreeBytes(const gc_stats& s) {
  const size_t h = HeapSize(s);
  return h > s.bytes_in_use ? h - s.bytes_in_use : 0;
}
// Bytes allocated since the last collection.
size_t SinceGc(const gc_stats& s) {
  const uint64_t at = g_allocated_at_gc.load(std::memory_order_relaxed);
  return s.bytes_allocated > at ? s.bytes_allocated - at : 0;
}
}  // namespace

size_t GC_get_heap_size(void) { return HeapSize(ReadStats()); }
size_t GC_get_free_bytes(void) { return FreeBytes(ReadStats()); }
size_t GC_get_unmapped_bytes(void) { return ReadStats().released_bytes; }
size_t GC_get_bytes_since_gc(void) { return SinceGc(ReadStats()); }
size_t GC_get_expl_freed_bytes_since_gc(void) {
  return g_expl_freed.load(std::memory_order_relaxed);
}
size_t GC_get_total_bytes(void) { return ReadStats().bytes_allocated; }
size_t GC_get_obtained_from_os_bytes(void) { return ReadStats().mapped_bytes; }
size_t GC_get_memory_use(void) {
  const gc_stats s = ReadStats();
  return HeapSize(s) - FreeBytes(s);
}
GC_word GC_get_gc_no(void) { return g_cycles.load(); }
void GC_get_heap_usage_safe(GC_word* heap_size, GC_word* free_bytes,
                            GC_word* unmapped_bytes, GC_word* bytes_since_gc,
                            GC_word* total_bytes) {
  const gc_stats s = ReadStats();
  if (heap_size) *heap_size = HeapSize(s);
  if (free_bytes) *free_bytes = FreeBytes(s);
  if (unmapped_bytes) *unmapped_bytes = s.released_bytes;
  if (bytes_since_gc) *bytes_since_gc = SinceGc(s);
  if (total_bytes) *total_bytes = s.bytes_allocated;
}
unsigned long GC_get_full_gc_total_time(void) {
  return static_cast<unsigned long>(ReadStats().pause_total_ns / 1000000);
}

// A readable summary of the heap to stderr (Boehm prints its block lists;
// gcheap's figures stand in for them).
void GC_dump_named(const char* name) {
  const gc_stats s = ReadStats();
  size_t uncollectable = 0;
  {
    std::lock_guard<std::mutex> l(g_uncoll_mu);
    uncollectable = g_uncollectable.size();
  }
  size_t threads = 0;
  if (g.initialized.load()) {
    std::lock_guard<std::mutex> l(g.threads_mu);
    threads = g.threads->size();
  }
  if (name != nullptr) {
    fprintf(stderr, "***GC Dump %s\n", name);
  } else {
    fprintf(stderr, "***GC Dump collection #%" PRIu64 "\n", g_cycles.load());
  }
  fprintf(stderr,
          "***Heap (gcheap): %zu bytes in use of %zu mapped (%zu released), "
          "%zu free, %zu allocated since the last collection, %" PRIu64
          " allocated in all\n",
          static_cast<size_t>(s.bytes_in_use), HeapSize(s),
          static_cast<size_t>(s.released_bytes), FreeBytes(s), SinceGc(s),
          static_cast<uint64_t>(s.bytes_allocated));
  fprintf(stderr,
          "***Collections: %" PRIu64 ", pauses %" PRIu64
          " ms in all; uncollectable objects: %zu; registered threads: "
          "%zu\n",
          g_cycles.load(), static_cast<uint64_t>(s.pause_total_ns / 1000000),
          uncollectable, threads);
}
void GC_dump(void) { GC_dump_named(nullptr); }

}  // extern "C"
