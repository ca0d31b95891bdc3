// fuzz_entry.h: what one fuzzer input does (shared by the libFuzzer target
// and the corpus test): the bytes become a program (ProgramFromBytes: a heap
// configuration and ops chosen by the bytes), which runs on our heap (and,
// for a quarter of the inputs, on Boehm GC) against the exact oracle.
// The decoding knows the VM ops of issue 12 (weak references, ephemerons,
// finalization; GenOptions::vm_ops) and emits them (the executor runs them:
// kVmOpsExecutable), and //tests/oracle:model_test checks that it can
// decode every one of them.
#ifndef GCHEAP_TESTS_FUZZ_FUZZ_ENTRY_H_
#define GCHEAP_TESTS_FUZZ_FUZZ_ENTRY_H_

#include <cstddef>
#include <cstdint>
#include <string>

namespace gcheap::oracle {

// Once per process, before the first input.
void FuzzInit();
// Runs one input. On a failure returns false with the report (the program
// minimized, replayable with oracle_diff --replay) in *report.
bool FuzzOne(const uint8_t* data, size_t size, std::string* report);

}  // namespace gcheap::oracle

#endif  // GCHEAP_TESTS_FUZZ_FUZZ_ENTRY_H_
