// boehm_dlopen_test: the Boehm ABI layer (runtime/boehm, linked in
// statically) scans the data of a shared library loaded with dlopen after
// GC_init (Boehm re-registers the loaded objects at every collection): an
// object whose only reference is the library's global survives
// GC_gcollect (with everything it references), and is reclaimed once the
// global is cleared; after dlclose the collection neither reads the
// unmapped library nor keeps anything for it.
//
// The library is tests/boehm_dlopen_client.c, built by Bazel
// (linkshared); its path comes in $BOEHM_DLOPEN_CLIENT. Reclamation is
// observed with finalizers and GC_base on hidden (~address) copies.
#define GC_THREADS 1
#define GC_NO_THREAD_REDIRECTS 1
#include <dlfcn.h>
#include <gc/gc.h>
#include <stdlib.h>
#include <string.h>

#include <atomic>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/boehm_test_util.h"

namespace {

using gcheap_test::Collect;
using gcheap_test::CountAllocated;

constexpr int kN = 100;

std::atomic<int> g_finalized{0};
void CountFinalizer(void*, void*) { g_finalized.fetch_add(1); }

// Stores into *slot a new array of kN new objects with a finalizer each;
// their addresses are returned hidden (~address), so the array is the
// only reference to them and the slot the only one to the array.
__attribute__((noinline)) std::vector<uintptr_t> StoreNewObjects(void** slot) {
  auto** array = static_cast<void**>(GC_MALLOC(kN * sizeof(void*)));
  std::vector<uintptr_t> hidden;
  for (int i = 0; i < kN; i++) {
    void* p = GC_MALLOC(48);
    GC_REGISTER_FINALIZER(p, CountFinalizer, nullptr, nullptr, nullptr);
    array[i] = p;
    hidden.push_back(~reinterpret_cast<uintptr_t>(p));
  }
  *slot = array;
  return hidden;
}

TEST(BoehmDlopen, DataOfALibraryLoadedAfterInitIsARoot) {
  GC_INIT();
  const char* path = getenv("BOEHM_DLOPEN_CLIENT");
  ASSERT_NE(path, nullptr);
  const std::string file = std::string("./") + path;
  void* lib = GC_dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(lib, nullptr) << dlerror();
  using SlotFn = void** (*)();
  auto slot_of =
      reinterpret_cast<SlotFn>(dlsym(lib, "boehm_dlopen_client_slot_address"));
  ASSERT_NE(slot_of, nullptr);
  void** slot = slot_of();
  // The array is the heap's first object of its size, at the base of
  // gcheap's first arena. When that base was 4 GiB-aligned (1 process in
  // 64), a stale stack word whose low half a 32-bit store had zeroed kept
  // the array, and all kN objects with it; arenas no longer start there
  // (heap/arena.h, ArenaPlacement; docs/boehm.md, "False retention").
  const std::vector<uintptr_t> objs = StoreNewObjects(slot);
  for (int i = 0; i < 3; i++) Collect();
  EXPECT_EQ(g_finalized.load(), 0);
  EXPECT_EQ(CountAllocated(objs), kN);
  // Cleared: the objects go (so it was the library's global keeping them;
  // a stale stack word may keep a few).
  *slot = nullptr;
  Collect();
  Collect();
  EXPECT_GE(g_finalized.load(), kN * 9 / 10);
  EXPECT_LE(CountAllocated(objs), kN / 10);
  // Unloaded: collections go on without reading it, and keep nothing for
  // it.
  g_finalized = 0;
  const std::vector<uintptr_t> again = StoreNewObjects(slot);
  slot = nullptr;
  ASSERT_EQ(dlclose(lib), 0);
  Collect();
  Collect();
  EXPECT_GE(g_finalized.load(), kN * 9 / 10);
  EXPECT_LE(CountAllocated(again), kN / 10);
}

}  // namespace
