// trace_file_test: the GC trace file (gc/trace_file.h). A real run with
// cycles on several threads writes a file that tests/check_trace.py
// parses as JSON, whose B/E slices all nest and end, and whose pauses are
// exactly those the cycle hook reports (count and nanoseconds, per cycle),
// in both collector modes; GC_TRACE_FILE turns it on; a trace that is
// never flushed stays bounded (records beyond the cap are dropped and
// counted) and is still valid when closed; the finalizer phase of cycles
// with finalizer registrations is a slice that ends like the others.
#include "gc/trace_file.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gc_test_util.h"
#include "gtest/gtest.h"
#include "runtime/gc.h"

namespace gcheap {
namespace {

std::string TmpPath(const std::string& name) {
  const char* dir = getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
}

// Runs tests/check_trace.py; returns its exit status and its output.
int CheckTrace(const std::string& trace, const std::string& expected,
               std::string* out) {
  const std::string log = trace + ".check";
  const std::string cmd = "python3 tests/check_trace.py " + trace + " " +
                          expected + " > " + log + " 2>&1";
  const int rc = system(cmd.c_str());
  std::ifstream f(log);
  std::stringstream ss;
  ss << f.rdbuf();
  *out = ss.str();
  return rc;
}

struct Hooked {
  std::mutex mu;
  std::vector<gc_cycle_info> cycles;
};

// A run: two threads build and drop lists, the main thread collects.
void RunWorkload(gc_heap* h) {
  const gc_type_id cell = RegisterCell(h);
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; t++) {
    threads.emplace_back([&] {
      gc_mutator* m = gc_thread_attach(h);
      void* root = nullptr;
      gc_add_root(h, &root);
      for (int i = 0; i < 300000; i++) {
        auto* c = static_cast<Cell*>(gc_alloc(m, cell, sizeof(Cell)));
        gc_write_barrier(m, c, &c->cdr, i % 1000 == 0 ? nullptr : root);
        root = c;
      }
      gc_remove_root(h, &root);
      gc_thread_detach(m);
    });
  }
  gc_mutator* m = gc_thread_attach(h);
  for (int i = 0; i < 5; i++) gc_collect(m);
  gc_enter_blocking(m);
  for (auto& t : threads) t.join();
  gc_leave_blocking(m);
  gc_collect(m);
  gc_thread_detach(m);
}

void WriteExpected(const Hooked& hooked, const std::string& path) {
  FILE* f = fopen(path.c_str(), "w");
  fputs("[", f);
  for (size_t i = 0; i < hooked.cycles.size(); i++) {
    const gc_cycle_info& c = hooked.cycles[i];
    fprintf(f, "%s{\"cycle\":%llu,\"pauses\":%u,\"pause_ns\":%llu}",
            i ? "," : "", static_cast<unsigned long long>(c.cycle), c.pauses,
            static_cast<unsigned long long>(c.pause_ns));
  }
  fputs("]\n", f);
  fclose(f);
}

class TraceFileTest : public ::testing::TestWithParam<int> {
 protected:
  // Runs the workload on a heap writing a trace (with a rooted finalizable
  // object when `finalizer`), and checks the trace with check_trace.py
  // against the cycle hook's pauses; returns the trace's text.
  std::string RunAndCheck(const std::string& name, bool finalizer) {
    const std::string trace = TmpPath("trace-" + name + ".json");
    gc_config cfg;
    gc_config_init(&cfg);
    cfg.verify = 1;
    cfg.stop_the_world = GetParam();
    cfg.finalizer_thread = 0;
    cfg.trace_file = trace.c_str();
    gc_heap* h = gc_heap_create(&cfg);
    EXPECT_NE(h, nullptr) << gc_last_error();
    if (h == nullptr) return "";
    Hooked hooked;
    gc_set_cycle_hook(
        h,
        [](const gc_cycle_info* info, void* data) {
          auto* k = static_cast<Hooked*>(data);
          std::lock_guard<std::mutex> g(k->mu);
          k->cycles.push_back(*info);
        },
        &hooked);
    static void* kept;
    EXPECT_EQ(gc_add_root(h, &kept), 0);
    if (finalizer) {
      gc_mutator* m = gc_thread_attach(h);
      EXPECT_TRUE(KeepAFinalizableCell(m, RegisterCell(h), &kept))
          << gc_last_error();
      gc_thread_detach(m);
    }
    RunWorkload(h);
    EXPECT_EQ(gc_remove_root(h, &kept), 0);
    gc_heap_destroy(h);  // writes the rest and closes the JSON
    EXPECT_GE(hooked.cycles.size(), 6u);
    const std::string expected = TmpPath("expected-" + name + ".json");
    WriteExpected(hooked, expected);
    std::string out;
    EXPECT_EQ(CheckTrace(trace, expected, &out), 0) << out;
    EXPECT_NE(out.find(" 0 failures"), std::string::npos) << out;
    std::ifstream f(trace);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }
};

TEST_P(TraceFileTest, ValidJsonBalancedSlicesAndTheHooksPauses) {
  RunAndCheck(GetParam() ? "stw" : "concurrent", /*finalizer=*/false);
}

// With a finalizer registered every cycle has a finalizer phase: its
// slice ("mark finalizers") ends when mark termination begins, and the
// file stays balanced, with the extra pause in the hook's count. (Failed
// before the trace writer knew that phase's name: mark termination and
// sweep began inside its slice, which check_trace.py refuses.)
TEST_P(TraceFileTest, TheFinalizerPhaseIsASliceThatEnds) {
  const std::string text =
      RunAndCheck(GetParam() ? "fin-stw" : "fin-concurrent", true);
  EXPECT_NE(text.find("\"mark finalizers\""), std::string::npos);
}

TEST(TraceFileEnvTest, GcTraceFileTurnsItOnAndABadPathFails) {
  const std::string trace = TmpPath("trace-env.json");
  setenv("GC_TRACE_FILE", trace.c_str(), 1);
  gc_config cfg;
  gc_config_init(&cfg);
  unsetenv("GC_TRACE_FILE");
  ASSERT_NE(cfg.trace_file, nullptr);
  EXPECT_EQ(std::string(cfg.trace_file), trace);
  gc_heap* h = gc_heap_create(&cfg);
  ASSERT_NE(h, nullptr) << gc_last_error();
  RunWorkload(h);
  gc_heap_destroy(h);
  std::string out;
  EXPECT_EQ(CheckTrace(trace, "", &out), 0) << out;
  cfg.trace_file = "/nonexistent-dir/trace.json";
  EXPECT_EQ(gc_heap_create(&cfg), nullptr);
  EXPECT_NE(std::string(gc_last_error()).find("trace_file: cannot write"),
            std::string::npos)
      << gc_last_error();
}

// Without a cycle end nothing is flushed: records pile up to the cap, the
// rest are dropped and counted, and Close still writes valid JSON with
// every slice ended.
TEST(TraceFileUnitTest, BoundedWithoutFlushesAndValidWhenClosed) {
  const std::string path = TmpPath("trace-bounded.json");
  std::string error;
  auto t = TraceFile::Open(path, &error);
  ASSERT_NE(t, nullptr) << error;
  const size_t n = TraceFile::kMaxBufferedEvents + 1000;
  Event e;
  e.thread = 42;
  e.kind = EventKind::kActivityBegin;
  e.detail = static_cast<int>(Activity::kAllocSlowPath);
  t->OnEvent(e);  // left open: Close ends it
  for (size_t i = 0; i < n; i++) {
    e.time_ns = static_cast<int64_t>(i);
    e.kind = EventKind::kActivityBegin;
    e.detail = static_cast<int>(Activity::kAssist);
    t->OnEvent(e);
    e.kind = EventKind::kActivityEnd;
    t->OnEvent(e);
  }
  EXPECT_EQ(t->dropped(), 2 * n + 1 - TraceFile::kMaxBufferedEvents);
  t->Close();
  t->OnEvent(e);  // after Close: dropped, no write
  FILE* f = fopen(path.c_str(), "r");
  ASSERT_NE(f, nullptr);
  fclose(f);
  const std::string cmd =
      "python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); "
      "ev=d[\"traceEvents\"]; "
      "b=sum(e[\"ph\"]==\"B\" for e in ev); "
      "x=sum(e[\"ph\"]==\"E\" for e in ev); "
      "sys.exit(0 if b==x and d[\"otherData\"][\"dropped_events\"]>0 "
      "else 1)' " +
      path;
  EXPECT_EQ(system(cmd.c_str()), 0);
}

INSTANTIATE_TEST_SUITE_P(Modes, TraceFileTest, ::testing::Values(0, 1),
                         [](const auto& info) {
                           return info.param ? "StopTheWorld" : "Concurrent";
                         });

}  // namespace
}  // namespace gcheap
