// libFuzzer target: every input is decoded into a mutator program (a heap
// configuration and ops; see tests/oracle/generator.h ProgramFromBytes) that
// runs on our heap and on Boehm GC against the exact oracle. A failed check
// prints the minimized program and aborts, so libFuzzer keeps the input.
//
//   tools/fuzz.sh 10          # fuzz for 10 minutes
//   bazel run //tools:oracle_diff -- --fuzz_input=crash-...   # replay one
#include <cstdio>
#include <cstdlib>
#include <string>

#include "tests/fuzz/fuzz_entry.h"

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  (void)argc;
  (void)argv;
  gcheap::oracle::FuzzInit();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string report;
  if (!gcheap::oracle::FuzzOne(data, size, &report)) {
    fprintf(stderr, "%s", report.c_str());
    fflush(stderr);
    abort();
  }
  return 0;
}
