// Tests for the generated size-class table heap/sizeclasses.h and its
// generator //tools:sizeclass_gen.

#include "heap/sizeclasses.h"

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tools/sizeclass_gen.h"

namespace gcheap {
namespace {

// Go's published table (src/runtime/sizeclasses.go): class 0 plus 67 small
// classes.
constexpr int kGoSizes[] = {
    0,     8,     16,    24,    32,    48,    64,    80,    96,    112,
    128,   144,   160,   176,   192,   208,   224,   240,   256,   288,
    320,   352,   384,   416,   448,   480,   512,   576,   640,   704,
    768,   896,   1024,  1152,  1280,  1408,  1536,  1792,  2048,  2304,
    2688,  3072,  3200,  3456,  4096,  4864,  5376,  6144,  6528,  6784,
    6912,  8192,  9472,  9728,  10240, 10880, 12288, 13568, 14336, 16384,
    18432, 19072, 20480, 21760, 24576, 27264, 28672, 32768,
};

static_assert(SizeToClass(1) == 1);
static_assert(SizeToClass(kMaxSmallSize) == kNumSizeClasses - 1);

// Reads a file of this workspace from the test's runfiles.
std::string ReadRunfile(const std::string& path) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  if (srcdir == nullptr || workspace == nullptr) {
    ADD_FAILURE() << "TEST_SRCDIR/TEST_WORKSPACE unset: run under bazel test";
    return "";
  }
  const std::string full = std::string(srcdir) + "/" + workspace + "/" + path;
  std::ifstream in(full, std::ios::binary);
  if (!in) {
    ADD_FAILURE() << "cannot read " << full;
    return "";
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

size_t SpanBytes(int sizeclass) {
  return size_t{kClassToNPages[sizeclass]} * kPageSize;
}

// The step from candidate size `size` to the next one under Go's alignment
// rule (the alignment in force after the bump at each power of two).
size_t AlignmentAfter(size_t size) {
  if (size >= 2048) return 256;
  if (size >= 128) return std::bit_floor(size) / 8;
  if (size >= 32) return 16;
  return 8;
}

TEST(SizeClassesTest, CheckedInHeaderIsUpToDate) {
  const std::string checked_in = ReadRunfile("heap/sizeclasses.h");
  const std::string generated = tools::GenerateSizeClassHeader();
  if (checked_in == generated) return;

  // Point at the first differing line rather than dumping both files.
  std::istringstream a(checked_in), b(generated);
  std::string line_a, line_b;
  int line = 1;
  while (true) {
    const bool more_a = static_cast<bool>(std::getline(a, line_a));
    const bool more_b = static_cast<bool>(std::getline(b, line_b));
    if (!more_a || !more_b || line_a != line_b) break;
    ++line;
  }
  FAIL() << "heap/sizeclasses.h is stale (first difference at line " << line
         << ").\n  checked in: " << line_a << "\n  generated:  " << line_b
         << "\nRegenerate with: bazel run //tools:mksizeclasses -- "
            "heap/sizeclasses.h";
}

TEST(SizeClassesTest, Constants) {
  EXPECT_EQ(kPageShift, 13);
  EXPECT_EQ(kPageSize, size_t{1} << kPageShift);
  EXPECT_EQ(kPageSize, 8192u);
  EXPECT_EQ(kMaxSmallSize, 32768u);
  EXPECT_EQ(kNumSizeClasses, 68);
  EXPECT_EQ(kNumSpanClasses, 2 * kNumSizeClasses);
  EXPECT_EQ(kTinySize, 16u);
  EXPECT_EQ(kSmallSizeDiv, 8u);
  EXPECT_EQ(kSmallSizeMax, 1024u);
  EXPECT_EQ(kLargeSizeDiv, 128u);
  EXPECT_EQ(std::size(kClassToSize), 68u);
  EXPECT_EQ(std::size(kClassToNPages), 68u);
  EXPECT_EQ(std::size(kClassToDivMagic), 68u);
  EXPECT_EQ(std::size(kClassToNElems), 68u);
  EXPECT_EQ(std::size(kSizeToClass8), 129u);
  EXPECT_EQ(std::size(kSizeToClass128), 249u);
}

TEST(SizeClassesTest, MatchesGoTable) {
  ASSERT_EQ(std::size(kGoSizes), size_t{kNumSizeClasses});
  for (int c = 0; c < kNumSizeClasses; ++c) {
    EXPECT_EQ(kClassToSize[c], kGoSizes[c]) << "class " << c;
  }
}

TEST(SizeClassesTest, HeaderMatchesGeneratorData) {
  const std::vector<tools::SizeClassInfo> classes = tools::ComputeSizeClasses();
  ASSERT_EQ(classes.size(), size_t{kNumSizeClasses});
  for (int c = 0; c < kNumSizeClasses; ++c) {
    EXPECT_EQ(kClassToSize[c], classes[c].size) << "class " << c;
    EXPECT_EQ(kClassToNPages[c], classes[c].npages) << "class " << c;
    EXPECT_EQ(kClassToNElems[c], classes[c].nelems) << "class " << c;
    EXPECT_EQ(kClassToDivMagic[c], classes[c].div_magic) << "class " << c;
  }
}

TEST(SizeClassesTest, ClassZeroIsLargeObjects) {
  EXPECT_EQ(kClassToSize[0], 0);
  EXPECT_EQ(kClassToNPages[0], 0);
  EXPECT_EQ(kClassToNElems[0], 0);
  EXPECT_EQ(kClassToDivMagic[0], 0u);
}

TEST(SizeClassesTest, PerClassInvariants) {
  for (int c = 1; c < kNumSizeClasses; ++c) {
    SCOPED_TRACE(testing::Message() << "class " << c);
    const size_t size = kClassToSize[c];
    const size_t span = SpanBytes(c);
    EXPECT_GT(size, size_t{kClassToSize[c - 1]});
    EXPECT_EQ(size % 8, 0u);
    EXPECT_GE(kClassToNPages[c], 1);
    EXPECT_EQ(kClassToNElems[c], span / size);
    EXPECT_GE(kClassToNElems[c], 1);
    EXPECT_LE(span % size, span / 8) << "tail waste above 12.5%";
  }
  EXPECT_EQ(kClassToSize[kNumSizeClasses - 1], kMaxSmallSize);
}

// Rounding a request up to its class wastes at most 12.5% wherever Go's rule
// guarantees it: the class follows the previous one by a single alignment
// step (it was neither merged with a following candidate nor raised), and
// that step is at most 1/8 of the previous size, which the rule ensures from
// 128 bytes on. The remaining classes are listed in the test output.
TEST(SizeClassesTest, RoundUpWaste) {
  int guaranteed = 0;
  std::ostringstream exceeding;
  for (int c = 1; c < kNumSizeClasses; ++c) {
    const size_t prev = kClassToSize[c - 1];
    const size_t size = kClassToSize[c];
    // The worst request for class c is prev + 1 bytes.
    const double waste = static_cast<double>(size - (prev + 1)) / (prev + 1);
    const size_t step = AlignmentAfter(prev);
    if (8 * step <= prev && size - prev <= step) {
      ++guaranteed;
      EXPECT_LE(waste, 0.125)
          << "class " << c << " (" << prev + 1 << ".." << size << " bytes)";
    }
    if (waste > 0.125) {
      exceeding << "  class " << c << ": " << prev + 1 << ".." << size
                << " bytes, " << 100 * waste << "%\n";
    }
  }
  EXPECT_GT(guaranteed, 0);
  std::cout << "Classes whose worst-case round-up waste exceeds 12.5% "
               "(not guaranteed by the rule):\n"
            << exceeding.str();
}

TEST(SizeClassesTest, SizeToClassIsSmallestFit) {
  for (size_t n = 1; n <= kMaxSmallSize; ++n) {
    const int c = SizeToClass(n);
    ASSERT_GE(c, 1) << "size " << n;
    ASSERT_LT(c, kNumSizeClasses) << "size " << n;
    ASSERT_GE(size_t{kClassToSize[c]}, n) << "size " << n;
    ASSERT_LT(size_t{kClassToSize[c - 1]}, n) << "size " << n;
  }
}

TEST(SizeClassesTest, DivMagicIsExact) {
  for (int c = 1; c < kNumSizeClasses; ++c) {
    const uint32_t size = kClassToSize[c];
    const uint32_t magic = kClassToDivMagic[c];
    ASSERT_EQ(magic, ~uint32_t{0} / size + 1) << "class " << c;
    const uint64_t span = SpanBytes(c);
    for (uint64_t offset = 0; offset <= span; ++offset) {
      ASSERT_EQ((offset * magic) >> 32, offset / size)
          << "class " << c << " offset " << offset;
    }
  }
}

}  // namespace
}  // namespace gcheap
