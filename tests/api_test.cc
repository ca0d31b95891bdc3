// Tests for the C API's contract: configuration and environment, type
// registration errors, allocation errors, and misuse that must abort with a
// clear message.
#include <cstdlib>
#include <string>
#include <thread>

#include "gc_test_util.h"
#include "gtest/gtest.h"
#include "runtime/gc.h"

namespace gcheap {
namespace {

using ApiTest = GcTest;

TEST(ConfigTest, DefaultsAndEnvironment) {
  unsetenv("GC_PERCENT");
  unsetenv("GC_MEMORY_LIMIT");
  const char* stw = getenv("GC_STW");
  std::string saved_stw = stw ? stw : "";
  unsetenv("GC_STW");
  gc_config c;
  gc_config_init(&c);
  EXPECT_EQ(c.gc_percent, 100);
  EXPECT_EQ(c.max_heap_bytes, 0u);
  EXPECT_EQ(c.stop_the_world, 0);  // concurrent by default
  setenv("GC_STW", "1", 1);
  gc_config_init(&c);
  EXPECT_EQ(c.stop_the_world, 1);
  if (stw != nullptr) {
    setenv("GC_STW", saved_stw.c_str(), 1);
  } else {
    unsetenv("GC_STW");
  }
  setenv("GC_PERCENT", "50", 1);
  setenv("GC_MEMORY_LIMIT", "512M", 1);
  setenv("GC_MAX_HEAP", "2G", 1);
  setenv("GCTRACE", "1", 1);
  setenv("GC_VERIFY", "1", 1);
  setenv("GC_WORKERS", "3", 1);
  gc_config_init(&c);
  EXPECT_EQ(c.gc_percent, 50);
  EXPECT_EQ(c.memory_limit_bytes, size_t{512} << 20);
  EXPECT_EQ(c.max_heap_bytes, size_t{2} << 30);
  EXPECT_EQ(c.trace, 1);
  EXPECT_EQ(c.verify, 1);
  EXPECT_EQ(c.gc_workers, 3);
  setenv("GC_PERCENT", "off", 1);
  gc_config_init(&c);
  EXPECT_LT(c.gc_percent, 0);
  for (const char* v : {"GC_PERCENT", "GC_MEMORY_LIMIT", "GC_MAX_HEAP",
                        "GCTRACE", "GC_VERIFY", "GC_WORKERS"}) {
    unsetenv(v);
  }
}

TEST(ConfigTest, InvalidConfigurationIsRejected) {
  gc_config c;
  gc_config_init(&c);
  c.gc_workers = -3;
  EXPECT_EQ(gc_heap_create(&c), nullptr);
  EXPECT_NE(std::string(gc_last_error()).find("gc_workers"), std::string::npos);
  gc_config_init(&c);
  c.max_heap_bytes = 1000;
  EXPECT_EQ(gc_heap_create(&c), nullptr);
  EXPECT_NE(std::string(gc_last_error()).find("max_heap_bytes"),
            std::string::npos);
}

TEST_F(ApiTest, TypeRegistrationErrors) {
  gc_type_desc empty = {"Empty", 0, nullptr, 0, nullptr, nullptr};
  EXPECT_EQ(gc_register_type(heap_, &empty), 0u);
  EXPECT_NE(std::string(gc_last_error()).find("Empty"), std::string::npos);
  static const uint64_t kPastEnd = 0b100;  // word 2 of a 20-byte struct
  gc_type_desc bad = {"Bad", 20, &kPastEnd, 0, nullptr, nullptr};
  EXPECT_EQ(gc_register_type(heap_, &bad), 0u);
  EXPECT_NE(std::string(gc_last_error()).find("past the end"),
            std::string::npos);
  static const uint64_t kOne = 1;
  gc_type_desc odd_elem = {"OddElem", 8, nullptr, 12, &kOne, nullptr};
  EXPECT_EQ(gc_register_type(heap_, &odd_elem), 0u);
  EXPECT_EQ(gc_register_type(heap_, nullptr), 0u);
  // Noscan types allocate in noscan spans; both kinds work.
  gc_type_desc bytes = {"Bytes", 0, nullptr, 1, nullptr, nullptr};
  gc_type_id b = gc_register_type(heap_, &bytes);
  ASSERT_NE(b, 0u);
  EXPECT_NE(gc_alloc(m_, b, 100), nullptr);
}

TEST_F(ApiTest, AllocationErrorsReturnNullWithAReason) {
  EXPECT_EQ(gc_alloc(m_, 999, 16), nullptr);
  EXPECT_NE(std::string(gc_last_error()).find("unknown type"),
            std::string::npos);
  EXPECT_EQ(gc_alloc(m_, 0, 16), nullptr);
  EXPECT_EQ(gc_alloc(m_, cell_, 8), nullptr);  // smaller than Cell
  EXPECT_NE(std::string(gc_last_error()).find("smaller"), std::string::npos);
  for (size_t absurd : {SIZE_MAX, SIZE_MAX - 7, SIZE_MAX / 2}) {
    EXPECT_EQ(gc_alloc(m_, cell_, absurd), nullptr);
    EXPECT_NE(std::string(gc_last_error()).find("overflow"), std::string::npos)
        << gc_last_error();
    EXPECT_EQ(gc_alloc_noscan(m_, absurd), nullptr);
  }
  // Zero-byte noscan objects are distinct.
  void* a = gc_alloc_noscan(m_, 0);
  void* b = gc_alloc_noscan(m_, 0);
  EXPECT_NE(a, nullptr);
  EXPECT_NE(a, b);
}

TEST_F(ApiTest, TypedObjectsAreAtLeast8ByteAligned) {
  gc_type_desc str = {"Str", 4, nullptr, 1, nullptr, nullptr};  // u32 + chars
  gc_type_id s = gc_register_type(heap_, &str);
  ASSERT_NE(s, 0u);
  for (int i = 0; i < 100; i++) {
    auto p = reinterpret_cast<uintptr_t>(gc_alloc(m_, s, 4 + 1 + i % 11));
    ASSERT_EQ(p % 8, 0u) << i;
  }
}

TEST_F(ApiTest, AllocatedMemoryIsZeroed) {
  for (size_t size : {size_t{24}, size_t{100}, size_t{5000}, size_t{70000}}) {
    for (int i = 0; i < 100; i++) {
      auto* p = static_cast<unsigned char*>(gc_alloc(m_, cell_, size));
      for (size_t k = 0; k < size; k++) ASSERT_EQ(p[k], 0) << size;
      memset(p, 0xff, size);  // dirty it for the next round
    }
    gc_collect(m_);
  }
}

TEST_F(ApiTest, CurrentMutator) {
  EXPECT_EQ(gc_current_mutator(heap_), m_);
  EXPECT_EQ(gc_thread_attach(heap_), m_);  // attaching twice: same mutator
  gc_thread_detach(m_);                    // ...and counted
  EXPECT_EQ(gc_current_mutator(heap_), m_);
  gc_collect(m_);  // still attached
  std::thread([&] { EXPECT_EQ(gc_current_mutator(heap_), nullptr); }).join();
}

// Death tests re-execute the test binary instead of forking a process that
// has the heap's worker threads (fork with threads is unsafe, and TSan
// refuses it).
class ApiDeathTest : public GcTest {
 protected:
  void SetUp() override {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    GcTest::SetUp();
  }
};

TEST_F(ApiDeathTest, UseOfADetachedMutatorAborts) {
  EXPECT_DEATH(
      {
        gc_mutator* m = m_;
        gc_thread_detach(m);
        gc_collect(m);
      },
      "use of a detached mutator");
}

TEST_F(ApiDeathTest, MutatorFromAnotherThreadAborts) {
  EXPECT_DEATH({ std::thread([&] { gc_collect(m_); }).join(); },
               "thread other than the one that attached it");
}

// Blocking brackets nest by count: a leave that matches no enter is API
// misuse and aborts with a message in every build.
TEST_F(ApiDeathTest, LeaveBlockingWithoutEnterAborts) {
  EXPECT_DEATH(gc_leave_blocking(m_),
               "API misuse in gc_leave_blocking: no matching "
               "gc_enter_blocking");
}

TEST_F(ApiDeathTest, OneLeaveTooManyAfterNestedBracketsAborts) {
  EXPECT_DEATH(
      {
        gc_enter_blocking(m_);
        gc_enter_blocking(m_);
        gc_leave_blocking(m_);
        gc_leave_blocking(m_);
        gc_leave_blocking(m_);
      },
      "API misuse in gc_leave_blocking: no matching gc_enter_blocking");
}

TEST_F(ApiDeathTest, DestroyingAHeapWithAttachedThreadsAborts) {
  EXPECT_DEATH(gc_heap_destroy(heap_), "still attached");
}

}  // namespace
}  // namespace gcheap
