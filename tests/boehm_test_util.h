// boehm_test_util.h: what the tests of libgc.so.1's Boehm ABI share.
// Collect() first overwrites 64 KiB of the stack below the caller, so a
// stale copy of a pointer left there by an earlier call does not keep an
// object alive through the conservative stack scan (the tests decide
// reachability with finalizers and disappearing links).
#ifndef GCHEAP_TESTS_BOEHM_TEST_UTIL_H_
#define GCHEAP_TESTS_BOEHM_TEST_UTIL_H_

#include <gc/gc.h>
#include <string.h>

namespace gcheap_test {

__attribute__((noinline)) inline void ClearStack() {
  volatile char buf[64 << 10];
  memset(const_cast<char*>(buf), 0, sizeof(buf));
}

inline void Collect() {
  ClearStack();
  GC_gcollect();
}

}  // namespace gcheap_test

#endif  // GCHEAP_TESTS_BOEHM_TEST_UTIL_H_
