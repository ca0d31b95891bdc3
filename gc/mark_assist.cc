// mark_assist.cc: what mutators do while a concurrent cycle marks: allocate
// black and pay mark assists (Go's gcmarknewobject and gcAssistAlloc), and
// shade their write-barrier buffers (Go's wbBufFlush).
//
// Allocate black. Every object allocated while marking is live for the
// cycle. The mcaches do it in bulk, off the allocation fast path: when a
// span is uncached, and for the spans still cached in the final pause, one
// atomic OR per bitmap word marks what the mcache allocated from it since
// the mark began (heap/mcache.h gives the argument); large objects are
// marked as they are allocated. The counts stay in the mcaches and are
// summed in the final pause, so allocation touches no shared counter.
//
// Mark assists. Taking n bytes while marking costs n x assist_ratio bytes
// of scan work (gc/pacer.h computes the ratio), charged per refill: the
// free bytes of each span the mutator's mcache takes, and each large
// object (ChargeAssist, at the safepoint that follows). A mutator in debt:
//   1. steals credit that background workers have banked (bg_credit_): its
//      debt plus kOverAssistBytes when that much is banked (Go steals its
//      over-assisted scan work too), so the next refills are paid for;
//   2. otherwise marks itself: it drains grey objects from the shared pool
//      until its debt plus kOverAssistBytes is paid (the extra amortizes the
//      entry cost over later allocations, as Go's gcOverAssistWork does), or
//      the pool is empty, or a stop-the-world is requested (an assist never
//      holds up a pause: its unfinished grey objects go back to the pool).
//      Background workers keep their grey objects in local buffers, so the
//      pool is often empty. An assist that finds it so does not ask them
//      for work (the idle worker does, gc/mark_workers.cc): with mutators
//      marking on request, the pause workload's mutators outran their
//      goal (marks ending 10-17% over it, peak RSS +10-15%);
//   3. still in debt with nothing to mark: it waits, counted as blocked,
//      until background workers bank credit for its debt plus
//      kAssistWaitBytes (a wait is a sleep and a wakeup of an OS thread,
//      5-10 us of the two threads' time: waking for the debt of one
//      refill, a few KiB, made binary-trees' mutator wait 20,000-30,000
//      times a run; it steals its debt plus kOverAssistBytes of that, and
//      the rest stays banked for its next refills and the other
//      mutators), a worker has put work into
//      the pool on the idle worker's request (OfferAssistWork), or marking
//      ends
//      (WaitForAssistCredit; Go's assist queue, gcParkAssist), then
//      steals that credit or marks, and waits again while still in debt. So a
//      mutator allocates during the mark only as fast as the marking the
//      pacer's ratio asks for: the heap reaches the goal when marking
//      ends, not when the mutator, faster than the workers, has outrun it;
//   4. behind the assists, a mutator whose heap has passed the hard goal
//      waits for the cycle (WaitIfOverGoal).
// While the GC CPU limiter is on, debts are forgiven and nobody waits:
// the heap grows instead of the collector taking more than its share.
//
// Shading. The hybrid barrier buffers the old and the new value of every
// pointer store; a full buffer, a buffer at the ragged flush and every
// buffer at the final pause is shaded here (ShadeBuffered): each value is
// greyed into the shared pool, and the objects it marked are counted with
// the other marks made outside the mark workers (extra_objects_). A
// mutator's own roots, which it scans itself right after the first pause
// (runtime/thread_roots.h), are shaded the same way (ShadeThreadRoots).
//
// Invariant: an assist runs on a mutator in the kRunning state, so a
// pause that stops the world waits for it to finish; the pool it drains
// lives from pause 1 to pause 2.
#include <algorithm>
#include <chrono>
#include <mutex>

#include "gc/collector.h"
#include "gc/conservative.h"

