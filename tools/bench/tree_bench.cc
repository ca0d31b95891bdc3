// tree_bench: the classic GC workloads on one system per process, for the
// side-by-side comparison run by tools/run_anchor_bench.sh. The contract
// (flags, workloads, the RESULT line, the trace CSV) is
// tools/bench/PROTOCOL.md; tools/go/treebench is the same program in Go.
//
//   tree_bench --system=gcheap --workload=binarytrees --depth=21
//   tree_bench --system=boehm-tuned --workload=mtgcbench --threads=4
//   LD_PRELOAD=libjemalloc.so.2 tree_bench --system=malloc --workload=gcbench
//   tree_bench --system=gcheap-stw --workload=marktree --tracing=callback
//
// Systems
//   gcheap       our heap, concurrent marking (the default configuration;
//                GC_PERCENT etc. apply as for any embedder)
//   gcheap-stw   our heap, stop-the-world marking
//   boehm        Boehm GC 8.2 as a first-time user sets it up: GC_INIT(),
//                GC_MALLOC for nodes, GC_MALLOC_ATOMIC for the array,
//                all interior pointers recognized. It starts its parallel
//                markers only when threads are registered (mtgcbench,
//                allocrate), as Boehm does when a program creates threads.
//   boehm-tuned  as its serious users set it up: GC_set_all_interior_
//                pointers(0) before GC_INIT, parallel markers started
//                (GC_allow_register_threads), and typed allocation
//                (GC_malloc_explicitly_typed with a descriptor) for nodes
//                that hold non-pointer words.
//   malloc       malloc/free with explicit frees: every dropped tree is
//                freed node by node. Which malloc is chosen by LD_PRELOAD;
//                the program reports the library that serves malloc.
//
// Each workload is one template over a per-thread context (Gcheap::Cx,
// Boehm::Cx, Malloc::Cx) with the same operations: New<N>() a node,
// Set() a pointer field (our write barrier), Root<N> a pointer held across
// allocations (our shadow stack; a plain local for the others, whose roots
// are the C stack or nothing), Free() a dropped tree (malloc only), Count()
// a tree's nodes. Our heap does not move objects, so a Root's copy of the
// pointer stays valid; the shadow-stack slot is what keeps it alive.
#include <dlfcn.h>
#include <gc/gc.h>
#include <gc/gc_typed.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "benchmark/benchmark.h"
#include "runtime/gc.h"
#include "tools/bench/bench_util.h"
#include "tools/perf_counters.h"
#include "tools/shadow_stack.h"
#include "tools/tree_walk.h"

ABSL_FLAG(std::string, system, "gcheap",
          "gcheap | gcheap-stw | boehm | boehm-tuned | malloc");
ABSL_FLAG(std::string, workload, "gcbench",
          "gcbench | binarytrees | mtgcbench | allocrate | marktree");
ABSL_FLAG(std::string, tracing, "bitmap",
          "marktree on gcheap: bitmap (a pointer bitmap per type) | callback "
          "(one type whose trace callback dispatches on the header word)");
ABSL_FLAG(int, collections, 5, "marktree: timed full collections");
ABSL_FLAG(int, threads, 1, "threads for mtgcbench and allocrate");
ABSL_FLAG(int, depth, 0,
          "binary-trees max depth (0: 21, or 16 with --quick); marktree "
          "tree depth (0: 22, or 20 with --quick)");
ABSL_FLAG(bool, quick, false, "smaller sizes (tools/bench/PROTOCOL.md)");
ABSL_FLAG(std::string, trace, "", "write the trace CSV here at exit");

namespace gcheap {
namespace {

using Clock = std::chrono::steady_clock;

using bench::CpuMs;
using bench::Fail;
using bench::MaxRssMb;

double RssMb() {
  long pages = 0, resident = 0;
  FILE* f = fopen("/proc/self/statm", "r");
  if (f == nullptr) return NAN;
  const int n = fscanf(f, "%ld %ld", &pages, &resident);
  fclose(f);
  if (n != 2) return NAN;
  return resident * static_cast<double>(sysconf(_SC_PAGESIZE)) / 1048576.0;
}

// ---------------------------------------------------------------------------
// What a run records: per-cycle pauses (written by the system's GC hook,
// possibly on another thread, into a preallocated log) and, from a sampler
// thread, RSS and heap size every 10 ms.

class Recorder {
 public:
  static constexpr size_t kMaxPauses = 1 << 20;

  Recorder()
      : pauses_(new Pause[kMaxPauses]), heap_points_(new Pause[kMaxPauses]) {}

  // Starts the clock and the sampler; heap_mb() returns the system's heap
  // size in MiB (NaN if it cannot tell).
  void Start(std::function<double()> heap_mb) {
    heap_mb_ = std::move(heap_mb);
    cpu0_ = CpuMs();
    t0_ = Clock::now();
    started_.store(true, std::memory_order_release);
    sampler_ = std::thread([this] { Sample(); });
  }

