#include "tools/sizeclass_gen.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace gcheap::tools {
namespace {

// Number of classes (including class 0) that Go's rule yields for these
// parameters; heap code and the span-class encoding depend on it.
constexpr int kExpectedNumClasses = 68;

void Check(bool ok, const std::string& what) {
  if (!ok) {
    std::fprintf(stderr, "sizeclass_gen: invariant violated: %s\n",
                 what.c_str());
    std::abort();
  }
}

bool IsPowerOfTwo(int x) { return x > 0 && (x & (x - 1)) == 0; }

// Verifies that (n * magic) >> 32 == n / size for every offset n in the span
// (0 <= n <= npages * page size), exactly as the runtime will compute it.
void CheckDivMagic(const SizeClassInfo& c) {
  const uint64_t span_bytes =
      static_cast<uint64_t>(c.npages) * static_cast<uint64_t>(kGenPageSize);
  const uint64_t size = static_cast<uint64_t>(c.size);
  for (uint64_t n = 0; n <= span_bytes; ++n) {
    if (((n * c.div_magic) >> 32) != n / size) {
      Check(false, absl::StrFormat("div magic %u of size %d fails at offset %u",
                                   c.div_magic, c.size, n));
    }
  }
}

// Appends `values` as the body of a braced initializer list: right-aligned
// columns, the most that fit in 80 columns as a power of two per line (so a
// value's index is easy to read off).
template <typename T>
void AppendValues(std::string& out, const std::vector<T>& values) {
  size_t width = 1;
  for (const T& v : values) {
    width = std::max(width, absl::StrCat(v).size());
  }
  size_t per_line = 1;
  while (3 + 2 * per_line * (width + 2) <= 80) per_line *= 2;
  for (size_t i = 0; i < values.size(); ++i) {
    absl::StrAppend(&out, i % per_line == 0 ? "   " : "");
    absl::StrAppendFormat(&out, " %*d,", static_cast<int>(width), values[i]);
    if (i % per_line == per_line - 1 || i + 1 == values.size()) {
      absl::StrAppend(&out, "\n");
    }
  }
}

// The smallest class whose size is >= `size` (the lookup tables' contents).
int SmallestClassAtLeast(const std::vector<SizeClassInfo>& classes, int size) {
  for (size_t i = 0; i < classes.size(); ++i) {
    if (classes[i].size >= size) return static_cast<int>(i);
  }
  Check(false, absl::StrFormat("no class holds %d bytes", size));
  return 0;
}

}  // namespace

std::vector<SizeClassInfo> ComputeSizeClasses() {
  std::vector<SizeClassInfo> classes(1);  // Class 0: large objects.

  int align = kGenMinAlign;
  for (int size = align; size <= kGenMaxSmallSize; size += align) {
    // Bump the alignment at each power of two so that rounding a request up
    // to the next candidate size wastes at most 12.5% (align <= size / 8)
    // once that is affordable; below 128 bytes the steps are 8 and 16.
    if (IsPowerOfTwo(size)) {
      if (size >= 2048) {
        align = 256;
      } else if (size >= 128) {
        align = size / 8;
      } else if (size >= 32) {
        align = 16;
      }
    }
    Check(IsPowerOfTwo(align), absl::StrFormat("alignment %d", align));

    // The fewest pages whose tail (bytes after the last whole object) is at
    // most 1/8 of the span.
    int alloc_size = kGenPageSize;
    while (alloc_size % size > alloc_size / 8) alloc_size += kGenPageSize;
    const int npages = alloc_size / kGenPageSize;

    // If the previous class uses the same span and fits the same number of
    // objects in it, this larger size costs nothing more: widen that class.
    SizeClassInfo& prev = classes.back();
    if (classes.size() > 1 && prev.npages == npages &&
        alloc_size / prev.size == alloc_size / size) {
      prev.size = size;
      continue;
    }
    classes.push_back(SizeClassInfo{.size = size, .npages = npages});
  }

  // Raise each size as far as the same number of objects still fits in the
  // same span (e.g. 8448 bytes, 6 per 7 pages, becomes 9472). As in Go, the
  // raised size is rounded down to a multiple of kGenLargeSizeDiv (not of
  // kGenMinAlign): that keeps every class boundary above kGenSmallSizeMax on
  // the 128-byte grid of kSizeToClass128, and it is what yields Go's table.
  for (size_t i = 1; i < classes.size(); ++i) {
    SizeClassInfo& c = classes[i];
    const int span_bytes = c.npages * kGenPageSize;
    const int raised =
        (span_bytes / (span_bytes / c.size)) & ~(kGenLargeSizeDiv - 1);
    if (raised > c.size) c.size = raised;
  }

  Check(classes.size() == kExpectedNumClasses,
        absl::StrFormat("%d size classes, expected %d", classes.size(),
                        kExpectedNumClasses));
  for (size_t i = 1; i < classes.size(); ++i) {
    SizeClassInfo& c = classes[i];
    c.nelems = c.npages * kGenPageSize / c.size;
    c.div_magic = ~uint32_t{0} / static_cast<uint32_t>(c.size) + 1;
    Check(c.size <= UINT16_MAX && c.npages <= UINT8_MAX &&
              c.nelems <= UINT16_MAX && c.nelems >= 1,
          absl::StrFormat("class %d does not fit the table's field widths", i));
    CheckDivMagic(c);
  }
  return classes;
}

