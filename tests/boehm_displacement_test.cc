// boehm_displacement_test: the Boehm ABI layer (runtime/boehm, linked in
// statically) with GC_all_interior_pointers = 0, set before initialization
// as Guile does. Boehm's rule, which the layer follows
// (gc/conservative.h, rule 5): a word of a heap object or of a data segment
// retains an object only if it points at the object's base or at base + a
// displacement registered with GC_register_displacement; a word of a
// thread's stack (or registers) retains through any interior pointer; and
// objects get no extra byte of padding.
//
// Retention is observed through finalizers (GC_gcollect runs the ready
// ones before it returns) and GC_base on hidden (~address) copies of the
// targets' addresses, kept in malloc'ed memory that is not scanned. Bounds
// are "at least 90% reclaimed" (a stale stack word may keep a few) and
// "all kept".
#define GC_THREADS 1
#define GC_NO_THREAD_REDIRECTS 1
#include <gc/gc.h>
#include <string.h>

#include <atomic>
#include <vector>

#include "gtest/gtest.h"
#include "tests/boehm_test_util.h"

namespace {

constexpr int kN = 300;
constexpr size_t kObj = 64;

void Init() {
  GC_set_all_interior_pointers(0);  // ignored once initialized
  GC_INIT();
  ASSERT_EQ(GC_get_all_interior_pointers(), 0);
}

using gcheap_test::Collect;
using gcheap_test::CountAllocated;

// Each test counts its own targets' finalizers (targets of an earlier test
// may be finalized during a later one).
void CountFinalizer(void*, void* counter) {
  static_cast<std::atomic<int>*>(counter)->fetch_add(1);
}

// Allocates kN atomic targets with a finalizer each that counts into
// *finalized, stores target + off into slots[i], and returns the targets'
// hidden addresses. No base address is left in this frame.
__attribute__((noinline)) std::vector<uintptr_t> MakeTargets(
    void** slots, size_t off, std::atomic<int>* finalized) {
  std::vector<uintptr_t> hidden;
  for (int i = 0; i < kN; i++) {
    char* t = static_cast<char*>(GC_MALLOC_ATOMIC(kObj));
    GC_REGISTER_FINALIZER(t, CountFinalizer, finalized, nullptr, nullptr);
    slots[i] = t + off;
    hidden.push_back(~reinterpret_cast<uintptr_t>(t));
  }
  return hidden;
}

void* g_data_slots[kN];  // a data-segment root

TEST(BoehmDisplacements, ObjectsGetNoPaddingByte) {
  Init();
  // With interior pointers on, 16 and 64 bytes would take the next size
  // class (request + 1).
  EXPECT_EQ(GC_size(GC_MALLOC(16)), 16u);
  EXPECT_EQ(GC_size(GC_MALLOC(kObj)), kObj);
  EXPECT_EQ(GC_size(GC_MALLOC_ATOMIC(kObj)), kObj);
}

TEST(BoehmDisplacements, InteriorPointerInAHeapObjectDoesNotRetain) {
  Init();
  auto** holder = static_cast<void**>(GC_MALLOC_UNCOLLECTABLE(kN * 8));
  static std::atomic<int> finalized{0};
  const std::vector<uintptr_t> t =
      MakeTargets(holder, 24, &finalized);  // never valid
  Collect();
  EXPECT_GE(finalized.load(), kN * 9 / 10);
  Collect();  // finalized objects are freed by the next cycle
  EXPECT_LE(CountAllocated(t), kN / 10);
  GC_FREE(holder);
}

TEST(BoehmDisplacements, InteriorPointerInTheDataSegmentDoesNotRetain) {
  Init();
  static std::atomic<int> finalized{0};
  const std::vector<uintptr_t> t = MakeTargets(g_data_slots, 40, &finalized);
  Collect();
  EXPECT_GE(finalized.load(), kN * 9 / 10);
  Collect();
  EXPECT_LE(CountAllocated(t), kN / 10);
  memset(g_data_slots, 0, sizeof(g_data_slots));
}

TEST(BoehmDisplacements, RegisteredDisplacementsRetainFromHeapAndData) {
  Init();
  GC_REGISTER_DISPLACEMENT(16);
  GC_REGISTER_DISPLACEMENT(2);  // a tag in the low bits, as Guile's
  auto** holder = static_cast<void**>(GC_MALLOC_UNCOLLECTABLE(kN * 8));
  static std::atomic<int> finalized{0};
  const std::vector<uintptr_t> in_heap = MakeTargets(holder, 16, &finalized);
  const std::vector<uintptr_t> in_data =
      MakeTargets(g_data_slots, 2, &finalized);
  Collect();
  Collect();
  EXPECT_EQ(finalized.load(), 0);
  EXPECT_EQ(CountAllocated(in_heap), kN);
  EXPECT_EQ(CountAllocated(in_data), kN);
  // Base pointers always retain; another offset still does not.
  for (int i = 0; i < kN; i++) {
    holder[i] = reinterpret_cast<void*>(~in_heap[i]);
  }
  static std::atomic<int> other_finalized{0};
  const std::vector<uintptr_t> other =
      MakeTargets(g_data_slots, 24, &other_finalized);
  Collect();
  Collect();
  EXPECT_EQ(CountAllocated(in_heap), kN);
  EXPECT_LE(CountAllocated(other), kN / 10);
  GC_FREE(holder);
  memset(g_data_slots, 0, sizeof(g_data_slots));
}

TEST(BoehmDisplacements, StackInteriorPointersStillRetain) {
  Init();
  void* on_stack[kN];
  static std::atomic<int> finalized{0};
  const std::vector<uintptr_t> t = MakeTargets(on_stack, 56, &finalized);
  Collect();
  Collect();
  EXPECT_EQ(finalized.load(), 0);
  EXPECT_EQ(CountAllocated(t), kN);
  // Keep the array live (and on the stack) across the collections.
  for (int i = 0; i < kN; i++) {
    EXPECT_EQ(reinterpret_cast<uintptr_t>(on_stack[i]), ~t[i] + 56);
  }
}

TEST(BoehmDisplacements, MemalignResultIsRetainedThroughItsDisplacement) {
  Init();
  auto** holder = static_cast<void**>(GC_MALLOC_UNCOLLECTABLE(kN * 8));
  std::vector<uintptr_t> hidden;
  for (int i = 0; i < kN; i++) {
    void* p = GC_memalign(128, 200);
    ASSERT_EQ(reinterpret_cast<uintptr_t>(p) % 128, 0u);
    memset(p, 0xab, 200);
    holder[i] = p;
    hidden.push_back(~reinterpret_cast<uintptr_t>(p));
  }
  Collect();
  for (int i = 0; i < kN; i++) {
    ASSERT_NE(GC_base(reinterpret_cast<void*>(~hidden[i])), nullptr) << i;
    EXPECT_EQ(static_cast<unsigned char*>(holder[i])[199], 0xab);
  }
  GC_FREE(holder);
}

// Debugging objects (runtime/boehm/debug_alloc.cc): the program holds the
// body, 32 bytes past the object's base. The first debugging allocation
// registers that offset, and GC_debug_register_displacement(n) registers n
// past the body too, so heap words holding either keep their objects.
__attribute__((noinline)) std::vector<uintptr_t> MakeDebugTargets(
    void** slots, size_t off, std::atomic<int>* finalized) {
  std::vector<uintptr_t> hidden;
  for (int i = 0; i < kN; i++) {
    char* body = static_cast<char*>(GC_debug_malloc_atomic(kObj, "t.cc", i));
    GC_debug_register_finalizer(body, CountFinalizer, finalized, nullptr,
                                nullptr);
    slots[i] = body + off;
    hidden.push_back(~reinterpret_cast<uintptr_t>(GC_base(body)));
  }
  return hidden;
}

TEST(BoehmDisplacements, DebuggingObjectsAreRetainedThroughTheirBodies) {
  Init();
  GC_debug_register_displacement(8);
  auto** holder = static_cast<void**>(GC_MALLOC_UNCOLLECTABLE(2 * kN * 8));
  static std::atomic<int> finalized{0};
  const std::vector<uintptr_t> bodies = MakeDebugTargets(holder, 0, &finalized);
  const std::vector<uintptr_t> displaced =
      MakeDebugTargets(holder + kN, 8, &finalized);
  Collect();
  Collect();
  EXPECT_EQ(finalized.load(), 0);
  EXPECT_EQ(CountAllocated(bodies), kN);
  EXPECT_EQ(CountAllocated(displaced), kN);
  GC_FREE(holder);
}

TEST(BoehmDisplacementsDeathTest, OffsetOfAPageOrMoreAborts) {
  Init();
  EXPECT_DEATH(GC_register_displacement(4096),
               "Bad argument to GC_register_displacement");
}

}  // namespace