  // Called by a GC hook at the end of a cycle whose pauses summed to ns.
  void AddPause(uint64_t ns) {
    if (!started_.load(std::memory_order_acquire)) return;
    const size_t i = npauses_.fetch_add(1, std::memory_order_relaxed);
    if (i < kMaxPauses) pauses_[i] = {NowMs(), ns / 1e3};
  }

  // Called by a GC hook: the collector's heap size at time t_ms.
  void AddHeap(double t_ms, double mb) {
    if (!started_.load(std::memory_order_acquire)) return;
    const size_t i = nheap_.fetch_add(1, std::memory_order_relaxed);
    if (i < kMaxPauses) heap_points_[i] = {t_ms, mb};
  }

  double NowMs() const { return MsAt(Clock::now()); }
  double MsAt(Clock::time_point t) const {
    return std::chrono::duration<double, std::milli>(t - t0_).count();
  }

  // Stops the clock and the sampler, prints the RESULT line and writes the
  // trace. Extra is appended to the RESULT line (ns_per_alloc, allocator).
  void Finish(const char* system, const char* workload, int threads,
              double ns_per_alloc, const char* allocator) {
    const double wall_ms = NowMs();
    const double cpu_ms = CpuMs() - cpu0_;
    started_.store(false, std::memory_order_release);
    {
      std::lock_guard<std::mutex> g(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    sampler_.join();
    const size_t n = std::min(npauses_.load(), kMaxPauses);
    std::vector<double> us;
    for (size_t i = 0; i < n; i++) us.push_back(pauses_[i].us);
    std::sort(us.begin(), us.end());
    auto pct = [&](double p) -> double {
      if (us.empty()) return NAN;
      size_t rank = static_cast<size_t>(std::ceil(p * us.size()));
      return us[std::clamp<size_t>(rank, 1, us.size()) - 1];
    };
    printf(
        "RESULT system=%s workload=%s threads=%d wall_ms=%.1f cpu_ms=%.1f "
        "max_rss_mb=%.1f gcs=%zu pause_p50_us=%.1f pause_p99_us=%.1f "
        "pause_max_us=%.1f ns_per_alloc=%.2f allocator=%s\n",
        system, workload, threads, wall_ms, cpu_ms, MaxRssMb(), n, pct(0.5),
        pct(0.99), us.empty() ? NAN : us.back(), ns_per_alloc, allocator);
    fflush(stdout);
    WriteTrace(n);
  }

 private:
  struct Pause {
    double t_ms;
    double us;
  };
  struct Sample_ {
    double t_ms, rss_mb, heap_mb;
  };

  void Sample() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      lock.unlock();
      samples_.push_back({NowMs(), RssMb(), heap_mb_()});
      lock.lock();
      cv_.wait_for(lock, std::chrono::milliseconds(10));
    }
  }

  void WriteTrace(size_t npauses) {
    const std::string path = absl::GetFlag(FLAGS_trace);
    if (path.empty()) return;
    FILE* f = fopen(path.c_str(), "w");
    if (f == nullptr) Fail("cannot write " + path);
    fprintf(f, "kind,t_ms,value\n");
    for (const Sample_& s : samples_) {
      fprintf(f, "rss,%.1f,%.2f\n", s.t_ms, s.rss_mb);
      if (!std::isnan(s.heap_mb)) {
        fprintf(f, "heap,%.1f,%.2f\n", s.t_ms, s.heap_mb);
      }
    }
    for (size_t i = 0; i < npauses; i++) {
      fprintf(f, "pause,%.1f,%.1f\n", pauses_[i].t_ms, pauses_[i].us);
    }
    const size_t nheap = std::min(nheap_.load(), kMaxPauses);
    for (size_t i = 0; i < nheap; i++) {
      fprintf(f, "heap,%.1f,%.2f\n", heap_points_[i].t_ms, heap_points_[i].us);
    }
    fclose(f);
  }

