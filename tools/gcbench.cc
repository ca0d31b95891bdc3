// gcbench: two classic GC benchmarks on our heap, each run with both
// collectors (stop-the-world and concurrent marking) in the same process.
//
//   bazel run //tools:gcbench -- --runs=3
//   bazel run //tools:gcbench -- --quick              (smaller, 1 run)
//   bazel run //tools:gcbench -- --workload=gcbench --verbose
//
// Workloads
//  * gcbench: GCBench by John Ellis and Pete Kovac, as modified by Hans
//    Boehm, written here from its published description. A stretch tree of
//    depth kStretchTreeDepth (18) is built bottom-up and dropped; a
//    long-lived tree of depth kLongLivedTreeDepth (16) is built top-down and
//    a long-lived array of kArraySize (500000) doubles (noscan) is allocated,
//    half filled with 1.0/i; both stay alive to the end. Then for each depth
//    d = 4, 6, ..., 16, NumIters(d) = 2 * TreeSize(18) / TreeSize(d) trees
//    (TreeSize(i) = 2^(i+1) - 1) are built top-down (Populate) and as many
//    bottom-up (MakeTree), and dropped. At the end the long-lived tree and
//    the array must be intact (array[1000] == 1.0/1000, as the original
//    checks; we also count the tree's nodes). A node is {left, right, int i,
//    int j}: 24 bytes, pointer bitmap 0b011.
//    The original drops the stretch tree right after building it;
//    --gcbench_keep_stretch keeps it alive to the end instead.
//  * binarytrees: binary-trees of the Benchmarks Game, the same structure as
//    tools/gc_demo.cc (nodes of two pointers, parent allocated first),
//    --depth (default 18). Every check value is verified against its known
//    value (2^(d+1) - 1 per tree of depth d); a mismatch aborts the program.
//
// Every local that holds a heap pointer across an allocation is on a shadow
// stack (tools/shadow_stack.h), as a VM's own stack would be, and every
// pointer store goes through gc_write_barrier.
//
// Protocol: for each workload, --runs rounds; each round runs every system
// row once (today: our heap STW, then our heap concurrent), each on a fresh
// gc_heap (gc_config_init, so GC_PERCENT / GC_WORKERS / ... apply, then
// stop_the_world set per row). Per (workload, system, mode) the table shows
// medians over the runs of:
//   wall ms     steady clock over the workload (heap creation and
//               destruction excluded)
//   cpu ms      getrusage(RUSAGE_SELF) user + sys over the same interval:
//               the whole process, so mark workers and the sweeper count
//   GCs         collections that completed during the run (cycle hook)
//   p50/p99/max per-cycle pause in us (gc_cycle_info.pause_ns: the sum of a
//               cycle's stop-the-world pauses), nearest rank over the run's
//               cycles
//   assist ms   mutator time in mark assists (sum over the run's cycles)
//   maxrss MB   ru_maxrss at the end of the run: a process-wide high-water
//               mark, so it never goes down from one row to the next
//   peak heap   the largest gc_stats.heap_bytes (bytes of in-use spans)
//               seen. The cycle hook may not call gc_ functions, so it only
//               raises a flag; the mutator reads gc_stats at its next
//               allocation (and once at the end of the run).
// and, per workload, the concurrent / STW ratio of wall time and max pause.
//
// Adding a system (an anchor such as Boehm GC or Go): write one function
// per workload that returns a Result (leave what it cannot measure as NaN,
// printed "-"), and add a row to Rows().
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <limits>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "runtime/gc.h"
#include "tools/shadow_stack.h"
#include "tools/tree_walk.h"

ABSL_FLAG(int, runs, 0,
          "runs per (workload, system, mode), medians shown; 0: 3, or 1 with "
          "--quick");
ABSL_FLAG(int, depth, 0, "binary-trees max depth; 0: 18, or 14 with --quick");
ABSL_FLAG(std::string, workload, "all", "all | gcbench | binarytrees");
ABSL_FLAG(bool, quick, false,
          "smaller: GCBench stretch 16 / long-lived 14 / max 14, binary-trees "
          "depth 14, 1 run (an explicit --runs / --depth still applies)");
ABSL_FLAG(bool, gcbench_keep_stretch, false,
          "keep GCBench's stretch tree alive to the end (the original drops "
          "it)");
