// Process exit while collections are in flight (runtime/process.h): runs
// tests/exit_child many times in each mode and cycle kind and requires a
// clean exit (status 0) within a time limit every time. The child's root
// scanner points into main's frame and ends the child with status 3 or 4
// if it runs once exit has begun; a child that hangs at exit is killed
// after the limit and counts as a failure.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

extern char** environ;

namespace {

std::string child_path;  // argv[1]: the exit_child binary

// Runs the child; returns its wait status, -1 if it hung past the limit
// (it is then killed), or kCannotStart if it could not be started.
constexpr int kCannotStart = -2;
int RunChild(const std::string& mode, const std::string& cycles, int seed) {
  std::string seed_arg = std::to_string(seed);
  char* argv[] = {const_cast<char*>(child_path.c_str()),
                  const_cast<char*>(mode.c_str()),
                  const_cast<char*>(cycles.c_str()), seed_arg.data(), nullptr};
  pid_t pid;
  if (posix_spawn(&pid, child_path.c_str(), nullptr, nullptr, argv, environ) !=
      0) {
    return kCannotStart;
  }
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (;;) {
    int status;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

std::string Describe(int status) {
  if (status == -1) return "hung at exit (killed after 60 s)";
  if (WIFEXITED(status))
    return "exit status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status))
    return "killed by signal " + std::to_string(WTERMSIG(status));
  return "status " + std::to_string(status);
}

class ProcessExitTest
    : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {};

TEST_P(ProcessExitTest, ExitsCleanlyWhileCyclesAreInFlight) {
  const auto& [mode, cycles] = GetParam();
  constexpr int kRuns = 25;
  int failures = 0;
  for (int seed = 0; seed < kRuns; seed++) {
    const int status = RunChild(mode, cycles, seed);
    ASSERT_NE(status, kCannotStart) << "cannot start " << child_path;
    EXPECT_EQ(status, 0) << "exit_child " << mode << " " << cycles << " "
                         << seed << ": " << Describe(status);
    if (status != 0) failures++;
  }
  printf("%s %s: %d of %d runs failed\n", mode.c_str(), cycles.c_str(),
         failures, kRuns);
}

INSTANTIATE_TEST_SUITE_P(
    Modes, ProcessExitTest,
    ::testing::Combine(::testing::Values("return", "exit", "thread-exit",
                                         "atexit"),
                       ::testing::Values("concurrent", "stw")),
    [](const auto& info) {
      std::string name =
          std::get<0>(info.param) + "_" + std::get<1>(info.param);
      for (char& c : name) {
        if (c == '-') c = '_';
      }
      return name;
    });

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (argc != 2) {
    fprintf(stderr, "usage: process_exit_test EXIT_CHILD\n");
    return 2;
  }
  child_path = argv[1];
  // Under ThreadSanitizer a child that exits with threads running sleeps
  // atexit_sleep_ms (default 1000) to catch races at exit; 100 ms keeps
  // some of that window and the test's run time in bounds. (Harmless in
  // other builds, which ignore TSAN_OPTIONS.)
  const char* tsan = getenv("TSAN_OPTIONS");
  std::string opts = tsan != nullptr ? std::string(tsan) + ":" : "";
  setenv("TSAN_OPTIONS", (opts + "atexit_sleep_ms=100").c_str(), 1);
  return RUN_ALL_TESTS();
}
