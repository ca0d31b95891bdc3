// pacer.h: when to start a cycle and how much mark work allocation owes
// (Go's gcControllerState, simplified).
//
// Goal. After a cycle marked `live` bytes, the heap goal is
//   goal = max(min_heap, live x (1 + gc_percent / 100))
// (no proportional goal when gc_percent < 0). A soft memory limit lowers
// it to the limit (but at least live + min_heap / 4, so a cycle always has
// some runway); with no proportional goal the limit is the goal, so the
// heap collects only as it approaches the limit (Go's GOGC=off +
// GOMEMLIMIT). While the GC CPU limiter is on the limit is ignored and the
// heap may grow past it rather than collect back to back (with no
// proportional goal: to 2 x live).
//
// An embedder may replace the proportional goal with its own (SetGoalFn):
// after each cycle the goal is then max(min_heap, fn(sample)), in absolute
// bytes, and the soft memory limit still lowers it as above. The Boehm
// layer (runtime/boehm) paces libgc.so.1 this way with Boehm's free-space
// divisor formula. Without one the default behaviour is unchanged.
//
// Trigger. A stop-the-world cycle starts at the goal. A concurrent cycle
// must start earlier, so that marking ends near the goal while mutators
// keep allocating: the pacer learns the runway, the bytes allocated while
// marking, from the last cycles:
//   runway(n+1) = smoothed[ allocated_during_mark(n) x
//                           expected_scan(n+1) / scan_work(n) ]
// (the mutators' allocation per unit of mark work, times the work the next
// cycle expects: last cycle's scanned bytes scaled by the live heap's
// growth) times kRunwayMargin, and the trigger is goal - runway, clamped
// to between kTriggerMin and kTriggerMax of the way from live to goal.
// kTriggerMin is Go's bound (0.7): an earlier trigger lets a mutator that
// allocates faster than the workers mark grow the heap by what it
// allocates black during a long mark, which the next goal then doubles;
// past the bound, assists (and waiting for their credit) slow the
// mutator instead, spending CPU to hold the heap.
// Before any concurrent cycle has been measured (the first cycle; or after
// stop-the-world cycles) the trigger is kTriggerDefault of the way.
//
// Assists. At mark start and as marking proceeds, the assist ratio is the
// scan work still expected per byte of heap growth still allowed:
//   ratio = max(expected_scan - scan_done,
//               kAssistMinWork x expected_scan) /
//           max(goal - heap_live, kAssistMinDistance x goal)
// (so it only grows as the heap nears and passes the goal). A mutator
// that allocates n bytes while marking owes n x ratio bytes of scan work
// (gc/mark_assist.cc); with nothing to mark it waits until background
// credit pays the debt, so the heap reaches the goal as marking ends.
// Background workers marking at their share keep the debt paid when the trigger
// was right; when it was late, assists slow the allocating mutators so marking
// still ends before the heap outgrows its goal.
//
// Not thread-safe: the collector calls it in its pauses (EndCycle,
// StartMark) and from the background mark driver (AssistRatio).
#ifndef GCHEAP_GC_PACER_H_
#define GCHEAP_GC_PACER_H_

#include <cstddef>
#include <cstdint>
#include <functional>

namespace gcheap {

struct PacerConfig {
  int gc_percent = 100;
  size_t memory_limit = 0;
  size_t min_heap = 4 << 20;
  bool concurrent = false;
};

// What one finished cycle measured.
struct CycleSample {
  uint64_t live_bytes = 0;     // marked
  uint64_t scan_work = 0;      // bytes scanned (scan objects only; an
                               // estimate of the pointer-containing live
                               // bytes, rescans counted again)
  uint64_t heap_at_start = 0;  // heap_live when marking began
  uint64_t heap_at_end = 0;    // heap_live when marking ended
  bool concurrent = false;
};

class Pacer {
 public:
  // The goal when nothing drives collections by heap size (gc_percent < 0
  // and no memory limit). It and every goal derived from it fit in int64_t.
  static constexpr size_t kNoGoal = ~size_t{0} >> 1;
  // The hard goal, where allocating mutators wait for a cycle that is
  // marking, is this factor over the goal (Go's 1.1).
  static constexpr double kHardGoalFactor = 1.1;
  // Trigger: the learned runway's safety margin, and where the trigger
  // may lie, as fractions of the way from live to goal.
  static constexpr double kRunwayMargin = 1.1;
  static constexpr double kTriggerDefault = 0.7;
  static constexpr double kTriggerMin = 0.7;
  static constexpr double kTriggerMax = 0.95;
  // Assists: floors of the remaining work and distance, as fractions of
  // the expected scan work and of the goal. The distance floor is small
  // (0.1%, Go floors it at one byte): past the goal a mutator owes about
  // the remaining work for every span, so it waits for marking to end
  // (gc/mark_assist.cc) rather than allocating on to the hard goal.
  static constexpr double kAssistMinWork = 0.1;
  static constexpr double kAssistMinDistance = 0.001;

  // The next goal, in absolute bytes, from the cycle that just ended. It
  // runs in the mark-termination pause: it must not call into the heap or
  // take a lock a stopped mutator may hold.
  using GoalFn = std::function<size_t(const CycleSample&)>;

  explicit Pacer(const PacerConfig& c);

  // Replaces the proportional goal from the next EndCycle on (an empty fn
  // restores it). Call before the first cycle or in a pause.
  void SetGoalFn(GoalFn fn) { goal_fn_ = std::move(fn); }

  // Sets goal and trigger for the next cycle from the one that just ended.
  // limited: the GC CPU limiter is on (ignore the soft memory limit).
  void EndCycle(const CycleSample& s, bool limited);
  // Scan work the current cycle expects (set when marking starts).
  // heap_live: the heap when marking starts (the first cycle's estimate).
  void StartMark(uint64_t heap_live);
  // Scan work owed per byte allocated, given the work done so far.
  double AssistRatio(int64_t heap_live, int64_t scan_done) const;

  // Scan work expected of the next cycle: the last live heap times the
  // smoothed scan work per live byte. measured(): a cycle has ended with
  // live bytes, so the estimate is from a real cycle.
  double ExpectedScan() const;
  bool measured() const { return measured_; }

  size_t goal() const { return goal_; }
  // kHardGoalFactor x goal; kNoGoal when there is no goal.
  size_t hard_goal() const;
  size_t trigger() const { return trigger_; }
  double runway() const { return runway_; }

 private:
  size_t GoalFor(const CycleSample& s, bool limited) const;

  const PacerConfig c_;
  GoalFn goal_fn_;
  size_t goal_;
  size_t trigger_;
  uint64_t live_ = 0;
  double runway_ = -1;          // smoothed learned runway; < 0: none yet
  double scan_per_live_ = 0.5;  // scan work per live byte, smoothed
  bool measured_ = false;       // scan_per_live_ is from a real cycle
  double expected_scan_ = 0;
};

}  // namespace gcheap

#endif  // GCHEAP_GC_PACER_H_