namespace gcheap {

namespace {
// Scan work an assist does, steals or waits for beyond its debt (Go's
// gcOverAssistWork), which pays for the mutator's next refills.
constexpr int64_t kOverAssistBytes = 64 << 10;
// Credit a mutator waits for beyond its debt (WaitForAssistCredit): the rest
// of it stays banked for its next refills (and other mutators).
constexpr int64_t kAssistWaitBytes = 256 << 10;
// Grey objects an assist scans between looks at a pause request (it stops
// sooner once its debt is paid: Marker::DrainSome's scan limit).
constexpr size_t kAssistDrainBatch = 256;
}  // namespace

void Collector::PublishAssistRatio() {
  limiter_.Update(NowNs());
  assist_ratio_.store(
      pacer_.AssistRatio(heap_->heap_live().load(std::memory_order_relaxed),
                         scan_done_.load(std::memory_order_relaxed)),
      std::memory_order_relaxed);
}

void Collector::ChargeAssist(MutatorGcState* st, uint64_t bytes) {
  st->assist_credit -=
      static_cast<int64_t>(static_cast<double>(bytes) *
                           assist_ratio_.load(std::memory_order_relaxed));
  if (st->assist_credit < 0) Assist(st);
}

void Collector::Assist(MutatorGcState* st) {
  if (limiter_.limited() || !marking()) {
    st->assist_credit = 0;
    return;
  }
  // 1. Background credit, with the over-assist when that much is banked.
  int64_t debt = -st->assist_credit;
  int64_t avail = bg_credit_.load(std::memory_order_relaxed);
  while (avail > 0) {
    const int64_t take = std::min(avail, debt + kOverAssistBytes);
    if (bg_credit_.compare_exchange_weak(avail, avail - take,
                                         std::memory_order_relaxed)) {
      st->assist_credit += take;
      debt -= take;
      break;
    }
  }
  if (debt <= 0) return;
  // 2. Mark work, if the pool has any. (An assist does not ask the
  // workers for work: see the file comment.)
  if (pool_->nfull() == 0) return;
  ActivityScope activity(events_, Activity::kAssist);
  const int64_t t0 = NowNs();
  const int64_t want = debt + kOverAssistBytes;
  // Counted active from before it takes grey objects until after it gives
  // back the rest, so background workers never see an empty pool and no
  // active assist while grey objects are held here (termination).
  assists_active_.fetch_add(1, std::memory_order_seq_cst);
  Marker::Worker w(&marker_, pool_.get());
  // In batches of kAssistDrainBatch objects (a pause request is answered
  // between them), each stopping once the debt is paid.
  while (static_cast<int64_t>(w.scanned_bytes) < want &&
         !world_->StopRequested()) {
    if (!marker_.DrainSome(&w, kAssistDrainBatch,
                           static_cast<uint64_t>(want))) {
      break;
    }
  }
  w.gcw.Dispose();  // unfinished grey objects back to the pool
  assists_active_.fetch_sub(1, std::memory_order_seq_cst);
  st->assist_credit += static_cast<int64_t>(w.scanned_bytes);
  scan_done_.fetch_add(static_cast<int64_t>(w.scanned_bytes),
                       std::memory_order_relaxed);
  CountExtraMarks(w);
  const int64_t ns = NowNs() - t0;
  assist_ns_.fetch_add(ns, std::memory_order_relaxed);
  limiter_.AddGcTime(ns);
}

bool Collector::InAssistDebt(const MutatorGcState* st) const {
  return st->assist_credit < 0 && CreditMayCome();
}

bool Collector::CreditMayCome() const {
  return marking() && !limiter_.limited() &&
         (bg_marking_.load(std::memory_order_seq_cst) ||
          bg_marking_for_testing_);
}

void Collector::WaitForAssistCredit(const MutatorGcState* st) {
  // Counted as blocked: a pause may stop the world meanwhile, so nothing
  // here touches the cycle's pool (Sweep frees it); background credit is a
  // member. The end of a background mark phase wakes us, and so does the
  // end of marking (Sweep). It waits for kAssistWaitBytes more than its
  // debt: a wakeup per refill's debt cost more than the waits' length.
  if (st->assist_credit >= 0) return;
  const int64_t debt = -st->assist_credit + kAssistWaitBytes;
  assist_waits_.fetch_add(1, std::memory_order_relaxed);
  const int64_t t0 = NowNs();
  const uint64_t offered = work_offered_.load(std::memory_order_seq_cst);
  {
    std::unique_lock<std::mutex> g(assist_mu_);
    // Published before the credit is read (both seq_cst): a worker that
    // adds credit after our read sees the debt and wakes us
    // (PublishBgCredit). The timeout is a backstop (the limiter turning
    // on wakes nobody): assist_wait_timeout_ns_, 1 ms (tests of the
    // wakeups lengthen it, so that only a notification ends a wait).
    assist_wanted_.fetch_add(debt, std::memory_order_seq_cst);
    while (CreditMayCome() &&
           bg_credit_.load(std::memory_order_seq_cst) < debt &&
           work_offered_.load(std::memory_order_seq_cst) == offered) {
      assist_cv_.wait_for(
          g, std::chrono::nanoseconds(
                 assist_wait_timeout_ns_.load(std::memory_order_relaxed)));
    }
    assist_wanted_.fetch_sub(debt, std::memory_order_relaxed);
  }
  assist_wait_ns_.fetch_add(NowNs() - t0, std::memory_order_relaxed);
}

void Collector::PublishBgCredit(int64_t scanned) {
  if (scanned == 0) return;
  const int64_t credit =
      bg_credit_.fetch_add(scanned, std::memory_order_seq_cst) + scanned;
  scan_done_.fetch_add(scanned, std::memory_order_relaxed);
  const int64_t wanted = assist_wanted_.load(std::memory_order_seq_cst);
  if (wanted > 0 && credit >= wanted) WakeAssistWaiters();
}

void Collector::OfferAssistWork() {
  work_offered_.fetch_add(1, std::memory_order_seq_cst);
  if (assist_wanted_.load(std::memory_order_seq_cst) > 0) WakeAssistWaiters();
}

void Collector::WakeAssistWaiters() {
  // The waiters test their condition holding the lock: taking it once
  // after the condition changed and notifying after releasing it loses no
  // wakeup, and the woken waiter does not block on a held lock.
  { std::lock_guard<std::mutex> g(assist_mu_); }
  assist_cv_.notify_all();
}

void Collector::CountExtraMarks(const Marker::Worker& w) {
  extra_objects_.fetch_add(w.marked_objects, std::memory_order_relaxed);
  extra_bytes_.fetch_add(w.marked_bytes, std::memory_order_relaxed);
}

void Collector::ShadeBuffered(const uintptr_t* values, size_t n) {
  Marker::Worker w(&marker_, pool_.get());
  for (size_t i = 0; i < n; i++) marker_.MarkValue(&w, values[i]);
  CountExtraMarks(w);
}  // the worker's buffers go to the pool

void Collector::ShadeThreadRoots(absl::FunctionRef<void(RootVisitor&)> scan) {
  Marker::Worker w(&marker_, pool_.get());
  RootMarker v(&marker_, &w);
  scan(v);
  CountExtraMarks(w);
}  // the worker's buffers go to the pool before the caller ends the scan

void Collector::WaitIfOverGoal() {
  if (!marking() || !OverHardGoal()) return;
  std::unique_lock<std::mutex> g(driver_mu_);
  const uint64_t target = started_;
  cycle_done_cv_.wait(g, [&] { return done_ >= target || stop_driver_; });
}

}  // namespace gcheap
