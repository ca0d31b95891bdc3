#include "gc/pacer.h"

#include <algorithm>

namespace gcheap {

Pacer::Pacer(const PacerConfig& c) : c_(c) {
  // No proportional goal when gc_percent < 0: then only a limit sets one.
  goal_ = c.gc_percent < 0 ? kNoGoal : c.min_heap;
  if (c.memory_limit != 0) goal_ = std::min(goal_, c.memory_limit);
  trigger_ = goal_;
  if (c.concurrent && goal_ != kNoGoal) {
    trigger_ = static_cast<size_t>(goal_ * kTriggerDefault);
  }
}

size_t Pacer::GoalFor(const CycleSample& s, bool limited) const {
  const uint64_t live = s.live_bytes;
  // The proportional goal (or the embedder's); none when gc_percent < 0.
  size_t goal = kNoGoal;
  if (goal_fn_) {
    goal = std::min(kNoGoal, std::max<size_t>(c_.min_heap, goal_fn_(s)));
  } else if (c_.gc_percent >= 0) {
    goal = std::max<size_t>(
        c_.min_heap, static_cast<size_t>(live * (1.0 + c_.gc_percent / 100.0)));
  }
  if (c_.memory_limit == 0) return goal;
  if (limited) {
    // The CPU limiter ignores the soft limit. With no proportional goal,
    // let the heap double rather than collect back to back.
    return goal != kNoGoal ? goal : std::max<size_t>(c_.min_heap, 2 * live);
  }
  // Near the soft limit, collect more often rather than grow past it (but
  // leave at least min_heap / 4 of runway over the live heap). With no
  // proportional goal this is the goal: collect only near the limit.
  return std::min(goal,
                  std::max<size_t>(c_.memory_limit, live + c_.min_heap / 4));
}

size_t Pacer::hard_goal() const {
  if (goal_ >= kNoGoal) return kNoGoal;
  const double hard = static_cast<double>(goal_) * kHardGoalFactor;
  return hard >= static_cast<double>(kNoGoal) ? kNoGoal
                                              : static_cast<size_t>(hard);
}

double Pacer::ExpectedScan() const { return scan_per_live_ * live_; }

void Pacer::StartMark(uint64_t heap_live) {
  // The first cycle has no live figure yet: assume the whole heap is live.
  expected_scan_ = scan_per_live_ * (measured_ ? live_ : heap_live);
}

void Pacer::EndCycle(const CycleSample& s, bool limited) {
  if (s.live_bytes > 0) {
    const double spl = static_cast<double>(s.scan_work) / s.live_bytes;
    scan_per_live_ = measured_ ? 0.5 * scan_per_live_ + 0.5 * spl : spl;
    measured_ = true;
  }
  live_ = s.live_bytes;
  goal_ = GoalFor(s, limited);
  if (s.concurrent && s.heap_at_end >= s.heap_at_start) {
    // Allocation while marking, rescaled to the next cycle's scan work.
    double allocated = static_cast<double>(s.heap_at_end - s.heap_at_start);
    const double next_scan = ExpectedScan();
    if (s.scan_work > 0 && next_scan > 0) {
      allocated *= next_scan / static_cast<double>(s.scan_work);
    }
    runway_ = runway_ < 0 ? allocated : 0.5 * runway_ + 0.5 * allocated;
  }
  if (!c_.concurrent || goal_ == kNoGoal || goal_ <= live_) {
    trigger_ = goal_;
    return;
  }
  const double span = static_cast<double>(goal_ - live_);
  double fraction = kTriggerDefault;
  if (runway_ >= 0) {
    fraction = std::clamp(1.0 - runway_ * kRunwayMargin / span, kTriggerMin,
                          kTriggerMax);
  }
  trigger_ = live_ + static_cast<size_t>(span * fraction);
}

double Pacer::AssistRatio(int64_t heap_live, int64_t scan_done) const {
  const double remaining_work =
      std::max(expected_scan_ - static_cast<double>(scan_done),
               kAssistMinWork * expected_scan_ + 4096.0);
  // The distance left to the goal, floored at kAssistMinDistance of it:
  // the ratio only grows as the heap nears and passes the goal (past it,
  // a mutator owes about the remaining work per span and waits for it;
  // the hard goal is the backstop).
  const double distance =
      std::max(static_cast<double>(goal_) - heap_live,
               kAssistMinDistance * static_cast<double>(goal_));
  return remaining_work / std::max(distance, 4096.0);
}

}  // namespace gcheap
