// Writes the generated size-class table heap/sizeclasses.h.
//
// Usage: bazel run //tools:mksizeclasses -- heap/sizeclasses.h
//
// A relative output path is resolved against $BUILD_WORKSPACE_DIRECTORY when
// it is set (as under `bazel run`), so the file lands in the source tree.
// Without an argument the header is printed to stdout.

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "tools/sizeclass_gen.h"

int main(int argc, char** argv) {
  if (argc > 2) {
    std::fprintf(stderr, "usage: %s [output-path]\n", argv[0]);
    return 2;
  }
  const std::string text = gcheap::tools::GenerateSizeClassHeader();
  if (argc < 2) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    return std::fflush(stdout) == 0 ? 0 : 1;
  }

  std::filesystem::path path(argv[1]);
  const char* workspace = std::getenv("BUILD_WORKSPACE_DIRECTORY");
  if (path.is_relative() && workspace != nullptr && *workspace != '\0') {
    path = std::filesystem::path(workspace) / path;
  }
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  out.close();
  if (!out) {
    std::fprintf(stderr, "%s: cannot write %s\n", argv[0], path.c_str());
    return 1;
  }
  return 0;
}
