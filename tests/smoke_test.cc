#include "absl/strings/str_format.h"
#include "absl/status/statusor.h"
#include "gtest/gtest.h"
TEST(X, Y) { absl::StatusOr<int> s = 3; EXPECT_EQ(absl::StrFormat("%d", *s), "3"); }