  std::unique_ptr<Pause[]> pauses_;
  std::atomic<size_t> npauses_{0};
  std::unique_ptr<Pause[]> heap_points_;  // {t_ms, MiB}
  std::atomic<size_t> nheap_{0};
  std::atomic<bool> started_{false};
  std::function<double()> heap_mb_;
  Clock::time_point t0_;
  double cpu0_ = 0;
  std::thread sampler_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::vector<Sample_> samples_;  // the sampler's own until joined
};

Recorder* recorder = nullptr;

// ---------------------------------------------------------------------------
// Node types.

struct GNode {  // GCBench: two pointers and two ints
  GNode* left;
  GNode* right;
  int32_t i;
  int32_t j;
};
static_assert(sizeof(GNode) == 24);

struct BNode {  // binary-trees: two pointers
  BNode* left;
  BNode* right;
};

// marktree: a VM's object, whose first word is a header with the object's
// kind in its low byte (a vector keeps its length above it). Only pairs
// are allocated; the trace callback still dispatches on the kind, as a
// VM's single registered type must.
struct VObj {
  uint64_t header;
  VObj* left;
  VObj* right;
  int64_t payload;
};
static_assert(sizeof(VObj) == 32);
enum VKind : uint64_t { kVPair = 1, kVVector = 2, kVBytes = 3 };

// The callback of the one registered type in --tracing=callback.
void TraceVObj(void* obj, gc_visit_fn visit, void* ctx) {
  auto* w = static_cast<void**>(obj);
  const uint64_t header = reinterpret_cast<uint64_t>(w[0]);
  switch (header & 0xff) {
    case kVPair:
      visit(&w[1], ctx);
      visit(&w[2], ctx);
      break;
    case kVVector:
      for (uint64_t i = 0, n = header >> 8; i < n; i++) visit(&w[1 + i], ctx);
      break;
    default:  // kVBytes and anything without pointers
      break;
  }
}

// ---------------------------------------------------------------------------
// Our heap.

class Gcheap {
 public:
  explicit Gcheap(bool stop_the_world) {
    gc_config cfg;
    gc_config_init(&cfg);
    cfg.stop_the_world = stop_the_world ? 1 : 0;
    heap_ = gc_heap_create(&cfg);
    if (heap_ == nullptr) Fail(gc_last_error());
    static const uint64_t kGNodeMap = 0b011;  // left, right; word 2: i, j
    static const uint64_t kBNodeMap = 0b11;
    static const uint64_t kVObjMap = 0b110;  // header, left, right, payload
    gnode_ = Register("GNode", sizeof(GNode), &kGNodeMap);
    bnode_ = Register("BNode", sizeof(BNode), &kBNodeMap);
    if (absl::GetFlag(FLAGS_tracing) == "callback") {
      gc_type_desc d;
      gc_type_desc_init(&d);
      d.name = "VObj";
      d.size = sizeof(VObj);
      d.trace = &TraceVObj;
      vobj_ = gc_register_type(heap_, &d);
      if (vobj_ == 0) Fail(gc_last_error());
    } else if (absl::GetFlag(FLAGS_tracing) == "bitmap") {
      vobj_ = Register("VObj", sizeof(VObj), &kVObjMap);
    } else {
      Fail("--tracing must be bitmap or callback");
    }
    created_ = Clock::now();
    gc_set_cycle_hook(
        heap_,
        [](const gc_cycle_info* info, void* data) {
          recorder->AddPause(info->pause_ns);
          // gctrace's heap figures: at the cycle's start, at the end of
          // marking, and what was marked.
          auto* self = static_cast<Gcheap*>(data);
          const double start = recorder->MsAt(
              self->created_ + std::chrono::nanoseconds(info->start_ns));
          const double end = recorder->NowMs();
          recorder->AddHeap(start, info->heap_before / 1048576.0);
          recorder->AddHeap(end, info->heap_end / 1048576.0);
          recorder->AddHeap(end, info->live_bytes / 1048576.0);
        },
        this);
  }
  ~Gcheap() { gc_heap_destroy(heap_); }

  // The heap is traced from the cycle hook (below), not sampled:
  // gc_get_stats takes the heap lock, and a sampler preempted while it
  // holds it would hold up a mutator's next span refill, and so a stop.
  double HeapMb() const { return NAN; }
  // The COUNTERS line (tools/perf_counters.h), before RESULT.
  void PrintCounters() { PrintPerfCounters(heap_); }

  // One attached thread.
  class Cx {
   public:
    explicit Cx(Gcheap* g)
        : g_(g), m_(gc_thread_attach(g->heap_)), stack_(g->heap_) {
      if (m_ == nullptr) Fail(gc_last_error());
    }
    ~Cx() = default;  // detaches below, after the shadow stack is gone
    Cx(const Cx&) = delete;
    Cx& operator=(const Cx&) = delete;

    template <typename N>
    N* New() {
      void* p = gc_alloc(m_,
                         std::is_same_v<N, GNode>   ? g_->gnode_
                         : std::is_same_v<N, BNode> ? g_->bnode_
                                                    : g_->vobj_,
                         sizeof(N));
      if (p == nullptr) Fail(gc_last_error());
      return static_cast<N*>(p);
    }
    void* NewNoscan(size_t bytes) {
      void* p = gc_alloc_noscan(m_, bytes);
      if (p == nullptr) Fail(gc_last_error());
      return p;
    }
    template <typename N>
    void Set(N* obj, N** field, N* value) {
      gc_write_barrier(m_, obj, reinterpret_cast<void**>(field), value);
    }
    template <typename N>
    void Free(N*) {}
    void FreeNoscan(void*) {}
    template <typename N>
    long Count(const N* n) {
      return CountNodes(m_, n);
    }
    void Collect() { gc_collect(m_); }
    // Waiting for other threads: let collections run meanwhile.
    void Wait(const std::function<void()>& wait) {
      gc_enter_blocking(m_);
      wait();
      gc_leave_blocking(m_);
    }