ABSL_FLAG(bool, verbose, false, "also print every run");

namespace gcheap {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// What one run of one workload on one system measured. NaN: not measured.
struct Result {
  double wall_ms = kNaN;
  double cpu_ms = kNaN;
  double collections = kNaN;
  double pause_p50_us = kNaN;
  double pause_p99_us = kNaN;
  double pause_max_us = kNaN;
  double assist_ms = kNaN;
  double max_rss_mb = kNaN;
  double peak_heap_mb = kNaN;
};

[[noreturn]] void Fail(const char* what) {
  fprintf(stderr, "gcbench: FAILED: %s\n", what);
  fflush(stdout);
  abort();
}

double CpuMs() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

double MaxRssMb() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024.0;  // KiB on Linux
}

// Nearest-rank percentile of a sorted vector (p in (0, 1]).
double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t rank = static_cast<size_t>(std::ceil(p * sorted.size()));
  return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
}

// ---------------------------------------------------------------------------
// A run on our heap: a fresh heap, one attached mutator, a shadow stack and
// a cycle hook; Start() and Finish() bracket the measured interval.

class GcheapRun {
 public:
  explicit GcheapRun(bool stop_the_world) {
    gc_config cfg;
    gc_config_init(&cfg);
    cfg.stop_the_world = stop_the_world ? 1 : 0;
    heap_ = gc_heap_create(&cfg);
    if (heap_ == nullptr) Fail(gc_last_error());
    m_ = gc_thread_attach(heap_);
    stack_ = new ShadowStack(heap_);
    pauses_ns_.reserve(1 << 14);
    gc_set_cycle_hook(heap_, &Hook, this);
  }
  ~GcheapRun() {
    delete stack_;
    gc_thread_detach(m_);
    gc_heap_destroy(heap_);  // a cycle still running ends here
  }
  GcheapRun(const GcheapRun&) = delete;
  GcheapRun& operator=(const GcheapRun&) = delete;

  gc_mutator* m() const { return m_; }
  ShadowStack* stack() const { return stack_; }

  gc_type_id RegisterType(const char* name, size_t size,
                          const uint64_t* ptr_bitmap) {
    gc_type_desc d = {name, size, ptr_bitmap, 0, nullptr, nullptr};
    gc_type_id t = gc_register_type(heap_, &d);
    if (t == 0) Fail(gc_last_error());
    return t;
  }

  void* Alloc(gc_type_id t, size_t bytes) {
    void* p = gc_alloc(m_, t, bytes);
    if (p == nullptr) Fail(gc_last_error());
    MaybeSampleHeap();
    return p;
  }
  void* AllocNoscan(size_t bytes) {
    void* p = gc_alloc_noscan(m_, bytes);
    if (p == nullptr) Fail(gc_last_error());
    MaybeSampleHeap();
    return p;
  }

  void Start() {
    cpu0_ = CpuMs();
    t0_ = std::chrono::steady_clock::now();
  }

  Result Finish() {
    Result r;
    r.wall_ms = std::chrono::duration<double, std::milli>(
                    std::chrono::steady_clock::now() - t0_)
                    .count();
    r.cpu_ms = CpuMs() - cpu0_;
    r.max_rss_mb = MaxRssMb();
    SampleHeap();
    std::vector<double> pauses;
    {
      std::lock_guard<std::mutex> g(mu_);
      measuring_ = false;
      for (uint64_t ns : pauses_ns_) pauses.push_back(ns / 1e3);
      r.assist_ms = assist_ns_ / 1e6;
    }
    std::sort(pauses.begin(), pauses.end());
    r.collections = static_cast<double>(pauses.size());
    r.pause_p50_us = Percentile(pauses, 0.50);
    r.pause_p99_us = Percentile(pauses, 0.99);
    r.pause_max_us = pauses.empty() ? 0 : pauses.back();
    r.peak_heap_mb = peak_heap_bytes_ / 1048576.0;
    return r;
  }

 private:
  // Runs on the thread that ran the cycle (the driver thread when
  // concurrent): quick, and no gc_ calls.
  static void Hook(const gc_cycle_info* info, void* data) {
    auto* self = static_cast<GcheapRun*>(data);
    {
      std::lock_guard<std::mutex> g(self->mu_);
      if (self->measuring_) {
        self->pauses_ns_.push_back(info->pause_ns);
        self->assist_ns_ += info->assist_ns;
      }
    }
    self->sample_heap_.store(true, std::memory_order_relaxed);
  }

