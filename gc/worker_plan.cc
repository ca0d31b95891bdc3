#include "gc/worker_plan.h"

#include <sched.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "heap/base.h"

namespace gcheap {

MarkWorkerPlan PlanMarkWorkers(int procs, int running_mutators) {
  GC_CHECK(procs >= 1, "the worker plan needs a processor");
  const double goal = kBackgroundUtilization * procs;
  MarkWorkerPlan plan;
  plan.dedicated = static_cast<int>(goal + 0.5);
  const double error = plan.dedicated / goal - 1;
  if (error < -kMaxUtilizationError || error > kMaxUtilizationError) {
    // Whole workers miss the aim by too much: round down and make up the
    // difference with a fractional worker.
    if (plan.dedicated > goal) plan.dedicated--;
    plan.fractional = goal - plan.dedicated;
  }
  plan.idle = procs - running_mutators - plan.dedicated >= 1;
  return plan;
}

namespace {

std::vector<std::string_view> Fields(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n')) i++;
    size_t j = i;
    while (j < s.size() && s[j] != ' ' && s[j] != '\t' && s[j] != '\n') j++;
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

std::optional<long long> ParseInt(std::string_view s) {
  std::string str(s);
  char* end = nullptr;
  const long long v = strtoll(str.c_str(), &end, 10);
  if (str.empty() || *end != '\0') return std::nullopt;
  return v;
}

std::optional<double> Ratio(std::optional<long long> quota,
                            std::optional<long long> period) {
  if (!quota || !period || *quota <= 0 || *period <= 0) return std::nullopt;
  return static_cast<double>(*quota) / static_cast<double>(*period);
}

std::vector<std::string_view> Lines(std::string_view s) {
  std::vector<std::string_view> out;
  while (!s.empty()) {
    const size_t nl = s.find('\n');
    out.push_back(s.substr(0, nl));
    if (nl == std::string_view::npos) break;
    s.remove_prefix(nl + 1);
  }
  return out;
}

bool HasItem(std::string_view list, std::string_view item) {
  while (!list.empty()) {
    const size_t comma = list.find(',');
    if (list.substr(0, comma) == item) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

// The smallest limit from dir up to the mount point.
template <typename ReadLimit>
std::optional<double> SmallestUpTo(std::string dir, const std::string& top,
                                   ReadLimit read) {
  std::optional<double> best;
  for (;;) {
    std::optional<double> v = read(dir);
    if (v && (!best || *v < *best)) best = v;
    if (dir.size() <= top.size()) break;
    const size_t slash = dir.rfind('/');
    if (slash == std::string::npos || slash < top.size()) break;
    dir.resize(std::max(slash, top.size()));
  }
  return best;
}

}  // namespace

std::optional<double> ParseCpuMax(std::string_view cpu_max) {
  const std::vector<std::string_view> f = Fields(cpu_max);
  if (f.empty() || f[0] == "max") return std::nullopt;
  return Ratio(ParseInt(f[0]), f.size() > 1 ? ParseInt(f[1])
                                            : std::optional<long long>(100000));
}

std::optional<double> ParseCfsQuota(std::string_view quota,
                                    std::string_view period) {
  const std::vector<std::string_view> q = Fields(quota), p = Fields(period);
  if (q.empty() || p.empty()) return std::nullopt;
  return Ratio(ParseInt(q[0]), ParseInt(p[0]));
}

CgroupPaths ParseProcCgroup(std::string_view contents) {
  CgroupPaths out;
  for (std::string_view line : Lines(contents)) {
    // hierarchy-id:controllers:path
    const size_t c1 = line.find(':');
    if (c1 == std::string_view::npos) continue;
    const size_t c2 = line.find(':', c1 + 1);
    if (c2 == std::string_view::npos) continue;
    const std::string_view id = line.substr(0, c1);
    const std::string_view controllers = line.substr(c1 + 1, c2 - c1 - 1);
    const std::string path(line.substr(c2 + 1));
    if (id == "0" && controllers.empty()) {
      out.v2 = path;
    } else if (HasItem(controllers, "cpu")) {
      out.v1_cpu = path;
    }
  }
  return out;
}

CgroupMounts ParseMountInfo(std::string_view contents) {
  CgroupMounts out;
  for (std::string_view line : Lines(contents)) {
    // id parent major:minor root mount-point options [optional...] -
    //   fstype source super-options
    const std::vector<std::string_view> f = Fields(line);
    size_t dash = 6;
    while (dash < f.size() && f[dash] != "-") dash++;
    if (f.size() < 5 || dash + 4 > f.size()) continue;
    const std::string_view fstype = f[dash + 1];
    const CgroupMount m{std::string(f[3]), std::string(f[4])};
    if (fstype == "cgroup2") {
      if (!out.v2) out.v2 = m;
    } else if (fstype == "cgroup" && HasItem(f[dash + 3], "cpu")) {
      if (!out.v1_cpu) out.v1_cpu = m;
    }
  }
  return out;
}

std::string CgroupDir(const CgroupMount& m, std::string_view path) {
  std::string_view rel = path;
  if (m.root != "/") {
    // The mount shows a subtree: the path must lie inside it.
    if (rel.substr(0, m.root.size()) != m.root) return "";
    rel.remove_prefix(m.root.size());
    if (!rel.empty() && rel[0] != '/') return "";
  }
  std::string dir = m.mount_point;
  if (rel != "/") dir += std::string(rel);
  return dir;
}

std::optional<double> CgroupCpuLimitFrom(std::string_view proc_cgroup,
                                         std::string_view mountinfo,
                                         const FileReader& read) {
  const CgroupPaths paths = ParseProcCgroup(proc_cgroup);
  const CgroupMounts mounts = ParseMountInfo(mountinfo);
  std::optional<double> limit;
  auto take = [&](std::optional<double> v) {
    if (v && (!limit || *v < *limit)) limit = v;
  };
  if (paths.v2 && mounts.v2) {
    const std::string dir = CgroupDir(*mounts.v2, *paths.v2);
    if (!dir.empty()) {
      take(SmallestUpTo(dir, mounts.v2->mount_point, [&](const std::string& d) {
        std::optional<std::string> s = read(d + "/cpu.max");
        return s ? ParseCpuMax(*s) : std::nullopt;
      }));
    }
  }
  if (paths.v1_cpu && mounts.v1_cpu) {
    const std::string dir = CgroupDir(*mounts.v1_cpu, *paths.v1_cpu);
    if (!dir.empty()) {
      take(SmallestUpTo(
          dir, mounts.v1_cpu->mount_point, [&](const std::string& d) {
            std::optional<std::string> q = read(d + "/cpu.cfs_quota_us");
            std::optional<std::string> p = read(d + "/cpu.cfs_period_us");
            return q && p ? ParseCfsQuota(*q, *p) : std::nullopt;
          }));
    }
  }
  return limit;
}

std::optional<std::string> ReadWholeFile(const std::string& path) {
  FILE* f = fopen(path.c_str(), "re");
  if (f == nullptr) return std::nullopt;
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
  const bool failed = ferror(f) != 0;
  fclose(f);
  if (failed) return std::nullopt;
  return out;
}

std::optional<double> CgroupCpuLimit() {
  const std::optional<std::string> cgroup = ReadWholeFile("/proc/self/cgroup");
  const std::optional<std::string> mountinfo =
      ReadWholeFile("/proc/self/mountinfo");
  if (!cgroup || !mountinfo) return std::nullopt;
  return CgroupCpuLimitFrom(*cgroup, *mountinfo, ReadWholeFile);
}

int AffinityCpuCount() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return 0;
  return CPU_COUNT(&set);
}

int DefaultWorkerCount() {
  int n = AffinityCpuCount();
  if (n <= 0) n = 1;
  if (std::optional<double> limit = CgroupCpuLimit()) {
    n = std::min(n, static_cast<int>(std::ceil(*limit)));
  }
  return std::max(n, 1);
}

}  // namespace gcheap