    // A pointer kept alive across allocations: on the shadow stack.
    template <typename N>
    class Root {
     public:
      Root(Cx& cx, N* p) : cx_(cx), p_(p) { cx.stack_.stack.Push(p); }
      ~Root() { cx_.stack_.stack.Pop(); }
      N* get() const { return p_; }

     private:
      Cx& cx_;
      N* p_;
    };

    // A ring of pointers the workload replaces one by one (allocrate): a
    // root range, written without a barrier like any root.
    void** NewRing(size_t n) {
      void** ring = new void*[n]();
      if (gc_add_root_range(g_->heap_, ring, n) != 0) Fail(gc_last_error());
      return ring;
    }
    void DeleteRing(void** ring, size_t n) {
      gc_remove_root_range(g_->heap_, ring, n);
      delete[] ring;
    }
    void* AllocSmall(size_t bytes) { return NewNoscan(bytes); }
    void FreeSmall(void*) {}

   private:
    // Detaches after the shadow stack is unregistered.
    struct Stack {
      explicit Stack(gc_heap* h) : stack(h) {}
      ShadowStack stack;
    };
    struct Detach {
      gc_mutator* m;
      ~Detach() { gc_thread_detach(m); }
    };
    Gcheap* g_;
    gc_mutator* m_;
    Detach detach_{m_};
    Stack stack_;
  };

 private:
  // map: one bitmap word (the node types are under 512 bytes).
  gc_type_id Register(const char* name, size_t size, const uint64_t* map) {
    gc_type_desc d;
    gc_type_desc_init(&d);
    d.name = name;
    d.size = size;
    d.ptr_bitmap = map;
    d.ptr_bitmap_words = 1;
    gc_type_id t = gc_register_type(heap_, &d);
    if (t == 0) Fail(gc_last_error());
    return t;
  }

  gc_heap* heap_;
  Clock::time_point created_;
  gc_type_id gnode_ = 0;
  gc_type_id bnode_ = 0;
  gc_type_id vobj_ = 0;
};

// ---------------------------------------------------------------------------
// What Boehm's and malloc's contexts share: pointer stores are plain, a
// root is a local (on the C stack, which Boehm scans and malloc does not
// need), and nothing polls for safepoints.

struct PlainCx {
  template <typename N>
  void Set(N*, N** field, N* value) {
    *field = value;
  }
  template <typename N>
  long Count(const N* n) {
    return CountNodesPolling(n, [] {});
  }
  void Wait(const std::function<void()>& wait) { wait(); }

  template <typename N>
  class Root {
   public:
    Root(PlainCx&, N* p) : p_(p) {}
    N* get() const { return p_; }

   private:
    N* p_;
  };
};

// ---------------------------------------------------------------------------
// Boehm GC.

class Boehm {
 public:
  explicit Boehm(bool tuned) : tuned_(tuned) {
    if (tuned) GC_set_all_interior_pointers(0);
    GC_INIT();
    GC_set_on_collection_event(&OnEvent);
    if (tuned) {
      GC_allow_register_threads();  // starts the parallel markers
      GC_word bitmap[GC_BITMAP_SIZE(GNode)] = {0};
      GC_set_bit(bitmap, GC_WORD_OFFSET(GNode, left));
      GC_set_bit(bitmap, GC_WORD_OFFSET(GNode, right));
      gnode_descr_ = GC_make_descriptor(bitmap, GC_WORD_LEN(GNode));
      GC_word vbitmap[GC_BITMAP_SIZE(VObj)] = {0};
      GC_set_bit(vbitmap, GC_WORD_OFFSET(VObj, left));
      GC_set_bit(vbitmap, GC_WORD_OFFSET(VObj, right));
      vobj_descr_ = GC_make_descriptor(vbitmap, GC_WORD_LEN(VObj));
    }
  }

  void PrintCounters() {}
  double HeapMb() const {
    GC_word heap = 0, free_bytes = 0;
    GC_get_heap_usage_safe(&heap, &free_bytes, nullptr, nullptr, nullptr);
    return (heap - free_bytes) / 1048576.0;
  }

  // Threads other than the main one register themselves.
  static void PrepareThreads() { GC_allow_register_threads(); }