  void MaybeSampleHeap() {
    if (sample_heap_.load(std::memory_order_relaxed)) [[unlikely]] {
      sample_heap_.store(false, std::memory_order_relaxed);
      SampleHeap();
    }
  }
  void SampleHeap() {
    gc_stats s;
    gc_get_stats(heap_, &s);
    peak_heap_bytes_ = std::max(peak_heap_bytes_, s.heap_bytes);
  }

  gc_heap* heap_ = nullptr;
  gc_mutator* m_ = nullptr;
  ShadowStack* stack_ = nullptr;
  std::chrono::steady_clock::time_point t0_;
  double cpu0_ = 0;
  uint64_t peak_heap_bytes_ = 0;
  std::atomic<bool> sample_heap_{false};
  std::mutex mu_;  // guards the three below (the hook vs Finish)
  bool measuring_ = true;
  std::vector<uint64_t> pauses_ns_;
  uint64_t assist_ns_ = 0;
};

long TreeSize(int depth) { return (1L << (depth + 1)) - 1; }

// ---------------------------------------------------------------------------
// GCBench (Ellis, Kovac, Boehm).

struct GcBenchParams {
  int stretch_tree_depth = 18;
  int long_lived_tree_depth = 16;
  int array_size = 500000;
  int min_tree_depth = 4;
  int max_tree_depth = 16;
  bool keep_stretch = false;
};

struct GNode {
  GNode* left;
  GNode* right;
  int32_t i;
  int32_t j;
};
static_assert(sizeof(GNode) == 24);

class GcBenchOnGcheap {
 public:
  GcBenchOnGcheap(const GcBenchParams& p, GcheapRun* run)
      : p_(p), run_(run), m_(run->m()), stack_(run->stack()) {
    static const uint64_t kMap = 0b011;  // left, right; word 2 is i, j
    node_ = run_->RegisterType("GNode", sizeof(GNode), &kMap);
  }

  void Run() {
    const size_t base = stack_->depth();
    // Stretch the memory space quickly.
    void** stretch = stack_->Push(MakeTree(p_.stretch_tree_depth));
    if (!p_.keep_stretch) stack_->Pop();

    // A long-lived tree, built top-down, and a long-lived array.
    void** long_lived = stack_->Push(NewNode());
    Populate(p_.long_lived_tree_depth, static_cast<GNode*>(*long_lived));
    void** array_slot =
        stack_->Push(run_->AllocNoscan(sizeof(double) * p_.array_size));
    auto* array = static_cast<double*>(*array_slot);
    for (int i = 0; i < p_.array_size / 2; i++) array[i] = 1.0 / i;

    for (int d = p_.min_tree_depth; d <= p_.max_tree_depth; d += 2) {
      TimeConstruction(d);
    }

    // The original's check, and a full count of the long-lived tree.
    array = static_cast<double*>(*array_slot);
    if (array[1000] != 1.0 / 1000) Fail("GCBench: long-lived array damaged");
    const long n = CountNodes(m_, static_cast<GNode*>(*long_lived));
    if (n != TreeSize(p_.long_lived_tree_depth)) {
      Fail("GCBench: long-lived tree damaged");
    }
    if (p_.keep_stretch && CountNodes(m_, static_cast<GNode*>(*stretch)) !=
                               TreeSize(p_.stretch_tree_depth)) {
      Fail("GCBench: stretch tree damaged");
    }
    stack_->Pop(stack_->depth() - base);
  }

 private:
  long NumIters(int depth) const {
    return 2 * TreeSize(p_.stretch_tree_depth) / TreeSize(depth);
  }

  GNode* NewNode() {
    return static_cast<GNode*>(run_->Alloc(node_, sizeof(GNode)));
  }
  void Store(GNode* obj, GNode** field, GNode* value) {
    gc_write_barrier(m_, obj, reinterpret_cast<void**>(field), value);
  }

