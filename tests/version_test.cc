// The C API's version (runtime/gc.h): the run-time query returns what the
// header says, and the combined number and the string agree with the three
// parts.
#include <cstdio>
#include <string>

#include "gtest/gtest.h"
#include "runtime/gc.h"

namespace {

TEST(VersionTest, RunTimeQueryMatchesTheHeader) {
  EXPECT_EQ(gc_version(), GCHEAP_VERSION);
  EXPECT_STREQ(gc_version_string(), GCHEAP_VERSION_STRING);
}

TEST(VersionTest, NumberAndStringAgreeWithTheParts) {
  EXPECT_EQ(GCHEAP_VERSION, GCHEAP_VERSION_MAJOR * 10000 +
                                GCHEAP_VERSION_MINOR * 100 +
                                GCHEAP_VERSION_PATCH);
  // Two decimal digits each for MINOR and PATCH.
  EXPECT_LT(GCHEAP_VERSION_MINOR, 100);
  EXPECT_LT(GCHEAP_VERSION_PATCH, 100);
  char expect[32];
  snprintf(expect, sizeof(expect), "%d.%d.%d", GCHEAP_VERSION_MAJOR,
           GCHEAP_VERSION_MINOR, GCHEAP_VERSION_PATCH);
  EXPECT_EQ(std::string(gc_version_string()), expect);
}

}  // namespace