  class Cx : public PlainCx {
   public:
    explicit Cx(Boehm* b) : b_(b) {
      if (!GC_thread_is_registered()) {
        GC_stack_base sb;
        if (GC_get_stack_base(&sb) != GC_SUCCESS) Fail("GC_get_stack_base");
        GC_register_my_thread(&sb);
        registered_ = true;
      }
    }
    ~Cx() {
      if (registered_) GC_unregister_my_thread();
    }
    Cx(const Cx&) = delete;
    Cx& operator=(const Cx&) = delete;

    template <typename N>
    N* New() {
      void* p;
      if (std::is_same_v<N, GNode> && b_->tuned_) {
        p = GC_malloc_explicitly_typed(sizeof(N), b_->gnode_descr_);
      } else if (std::is_same_v<N, VObj> && b_->tuned_) {
        p = GC_malloc_explicitly_typed(sizeof(N), b_->vobj_descr_);
      } else {
        p = GC_MALLOC(sizeof(N));
      }
      if (p == nullptr) Fail("Boehm GC: out of memory");
      return static_cast<N*>(p);
    }
    void* NewNoscan(size_t bytes) {
      void* p = GC_MALLOC_ATOMIC(bytes);
      if (p == nullptr) Fail("Boehm GC: out of memory");
      memset(p, 0, bytes);  // GC_MALLOC_ATOMIC does not clear; ours does
      return p;
    }
    template <typename N>
    void Free(N*) {}
    void FreeNoscan(void*) {}
    void Collect() { GC_gcollect(); }

    // Uncollectable: scanned as a root, freed explicitly.
    void** NewRing(size_t n) {
      auto** ring = static_cast<void**>(GC_MALLOC_UNCOLLECTABLE(n * 8));
      if (ring == nullptr) Fail("Boehm GC: out of memory");
      return ring;
    }
    void DeleteRing(void** ring, size_t) { GC_FREE(ring); }
    void* AllocSmall(size_t bytes) {
      void* p = GC_MALLOC_ATOMIC(bytes);
      if (p == nullptr) Fail("Boehm GC: out of memory");
      return p;
    }
    void FreeSmall(void*) {}

   private:
    Boehm* b_;
    bool registered_ = false;
  };

 private:
  // Called with Boehm's allocation lock held, on the collecting thread.
  static void OnEvent(GC_EventType e) {
    static Clock::time_point stop_start;
    if (e == GC_EVENT_PRE_STOP_WORLD) {
      stop_start = Clock::now();
    } else if (e == GC_EVENT_POST_START_WORLD) {
      recorder->AddPause(std::chrono::duration_cast<std::chrono::nanoseconds>(
                             Clock::now() - stop_start)
                             .count());
    }
  }

  bool tuned_;
  GC_descr gnode_descr_ = 0;
  GC_descr vobj_descr_ = 0;
};

// ---------------------------------------------------------------------------
// malloc/free.

// The shared library that defines the malloc this process calls.
std::string MallocName() {
  void* f = dlsym(RTLD_DEFAULT, "malloc");
  Dl_info info;
  if (f == nullptr || dladdr(f, &info) == 0 || info.dli_fname == nullptr) {
    return "unknown";
  }
  const std::string lib = info.dli_fname;
  for (const char* name : {"mimalloc", "jemalloc", "tcmalloc"}) {
    if (lib.find(name) != std::string::npos) return name;
  }
  if (lib.find("libc.so") != std::string::npos) return "glibc";
  return "unknown(" + lib + ")";
}

class Malloc {
 public:
  double HeapMb() const { return NAN; }
  void PrintCounters() {}

  class Cx : public PlainCx {
   public:
    explicit Cx(Malloc*) {}
    Cx(const Cx&) = delete;
    Cx& operator=(const Cx&) = delete;

    template <typename N>
    N* New() {
      auto* n = static_cast<N*>(malloc(sizeof(N)));
      if (n == nullptr) Fail("malloc: out of memory");
      n->left = n->right = nullptr;
      return n;
    }
    void* NewNoscan(size_t bytes) {
      void* p = calloc(1, bytes);
      if (p == nullptr) Fail("calloc: out of memory");
      return p;
    }
    // Frees a dropped tree, node by node.
    template <typename N>
    void Free(N* n) {
      while (n != nullptr) {
        Free(n->right);
        N* left = n->left;
        free(n);
        n = left;
      }
    }
    void FreeNoscan(void* p) { free(p); }
    [[noreturn]] void Collect() { Fail("marktree needs a collector"); }