  // Builds the tree below `node` top-down: children first, then their
  // subtrees.
  void Populate(int depth, GNode* node) {
    if (depth <= 0) return;
    depth--;
    void** self = stack_->Push(node);
    GNode* l = NewNode();
    node = static_cast<GNode*>(*self);
    Store(node, &node->left, l);
    GNode* r = NewNode();
    node = static_cast<GNode*>(*self);
    Store(node, &node->right, r);
    Populate(depth, node->left);
    node = static_cast<GNode*>(*self);
    Populate(depth, node->right);
    stack_->Pop();
  }

  // Builds a tree bottom-up: both subtrees, then their parent.
  GNode* MakeTree(int depth) {
    if (depth <= 0) return NewNode();
    void** l = stack_->Push(MakeTree(depth - 1));
    void** r = stack_->Push(MakeTree(depth - 1));
    GNode* n = NewNode();
    Store(n, &n->left, static_cast<GNode*>(*l));
    Store(n, &n->right, static_cast<GNode*>(*r));
    stack_->Pop(2);
    return n;
  }

  void TimeConstruction(int depth) {
    const long iters = NumIters(depth);
    for (long i = 0; i < iters; i++) {
      void** temp = stack_->Push(NewNode());
      Populate(depth, static_cast<GNode*>(*temp));
      stack_->Pop();
    }
    for (long i = 0; i < iters; i++) MakeTree(depth);  // and dropped
  }

  const GcBenchParams p_;
  GcheapRun* run_;
  gc_mutator* m_;
  ShadowStack* stack_;
  gc_type_id node_ = 0;
};

Result RunGcBenchOnGcheap(const GcBenchParams& p, bool stop_the_world) {
  GcheapRun run(stop_the_world);
  GcBenchOnGcheap bench(p, &run);
  run.Start();
  bench.Run();
  return run.Finish();
}

// ---------------------------------------------------------------------------
// binary-trees (the Benchmarks Game), as in tools/gc_demo.cc.

struct BNode {
  BNode* left;
  BNode* right;
};

class BinaryTreesOnGcheap {
 public:
  explicit BinaryTreesOnGcheap(GcheapRun* run)
      : run_(run), m_(run->m()), stack_(run->stack()) {
    static const uint64_t kMap = 0b11;
    node_ = run_->RegisterType("BNode", sizeof(BNode), &kMap);
  }

  // Runs the benchmark and checks every check value against 2^(d+1) - 1
  // per tree of depth d; aborts on a mismatch.
  void Run(int n) {
    const int min_depth = 4;
    const int max_depth = std::max(min_depth + 2, n);
    Expect("stretch tree", CheckRooted(BottomUpTree(max_depth + 1)),
           TreeSize(max_depth + 1));
    void** long_lived = stack_->Push(BottomUpTree(max_depth));
    for (int d = min_depth; d <= max_depth; d += 2) {
      const long iterations = 1L << (max_depth - d + min_depth);
      long check = 0;
      for (long i = 0; i < iterations; i++) {
        check += CheckRooted(BottomUpTree(d));
      }
      Expect("trees", check, iterations * TreeSize(d));
    }
    Expect("long lived tree", Check(static_cast<BNode*>(*long_lived)),
           TreeSize(max_depth));
    stack_->Pop();
  }

 private:
  static void Expect(const char* what, long got, long want) {
    if (got == want) return;
    char msg[160];
    snprintf(msg, sizeof(msg), "binary-trees: %s check %ld, expected %ld", what,
             got, want);
    Fail(msg);
  }

  long Check(const BNode* n) { return CountNodes(m_, n); }
  // The walk polls safepoints, and a concurrent cycle may take its root
  // snapshot at one of them: the tree must be rooted while it is walked.
  long CheckRooted(BNode* n) {
    stack_->Push(n);
    const long count = Check(n);
    stack_->Pop();
    return count;
  }

  // A complete tree of the given depth; the parent is allocated first.
  BNode* BottomUpTree(int depth) {
    auto* n = static_cast<BNode*>(run_->Alloc(node_, sizeof(BNode)));
    if (depth > 0) {
      void** slot = stack_->Push(n);
      BNode* l = BottomUpTree(depth - 1);
      n = static_cast<BNode*>(*slot);
      gc_write_barrier(m_, n, reinterpret_cast<void**>(&n->left), l);
      BNode* r = BottomUpTree(depth - 1);
      n = static_cast<BNode*>(*slot);
      gc_write_barrier(m_, n, reinterpret_cast<void**>(&n->right), r);
      stack_->Pop();
    }
    return n;
  }

