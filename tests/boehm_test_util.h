// boehm_test_util.h: what the tests of libgc.so.1's Boehm ABI share.
// Collect() first overwrites 64 KiB of the stack below the caller, so a
// stale copy of a pointer left there by an earlier call does not keep an
// object alive through the conservative stack scan (the tests decide
// reachability with finalizers and disappearing links). Node, MakeList
// and Sum: linked lists of conservative objects, whose survival a test
// checks through the sum of their values. CountAllocated: how many of a
// set of hidden addresses are still objects.
#ifndef GCHEAP_TESTS_BOEHM_TEST_UTIL_H_
#define GCHEAP_TESTS_BOEHM_TEST_UTIL_H_

#include <gc/gc.h>
#include <string.h>

#include <cstdint>
#include <vector>

namespace gcheap_test {

// The empty asm that takes buf's address and clobbers memory makes the
// memset observable: without it, the compiler treats the writes to a
// local array that is never read again as dead, removes the memset and
// then the whole call (GCC 12 at -O2 did, and a stale copy of an object's
// address left by an earlier frame kept that object alive through a
// collection: BoehmTestUtil.CollectClearsStaleStackCopies).
__attribute__((noinline)) inline void ClearStack() {
  char buf[64 << 10];
  memset(buf, 0, sizeof(buf));
  __asm__ volatile("" : : "r"(buf) : "memory");
}

inline void Collect() {
  ClearStack();
  GC_gcollect();
}

struct Node {
  Node* next;
  long value;
};

// A list of n GC_MALLOC'ed nodes, values n - 1 down to 0.
__attribute__((noinline)) inline Node* MakeList(int n) {
  Node* l = nullptr;
  for (int i = 0; i < n; i++) {
    auto* x = static_cast<Node*>(GC_MALLOC(sizeof(Node)));
    x->next = l;
    x->value = i;
    l = x;
  }
  return l;
}

// How many of the objects, remembered hidden (~address), GC_base still
// finds: GC_gcollect sweeps the whole heap before it returns, so a
// reclaimed one resolves to nothing (until its slot is reused).
inline int CountAllocated(const std::vector<uintptr_t>& hidden) {
  int n = 0;
  for (uintptr_t h : hidden) {
    n += GC_base(reinterpret_cast<void*>(~h)) != nullptr;
  }
  return n;
}

inline long Sum(const Node* l) {
  long s = 0;
  for (; l != nullptr; l = l->next) s += l->value;
  return s;
}

}  // namespace gcheap_test

#endif  // GCHEAP_TESTS_BOEHM_TEST_UTIL_H_
