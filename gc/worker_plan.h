// worker_plan.h: how many threads mark during a concurrent mark phase
// (Go's gcControllerState.startCycle), and how many processors the
// collector plans for by default.
//
// Plan. The background mark aims at kBackgroundUtilization (25%) of
// `procs` (the heap's gc_workers). Whole dedicated workers do it when
// that rounds to within kMaxUtilizationError (30%) of the aim; otherwise
// the dedicated workers are rounded down and one fractional worker marks
// the rest of the aim as a share of its time. So 1 processor gets a
// fractional worker at 25%, 2 one at 50%, 3 one at 75%, 4 one dedicated
// worker, 6 one dedicated and one at 50%. The idle-priority worker is
// offered a processor when one is left over after the running mutators
// and the dedicated workers (it shares a processor with the fractional
// worker).
//
// Default processors: the CPUs the calling thread may run on
// (sched_getaffinity), capped by the CPU quota of the process's cgroup,
// rounded up (cgroup v2 cpu.max, v1 cpu.cfs_quota_us / cpu.cfs_period_us;
// the smallest quota from the process's cgroup up to the hierarchy's
// root), at least 1. std::thread::hardware_concurrency ignores both: a
// container limited to one CPU on a 64-CPU host would plan for 64.
//
// Everything but the file reads is a pure function of its inputs, unit
// tested (tests/worker_plan_test.cc).
#ifndef GCHEAP_GC_WORKER_PLAN_H_
#define GCHEAP_GC_WORKER_PLAN_H_

#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace gcheap {

inline constexpr double kBackgroundUtilization = 0.25;
inline constexpr double kMaxUtilizationError = 0.3;

struct MarkWorkerPlan {
  int dedicated = 0;      // workers that mark all the time
  double fractional = 0;  // share of one more worker's time (0: none)
  bool idle = false;      // offer the idle-priority worker a processor
};

// procs >= 1: the processors the collector plans for; running_mutators:
// attached mutators outside blocking regions.
MarkWorkerPlan PlanMarkWorkers(int procs, int running_mutators);

// ---- the default processor count ------------------------------------------

// min(affinity CPUs, ceil(cgroup quota)), at least 1.
int DefaultWorkerCount();
// CPUs in the calling thread's affinity mask (0 if it cannot be read).
int AffinityCpuCount();
// The cgroup CPU limit of this process in CPUs (quota / period), or none.
std::optional<double> CgroupCpuLimit();
// The whole contents of the file at path, or none if it cannot be opened or
// read. With stdio, not std::ifstream: iostreams would bring libstdc++'s
// locale machinery into libgc.so.1, which links the C++ runtime statically
// (docs/boehm.md, "Building and linking").
std::optional<std::string> ReadWholeFile(const std::string& path);

// The pure parts, on file contents:
// cgroup v2 cpu.max: "max 100000" (none) or "150000 100000" (1.5).
std::optional<double> ParseCpuMax(std::string_view cpu_max);
// cgroup v1: cpu.cfs_quota_us ("-1": none) and cpu.cfs_period_us.
std::optional<double> ParseCfsQuota(std::string_view quota,
                                    std::string_view period);
// The process's cgroup paths from /proc/self/cgroup: the v2 line "0::path"
// and the v1 line whose controllers include "cpu".
struct CgroupPaths {
  std::optional<std::string> v2, v1_cpu;
};
CgroupPaths ParseProcCgroup(std::string_view contents);
// Where those hierarchies are mounted, from /proc/self/mountinfo: the
// mount point and the mount's root inside the hierarchy.
struct CgroupMount {
  std::string root, mount_point;
};
struct CgroupMounts {
  std::optional<CgroupMount> v2, v1_cpu;
};
CgroupMounts ParseMountInfo(std::string_view contents);
// The directory of cgroup `path` under mount m ("" when the path is not
// visible under that mount).
std::string CgroupDir(const CgroupMount& m, std::string_view path);
// CgroupCpuLimit on given /proc/self/cgroup and mountinfo contents, reading
// the cgroup files through `read` (none: the file does not exist).
using FileReader =
    std::function<std::optional<std::string>(const std::string& path)>;
std::optional<double> CgroupCpuLimitFrom(std::string_view proc_cgroup,
                                         std::string_view mountinfo,
                                         const FileReader& read);

}  // namespace gcheap

#endif  // GCHEAP_GC_WORKER_PLAN_H_