    void** NewRing(size_t n) { return new void*[n](); }
    void DeleteRing(void** ring, size_t) { delete[] ring; }
    void* AllocSmall(size_t bytes) {
      void* p = malloc(bytes);
      if (p == nullptr) Fail("malloc: out of memory");
      return p;
    }
    void FreeSmall(void* p) { free(p); }
  };
};

// ---------------------------------------------------------------------------
// Workloads.

long TreeSize(int depth) { return (1L << (depth + 1)) - 1; }

struct GcBenchParams {
  int stretch_tree_depth = 18;
  int long_lived_tree_depth = 16;
  int array_size = 500000;
  int min_tree_depth = 4;
  int max_tree_depth = 16;
};

GcBenchParams GcBenchSize() {
  GcBenchParams p;
  if (absl::GetFlag(FLAGS_quick)) {
    p.stretch_tree_depth = 16;
    p.long_lived_tree_depth = 14;
    p.max_tree_depth = 14;
  }
  return p;
}

// GCBench's tree builders on one thread's context.
template <typename Cx>
class GcBenchTrees {
 public:
  GcBenchTrees(Cx& cx, const GcBenchParams& p) : cx_(cx), p_(p) {}

  long NumIters(int depth) const {
    return 2 * TreeSize(p_.stretch_tree_depth) / TreeSize(depth);
  }

  // Builds the tree below `node` top-down: children first, then their
  // subtrees.
  void Populate(int depth, GNode* node) {
    if (depth <= 0) return;
    depth--;
    typename Cx::template Root<GNode> self(cx_, node);
    cx_.Set(node, &node->left, cx_.template New<GNode>());
    cx_.Set(node, &node->right, cx_.template New<GNode>());
    Populate(depth, node->left);
    Populate(depth, node->right);
  }

  // Builds a tree bottom-up: both subtrees, then their parent.
  GNode* MakeTree(int depth) {
    if (depth <= 0) return cx_.template New<GNode>();
    typename Cx::template Root<GNode> l(cx_, MakeTree(depth - 1));
    typename Cx::template Root<GNode> r(cx_, MakeTree(depth - 1));
    GNode* n = cx_.template New<GNode>();
    cx_.Set(n, &n->left, l.get());
    cx_.Set(n, &n->right, r.get());
    return n;
  }

  // iters trees of the depth top-down, then as many bottom-up; each dropped.
  void TimeConstruction(int depth, long iters) {
    for (long i = 0; i < iters; i++) {
      GNode* temp = cx_.template New<GNode>();
      Populate(depth, temp);
      cx_.Free(temp);
    }
    for (long i = 0; i < iters; i++) cx_.Free(MakeTree(depth));
  }

 private:
  Cx& cx_;
  const GcBenchParams p_;
};

// GCBench, or with threads > 0 the multi-threaded GCBench: the per-depth
// loop split over that many threads.
template <typename System>
void RunGcBench(System& sys, int threads) {
  using Cx = typename System::Cx;
  const GcBenchParams p = GcBenchSize();
  Cx cx(&sys);
  GcBenchTrees<Cx> trees(cx, p);
  // Stretch the memory space quickly.
  cx.Free(trees.MakeTree(p.stretch_tree_depth));
  // A long-lived tree, built top-down, and a long-lived array.
  typename Cx::template Root<GNode> long_lived(cx, cx.template New<GNode>());
  trees.Populate(p.long_lived_tree_depth, long_lived.get());
  auto* array =
      static_cast<double*>(cx.NewNoscan(sizeof(double) * p.array_size));
  typename Cx::template Root<GNode> array_root(cx,
                                               reinterpret_cast<GNode*>(array));
  for (int i = 0; i < p.array_size / 2; i++) array[i] = 1.0 / i;

  if (threads == 0) {
    for (int d = p.min_tree_depth; d <= p.max_tree_depth; d += 2) {
      trees.TimeConstruction(d, trees.NumIters(d));
    }
  } else {
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; t++) {
      workers.emplace_back([&sys, &p, threads] {
        Cx wcx(&sys);
        GcBenchTrees<Cx> w(wcx, p);
        for (int d = p.min_tree_depth; d <= p.max_tree_depth; d += 2) {
          w.TimeConstruction(d, w.NumIters(d) / threads);
        }
      });
    }
    cx.Wait([&] {
      for (std::thread& w : workers) w.join();
    });
  }

  // The original's check, and a full count of the long-lived tree.
  if (array[1000] != 1.0 / 1000) Fail("GCBench: long-lived array damaged");
  if (cx.Count(long_lived.get()) != TreeSize(p.long_lived_tree_depth)) {
    Fail("GCBench: long-lived tree damaged");
  }
  cx.Free(long_lived.get());
  cx.FreeNoscan(array);
}

// binary-trees (the Benchmarks Game), single-threaded.
template <typename Cx>
class BinaryTrees {
 public:
  explicit BinaryTrees(Cx& cx) : cx_(cx) {}

