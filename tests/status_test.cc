// Tests for gc/status.h and gc/status_or.h: the core's own error type
// (OK by default, each maker's code, printf formatting of the message with
// no length limit and glibc's "(nil)" for a null %p, as absl::StrFormat
// printed it), and StatusOr (a value, or an error whose value may not be
// read; made from an OK status is a bug).
#include "gc/status.h"

#include <string>

#include "gc/status_or.h"
#include "gtest/gtest.h"

namespace gcheap {
namespace {

TEST(StatusTest, DefaultIsOkWithAnEmptyMessage) {
  Status st;
  EXPECT_TRUE(st.ok());
  EXPECT_EQ(st.code(), StatusCode::kOk);
  EXPECT_STREQ(st.message(), "");
  EXPECT_TRUE(OkStatus().ok());
}

TEST(StatusTest, MakersSetTheirCodeAndFormatTheMessage) {
  Status a = InvalidArgumentError("type '%s': size %zu", "Node", size_t{24});
  EXPECT_FALSE(a.ok());
  EXPECT_EQ(a.code(), StatusCode::kInvalidArgument);
  EXPECT_STREQ(a.message(), "type 'Node': size 24");
  Status b = NotFoundError("root slot %p is not registered", nullptr);
  EXPECT_EQ(b.code(), StatusCode::kNotFound);
  EXPECT_STREQ(b.message(), "root slot (nil) is not registered");
  Status c = ResourceExhaustedError("full");
  EXPECT_EQ(c.code(), StatusCode::kResourceExhausted);
  EXPECT_STREQ(c.message(), "full");
  Status empty = NotFoundError("%s", "");
  EXPECT_FALSE(empty.ok());
  EXPECT_STREQ(empty.message(), "");
}

TEST(StatusTest, LongMessagesAreKeptWhole) {
  const std::string name(1000, 'x');
  Status st = InvalidArgumentError("type '%s': bad", name.c_str());
  EXPECT_EQ(std::string(st.message()), "type '" + name + "': bad");
}

TEST(StatusTest, CopiesKeepTheMessage) {
  Status st = NotFoundError("gone %d", 7);
  Status copy = st;
  st = OkStatus();
  EXPECT_TRUE(st.ok());
  EXPECT_EQ(copy.code(), StatusCode::kNotFound);
  EXPECT_STREQ(copy.message(), "gone 7");
}

TEST(StatusOrTest, HoldsAValueOrAnError) {
  StatusOr<uint16_t> v = uint16_t{42};
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, 42);
  EXPECT_EQ(v.value(), 42);
  EXPECT_TRUE(v.status().ok());
  StatusOr<uint16_t> e = ResourceExhaustedError("table of %d is full", 3);
  EXPECT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kResourceExhausted);
  EXPECT_STREQ(e.status().message(), "table of 3 is full");
}

TEST(StatusOrDeathTest, ReadingAnErrorsValueAborts) {
  StatusOr<uint16_t> e = NotFoundError("none");
  EXPECT_DEATH((void)e.value(), "StatusOr::value\\(\\) of an error");
}

TEST(StatusOrDeathTest, MadeFromAnOkStatusAborts) {
  EXPECT_DEATH(StatusOr<uint16_t>{OkStatus()}, "made from an OK status");
}

}  // namespace
}  // namespace gcheap
