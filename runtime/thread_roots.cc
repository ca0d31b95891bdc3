// thread_roots.cc: the per-thread root snapshot (design and invariants in
// thread_roots.h).
#include "runtime/thread_roots.h"

#include <thread>

#include "gc/stats.h"
#include "heap/base.h"
#include "runtime/handles.h"
#include "runtime/process.h"
#include "runtime/runtime.h"

namespace gcheap {

namespace {

uint64_t State(uint64_t word) { return word & ThreadRoots::kStateMask; }

// Whether the first pause must leave m's roots to a per-thread scan.
bool HasThreadRoots(const gc_mutator* m) {
  return m->heap->config.conservative_stacks != 0 || !HandlesEmpty(m) ||
         !m->roots.scanners.empty();
}

}  // namespace

void ScanThreadRoots(gc_mutator* m, RootVisitor& v) {
  ThreadRoots& r = m->roots;
  if (m->heap->config.conservative_stacks != 0) {
    ScanStack(r.context, r.stack, r.fake_stack, v);
  }
  VisitHandles(m, v);
  for (const ThreadRoots::Scanner& s : r.scanners) {
    s.fn(&VisitRootSlot, &v, s.data);
  }
}

void CaptureThreadContext(gc_mutator* m) {
  if (m->heap->config.conservative_stacks == 0 &&
      !m->roots.capture.load(std::memory_order_relaxed)) {
    return;
  }
  GC_DCHECK(!ThreadRootScanPending(m),
            "a stack capture while the mutator's snapshot is unscanned");
  CaptureStackContext(&m->roots.context, m->roots.stack);
}

void EnableEmbedderCapture(gc_mutator* m, uintptr_t hi) {
  GC_DCHECK(m->state.load(std::memory_order_relaxed) == kRunning,
            "EnableEmbedderCapture: the mutator is not running");
  // The low bound only checks captures: the embedder's cold end may lie
  // on a stack pthread does not know (GC_register_my_thread's).
  m->roots.stack = {0, hi};
  m->roots.fake_stack = CurrentFakeStack();
}

bool ThreadRootScanPending(const gc_mutator* m) {
  return State(m->roots.scan.load(std::memory_order_acquire)) !=
         ThreadRoots::kDone;
}

void FinishThreadRootScan(gc_mutator* m) {
  uint64_t w = m->roots.scan.load(std::memory_order_acquire);
  if (State(w) == ThreadRoots::kDone) return;
  ThreadRootScans& scans = m->heap->world.thread_roots();
  if (State(w) == ThreadRoots::kPending &&
      m->roots.scan.compare_exchange_strong(w, w + 1,
                                            std::memory_order_acq_rel)) {
    scans.ScanClaimed(m, w + 1, nullptr);
    return;
  }
  scans.WaitDone(m);
}

void ThreadRootScans::Begin() {
  gen_++;
  list_.clear();
  h_->handshake.ForEachMutator([&](gc_mutator* m) {
    GC_DCHECK(State(m->roots.scan.load(std::memory_order_relaxed)) ==
                  ThreadRoots::kDone,
              "a mutator's root snapshot is still unscanned at a first pause");
    if (!HasThreadRoots(m)) {
      m->roots.scan.store(done_word(), std::memory_order_relaxed);
      return;
    }
    GC_DCHECK(
        m->heap->config.conservative_stacks == 0 || m->roots.context.sp != 0,
        "a stopped mutator has no stack capture");
    m->roots.scan.store(gen_ << 2 | ThreadRoots::kPending,
                        std::memory_order_relaxed);
    list_.push_back(m);
  });
  left_.store(list_.size(), std::memory_order_release);
}

void ThreadRootScans::ScanPending(bool blocked_only, RootVisitor& v) {
  if (Done()) return;
  const uint64_t pending = gen_ << 2 | ThreadRoots::kPending;
  for (gc_mutator* m : list_) {
    uint64_t w = m->roots.scan.load(std::memory_order_acquire);
    if (w != pending) continue;
    if (blocked_only && m->state.load(std::memory_order_acquire) != kBlocked) {
      continue;  // it scans itself as it resumes
    }
    if (m->roots.scan.compare_exchange_strong(w, w + 1,
                                              std::memory_order_acq_rel)) {
      ScanClaimed(m, w + 1, &v);
    }
  }
}

void ThreadRootScans::ScanClaimed(gc_mutator* m, uint64_t claimed_word,
                                  RootVisitor* v) {
  GC_DCHECK(
      State(claimed_word) == ThreadRoots::kClaimed && claimed_word >> 2 == gen_,
      "scanning a mutator's roots without the cycle's claim");
  const int64_t t0 = NowNs();
  // Once process exit has begun no cycle finishes, so nothing is freed:
  // no embedder scanner runs then (runtime/process.h).
  if (!ExitBegun()) {
    if (v != nullptr) {
      ScanThreadRoots(m, *v);
    } else {
      h_->collector->ShadeThreadRoots(
          [&](RootVisitor& own) { ScanThreadRoots(m, own); });
    }
  }
  const uint64_t ns = static_cast<uint64_t>(NowNs() - t0);
  ThreadRoots& r = m->roots;
  if (v == nullptr) {
    r.self_scans.fetch_add(1, std::memory_order_relaxed);
    r.self_scan_ns.fetch_add(ns, std::memory_order_relaxed);
  } else {
    r.collector_scans.fetch_add(1, std::memory_order_relaxed);
    r.collector_scan_ns.fetch_add(ns, std::memory_order_relaxed);
  }
  // The grey objects are in the pool (the owner's worker was disposed; a
  // claimer's own buffers count as its work, see gc/mark_workers.cc):
  // done, then the count, both releases.
  r.scan.store((claimed_word & ~ThreadRoots::kStateMask) | ThreadRoots::kDone,
               std::memory_order_release);
  left_.fetch_sub(1, std::memory_order_acq_rel);
  if (v != nullptr) {
    std::lock_guard<std::mutex> g(mu_);
    done_cv_.notify_all();
  }
}

void ThreadRootScans::WaitDone(gc_mutator* m) {
  auto done = [&] {
    return State(m->roots.scan.load(std::memory_order_acquire)) ==
           ThreadRoots::kDone;
  };
  // A scan takes microseconds to a few milliseconds: yield a little first.
  for (int i = 0; i < 64 && !done(); i++) std::this_thread::yield();
  if (done()) return;
  std::unique_lock<std::mutex> g(mu_);
  done_cv_.wait(g, done);
}

void ThreadRootScans::End() {
  if constexpr (kDebugBuild) {
    h_->handshake.ForEachMutator([&](gc_mutator* m) {
      GC_DCHECK(m->roots.scan.load(std::memory_order_relaxed) == done_word(),
                "mark termination: a mutator's root snapshot is not done");
    });
  }
  list_.clear();
}

void ThreadRootScans::ForEachRoot(RootVisitor& v) {
  h_->handshake.ForEachMutator([&](gc_mutator* m) { ScanThreadRoots(m, v); });
}

}  // namespace gcheap