std::string GenerateSizeClassHeader() {
  const std::vector<SizeClassInfo> classes = ComputeSizeClasses();
  const int num_classes = static_cast<int>(classes.size());
  std::string out;

  absl::StrAppend(
      &out,
      "// Code generated by `bazel run //tools:mksizeclasses -- "
      "heap/sizeclasses.h`.\n"
      "// DO NOT EDIT by hand: change tools/sizeclass_gen.cc and regenerate.\n"
      "//\n"
      "// Size classes for small objects, computed with the rule of Go's\n"
      "// src/runtime/mksizeclasses.go:\n"
      "//  - Candidate sizes step by 8 bytes up to 32, by 16 up to 256, by\n"
      "//    size/8 up to 2048 and by 256 beyond, so rounding a request up to\n"
      "//    the next candidate wastes at most 12.5% from 128 bytes on.\n"
      "//  - A span is the fewest pages whose tail waste (bytes after the "
      "last\n"
      "//    whole object) is at most 1/8 of the span.\n"
      "//  - A candidate with the same pages and objects per span as the\n"
      "//    previous class replaces that class's size; then every size is\n"
      "//    raised to the largest multiple of kLargeSizeDiv that still fits\n"
      "//    as many objects in the span.\n"
      "// Class 0 stands for large objects (> kMaxSmallSize), which get a "
      "span\n"
      "// of their own.\n"
      "//\n"
      "// \"max waste\" is the worst case for a span: every object holds the\n"
      "// smallest request that maps to the class, plus the tail waste.\n"
      "//\n");
  absl::StrAppendFormat(&out, "// %-5s  %-9s  %-10s  %-7s  %-10s  %-9s\n",
                        "class", "bytes/obj", "bytes/span", "objects",
                        "tail waste", "max waste");
  int prev_size = 0;
  for (int i = 1; i < num_classes; ++i) {
    const SizeClassInfo& c = classes[i];
    const int span_bytes = c.npages * kGenPageSize;
    const int tail_waste = span_bytes - c.nelems * c.size;
    const double max_waste =
        static_cast<double>((c.size - prev_size - 1) * c.nelems + tail_waste) /
        span_bytes;
    absl::StrAppendFormat(&out, "// %5d  %9d  %10d  %7d  %10d  %8.2f%%\n", i,
                          c.size, span_bytes, c.nelems, tail_waste,
                          100 * max_waste);
    prev_size = c.size;
  }

  absl::StrAppend(&out,
                  "\n"
                  "#ifndef HEAP_SIZECLASSES_H_\n"
                  "#define HEAP_SIZECLASSES_H_\n"
                  "\n"
                  "#include <cstddef>\n"
                  "#include <cstdint>\n"
                  "\n"
                  "namespace gcheap {\n"
                  "\n");
  absl::StrAppendFormat(
      &out,
      "// Spans are runs of pages of kPageSize bytes.\n"
      "inline constexpr int kPageShift = %d;\n"
      "inline constexpr size_t kPageSize = %d;\n"
      "// The largest object that is given a size class.\n"
      "inline constexpr size_t kMaxSmallSize = %d;\n"
      "// Number of size classes, including class 0 (large objects).\n"
      "inline constexpr int kNumSizeClasses = %d;\n"
      "// A span class is a size class plus a \"noscan\" bit.\n"
      "inline constexpr int kNumSpanClasses = %d;\n"
      "// Pointer-free objects smaller than this are packed together by the\n"
      "// tiny allocator.\n"
      "inline constexpr size_t kTinySize = %d;\n"
      "// Granularity of kSizeToClass8 (sizes up to kSmallSizeMax) and of\n"
      "// kSizeToClass128 (larger sizes).\n"
      "inline constexpr size_t kSmallSizeDiv = %d;\n"
      "inline constexpr size_t kSmallSizeMax = %d;\n"
      "inline constexpr size_t kLargeSizeDiv = %d;\n"
      "\n",
      kGenPageShift, kGenPageSize, kGenMaxSmallSize, num_classes,
      2 * num_classes, kGenTinySize, kGenSmallSizeDiv, kGenSmallSizeMax,
      kGenLargeSizeDiv);

  std::vector<int> sizes, npages, nelems;
  std::vector<uint32_t> div_magic;
  for (const SizeClassInfo& c : classes) {
    sizes.push_back(c.size);
    npages.push_back(c.npages);
    nelems.push_back(c.nelems);
    div_magic.push_back(c.div_magic);
  }
  std::vector<int> size_to_class8(kGenSmallSizeMax / kGenSmallSizeDiv + 1);
  for (size_t i = 0; i < size_to_class8.size(); ++i) {
    size_to_class8[i] =
        SmallestClassAtLeast(classes, static_cast<int>(i) * kGenSmallSizeDiv);
  }
  std::vector<int> size_to_class128(
      (kGenMaxSmallSize - kGenSmallSizeMax) / kGenLargeSizeDiv + 1);
  for (size_t i = 0; i < size_to_class128.size(); ++i) {
    size_to_class128[i] = SmallestClassAtLeast(
        classes, kGenSmallSizeMax + static_cast<int>(i) * kGenLargeSizeDiv);
  }

  absl::StrAppend(&out, "// clang-format off\n");
  absl::StrAppend(&out,
                  "// Bytes per object of each class.\n"
                  "inline constexpr uint16_t kClassToSize[kNumSizeClasses] = "
                  "{\n");
  AppendValues(out, sizes);
  absl::StrAppend(&out,
                  "};\n"
                  "\n"
                  "// Pages per span of each class.\n"
                  "inline constexpr uint8_t kClassToNPages[kNumSizeClasses] = "
                  "{\n");
  AppendValues(out, npages);
  absl::StrAppend(
      &out,
      "};\n"
      "\n"
      "// ~uint32_t{0} / size + 1 for each class: the index of the object at\n"
      "// byte offset n of a span is (uint64_t{n} * magic) >> 32, exactly\n"
      "// n / size for every 0 <= n <= span bytes.\n"
      "inline constexpr uint32_t kClassToDivMagic[kNumSizeClasses] = {\n");
  AppendValues(out, div_magic);
  absl::StrAppend(&out,
                  "};\n"
                  "\n"
                  "// Objects per span of each class.\n"
                  "inline constexpr uint16_t kClassToNElems[kNumSizeClasses] = "
                  "{\n");
  AppendValues(out, nelems);
  absl::StrAppend(&out,
                  "};\n"
                  "\n"
                  "// Class of a request of n <= kSmallSizeMax bytes, indexed "
                  "by\n"
                  "// (n + kSmallSizeDiv - 1) / kSmallSizeDiv.\n"
                  "inline constexpr uint8_t kSizeToClass8[kSmallSizeMax / "
                  "kSmallSizeDiv + 1] = {\n");
  AppendValues(out, size_to_class8);
  absl::StrAppend(
      &out,
      "};\n"
      "\n"
      "// Class of a request of kSmallSizeMax < n <= kMaxSmallSize bytes,\n"
      "// indexed by (n - kSmallSizeMax + kLargeSizeDiv - 1) / "
      "kLargeSizeDiv.\n"
      "inline constexpr uint8_t kSizeToClass128[(kMaxSmallSize - "
      "kSmallSizeMax) /\n"
      "                                         kLargeSizeDiv + 1] = {\n");
  AppendValues(out, size_to_class128);
  absl::StrAppend(&out, "};\n// clang-format on\n");

  absl::StrAppend(
      &out,
      "\n"
      "// Returns the smallest size class whose objects hold `size` bytes,\n"
      "// for 1 <= size <= kMaxSmallSize.\n"
      "inline constexpr uint8_t SizeToClass(size_t size) {\n"
      "  return size <= kSmallSizeMax\n"
      "             ? kSizeToClass8[(size + kSmallSizeDiv - 1) / "
      "kSmallSizeDiv]\n"
      "             : kSizeToClass128[(size - kSmallSizeMax + kLargeSizeDiv - "
      "1) /\n"
      "                               kLargeSizeDiv];\n"
      "}\n"
      "\n"
      "}  // namespace gcheap\n"
      "\n"
      "#endif  // HEAP_SIZECLASSES_H_\n");
  return out;
}

}  // namespace gcheap::tools
