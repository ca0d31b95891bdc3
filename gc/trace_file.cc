// trace_file.cc: the Chrome Trace Event JSON writer (design in
// trace_file.h).
#include "gc/trace_file.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdlib>
#include <cstring>

#include "gc/collector.h"

namespace gcheap {

namespace {

std::atomic<uint64_t> next_trace_id{1};

// Every open trace file, closed by an atexit handler: a process that
// exits without destroying its heaps still gets valid files.
struct OpenTraces {
  std::mutex mu;
  std::vector<TraceFile*> files;
};
OpenTraces& Traces() {
  static OpenTraces* t = [] {
    auto* r = new OpenTraces;  // never destroyed: used by the handler
    atexit([] {
      OpenTraces& o = Traces();
      std::lock_guard<std::mutex> g(o.mu);
      for (TraceFile* f : o.files) f->Close();
    });
    return r;
  }();
  return *t;
}

const char* ActivityName(int a) {
  switch (static_cast<Activity>(a)) {
    case Activity::kAllocSlowPath:
      return "alloc slow path";
    case Activity::kAssist:
      return "assist";
    case Activity::kSafepointWait:
      return "safepoint wait";
    case Activity::kBlocked:
      return "blocked";
    case Activity::kMarkWorker:
      return "mark worker";
    case Activity::kSweep:
      return "sweep";
  }
  return "?";
}

// Whether a slice is a phase's (GcPhaseName of a phase a cycle enters).
bool IsPhaseName(const std::string& s) {
  for (GcPhase p :
       {GcPhase::kSweepTermination, GcPhase::kMark, GcPhase::kMarkFinalizers,
        GcPhase::kMarkTermination, GcPhase::kSweep}) {
    if (s == GcPhaseName(p)) return true;
  }
  return false;
}

std::string Ts(int64_t ns) {
  char b[40];
  snprintf(b, sizeof(b), "%" PRId64 ".%03" PRId64, ns / 1000, ns % 1000);
  return b;
}

std::string Args(std::initializer_list<std::pair<const char*, uint64_t>> kv) {
  std::string s = "{";
  for (const auto& [k, v] : kv) {
    if (s.size() > 1) s += ',';
    s += '"';
    s += k;
    s += "\":";
    s += std::to_string(v);
  }
  return s + "}";
}

}  // namespace

std::unique_ptr<TraceFile> TraceFile::Open(const std::string& path,
                                           std::string* error) {
  FILE* f = fopen(path.c_str(), "w");
  if (f == nullptr) {
    *error = "cannot write " + path + ": " + strerror(errno);
    return nullptr;
  }
  std::unique_ptr<TraceFile> t(new TraceFile(path, f));
  OpenTraces& o = Traces();
  std::lock_guard<std::mutex> g(o.mu);
  o.files.push_back(t.get());
  return t;
}

TraceFile::TraceFile(std::string path, FILE* f)
    : path_(std::move(path)),
      id_(next_trace_id.fetch_add(1)),
      pid_(getpid()),
      file_(f) {
  fputs("{\"traceEvents\":[\n", file_);
  char b[160];
  snprintf(b, sizeof(b),
           "{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":%d,\"tid\":0,"
           "\"args\":{\"name\":\"gcheap\"}}",
           pid_);
  Emit(b);
}

TraceFile::~TraceFile() {
  Close();
  OpenTraces& o = Traces();
  std::lock_guard<std::mutex> g(o.mu);
  o.files.erase(std::find(o.files.begin(), o.files.end(), this));
}

TraceFile::ThreadBuffer* TraceFile::BufferOfThisThread() {
  struct Cache {
    uint64_t id = 0;
    ThreadBuffer* buffer = nullptr;
  };
  static thread_local Cache cache;
  if (cache.id == id_) return cache.buffer;
  std::lock_guard<std::mutex> g(mu_);
  auto& b = buffers_[CurrentThreadId()];
  if (b == nullptr) {
    b = std::make_unique<ThreadBuffer>();
    b->current.reserve(kChunkEvents);
  }
  cache = {id_, b.get()};
  return b.get();
}

void TraceFile::OnEvent(const Event& e) {
  if (closed_.load(std::memory_order_relaxed)) return;
  Event r = e;
  if (e.kind == EventKind::kCycleEnd) {
    // Records outlive the event: keep what the writer needs of the cycle.
    r.count = e.info->pauses;
    r.ns = e.info->pause_ns;
    r.bytes = e.info->live_bytes;
    r.total_bytes = e.info->heap_goal;
    r.info = nullptr;
  }
  ThreadBuffer* b = BufferOfThisThread();
  {
    std::lock_guard<std::mutex> g(b->mu);
    if (buffered_.load(std::memory_order_relaxed) >= kMaxBufferedEvents) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    if (b->current.size() == kChunkEvents) {
      b->full.push_back(std::move(b->current));
      b->current = {};
      b->current.reserve(kChunkEvents);
    }
    b->current.push_back(r);
    buffered_.fetch_add(1, std::memory_order_relaxed);
  }
  // The driver, after the world restarted: write the cycle out.
  if (e.kind == EventKind::kCycleEnd) Flush();
}

void TraceFile::Flush() {
  // io_mu_ first: two flushes never reorder one thread's records.
  std::lock_guard<std::mutex> io(io_mu_);
  if (file_ == nullptr) return;
  std::vector<std::vector<Event>> taken;
  {
    std::lock_guard<std::mutex> g(mu_);
    for (auto& [tid, b] : buffers_) {
      std::lock_guard<std::mutex> bg(b->mu);
      for (auto& chunk : b->full) taken.push_back(std::move(chunk));
      b->full.clear();
      if (!b->current.empty()) {
        taken.push_back(std::move(b->current));
        b->current = {};
      }
    }
  }
  uint64_t n = 0;
  for (const auto& chunk : taken) {
    for (const Event& e : chunk) Write(e);
    n += chunk.size();
  }
  buffered_.fetch_sub(n, std::memory_order_relaxed);
  fflush(file_);
}

void TraceFile::Close() {
  if (closed_.exchange(true)) return;
  Flush();
  std::lock_guard<std::mutex> io(io_mu_);
  for (auto& [tid, t] : tracks_) {
    while (!t.open.empty()) End(tid, t.open.back().c_str(), last_ts_, "");
  }
  fprintf(file_,
          "\n],\"displayTimeUnit\":\"ns\",\"otherData\":{\"producer\":"
          "\"gcheap\",\"dropped_events\":%" PRIu64 "}}\n",
          dropped_.load());
  fclose(file_);
  file_ = nullptr;
}

void TraceFile::Emit(const std::string& json) {
  if (!first_) fputs(",\n", file_);
  first_ = false;
  fputs(json.c_str(), file_);
}

void TraceFile::NameThread(uint64_t tid, const char* name) {
  Track& t = tracks_[tid];
  if (t.named) return;
  t.named = true;
  char b[200];
  snprintf(b, sizeof(b),
           "{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":%d,\"tid\":%" PRIu64
           ",\"args\":{\"name\":\"%s\"}}",
           pid_, tid, name);
  Emit(b);
}

void TraceFile::Begin(uint64_t tid, const char* name, int64_t ts,
                      const char* args) {
  tracks_[tid].open.push_back(name);
  char b[400];
  snprintf(b, sizeof(b),
           "{\"ph\":\"B\",\"cat\":\"gc\",\"name\":\"%s\",\"pid\":%d,"
           "\"tid\":%" PRIu64 ",\"ts\":%s%s%s}",
           name, pid_, tid, Ts(ts).c_str(), *args ? ",\"args\":" : "", args);
  Emit(b);
}

void TraceFile::End(uint64_t tid, const char* name, int64_t ts,
                    const char* args) {
  Track& t = tracks_[tid];
  auto it = std::find(t.open.rbegin(), t.open.rend(), name);
  if (it == t.open.rend()) return;  // its B came before the listener
  const std::string target = name;
  // Slices opened inside it and never ended end with it.
  while (t.open.back() != target) End(tid, t.open.back().c_str(), ts, "");
  t.open.pop_back();
  char b[400];
  snprintf(b, sizeof(b),
           "{\"ph\":\"E\",\"cat\":\"gc\",\"name\":\"%s\",\"pid\":%d,"
           "\"tid\":%" PRIu64 ",\"ts\":%s%s%s}",
           target.c_str(), pid_, tid, Ts(ts).c_str(), *args ? ",\"args\":" : "",
           args);
  Emit(b);
}

void TraceFile::Instant(uint64_t tid, const char* name, int64_t ts,
                        const char* args) {
  char b[400];
  snprintf(b, sizeof(b),
           "{\"ph\":\"i\",\"s\":\"t\",\"cat\":\"gc\",\"name\":\"%s\","
           "\"pid\":%d,\"tid\":%" PRIu64 ",\"ts\":%s,\"args\":%s}",
           name, pid_, tid, Ts(ts).c_str(), args);
  Emit(b);
}

void TraceFile::Counter(const char* name, int64_t ts, const char* args) {
  char b[400];
  snprintf(b, sizeof(b),
           "{\"ph\":\"C\",\"cat\":\"gc\",\"name\":\"%s\",\"pid\":%d,"
           "\"tid\":0,\"ts\":%s,\"args\":%s}",
           name, pid_, Ts(ts).c_str(), args);
  Emit(b);
}

void TraceFile::Write(const Event& e) {
  const uint64_t tid = e.thread;
  const int64_t ts = e.time_ns;
  last_ts_ = std::max(last_ts_, ts);
  switch (e.kind) {
    case EventKind::kCycleStart: {
      NameThread(tid, "gc driver");
      const std::string name = "GC " + std::to_string(e.cycle);
      Begin(tid, name.c_str(), ts,
            Args({{"cycle", e.cycle},
                  {"reason", static_cast<uint64_t>(e.detail)},
                  {"concurrent", e.count}})
                .c_str());
      Counter("heap", ts,
              Args({{"in_use", e.bytes}, {"goal", goal_}, {"live", live_}})
                  .c_str());
      break;
    }
    case EventKind::kPhase: {
      Track& t = tracks_[tid];
      if (!t.open.empty() && IsPhaseName(t.open.back())) {
        End(tid, t.open.back().c_str(), ts, "");
      }
      const auto p = static_cast<GcPhase>(e.detail);
      if (p != GcPhase::kOff) Begin(tid, GcPhaseName(p), ts, "");
      break;
    }
    case EventKind::kStopRequested:
      NameThread(kPauseTrack, "stop-the-world pauses");
      Begin(kPauseTrack, "pause", ts,
            Args({{"cycle", e.cycle}, {"pause", e.count}}).c_str());
      Begin(kPauseTrack, "stopping", ts, "");
      break;
    case EventKind::kMutatorsStopped:
      End(kPauseTrack, "stopping", ts, Args({{"stop_ns", e.ns}}).c_str());
      break;
    case EventKind::kMutatorsRestarted:
      End(kPauseTrack, "pause", ts,
          Args({{"cycle", e.cycle}, {"pause_ns", e.ns}}).c_str());
      break;
    case EventKind::kRootsScanned:
      Instant(tid, "roots scanned", ts, Args({{"roots", e.count}}).c_str());
      break;
    case EventKind::kHeapMarked:
      Instant(tid, "heap marked", ts,
              Args({{"marked_bytes", e.bytes}, {"marked_objects", e.count}})
                  .c_str());
      break;
    case EventKind::kCycleEnd: {
      const std::string name = "GC " + std::to_string(e.cycle);
      End(tid, name.c_str(), ts,
          Args({{"pauses", e.count}, {"pause_ns", e.ns}}).c_str());
      goal_ = e.total_bytes >= (~uint64_t{0} >> 1) ? 0 : e.total_bytes;
      live_ = e.bytes;
      // Right after mark termination the heap in use is the live heap.
      Counter(
          "heap", ts,
          Args({{"in_use", live_}, {"goal", goal_}, {"live", live_}}).c_str());
      break;
    }
    case EventKind::kMutatorAttached:
    case EventKind::kMutatorDetached:
      NameThread(tid, "mutator");
      Instant(tid,
              e.kind == EventKind::kMutatorAttached ? "attached" : "detached",
              ts, Args({{"mutators", e.count}}).c_str());
      break;
    case EventKind::kHeapResized: {
      const bool added = e.detail == static_cast<int>(ResizeKind::kArenaAdded);
      Instant(tid, added ? "arena added" : "memory released", ts,
              Args({{"bytes", e.bytes}, {"address", e.address}}).c_str());
      Counter(added ? "heap reserved" : "heap released", ts,
              Args({{"bytes", e.total_bytes}}).c_str());
      break;
    }
    case EventKind::kActivityBegin: {
      const auto a = static_cast<Activity>(e.detail);
      NameThread(tid, a == Activity::kMarkWorker ? "gc mark worker"
                      : a == Activity::kSweep    ? "gc sweeper"
                                                 : "mutator");
      Begin(tid, ActivityName(e.detail), ts,
            e.bytes != 0 ? Args({{"bytes", e.bytes}}).c_str() : "");
      break;
    }
    case EventKind::kActivityEnd:
      End(tid, ActivityName(e.detail), ts, "");
      break;
  }
}

}  // namespace gcheap
