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
//   weakcreate wslot=2 mode=long target=7
//   finreg id=7 mode=ordered resurrect=5
//
// The VM ops of issue 12 (weak references, ephemerons, finalization) name
// weak handles by their index in a second table of kWeakCells weak cells,
// guardians by index (kGuardians of them, created with the heap) and
// cleanups by a token (a fresh number, like an id). Their meaning, and
// what a collection does to them, is the model's (model.h).
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
// The weak-cell table (gc_weak handles) and the guardians of a program.
inline constexpr uint32_t kWeakCells = 16;
inline constexpr uint32_t kGuardians = 2;

// Whether the executor runs the VM ops (issue 12) on our heap: it does
// (phase 2), so the generator emits them by default (GenOptions::vm_ops)
// in every mode and the fuzzer decodes them. (While it was false the
// executor refused such programs as "unsupported".)
inline constexpr bool kVmOpsExecutable = true;

// Op modes: the kind of a weak reference, a finalization mode, and what an
// ephemeron read reads. Values are the C API's (GC_WEAK_*, GC_FINALIZE_*).
inline constexpr uint8_t kWeakShort = 0;
inline constexpr uint8_t kWeakLong = 1;
inline constexpr uint8_t kFinOrdered = 0;
inline constexpr uint8_t kFinUnordered = 1;
inline constexpr uint8_t kFinIgnoreSelf = 2;
inline constexpr uint8_t kEphReadKey = 0;
inline constexpr uint8_t kEphReadValue = 1;
inline constexpr uint8_t kEphReadNext = 2;

// kFinChain flags.
inline constexpr uint64_t kFinChainCycle = 1;     // last.field1 := first
inline constexpr uint64_t kFinChainSelf = 2;      // node.field2 := node
inline constexpr uint64_t kFinChainGuardian = 4;  // guardian registrations
// kEphChain flags.
inline constexpr uint64_t kEphChainReversed = 1;  // next runs last to first
inline constexpr uint64_t kEphChainCycle = 2;     // last value := first key

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
  // ---- VM ops (issue 12) ----
  kWeakCreate,     // wcell[field] := gc_weak_create(target, mode) (the cell's
                   // old handle is destroyed first); target 0: NULL
  kWeakGet,        // gc_weak_get(wcell[field]): checked; into slot if set
                   // and the result is determined and mutator-reachable
  kWeakSet,        // gc_weak_set(wcell[field], target)
  kWeakDestroy,    // gc_weak_destroy(wcell[field])
  kWeakStore,      // gc_weak_store(id, weak slot `field`, target)
  kWeakLoad,       // gc_weak_load(id, weak slot `field`): checked; into slot
  kEphNew,         // id := gc_ephemeron_new(key, val); key 0 and value != 0:
                   // an immediate key; placed like alloc
  kEphGet,         // gc_ephemeron_key / value / next (mode) of id: checked;
                   // into slot like weakget
  kEphSetValue,    // gc_ephemeron_set_value(id, target)
  kEphSetNext,     // gc_ephemeron_set_next(id, target)
  kEphClear,       // gc_ephemeron_clear(id)
  kEphChain,       // `count` keys (Small3, ids id+2i) and ephemerons (ids
                   // id+2i+1), E_i = (K_i, K_i+1), linked by next (reversed:
                   // from the last); E first (or last) placed like alloc, K_0
                   // into slot2 (kNoSlot: unrooted)
  kFinReg,         // gc_register_finalizer(id, mode); when it runs: nothing,
                   // or table[slot2] := the object (resurrection)
  kFinUnreg,       // gc_register_finalizer(id, NULL)
  kFinChain,       // `count` Small3 nodes linked by field 0 like chain, each
                   // registered (mode, flags, guardian, slot2 as finreg)
  kGuardReg,       // gc_guardian_register(guardian `field`, id, mode)
  kGuardPop,       // gc_guardian_pop(guardian `field`) into slot (or drop)
  kCleanupAdd,     // gc_add_cleanup(id) with token `value`
  kCleanupCancel,  // gc_cancel_cleanup(token `value`)
  kRunFinalizers,  // gc_run_finalizers (on-demand mode)
  // ---- issue 12, item 8 ----
  kAllocInit,  // a new Small3 `id` whose fields 0 and 1 are set to key and
               // val (0: NULL) by plain stores, no barrier, before the
               // thread's next safepoint (docs/collector.md, "Stores that
               // need no barrier"); then placed like alloc
  kNumOpKinds,
};

const char* OpName(OpKind k);

struct Op {
  OpKind op = OpKind::kCollect;
  Kind kind = Kind::kSmall3;
  uint8_t mode = 0;      // weak kind / finalization mode / ephemeron read
  uint8_t guardian = 0;  // guardreg, guardpop, finchain: which guardian
  uint32_t id = 0;
  uint32_t field = 0;
  uint32_t target = 0;  // store/rootset/touchaddr: target id; alloc/chain:
                        // parent id (0: slot or garbage)
  uint32_t slot = kNoSlot;
  uint32_t count = 0;
  uint32_t off = 0;
  uint64_t value = 0;        // alloc: bytes; storeimm: the value; touch: seed;
                             // chain, finchain, ephchain: flags; ephnew: an
                             // immediate key; cleanup: the token
  uint32_t key = 0;          // ephnew: key id (0: NULL or the immediate)
  uint32_t val = 0;          // ephnew: value id (0: NULL)
  uint32_t slot2 = kNoSlot;  // finreg/finchain: resurrection slot;
                             // ephchain: slot of the first key

  bool operator==(const Op& o) const;
};

// Whether op needs the VM API of issue 12 (a VM op, or an allocation of a
// VM kind).
bool IsVmOp(const Op& op);

std::string FormatOp(const Op& op);
// Parses one line of FormatOp's output. False (with *error) if malformed.
bool ParseOp(std::string_view line, Op* op, std::string* error);

// Heap configuration of a program.
struct ProgramConfig {
  int workers = 1;            // gc_config.gc_workers
  int verify = 0;             // gc_config.verify
  int gc_percent = -1;        // < 0: collections only at collect ops
  uint64_t memory_limit = 0;  // soft limit: 1 makes automatic cycles frequent
  int stw = 1;               // gc_config.stop_the_world (0: concurrent marking,
                             // automatic cycles run while the program mutates)
  uint64_t max_heap = 0;     // gc_config.max_heap_bytes: allocations may fail
                             // (then the object is dropped where it was stored)
  int tag_mask = 0;          // gc_config.tag_mask: 7 lets pointers carry tags
  uint32_t tag = 1;          // stamp tag of the program's objects
  int finalizer_thread = 0;  // gc_config.finalizer_thread: 0 = on demand
                             // (gc_run_finalizers; exact checks), 1 = a
                             // heap-owned thread runs them
};

// Whether a heap with this configuration may run cycles nobody asked for
// (a GC percent, a soft limit, or a hard limit's last-ditch collection).
inline bool HasAutomaticCycles(const ProgramConfig& c) {
  return c.gc_percent >= 0 || c.memory_limit != 0 || c.max_heap != 0;
}

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
