// The inline allocation paths of runtime/gc.h (gc_alloc_inline_,
// gc_alloc_noscan_inline_). Linked with -Wl,--wrap for the out-of-line
// gc_alloc and gc_alloc_noscan, so every call this file makes to them is
// counted. In an optimized build, once a mutator has a window for a size
// class, allocations of that class make no call until the window is used
// up; bad input still reaches the out-of-line path and fails there with a
// reason; the objects are distinct, zeroed and typed (they survive a
// collection while rooted). Debug builds (GCHEAP_DEBUG) always call.
#include <cstdint>
#include <cstring>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/gc.h"

extern "C" {
void* __real_gc_alloc(gc_mutator* m, gc_type_id type, size_t bytes);
void* __real_gc_alloc_noscan(gc_mutator* m, size_t bytes);
int alloc_calls = 0;
int noscan_calls = 0;
void* __wrap_gc_alloc(gc_mutator* m, gc_type_id type, size_t bytes) {
  alloc_calls++;
  return __real_gc_alloc(m, type, bytes);
}
void* __wrap_gc_alloc_noscan(gc_mutator* m, size_t bytes) {
  noscan_calls++;
  return __real_gc_alloc_noscan(m, bytes);
}
}

namespace {

constexpr bool kDebug =
#if defined(GCHEAP_DEBUG) && GCHEAP_DEBUG
    true;
#else
    false;
#endif

struct Pair {
  void* car;
  void* cdr;
  uint64_t tag;
};

class InlineAllocTest : public ::testing::Test {
 protected:
  void SetUp() override {
    gc_config cfg;
    gc_config_init(&cfg);
    cfg.stop_the_world = 1;  // no concurrent cycle sets poll bits meanwhile
    cfg.gc_percent = -1;     // and no automatic one
    cfg.verify = 1;
    heap_ = gc_heap_create(&cfg);
    ASSERT_NE(heap_, nullptr);
    m_ = gc_thread_attach(heap_);
    static const uint64_t kMap = 0b11;
    pair_ = RegisterPairType("Pair", &kMap);
    ASSERT_NE(pair_, 0u);
  }
  // A type of Pair's size with pointer bitmap *map.
  gc_type_id RegisterPairType(const char* name, const uint64_t* map) {
    gc_type_desc d;
    gc_type_desc_init(&d);
    d.name = name;
    d.size = sizeof(Pair);
    d.ptr_bitmap = map;
    d.ptr_bitmap_words = 1;
    return gc_register_type(heap_, &d);
  }
  void TearDown() override {
    gc_thread_detach(m_);
    gc_heap_destroy(heap_);
  }
  gc_heap* heap_ = nullptr;
  gc_mutator* m_ = nullptr;
  gc_type_id pair_ = 0;
};

TEST_F(InlineAllocTest, AWindowServesAllocationsWithoutACall) {
  // The first allocation opens the window (a refill, which makes the next
  // allocation poll: a second call); then 200 more of the 24-byte class
  // (341 slots a span) take none.
  void* list = nullptr;
  ASSERT_EQ(gc_add_root(heap_, &list), 0);
  std::set<void*> seen;
  for (int i = 0; i < 202; i++) {
    auto* p = static_cast<Pair*>(gc_alloc(m_, pair_, sizeof(Pair)));
    ASSERT_NE(p, nullptr);
    EXPECT_TRUE(seen.insert(p).second) << "handed out twice";
    EXPECT_EQ(p->car, nullptr);
    EXPECT_EQ(p->cdr, nullptr);
    EXPECT_EQ(p->tag, 0u);
    p->tag = i;
    gc_write_barrier(m_, p, &p->cdr, list);
    list = p;
  }
  EXPECT_EQ(alloc_calls, kDebug ? 202 : 2);
  // Typed: the list survives a collection whole, each object intact.
  gc_collect(m_);
  int n = 0;
  for (auto* p = static_cast<Pair*>(list); p != nullptr;
       p = static_cast<Pair*>(p->cdr)) {
    EXPECT_EQ(p->tag, static_cast<uint64_t>(201 - n));
    n++;
  }
  EXPECT_EQ(n, 202);
  gc_stats s;
  s.struct_size = sizeof(s);
  gc_get_stats(heap_, &s);
  EXPECT_EQ(s.live_objects, 202u);
  ASSERT_EQ(gc_remove_root(heap_, &list), 0);

  // Pointer-free objects of 16..1024 bytes: the same (100 bytes: the
  // 112-byte class, 73 slots a span).
  noscan_calls = 0;
  for (int i = 0; i < 60; i++) {
    auto* b = static_cast<char*>(gc_alloc_noscan(m_, 100));
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(b[0], 0);
    EXPECT_EQ(b[99], 0);
    memset(b, 1, 100);
  }
  EXPECT_EQ(noscan_calls, kDebug ? 60 : 2);
}

// Mono spans (heap/mspan.h): a window whose span holds one type serves
// that type inline; another type of the same size class goes out of line
// once, which gives the span per-slot tags, and from then on both types
// are served inline, each object keeping its type.
TEST_F(InlineAllocTest, AnotherTypeInAOneTypeWindowGoesOutOfLineOnce) {
  static const uint64_t kMap = 0b01;
  const gc_type_id other = RegisterPairType("Other", &kMap);
  ASSERT_NE(other, 0u);
  std::vector<std::pair<void*, gc_type_id>> objs;
  // Open the window (and clear the refill's poll) with Pair objects.
  for (int i = 0; i < 3; i++) {
    objs.push_back({gc_alloc(m_, pair_, sizeof(Pair)), pair_});
  }
  alloc_calls = 0;
  objs.push_back({gc_alloc(m_, other, sizeof(Pair)), other});
  EXPECT_EQ(alloc_calls, 1);
  for (int i = 0; i < 100; i++) {
    const gc_type_id t = i % 3 == 0 ? other : pair_;
    objs.push_back({gc_alloc(m_, t, sizeof(Pair)), t});
  }
  EXPECT_EQ(alloc_calls, kDebug ? 101 : 1);
  for (auto [p, t] : objs) {
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(gc_object_type(heap_, p), t);
  }
}

TEST_F(InlineAllocTest, BadInputStillFailsWithAReason) {
  ASSERT_NE(gc_alloc(m_, pair_, sizeof(Pair)), nullptr);  // a window is open
  alloc_calls = 0;
  EXPECT_EQ(gc_alloc(m_, 4242, sizeof(Pair)), nullptr);  // never registered
  EXPECT_NE(std::string(gc_last_error()).find("unknown type"),
            std::string::npos)
      << gc_last_error();
  EXPECT_EQ(gc_alloc(m_, pair_, sizeof(Pair) - 8), nullptr);  // too small
  EXPECT_NE(std::string(gc_last_error()).find("smaller than type"),
            std::string::npos)
      << gc_last_error();
  EXPECT_EQ(gc_alloc(m_, 0x10000 + pair_, sizeof(Pair)), nullptr);
  EXPECT_EQ(alloc_calls, 3);
  // Sizes the inline paths do not serve go out of line and work.
  ASSERT_NE(gc_alloc(m_, pair_, 4096), nullptr);
  ASSERT_NE(gc_alloc_noscan(m_, 3), nullptr);  // tiny
  ASSERT_NE(gc_alloc_noscan(m_, 100000), nullptr);
  // The out-of-line function is there by its name, too.
  void* (*fn)(gc_mutator*, gc_type_id, size_t) = &(gc_alloc);
  EXPECT_NE(fn(m_, pair_, sizeof(Pair)), nullptr);
}

}  // namespace
