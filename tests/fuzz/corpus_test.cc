// Runs the fuzzer's seed corpus (tests/fuzz/corpus/) through the fuzz entry
// point in every build configuration, plus a bounded number of inputs made
// by mutating the corpus with a seeded PRNG (libFuzzer itself needs clang:
// tools/fuzz.sh).
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/fuzz/fuzz_entry.h"
#include "tests/oracle/generator.h"
#include "tests/oracle/oracle.h"

namespace gcheap::oracle {
namespace {

std::vector<std::string> ReadCorpus() {
  const char* srcdir = getenv("TEST_SRCDIR");
  const char* ws = getenv("TEST_WORKSPACE");
  std::filesystem::path dir = std::filesystem::path(srcdir ? srcdir : ".") /
                              (ws ? ws : "gcheap") / "tests/fuzz/corpus";
  std::vector<std::string> inputs;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(e.path(), std::ios::binary);
    inputs.emplace_back(std::istreambuf_iterator<char>(in),
                        std::istreambuf_iterator<char>());
  }
  return inputs;
}

bool RunInput(const std::string& in, std::string* report) {
  return FuzzOne(reinterpret_cast<const uint8_t*>(in.data()), in.size(),
                 report);
}

TEST(FuzzCorpusTest, SeedCorpusPasses) {
  FuzzInit();
  std::vector<std::string> corpus = ReadCorpus();
  ASSERT_GE(corpus.size(), 5u);
  for (const std::string& in : corpus) {
    std::string report;
    ASSERT_TRUE(RunInput(in, &report)) << report;
  }
}

TEST(FuzzCorpusTest, MutatedInputsPass) {
  FuzzInit();
  InstallCrashHandler();
  std::vector<std::string> corpus = ReadCorpus();
  ASSERT_FALSE(corpus.empty());
  const int n = SlowBuild() ? 60 : 300;
  RngSource rng(20240601);
  for (int i = 0; i < n; i++) {
    std::string in = corpus[rng.Below(corpus.size())];
    // A few of libFuzzer's mutations: flip bytes, insert, erase, splice.
    const int edits = 1 + static_cast<int>(rng.Below(16));
    for (int e = 0; e < edits && !in.empty(); e++) {
      const size_t pos = rng.Below(in.size());
      switch (rng.Below(4)) {
        case 0:
          in[pos] = static_cast<char>(rng.Below(256));
          break;
        case 1:
          in.insert(pos, 1 + rng.Below(8), static_cast<char>(rng.Below(256)));
          break;
        case 2:
          in.erase(pos, 1 + rng.Below(8));
          break;
        default: {
          const std::string& other = corpus[rng.Below(corpus.size())];
          size_t from = rng.Below(other.size());
          in += other.substr(from, 1 + rng.Below(64));
        }
      }
    }
    SetCrashContext("corpus_test: crashed on mutated input %d\n", i);
    std::string report;
    ASSERT_TRUE(RunInput(in, &report)) << "mutated input " << i << "\n"
                                       << report;
  }
}

}  // namespace
}  // namespace gcheap::oracle
