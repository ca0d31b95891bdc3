// runtime/gc.h must not change behaviour on GC_DEBUG, a macro other
// libraries use (Boehm GC's gc.h switches to its debugging allocator on it).
// This file is compiled with -DGC_DEBUG=1 and linked with
// -Wl,--wrap=gc_write_barrier_slow, so every call it makes to the barrier's
// out-of-line path is counted. With marking off, the inline barrier must
// not call it at all, unless gcheap's own debug switch (GCHEAP_DEBUG, set
// by the dbg and sanitizer configs) is on, in which case every store does.
#include <cstdint>

#include "gtest/gtest.h"
#include "runtime/gc.h"

#ifndef GC_DEBUG
#error "this test must be compiled with -DGC_DEBUG=1"
#endif

extern "C" {
void __real_gc_write_barrier_slow(gc_mutator* m, void* obj, void** slot,
                                  void* value);
int slow_calls = 0;
void __wrap_gc_write_barrier_slow(gc_mutator* m, void* obj, void** slot,
                                  void* value) {
  slow_calls++;
  __real_gc_write_barrier_slow(m, obj, slot, value);
}
}

namespace {

TEST(GcDebugMacroTest, ForeignGcDebugDoesNotSelectTheSlowBarrier) {
  gc_config cfg;
  gc_config_init(&cfg);
  cfg.stop_the_world = 1;  // no concurrent mark can switch the barrier on
  gc_heap* heap = gc_heap_create(&cfg);
  ASSERT_NE(heap, nullptr);
  gc_mutator* m = gc_thread_attach(heap);
  static const uint64_t kMap = 1;
  gc_type_desc d;
  gc_type_desc_init(&d);
  d.name = "Box";
  d.size = sizeof(void*);
  d.ptr_bitmap = &kMap;
  d.ptr_bitmap_words = 1;
  gc_type_id box = gc_register_type(heap, &d);
  void** a = static_cast<void**>(gc_alloc(m, box, sizeof(void*)));
  void** b = static_cast<void**>(gc_alloc(m, box, sizeof(void*)));
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  constexpr int kStores = 100;
  for (int i = 0; i < kStores; i++) gc_write_barrier(m, a, a, b);
  EXPECT_EQ(*a, b);
#if defined(GCHEAP_DEBUG) && GCHEAP_DEBUG
  EXPECT_EQ(slow_calls, kStores);
#else
  EXPECT_EQ(slow_calls, 0);
#endif
  gc_thread_detach(m);
  gc_heap_destroy(heap);
}

// The sanitizer configs of .bazelrc must turn gcheap's debug checks on
// (they once kept defining the old GC_DEBUG switch, so no GC_DCHECK ran in
// any of them).
TEST(GcDebugMacroTest, SanitizerBuildsDefineGcheapDebug) {
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define GCHEAP_TEST_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define GCHEAP_TEST_SANITIZED 1
#endif
#if defined(GCHEAP_TEST_SANITIZED) && !(defined(GCHEAP_DEBUG) && GCHEAP_DEBUG)
  ADD_FAILURE() << "a sanitizer build without GCHEAP_DEBUG";
#else
  SUCCEED();
#endif
}

}  // namespace