  void Run(int n) {
    const int min_depth = 4;
    const int max_depth = std::max(min_depth + 2, n);
    const int stretch_depth = max_depth + 1;
    printf("stretch tree of depth %d\t check: %ld\n", stretch_depth,
           Check(BottomUpTree(stretch_depth), stretch_depth, 1));
    typename Cx::template Root<BNode> long_lived(cx_, BottomUpTree(max_depth));
    for (int d = min_depth; d <= max_depth; d += 2) {
      const long iterations = 1L << (max_depth - d + min_depth);
      long check = 0;
      for (long i = 0; i < iterations; i++) {
        check += Check(BottomUpTree(d), d, 1);
      }
      Expect(check, d, iterations);
      printf("%ld\t trees of depth %d\t check: %ld\n", iterations, d, check);
    }
    const long check = cx_.Count(long_lived.get());
    Expect(check, max_depth, 1);
    printf("long lived tree of depth %d\t check: %ld\n", max_depth, check);
    cx_.Free(long_lived.get());
  }

 private:
  static void Expect(long got, int depth, long trees) {
    if (got == trees * TreeSize(depth)) return;
    Fail("binary-trees: check " + std::to_string(got) + " for " +
         std::to_string(trees) + " tree(s) of depth " + std::to_string(depth) +
         ", expected " + std::to_string(trees * TreeSize(depth)));
  }

  // Counts a tree (rooted while walked: the walk polls safepoints), checks
  // it and drops it.
  long Check(BNode* tree, int depth, long trees) {
    long count;
    {
      typename Cx::template Root<BNode> root(cx_, tree);
      count = cx_.Count(tree);
    }
    Expect(count, depth, trees);
    cx_.Free(tree);
    return count;
  }

  // A complete tree of the given depth; the parent is allocated first.
  BNode* BottomUpTree(int depth) {
    BNode* n = cx_.template New<BNode>();
    if (depth > 0) {
      typename Cx::template Root<BNode> self(cx_, n);
      cx_.Set(n, &n->left, BottomUpTree(depth - 1));
      cx_.Set(n, &n->right, BottomUpTree(depth - 1));
    }
    return n;
  }

  Cx& cx_;
};

template <typename System>
void RunBinaryTrees(System& sys) {
  typename System::Cx cx(&sys);
  int depth = absl::GetFlag(FLAGS_depth);
  if (depth == 0) depth = absl::GetFlag(FLAGS_quick) ? 16 : 21;
  BinaryTrees<typename System::Cx>(cx).Run(depth);
}

// marktree: what marking a live heap costs. A long-lived complete tree of
// VObj pairs of --depth (default 22: 8M objects, 256 MiB; quick 20) is
// built bottom-up and kept, then --collections explicit full collections
// run, each timed (clock and process CPU: the mark workers count). Prints
//   MARK tracing=T objects=N collections=C wall_ms_median=F cpu_ms_median=F
//        cpu_ns_per_object=F
// before the RESULT line. On gcheap --tracing picks how VObj is described:
// a pointer bitmap, or one type whose trace callback reads the header.
template <typename Cx>
class MarkTree {
 public:
  explicit MarkTree(Cx& cx) : cx_(cx) {}

