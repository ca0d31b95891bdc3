// boehm_marking_mode_test: with GC_GCHEAP_DIRTY_PAGES unset (auto), the
// Boehm layer marks stop-the-world ("parallel-stw" with several markers,
// "stw" with one) whatever the soft-dirty probe says (mostly-concurrent
// marking is on request only for now, docs/boehm.md),
// and a collection still works and prints the same mode in GC_PRINT_STATS'
// mode line, and a pause-steps line whose steps add up to the pause
// (stop-the-world: one pause, the first and the last).
#define GC_THREADS 1
#define GC_NO_THREAD_REDIRECTS 1
#include <gc/gc.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "gtest/gtest.h"
#include "runtime/boehm/dirty_pages.h"

extern "C" const char* GC_gcheap_marking_mode(void);
extern "C" const char* GC_gcheap_dirty_pages(void);

namespace {

TEST(MarkingMode, AutoIsStopTheWorld) {
  ASSERT_EQ(getenv("GC_GCHEAP_DIRTY_PAGES"), nullptr);
  char log[] = "/tmp/boehm_marking_mode_XXXXXX";
  const int fd = mkstemp(log);
  ASSERT_GE(fd, 0);
  close(fd);
  setenv("GC_PRINT_STATS", "1", 1);
  setenv("GC_LOG_FILE", log, 1);
  GC_INIT();
  const std::string mode = GC_gcheap_marking_mode();
  EXPECT_TRUE(mode == "parallel-stw" || mode == "stw") << mode;
  EXPECT_STREQ(GC_gcheap_dirty_pages(), "none");
  void* volatile keep = GC_MALLOC(64);
  GC_gcollect();
  EXPECT_NE(GC_base(keep), nullptr);
  FILE* f = fopen(log, "r");
  ASSERT_NE(f, nullptr);
  char line[512];
  bool seen = false;
  uint64_t pause_us = 0;
  int steps_seen = 0;
  while (fgets(line, sizeof(line), f) != nullptr) {
    const std::string l = line;
    unsigned long long ms = 0, ns = 0;
    if (sscanf(line, "World-stopped marking took %llu ms %llu ns", &ms, &ns) ==
        2) {
      pause_us = ms * 1000 + ns / 1000;
    }
    unsigned long long v[14];
    if (sscanf(line,
               "GC #%*u pause steps (us): first: stop %llu, roots %llu, "
               "dirty %llu, drain %llu, finalizers %llu, termination %llu, "
               "restart %llu; last: stop %llu, roots %llu, dirty %llu, "
               "drain %llu, finalizers %llu, termination %llu, restart %llu",
               &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8],
               &v[9], &v[10], &v[11], &v[12], &v[13]) == 14) {
      uint64_t first = 0;
      for (int i = 0; i < 7; i++) {
        first += v[i];
        EXPECT_EQ(v[i], v[i + 7]) << "one pause: first and last differ";
      }
      // Each step is truncated to whole microseconds.
      EXPECT_LE(first, pause_us + 1) << l;
      EXPECT_GE(first + 8, pause_us) << l;
      steps_seen++;
    }
    const size_t at = l.find(" mode: ");
    if (l.rfind("GC #", 0) == 0 && at != std::string::npos) {
      EXPECT_EQ(l.substr(at + 7), mode + "\n");
      seen = true;
    }
  }
  fclose(f);
  unlink(log);
  EXPECT_TRUE(seen) << "no mode line in GC_PRINT_STATS' output";
  EXPECT_GT(steps_seen, 0) << "no pause steps line in GC_PRINT_STATS' output";
  printf("default marking mode here: %s\n", mode.c_str());
}

}  // namespace
