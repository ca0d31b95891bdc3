#include "gc/worker_plan.h"

#include <thread>

namespace gcheap {

MarkWorkerPlan PlanMarkWorkers(int procs, int running_mutators) {
  const double goal = 0.25 * procs;
  MarkWorkerPlan plan;
  plan.dedicated = static_cast<int>(goal + 0.5);
  if (plan.dedicated > goal * 1.3) {
    plan.dedicated--;
    plan.fractional = goal - plan.dedicated;
  }
  plan.idle = procs - running_mutators - plan.dedicated >= 1;
  if (plan.fractional == 0 && plan.dedicated == 0) plan.dedicated = 1;
  return plan;
}

int DefaultWorkerCount() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

}  // namespace gcheap
