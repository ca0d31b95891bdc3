// Unit tests of the mark-worker plan and the default processor count
// (gc/worker_plan.h): the plan for 1..256 processors, the cgroup parsers on
// file contents, and the affinity of the calling thread.
#include "gc/worker_plan.h"

#include <sched.h>

#include <cmath>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "runtime/gc.h"
#include "runtime/runtime.h"

namespace gcheap {
namespace {

// With one processor the background mark is a fractional worker at 25%
// (Go's plan). It used to be one worker marking all of the time.
TEST(WorkerPlanTest, OneProcessorGetsAQuarterOfAFractionalWorker) {
  const MarkWorkerPlan p = PlanMarkWorkers(1, 1);
  EXPECT_EQ(p.dedicated, 0);
  EXPECT_DOUBLE_EQ(p.fractional, 0.25);
}

TEST(WorkerPlanTest, SmallProcessorCounts) {
  struct Want {
    int procs, dedicated;
    double fractional;
  };
  for (const Want& w : {Want{1, 0, 0.25}, Want{2, 0, 0.5}, Want{3, 0, 0.75},
                        Want{4, 1, 0}, Want{5, 1, 0}, Want{6, 1, 0.5},
                        Want{7, 2, 0}, Want{8, 2, 0}, Want{16, 4, 0}}) {
    const MarkWorkerPlan p = PlanMarkWorkers(w.procs, 0);
    EXPECT_EQ(p.dedicated, w.dedicated) << w.procs << " processors";
    EXPECT_DOUBLE_EQ(p.fractional, w.fractional) << w.procs << " processors";
  }
}

// For every count: whole workers when they come within 30% of 25% of the
// processors, else rounded down plus a fractional worker making up
// exactly the rest; never nothing, never more than one fractional worker.
TEST(WorkerPlanTest, EveryProcessorCountAimsAtAQuarter) {
  for (int procs = 1; procs <= 256; procs++) {
    const MarkWorkerPlan p = PlanMarkWorkers(procs, 0);
    const double aim = kBackgroundUtilization * procs;
    EXPECT_GE(p.dedicated, 0);
    EXPECT_GE(p.fractional, 0);
    EXPECT_LT(p.fractional, 1);
    EXPECT_GT(p.dedicated + p.fractional, 0) << procs;
    if (p.fractional > 0) {
      EXPECT_NEAR(p.dedicated + p.fractional, aim, 1e-9) << procs;
      EXPECT_LE(p.dedicated, aim) << procs;
    } else {
      EXPECT_LE(std::abs(p.dedicated / aim - 1), kMaxUtilizationError) << procs;
    }
  }
}

// The idle worker is offered a processor when one is left over after the
// running mutators and the dedicated workers.
TEST(WorkerPlanTest, IdleWorkerOnlyWithAProcessorLeftOver) {
  EXPECT_TRUE(PlanMarkWorkers(2, 0).idle);
  EXPECT_TRUE(PlanMarkWorkers(2, 1).idle);  // the fractional worker shares
  EXPECT_FALSE(PlanMarkWorkers(2, 2).idle);
  EXPECT_TRUE(PlanMarkWorkers(1, 0).idle);
  EXPECT_FALSE(PlanMarkWorkers(1, 1).idle);
  EXPECT_TRUE(PlanMarkWorkers(8, 5).idle);  // 2 dedicated + 5 running
  EXPECT_FALSE(PlanMarkWorkers(8, 6).idle);
}

// ---- the default processor count ------------------------------------------

TEST(WorkerPlanTest, ParsesCgroupV2CpuMax) {
  EXPECT_EQ(ParseCpuMax("max 100000\n"), std::nullopt);
  EXPECT_EQ(ParseCpuMax("150000 100000\n"), 1.5);
  EXPECT_EQ(ParseCpuMax("50000 100000"), 0.5);
  EXPECT_EQ(ParseCpuMax("200000\n"), 2.0);  // the period defaults to 100 ms
  EXPECT_EQ(ParseCpuMax(""), std::nullopt);
  EXPECT_EQ(ParseCpuMax("lots 100000"), std::nullopt);
  EXPECT_EQ(ParseCpuMax("0 100000"), std::nullopt);
}

TEST(WorkerPlanTest, ParsesCgroupV1CfsQuota) {
  EXPECT_EQ(ParseCfsQuota("-1\n", "100000\n"), std::nullopt);
  EXPECT_EQ(ParseCfsQuota("200000\n", "100000\n"), 2.0);
  EXPECT_EQ(ParseCfsQuota("25000", "100000"), 0.25);
  EXPECT_EQ(ParseCfsQuota("", "100000"), std::nullopt);
  EXPECT_EQ(ParseCfsQuota("100000", "0"), std::nullopt);
}

TEST(WorkerPlanTest, ParsesProcSelfCgroup) {
  // A hybrid host (v1 controllers and the v2 unified hierarchy).
  CgroupPaths p = ParseProcCgroup(
      "9:name=systemd:/\n8:pids:/\n4:memory:/process_api/331f\n"
      "2:cpuacct:/\n1:cpu,cpuacct:/docker/abc\n0::/\n");
  ASSERT_TRUE(p.v1_cpu.has_value());
  EXPECT_EQ(*p.v1_cpu, "/docker/abc");
  ASSERT_TRUE(p.v2.has_value());
  EXPECT_EQ(*p.v2, "/");
  // cgroup v2 only.
  p = ParseProcCgroup("0::/user.slice/user-1000.slice/session-2.scope\n");
  EXPECT_FALSE(p.v1_cpu.has_value());
  ASSERT_TRUE(p.v2.has_value());
  EXPECT_EQ(*p.v2, "/user.slice/user-1000.slice/session-2.scope");
  // "cpuacct" alone is not the cpu controller.
  p = ParseProcCgroup("2:cpuacct:/x\n");
  EXPECT_FALSE(p.v1_cpu.has_value());
}

TEST(WorkerPlanTest, ParsesMountInfo) {
  const CgroupMounts m = ParseMountInfo(
      "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
      "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime shared:9 - cgroup cgroup "
      "rw,cpu\n"
      "33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup "
      "rw,cpuacct\n"
      "41 31 0:38 /docker/abc /sys/fs/cgroup/unified rw,relatime - cgroup2 "
      "cgroup2 rw\n");
  ASSERT_TRUE(m.v1_cpu.has_value());
  EXPECT_EQ(m.v1_cpu->mount_point, "/sys/fs/cgroup/cpu");
  EXPECT_EQ(m.v1_cpu->root, "/");
  ASSERT_TRUE(m.v2.has_value());
  EXPECT_EQ(m.v2->mount_point, "/sys/fs/cgroup/unified");
  EXPECT_EQ(m.v2->root, "/docker/abc");
  EXPECT_FALSE(ParseMountInfo("garbage\n").v2.has_value());
}

TEST(WorkerPlanTest, CgroupDirectoryUnderItsMount) {
  EXPECT_EQ(CgroupDir({"/", "/sys/fs/cgroup"}, "/a/b"), "/sys/fs/cgroup/a/b");
  EXPECT_EQ(CgroupDir({"/", "/sys/fs/cgroup"}, "/"), "/sys/fs/cgroup");
  // A container sees its own subtree mounted at the top.
  EXPECT_EQ(CgroupDir({"/docker/abc", "/sys/fs/cgroup"}, "/docker/abc"),
            "/sys/fs/cgroup");
  EXPECT_EQ(CgroupDir({"/docker/abc", "/sys/fs/cgroup"}, "/docker/abc/x"),
            "/sys/fs/cgroup/x");
  EXPECT_EQ(CgroupDir({"/docker/abc", "/sys/fs/cgroup"}, "/other"), "");
  EXPECT_EQ(CgroupDir({"/docker/abc", "/sys/fs/cgroup"}, "/docker/abcd"), "");
}

// The limit is the smallest quota from the process's cgroup up to the
// top of the hierarchy, over both hierarchies.
TEST(WorkerPlanTest, CgroupLimitIsTheSmallestQuotaUpTheHierarchy) {
  std::map<std::string, std::string> files = {
      {"/sys/fs/cgroup/unified/app/worker/cpu.max", "max 100000\n"},
      {"/sys/fs/cgroup/unified/app/cpu.max", "250000 100000\n"},
      {"/sys/fs/cgroup/cpu/app/cpu.cfs_quota_us", "300000\n"},
      {"/sys/fs/cgroup/cpu/app/cpu.cfs_period_us", "100000\n"},
  };
  const FileReader read =
      [&](const std::string& path) -> std::optional<std::string> {
    auto it = files.find(path);
    if (it == files.end()) return std::nullopt;
    return it->second;
  };
  const std::string cgroup = "1:cpu,cpuacct:/app\n0::/app/worker\n";
  const std::string mounts =
      "32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu,cpuacct\n"
      "41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n";
  EXPECT_EQ(CgroupCpuLimitFrom(cgroup, mounts, read), 2.5);
  files["/sys/fs/cgroup/cpu/app/cpu.cfs_quota_us"] = "150000\n";
  EXPECT_EQ(CgroupCpuLimitFrom(cgroup, mounts, read), 1.5);
  files["/sys/fs/cgroup/unified/app/worker/cpu.max"] = "50000 100000\n";
  EXPECT_EQ(CgroupCpuLimitFrom(cgroup, mounts, read), 0.5);
  // No limit anywhere, or no cgroup file system.
  EXPECT_EQ(CgroupCpuLimitFrom("0::/\n", mounts, read), std::nullopt);
  EXPECT_EQ(CgroupCpuLimitFrom(cgroup, "", read), std::nullopt);
}

// A thread restricted to one CPU plans for one processor, and so does a
// heap it creates with gc_workers = 0 (std::thread::hardware_concurrency,
// used before, ignores the affinity mask).
TEST(WorkerPlanTest, DefaultFollowsTheThreadsAffinity) {
  cpu_set_t all;
  ASSERT_EQ(sched_getaffinity(0, sizeof(all), &all), 0);
  int first = 0;
  while (!CPU_ISSET(first, &all)) first++;
  int from_count = -1, heap_workers = -1, affinity = -1;
  std::thread([&] {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    ASSERT_EQ(sched_setaffinity(0, sizeof(one), &one), 0);
    affinity = AffinityCpuCount();
    from_count = DefaultWorkerCount();
    gc_config cfg;
    gc_config_init(&cfg);
    cfg.gc_workers = 0;
    gc_heap* h = gc_heap_create(&cfg);
    ASSERT_NE(h, nullptr);
    heap_workers = h->collector->workers();
    gc_heap_destroy(h);
  }).join();
  EXPECT_EQ(affinity, 1);
  EXPECT_EQ(from_count, 1);
  EXPECT_EQ(heap_workers, 1);
  // And the unrestricted count is the affinity set's, capped by a quota.
  EXPECT_LE(DefaultWorkerCount(), CPU_COUNT(&all));
  EXPECT_GE(DefaultWorkerCount(), 1);
}

// ReadWholeFile (stdio: no iostreams in libgc.so.1) returns a file's
// bytes whole, past its 4 KiB buffer, as std::ifstream reads them; a
// /proc file (no size, read until EOF) too; none for a missing file or a
// directory (whose read fails).
TEST(WorkerPlanTest, ReadWholeFileReadsAllBytesOrNone) {
  const std::string path = ::testing::TempDir() + "/read_whole_file";
  std::string bytes;
  for (int i = 0; i < 10000; i++) bytes.push_back(static_cast<char>(i * 7));
  {
    std::ofstream out(path, std::ios::binary);
    out << bytes;
  }
  EXPECT_EQ(ReadWholeFile(path), bytes);
  std::ifstream in("/proc/self/mountinfo");
  std::stringstream ss;
  ss << in.rdbuf();
  ASSERT_FALSE(ss.str().empty());
  // Both read the same process's mount table, which does not change.
  EXPECT_EQ(ReadWholeFile("/proc/self/mountinfo"), ss.str());
  EXPECT_EQ(ReadWholeFile(path + ".missing"), std::nullopt);
  EXPECT_EQ(ReadWholeFile(::testing::TempDir()), std::nullopt);
}

}  // namespace
}  // namespace gcheap
