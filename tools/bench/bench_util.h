// bench_util.h: what the one-system-per-process benchmarks of tools/bench
// (tree_bench, weak_bench) share: failing a run, and the process's CPU time
// and peak resident set for their RESULT lines. Header-only; each function
// is inline and has no state.
#ifndef GCHEAP_TOOLS_BENCH_BENCH_UTIL_H_
#define GCHEAP_TOOLS_BENCH_BENCH_UTIL_H_

#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace gcheap {
namespace bench {

// Prints "FAILED: what" to stderr (after flushing stdout) and exits 1: a
// benchmark that read a wrong answer has no figures to report.
[[noreturn]] inline void Fail(const std::string& what) {
  fprintf(stderr, "FAILED: %s\n", what.c_str());
  fflush(stdout);
  exit(1);
}

// User plus system CPU time of the whole process, all threads, in ms.
inline double CpuMs() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

// The peak resident set: VmHWM from /proc/self/status. Unlike ru_maxrss it
// does not carry the peak of the process that exec'ed this one.
inline double MaxRssMb() {
  if (FILE* f = fopen("/proc/self/status", "r")) {
    char line[256];
    double kb = -1;
    while (fgets(line, sizeof(line), f) != nullptr) {
      if (sscanf(line, "VmHWM: %lf kB", &kb) == 1) break;
    }
    fclose(f);
    if (kb >= 0) return kb / 1024.0;
  }
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024.0;  // KiB on Linux
}

}  // namespace bench
}  // namespace gcheap

#endif  // GCHEAP_TOOLS_BENCH_BENCH_UTIL_H_
