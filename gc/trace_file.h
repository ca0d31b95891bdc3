// trace_file.h: the collector's timeline as a Chrome Trace Event JSON file
// (the format Perfetto and chrome://tracing open), written by one event
// listener (gc/events.h). GC_TRACE_FILE=path or gc_config.trace_file turns
// it on.
//
// Tracks (one per thread; pid is the process, tid the OS thread):
//   mutators: "alloc slow path", "assist", "safepoint wait", "blocked"
//     slices, and attach/detach instants;
//   mark workers: "mark worker" slices (the driver is worker 0);
//   the driver: a "GC N" slice per cycle holding its phases ("sweep
//     termination", "mark", "mark termination", "sweep"), instants for
//     roots scanned and heap marked;
//   the background sweeper: "sweep" slices;
//   "stop-the-world pauses" (a track of its own, tid kPauseTrack, since a
//     pause overlaps two phases): a "pause" slice per pause, from the stop
//     request to the release (args: cycle, pause_ns, stop_ns), holding a
//     "stopping" slice (the stop latency);
//   a "heap" counter track: in_use, goal and live bytes, at every cycle's
//     start and end; "heap address space" at every resize.
// Slices are B/E pairs; every B has its E: a slice still open when the
// file is closed is ended at the last timestamp, and an E whose B came
// before the listener was installed is dropped.
//
// Cost and memory. Off, it costs what any listener costs (nothing: the
// bus's one branch). On, a report appends a fixed-size record to its
// thread's buffer under that buffer's own (uncontended) lock: no I/O and
// no shared lock on mutator paths. Buffers hold kChunkEvents records;
// full ones wait in their thread's list until the next flush, and at most
// kMaxBufferedEvents records wait in all (beyond that, records are dropped
// and counted: otherData.dropped_events). The driver flushes at the end
// of every cycle (after the world restarted): it takes every thread's
// records (per thread in order), formats them and writes them, holding
// only the file's lock. Close (heap destroy, or process exit through an
// atexit handler for every open trace) flushes, ends open slices and
// finishes the JSON; later reports are dropped.
#ifndef GCHEAP_GC_TRACE_FILE_H_
#define GCHEAP_GC_TRACE_FILE_H_

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "gc/events.h"

namespace gcheap {

class TraceFile final : public EventListener {
 public:
  static constexpr size_t kChunkEvents = 4096;
  static constexpr size_t kMaxBufferedEvents = 256 * 1024;  // ~25 MiB
  // The pseudo-thread of the pauses track (above any Linux thread id).
  static constexpr uint64_t kPauseTrack = uint64_t{1} << 32;

  // Creates (truncates) path and writes the JSON header. nullptr with
  // *error set if it cannot.
  static std::unique_ptr<TraceFile> Open(const std::string& path,
                                         std::string* error);
  ~TraceFile() override;

  void OnEvent(const Event& e) override;
  // Writes every record reported so far.
  void Flush();
  // Flush, end the slices still open, finish the JSON and close the file.
  // Idempotent; later reports are dropped.
  void Close();
  const std::string& path() const { return path_; }
  uint64_t dropped() const { return dropped_.load(); }

 private:
  struct ThreadBuffer {
    std::mutex mu;
    std::vector<std::vector<Event>> full;  // guarded by mu
    std::vector<Event> current;            // guarded by mu
  };
  // What the writer knows of a thread (under io_mu_).
  struct Track {
    std::vector<std::string> open;  // names of open slices, innermost last
    bool named = false;
  };

  TraceFile(std::string path, FILE* f);
  ThreadBuffer* BufferOfThisThread();
  // Formats one record (under io_mu_).
  void Write(const Event& e);
  void Begin(uint64_t tid, const char* name, int64_t ts, const char* args);
  void End(uint64_t tid, const char* name, int64_t ts, const char* args);
  void Instant(uint64_t tid, const char* name, int64_t ts, const char* args);
  void Counter(const char* name, int64_t ts, const char* args);
  void NameThread(uint64_t tid, const char* name);
  void Emit(const std::string& json);

  const std::string path_;
  const uint64_t id_;  // unique per TraceFile: the thread-local cache's key
  const int pid_;
  std::atomic<bool> closed_{false};
  std::atomic<uint64_t> buffered_{0}, dropped_{0};
  std::mutex mu_;                                              // buffers_
  std::map<uint64_t, std::unique_ptr<ThreadBuffer>> buffers_;  // by tid
  std::mutex io_mu_;  // everything below
  FILE* file_;
  bool first_ = true;
  int64_t last_ts_ = 0;
  std::map<uint64_t, Track> tracks_;
  uint64_t goal_ = 0, live_ = 0;
};

}  // namespace gcheap

#endif  // GCHEAP_GC_TRACE_FILE_H_
