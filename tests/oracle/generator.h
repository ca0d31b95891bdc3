// generator.h: random mutator programs, from a seed or from fuzzer bytes.
//
// The generator runs the model alone and picks each op from the current
// state (mostly valid ops on reachable objects and rooted slots, plus a few
// deliberately failing root removals), drawing every decision from a
// Source: a seeded PRNG for reproducible programs, or the fuzzer's input
// bytes (so libFuzzer's mutations steer the program).
//
// With vm_ops, about a fifth of the ops are those of issue 12, in shapes
// that reach the hard cases: ordered chains and cycles of finalizable
// objects (finchain: garbage at once, or dropped later), self-pointers
// with ignore-self, resurrecting finalizers, guardians, finalizable
// ephemeron keys and weak targets (registered objects are preferred as
// targets), ephemeron chains up to 1000 long (next links in either
// order), weak references to objects that get revived, cleanups on
// revived and on freed objects. Choices the VM ops add come after the
// existing ones, so programs without them are the same as ever.
#ifndef GCHEAP_TESTS_ORACLE_GENERATOR_H_
#define GCHEAP_TESTS_ORACLE_GENERATOR_H_

#include <cstddef>
#include <cstdint>

#include "tests/oracle/model.h"
#include "tests/oracle/ops.h"

namespace gcheap::oracle {

class Source {
 public:
  virtual ~Source() = default;
  // A uniform-ish number in [0, n) (0 if n == 0).
  virtual uint64_t Below(uint64_t n) = 0;
  // True once a byte source has run out (the program ends there).
  virtual bool Exhausted() const { return false; }
  bool OneIn(uint64_t n) { return Below(n) == 0; }
  uint64_t Bits64() { return Below(~uint64_t{0}); }
};

// xoshiro256** seeded through splitmix64.
class RngSource final : public Source {
 public:
  explicit RngSource(uint64_t seed);
  uint64_t Below(uint64_t n) override;
  uint64_t Next();

 private:
  uint64_t s_[4];
};

// Reads decisions from bytes: as few bytes as n needs, little-endian.
class ByteSource final : public Source {
 public:
  ByteSource(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  uint64_t Below(uint64_t n) override;
  bool Exhausted() const override { return pos_ >= size_; }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

struct GenOptions {
  int ops = 300;
  bool root_ops = true;     // register / unregister roots
  bool collect = true;      // collect ops
  bool reattach = true;     // detach + attach ops
  bool large = true;        // objects over 32 KiB
  int collect_weight = 30;  // per ~1000 ops
  int force_stw = -1;       // -1: random mode; 0: concurrent; 1: STW
  uint32_t max_chain = 400;
  // The VM ops of issue 12 (weak references, ephemerons, finalization,
  // barrier-free initializing stores); on since the executor runs them
  // (kVmOpsExecutable). With them the configuration also draws the
  // finalizer mode.
  bool vm_ops = kVmOpsExecutable;
  bool run_finalizers = true;  // runfinalizers ops (on-demand mode)
  // Finalization ops (registrations, guardians, cleanups, runs); off in
  // the multi-threaded oracle's shared graph (its collections are not the
  // points where its owner checks finalization: tests/oracle/threaded.h).
  bool finalization = true;
  int force_finalizer_thread = -1;  // -1: random (1 in 5 programs)
};

// Picks the next op for model m, applies it to m and returns it.
Op NextOp(Model& m, Source& src, const GenOptions& o);

// A heap configuration drawn from src.
ProgramConfig GenConfig(Source& src, const GenOptions& o);

// The program of seed: GenConfig and o.ops ops (stops early if a byte
// source runs out).
Program GenerateProgram(uint64_t seed, const GenOptions& o);
Program GenerateFromSource(Source& src, uint64_t seed, const GenOptions& o);

// The fuzzers' decoding: bytes -> a heap configuration and up to 1000 ops
// (fewer when the bytes run out). The seed field is a hash of the bytes.
GenOptions FuzzGenOptions();
Program ProgramFromBytes(const uint8_t* data, size_t size);
Program ProgramFromBytes(const uint8_t* data, size_t size, const GenOptions& o);

}  // namespace gcheap::oracle

#endif  // GCHEAP_TESTS_ORACLE_GENERATOR_H_