  GcheapRun* run_;
  gc_mutator* m_;
  ShadowStack* stack_;
  gc_type_id node_ = 0;
};

Result RunBinaryTreesOnGcheap(int depth, bool stop_the_world) {
  GcheapRun run(stop_the_world);
  BinaryTreesOnGcheap bench(&run);
  run.Start();
  bench.Run(depth);
  return run.Finish();
}

// ---------------------------------------------------------------------------
// The table.

// One line of the table: a workload on a system in a mode, and its runs.
struct Row {
  std::string workload;
  std::string system;
  std::string mode;
  std::function<Result()> run;
  std::vector<Result> results;
};

void AddRow(std::vector<Row>* rows, const char* workload, const char* system,
            const char* mode, std::function<Result()> run) {
  rows->push_back(Row{workload, system, mode, std::move(run), {}});
}

// The table's rows, grouped by workload. Anchors go here.
std::vector<Row> Rows(const std::string& which, const GcBenchParams& gcbench,
                      int bt_depth) {
  std::vector<Row> rows;
  if (which == "all" || which == "gcbench") {
    AddRow(&rows, "gcbench", "gcheap", "stw",
           [=] { return RunGcBenchOnGcheap(gcbench, true); });
    AddRow(&rows, "gcbench", "gcheap", "concurrent",
           [=] { return RunGcBenchOnGcheap(gcbench, false); });
  }
  if (which == "all" || which == "binarytrees") {
    AddRow(&rows, "binarytrees", "gcheap", "stw",
           [=] { return RunBinaryTreesOnGcheap(bt_depth, true); });
    AddRow(&rows, "binarytrees", "gcheap", "concurrent",
           [=] { return RunBinaryTreesOnGcheap(bt_depth, false); });
  }
  return rows;
}

