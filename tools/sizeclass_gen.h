// Size-class table generator: the C++ counterpart of Go's
// src/runtime/mksizeclasses.go. `bazel run //tools:mksizeclasses --
// heap/sizeclasses.h` writes GenerateSizeClassHeader() into the source tree.

#ifndef TOOLS_SIZECLASS_GEN_H_
#define TOOLS_SIZECLASS_GEN_H_

#include <cstdint>
#include <string>
#include <vector>

namespace gcheap::tools {

// Parameters of the table (the same as Go's).
inline constexpr int kGenPageShift = 13;
inline constexpr int kGenPageSize = 1 << kGenPageShift;
inline constexpr int kGenMaxSmallSize = 32768;
inline constexpr int kGenMinAlign = 8;
inline constexpr int kGenSmallSizeDiv = 8;
inline constexpr int kGenSmallSizeMax = 1024;
inline constexpr int kGenLargeSizeDiv = 128;
inline constexpr int kGenTinySize = 16;

// One row of the table. Class 0 (large objects) has size 0 and npages 0.
struct SizeClassInfo {
  int size = 0;            // Bytes per object.
  int npages = 0;          // Pages per span.
  int nelems = 0;          // Objects per span.
  uint32_t div_magic = 0;  // ~uint32_t{0} / size + 1; 0 for class 0.
};

// Computes the size classes with Go's rule; entry i is class i. Aborts with a
// message on stderr if the result breaks an invariant the runtime relies on
// (class count, field widths, exactness of the div-magic multiplication).
std::vector<SizeClassInfo> ComputeSizeClasses();

// Returns the full text of heap/sizeclasses.h.
std::string GenerateSizeClassHeader();

}  // namespace gcheap::tools

#endif  // TOOLS_SIZECLASS_GEN_H_