  void Run(int depth, int collections) {
    typename Cx::template Root<VObj> tree(cx_, BottomUpTree(depth));
    std::vector<double> wall, cpu;
    for (int i = 0; i < collections; i++) {
      const auto t0 = Clock::now();
      const double c0 = CpuMs();
      cx_.Collect();
      cpu.push_back(CpuMs() - c0);
      wall.push_back(
          std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
    const long n = cx_.Count(tree.get());
    if (n != TreeSize(depth)) Fail("marktree: the tree lost nodes");
    std::sort(wall.begin(), wall.end());
    std::sort(cpu.begin(), cpu.end());
    const double cpu_med = cpu[cpu.size() / 2];
    printf(
        "MARK tracing=%s objects=%ld collections=%d wall_ms_median=%.1f "
        "cpu_ms_median=%.1f cpu_ns_per_object=%.2f\n",
        absl::GetFlag(FLAGS_tracing).c_str(), n, collections,
        wall[wall.size() / 2], cpu_med, cpu_med * 1e6 / n);
  }

 private:
  VObj* BottomUpTree(int depth) {
    VObj* n = cx_.template New<VObj>();
    n->header = kVPair;
    n->payload = depth;
    if (depth > 0) {
      typename Cx::template Root<VObj> self(cx_, n);
      cx_.Set(n, &n->left, BottomUpTree(depth - 1));
      cx_.Set(n, &n->right, BottomUpTree(depth - 1));
    }
    return n;
  }

  Cx& cx_;
};

template <typename System>
void RunMarkTree(System& sys) {
  typename System::Cx cx(&sys);
  int depth = absl::GetFlag(FLAGS_depth);
  if (depth == 0) depth = absl::GetFlag(FLAGS_quick) ? 20 : 22;
  const int collections = absl::GetFlag(FLAGS_collections);
  if (collections < 1) Fail("--collections must be at least 1");
  MarkTree<typename System::Cx>(cx).Run(depth, collections);
}

// allocrate under Google Benchmark: every benchmark thread allocates its
// share into a ring of live pointers, dropping (or freeing) the previous
// occupant of each slot.
constexpr size_t kRingSize = 4096;
constexpr size_t kSizes[8] = {16, 24, 32, 48, 64, 96, 128, 256};

template <typename System>
struct AllocRate {
  static inline System* sys = nullptr;
  static inline int64_t per_thread = 0;
  static inline std::atomic<int64_t> loop_ns{0};

  // One benchmark iteration is a thread's whole share. The thread attaches
  // inside it: Google Benchmark's threads wait for each other at a barrier
  // before and after the iterations, and a thread attached to our heap may
  // not block outside a safepoint (a collection would wait for it).
  static void Bench(benchmark::State& state) {
    for (auto _ : state) {
      typename System::Cx cx(sys);
      void** ring = cx.NewRing(kRingSize);
      uint64_t rng = 0x9E3779B97F4A7C15ull * (state.thread_index() + 1) + 1;
      const auto t0 = Clock::now();
      for (int64_t i = 0; i < per_thread; i++) {
        rng ^= rng >> 12;
        rng ^= rng << 25;
        rng ^= rng >> 27;
        const size_t bytes = kSizes[(rng * 2685821657736338717ull) % 8];
        auto* p = static_cast<int64_t*>(cx.AllocSmall(bytes));
        *p = i;
        void*& slot = ring[i & (kRingSize - 1)];
        cx.FreeSmall(slot);
        slot = p;
      }
      loop_ns.fetch_add(std::chrono::duration_cast<std::chrono::nanoseconds>(
                            Clock::now() - t0)
                            .count());
      for (size_t j = 0; j < kRingSize; j++) cx.FreeSmall(ring[j]);
      cx.DeleteRing(ring, kRingSize);
    }
  }
};

// Reports nothing: the RESULT line is ours.
class SilentReporter : public benchmark::BenchmarkReporter {
 public:
  bool ReportContext(const Context&) override { return true; }
  void ReportRuns(const std::vector<Run>&) override {}
};

template <typename System>
double RunAllocRate(System& sys, int threads) {
  using A = AllocRate<System>;
  A::sys = &sys;
  A::per_thread = absl::GetFlag(FLAGS_quick) ? 2000000 : 20000000;
  benchmark::RegisterBenchmark("allocrate", &A::Bench)
      ->Iterations(1)
      ->Threads(threads)
      ->UseRealTime();
  SilentReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  // Mean over threads of (the thread's loop time / its allocations).
  return static_cast<double>(A::loop_ns.load()) / threads / A::per_thread;
}

// ---------------------------------------------------------------------------

template <typename System>
int Run(System& sys, const std::string& system, const std::string& allocator) {
  const std::string workload = absl::GetFlag(FLAGS_workload);
  const int threads = absl::GetFlag(FLAGS_threads);
  if (threads < 1 || threads > 256) Fail("--threads must be 1..256");
  recorder->Start([&sys] { return sys.HeapMb(); });
  double ns_per_alloc = NAN;
  if (workload == "gcbench") {
    RunGcBench(sys, 0);
  } else if (workload == "mtgcbench") {
    RunGcBench(sys, threads);
  } else if (workload == "binarytrees") {
    RunBinaryTrees(sys);
  } else if (workload == "allocrate") {
    ns_per_alloc = RunAllocRate(sys, threads);
  } else if (workload == "marktree") {
    RunMarkTree(sys);
  } else {
    Fail("unknown --workload " + workload);
  }
  const bool threaded = workload == "mtgcbench" || workload == "allocrate";
  sys.PrintCounters();
  recorder->Finish(system.c_str(), workload.c_str(), threaded ? threads : 1,
                   ns_per_alloc, allocator.c_str());
  return 0;
}

int Main() {
  recorder = new Recorder();  // outlives every hook
  const std::string system = absl::GetFlag(FLAGS_system);
  const std::string workload = absl::GetFlag(FLAGS_workload);
  if (system == "gcheap" || system == "gcheap-stw") {
    Gcheap g(system == "gcheap-stw");
    return Run(g, system, "-");
  }
  if (system == "boehm" || system == "boehm-tuned") {
    Boehm b(system == "boehm-tuned");
    if (workload == "mtgcbench" || workload == "allocrate") {
      Boehm::PrepareThreads();
    }
    return Run(b, system, "-");
  }
  if (system == "malloc") {
    Malloc m;
    return Run(m, system, MallocName());
  }
  Fail("unknown --system " + system);
}

}  // namespace
}  // namespace gcheap

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "One GC workload on one system (tools/bench/PROTOCOL.md).\n"
      "  tree_bench --system=gcheap --workload=binarytrees --depth=21");
  absl::ParseCommandLine(argc, argv);
  return gcheap::Main();
}