double Median(std::vector<double> v) {
  v.erase(std::remove_if(v.begin(), v.end(),
                         [](double x) { return std::isnan(x); }),
          v.end());
  if (v.empty()) return kNaN;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

Result MedianOf(const std::vector<Result>& runs) {
  auto med = [&](double Result::*field) {
    std::vector<double> v;
    for (const Result& r : runs) v.push_back(r.*field);
    return Median(v);
  };
  Result m;
  m.wall_ms = med(&Result::wall_ms);
  m.cpu_ms = med(&Result::cpu_ms);
  m.collections = med(&Result::collections);
  m.pause_p50_us = med(&Result::pause_p50_us);
  m.pause_p99_us = med(&Result::pause_p99_us);
  m.pause_max_us = med(&Result::pause_max_us);
  m.assist_ms = med(&Result::assist_ms);
  m.max_rss_mb = med(&Result::max_rss_mb);
  m.peak_heap_mb = med(&Result::peak_heap_mb);
  return m;
}

std::string Cell(double v, int width, int decimals) {
  char buf[64];
  if (std::isnan(v)) {
    snprintf(buf, sizeof(buf), "%*s", width, "-");
  } else {
    snprintf(buf, sizeof(buf), "%*.*f", width, decimals, v);
  }
  return buf;
}

void PrintHeader() {
  printf("%-11s %-6s %-12s %9s %9s %5s %8s %8s %8s %9s %9s %12s\n", "workload",
         "system", "mode", "wall ms", "cpu ms", "GCs", "p50 us", "p99 us",
         "max us", "assist ms", "maxrss MB", "peak heap MB");
}

void PrintResult(const Row& row, const Result& r, const char* label) {
  printf("%-11s %-6s %-12s%s%s%s%s%s%s%s%s%s\n", row.workload.c_str(),
         row.system.c_str(), label, Cell(r.wall_ms, 10, 0).c_str(),
         Cell(r.cpu_ms, 10, 0).c_str(), Cell(r.collections, 6, 0).c_str(),
         Cell(r.pause_p50_us, 9, 0).c_str(), Cell(r.pause_p99_us, 9, 0).c_str(),
         Cell(r.pause_max_us, 9, 0).c_str(), Cell(r.assist_ms, 10, 1).c_str(),
         Cell(r.max_rss_mb, 10, 0).c_str(),
         Cell(r.peak_heap_mb, 13, 1).c_str());
}

const Row* FindRow(const std::vector<Row>& rows, const std::string& workload,
                   const std::string& system, const std::string& mode) {
  for (const Row& r : rows) {
    if (r.workload == workload && r.system == system && r.mode == mode) {
      return &r;
    }
  }
  return nullptr;
}

int Main() {
  const bool quick = absl::GetFlag(FLAGS_quick);
  int runs = absl::GetFlag(FLAGS_runs);
  if (runs == 0) runs = quick ? 1 : 3;
  int bt_depth = absl::GetFlag(FLAGS_depth);
  if (bt_depth == 0) bt_depth = quick ? 14 : 18;
  GcBenchParams gcbench;
  gcbench.keep_stretch = absl::GetFlag(FLAGS_gcbench_keep_stretch);
  if (quick) {
    gcbench.stretch_tree_depth = 16;
    gcbench.long_lived_tree_depth = 14;
    gcbench.max_tree_depth = 14;
  }
  const std::string which = absl::GetFlag(FLAGS_workload);
  if (which != "all" && which != "gcbench" && which != "binarytrees") {
    fprintf(stderr, "--workload must be all, gcbench or binarytrees\n");
    return 2;
  }
  if (runs < 1) {
    fprintf(stderr, "--runs must be at least 1\n");
    return 2;
  }

  std::vector<Row> rows = Rows(which, gcbench, bt_depth);
  gc_config cfg;
  gc_config_init(&cfg);
  printf(
      "gcbench: GCBench stretch %d, long-lived %d, array %d doubles, depths "
      "%d..%d%s; binary-trees depth %d; %d run(s) per row; gc_percent %d, "
      "gc_workers %d%s\n",
      gcbench.stretch_tree_depth, gcbench.long_lived_tree_depth,
      gcbench.array_size, gcbench.min_tree_depth, gcbench.max_tree_depth,
      gcbench.keep_stretch ? " (stretch tree kept)" : "", bt_depth, runs,
      cfg.gc_percent, cfg.gc_workers, cfg.gc_workers == 0 ? " (= CPUs)" : "");
  fflush(stdout);

  // Per workload, round by round: every row of the workload once per round,
  // so the modes alternate.
  const auto t0 = std::chrono::steady_clock::now();
  for (size_t first = 0; first < rows.size();) {
    size_t last = first;
    while (last < rows.size() && rows[last].workload == rows[first].workload) {
      last++;
    }
    for (int r = 0; r < runs; r++) {
      for (size_t i = first; i < last; i++) {
        rows[i].results.push_back(rows[i].run());
        if (absl::GetFlag(FLAGS_verbose)) {
          if (r == 0 && i == first) PrintHeader();
          char label[32];
          snprintf(label, sizeof(label), "%s#%d", rows[i].mode.c_str(), r + 1);
          PrintResult(rows[i], rows[i].results.back(), label);
          fflush(stdout);
        }
      }
    }
    first = last;
  }
  const double total_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();

  printf("\nmedians of %d run(s); pauses per cycle (sum of its STW pauses)\n",
         runs);
  PrintHeader();
  for (const Row& row : rows) {
    PrintResult(row, MedianOf(row.results), row.mode.c_str());
  }
  for (const char* w : {"gcbench", "binarytrees"}) {
    const Row* stw = FindRow(rows, w, "gcheap", "stw");
    const Row* con = FindRow(rows, w, "gcheap", "concurrent");
    if (stw == nullptr || con == nullptr) continue;
    const Result s = MedianOf(stw->results), c = MedianOf(con->results);
    printf("%-11s gcheap concurrent/stw: wall %.2fx, max pause %.3fx\n", w,
           c.wall_ms / s.wall_ms, c.pause_max_us / s.pause_max_us);
  }
  printf(
      "all checks passed; maxrss is the process-wide high-water mark; total "
      "%.1f s\n",
      total_s);
  return 0;
}

}  // namespace
}  // namespace gcheap

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "GCBench and binary-trees on gcheap, stop-the-world and concurrent.\n"
      "  bazel run //tools:gcbench -- --runs=3");
  absl::ParseCommandLine(argc, argv);
  return gcheap::Main();
}
