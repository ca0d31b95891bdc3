// worker_plan.h: how many threads mark during a concurrent mark phase
// (Go's gcControllerState.startCycle), and how many processors the
// collector plans for by default.
//
// Plan. The background mark aims at 25% of `procs` (the heap's gc_workers):
// whole dedicated workers when that rounds to within 30%, else one fewer
// and a fractional worker that marks the remainder of its time. The
// idle-priority worker is offered a processor when one is left over after
// the running mutators and the dedicated workers.
//
// A pure function of its inputs, so every processor count is unit-tested.
#ifndef GCHEAP_GC_WORKER_PLAN_H_
#define GCHEAP_GC_WORKER_PLAN_H_

namespace gcheap {

struct MarkWorkerPlan {
  int dedicated = 0;      // workers that mark all the time
  double fractional = 0;  // share of one more worker's time (0: none)
  bool idle = false;      // offer the idle-priority worker a processor
};

// procs >= 1: the processors the collector plans for; running_mutators:
// attached mutators outside blocking regions.
MarkWorkerPlan PlanMarkWorkers(int procs, int running_mutators);

// The processors this process may use: std::thread::hardware_concurrency.
int DefaultWorkerCount();

}  // namespace gcheap

#endif  // GCHEAP_GC_WORKER_PLAN_H_
