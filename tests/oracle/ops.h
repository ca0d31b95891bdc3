// ops.h: the operations of a mutator program, as a serializable list.
//
// A program is a heap configuration and a list of ops. Ops name objects by
// stable ids (the id an allocation op gave its object) and roots by slot
// numbers in the program's handle table, so a program replays identically
// and stays meaningful when ops are deleted from it (the minimizer does):
// an op whose objects do not exist or are no longer reachable, or whose
// slot is not a root, is skipped. Every op list is therefore a valid
// program, whatever its origin (seeded generator, fuzzer bytes, a file).
//
// Text form, one op per line (FormatOp / ParseOp), e.g.
//   alloc id=7 kind=vec bytes=96 parent=3 field=1
//   store id=7 field=2 target=3 off=8
//   collect
#ifndef GCHEAP_TESTS_ORACLE_OPS_H_
#define GCHEAP_TESTS_ORACLE_OPS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tests/oracle/layout.h"

namespace gcheap::oracle {

// The handle table: the program's only place to hold object pointers.
//   slots [0, 16): registered one by one (gc_add_root), counted;
//   slots [16, 32): covered by registered ranges (gc_add_root_range);
//   slots [32, 48): reported by 4 root scanners of 4 slots each.
inline constexpr uint32_t kSlots = 48;
inline constexpr uint32_t kSingleSlots = 16;
inline constexpr uint32_t kRangeBegin = 16;
inline constexpr uint32_t kRangeEnd = 32;
inline constexpr uint32_t kScannerBegin = 32;
inline constexpr uint32_t kScanners = 4;
inline constexpr uint32_t kScannerSlots = 4;
inline constexpr uint32_t kNoSlot = 0xffffffffu;

enum class OpKind : uint8_t {
  kAlloc,          // id kind bytes; into slot, or parent.field, or garbage
  kStore,          // id.field := target+off (target 0: NULL)
  kStoreImm,       // id.field := value (a non-pointer: small int / tagged)
  kRootSet,        // table[slot] := target+off (target 0: NULL)
  kRootAdd,        // gc_add_root(&table[slot])
  kRootRemove,     // gc_remove_root(&table[slot]) (may be expected to fail)
  kRangeAdd,       // gc_add_root_range(&table[slot], count)
  kRangeRemove,    // gc_remove_root_range(&table[slot], count)
  kScannerAdd,     // gc_add_root_scanner(scanner slot)
  kScannerRemove,  // gc_remove_root_scanner(scanner slot)
  kSetTraceN,      // Traced id: n := count (kids >= count cleared first)
  kTouch,          // id payload word `field` := Mix(value)
  kTouchAddr,      // id payload word `field` := address of target (a
                   // non-pointer word holding an address: must not retain)
  kChain,          // `count` Small3 nodes linked by field 0, the first into
                   // slot or parent.field; value & 1: last.field1 := first
  kCollect,        // gc_collect, then the checks
  kTinyGarbage,    // a noscan object of `count` < 16 bytes, dropped
  kReattach,       // gc_thread_detach + gc_thread_attach
  kChurn,          // `count` garbage objects of kind, `value` bytes each
                   // (drives automatic cycles; concurrent ones overlap the
                   // ops that follow)
  kNumOpKinds,
};

const char* OpName(OpKind k);

struct Op {
  OpKind op = OpKind::kCollect;
  Kind kind = Kind::kSmall3;
  uint32_t id = 0;
  uint32_t field = 0;
  uint32_t target = 0;  // store/rootset/touchaddr: target id; alloc/chain:
                        // parent id (0: slot or garbage)
  uint32_t slot = kNoSlot;
  uint32_t count = 0;
  uint32_t off = 0;
  uint64_t value = 0;  // alloc: bytes; storeimm: the value; touch: seed;
                       // chain: flags

  bool operator==(const Op& o) const;
};

std::string FormatOp(const Op& op);
// Parses one line of FormatOp's output. False (with *error) if malformed.
bool ParseOp(std::string_view line, Op* op, std::string* error);

// Heap configuration of a program.
struct ProgramConfig {
  int workers = 1;            // gc_config.gc_workers
  int verify = 0;             // gc_config.verify
  int gc_percent = -1;        // < 0: collections only at collect ops
  uint64_t memory_limit = 0;  // soft limit: 1 makes automatic cycles frequent
  int stw = 1;            // gc_config.stop_the_world (0: concurrent marking,
                          // automatic cycles run while the program mutates)
  uint64_t max_heap = 0;  // gc_config.max_heap_bytes: allocations may fail
                          // (then the object is dropped where it was stored)
  int tag_mask = 0;       // gc_config.tag_mask: 7 lets pointers carry tags
  uint32_t tag = 1;       // stamp tag of the program's objects
};

struct Program {
  uint64_t seed = 0;
  ProgramConfig config;
  std::vector<Op> ops;
};

// The whole program as text: a header line and one line per op.
std::string FormatProgram(const Program& p);
bool ParseProgram(std::string_view text, Program* p, std::string* error);

}  // namespace gcheap::oracle

#endif  // GCHEAP_TESTS_ORACLE_OPS_H_
