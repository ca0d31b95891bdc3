#include "tests/oracle/oracle.h"

#include <signal.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <cstring>

#ifndef __has_feature
#define __has_feature(x) 0
#endif

namespace gcheap::oracle {

bool SlowBuild() {
#if defined(GCHEAP_DEBUG) && GCHEAP_DEBUG
  return true;
#elif __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  return true;
#else
  return false;
#endif
}

const char* BuildKind() {
#if __has_feature(thread_sanitizer) || defined(__SANITIZE_THREAD__)
  return "tsan";
#elif __has_feature(address_sanitizer) || defined(__SANITIZE_ADDRESS__)
  return "asan";
#elif defined(GCHEAP_DEBUG) && GCHEAP_DEBUG
  return "debug";
#else
  return "opt";
#endif
}

BatchResult RunSeeds(
    uint64_t first_seed, uint64_t n, const GenOptions& g, const RunOptions& o,
    bool minimize,
    const std::function<void(const Program&, const RunResult&)>& per_program) {
  BatchResult b;
  for (uint64_t seed = first_seed; seed < first_seed + n; seed++) {
    Program p = GenerateProgram(seed, g);
    SetCrashContext("oracle: crashed in program seed=%llu (%zu ops)\n",
                    static_cast<unsigned long long>(seed), p.ops.size());
    RunOptions po = o;
    po.boehm = o.boehm && (o.boehm_every <= 1 || seed % o.boehm_every == 0);
    RunResult r = RunProgram(p, po);
    b.programs++;
    if (po.boehm) b.boehm_programs++;
    b.stats.Add(r.stats);
    if (per_program) per_program(p, r);
    if (r.ok) {
      b.passed++;
      continue;
    }
    b.ok = false;
    b.failing_seed = seed;
    if (minimize) {
      SetCrashContext("oracle: crashed while minimizing seed=%llu\n",
                      static_cast<unsigned long long>(seed));
      Program m = MinimizeFailure(p, po, r);
      RunResult mr = RunProgram(m, po);
      b.report = FailureReport(p, r, &m, &mr);
    } else {
      b.report = FailureReport(p, r, nullptr, nullptr);
    }
    break;
  }
  SetCrashContext("%s", "");
  return b;
}

std::string VmSummary(const RunStats& s) {
  char buf[768];
  snprintf(buf, sizeof(buf),
           "vm: weak_ops=%llu eph_ops=%llu fin_ops=%llu weak_reads=%llu "
           "(while marking %llu, held past the cycle %llu) finalized=%llu "
           "guardian_pops=%llu "
           "cleanups=%llu short_cleared=%llu long_cleared=%llu "
           "ephemerons_cleared=%llu revived=%llu drains=%llu "
           "barrier_free_inits=%llu; boehm: "
           "finalized_both=%llu links_both=%llu programs_diverged=%llu",
           static_cast<unsigned long long>(s.weak_ops),
           static_cast<unsigned long long>(s.eph_ops),
           static_cast<unsigned long long>(s.fin_ops),
           static_cast<unsigned long long>(s.weak_reads),
           static_cast<unsigned long long>(s.reads_marking),
           static_cast<unsigned long long>(s.holds_checked),
           static_cast<unsigned long long>(s.vm.finalized),
           static_cast<unsigned long long>(s.vm.guardian_pops),
           static_cast<unsigned long long>(s.vm.cleanups_run),
           static_cast<unsigned long long>(s.vm.short_cleared),
           static_cast<unsigned long long>(s.vm.long_cleared),
           static_cast<unsigned long long>(s.vm.ephemerons_cleared),
           static_cast<unsigned long long>(s.vm.revived),
           static_cast<unsigned long long>(s.drains),
           static_cast<unsigned long long>(s.init_stores),
           static_cast<unsigned long long>(s.boehm_fin_agree),
           static_cast<unsigned long long>(s.boehm_link_agree),
           static_cast<unsigned long long>(s.boehm_diverged));
  return buf;
}

namespace {
char crash_text[512];
struct sigaction old_actions[32];
constexpr int kSignals[] = {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL};

void OnFatalSignal(int sig) {
  size_t n = strnlen(crash_text, sizeof(crash_text));
  if (n > 0) {
    ssize_t w = write(2, crash_text, n);
    (void)w;
  }
  // Hand over to whatever was installed before (a sanitizer's handler, or
  // the default action); the signal is raised again on return.
  sigaction(sig, &old_actions[sig], nullptr);
  if (sig == SIGABRT) raise(sig);
}
}  // namespace

void InstallCrashHandler() {
  static bool installed = false;
  if (installed) return;
  installed = true;
  for (int sig : kSignals) {
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = &OnFatalSignal;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, &old_actions[sig]);
  }
}

void SetCrashContext(const char* fmt, ...) {
  char buf[sizeof(crash_text)];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  memcpy(crash_text, buf, sizeof(buf));
}

}  // namespace gcheap::oracle
