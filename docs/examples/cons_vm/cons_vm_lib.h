// cons_vm_lib.h: a small stack VM over gcheap's C API, the worked example of
// docs/embedding.md. cons_vm.cc runs it; tests/cons_vm_test.cc tests
// it. It includes gcheap as an installed program does (<gcheap/gc.h>) and
// its own header relative to itself, so the same files build with Bazel
// (//docs/examples/cons_vm) and against an installed gcheap (pkg-config or
// docs/examples/cmake; tests/install/ builds it both ways).
//
// Values are tagged words (gc_config.tag_mask = 7); heap objects are cons
// cells (two pointer slots), symbols (noscan strings, interned), vectors
// (a length and a tail of values) and weak-keyed tables (a bucket count
// and a tail of buckets, each a chain of ephemerons {key, value, next}: an
// entry lives only while its key is reachable from elsewhere, as in a Lua
// table with __mode "k" or a JavaScript WeakMap). Pairs may carry a
// finalizer; finalizers run on the VM's thread when the program asks
// (kRunFinalizers: gc_config.finalizer_thread is 0, as Lua runs __gc in the
// interpreter). Every value the VM holds lives in one of three kinds of
// roots:
//   - the operand stack, reported by a root scanner (only the live part);
//   - the global registers, a registered root range;
//   - the symbol table and the result, single registered root slots.
// C locals hold heap pointers only between safepoints.
#ifndef GCHEAP_EXAMPLES_CONS_VM_LIB_H_
#define GCHEAP_EXAMPLES_CONS_VM_LIB_H_

#include <gcheap/gc.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace cons_vm {

// ---- values ----------------------------------------------------------------

// A Value is one word. Its low three bits are the tag:
//   0   nil (the word 0 only)
//   1   fixnum: a 61-bit signed integer in the upper bits
//   2   pointer to a Cons
//   3   pointer to a Symbol
//   4   pointer to a Vector
//   5   pointer to a Table (weak-keyed)
// Heap objects are 8-byte aligned (symbol sizes are rounded to 8 so the
// tiny allocator keeps them aligned too), so the tag never hides address
// bits, and the collector clears it with tag_mask before the lookup.
typedef uintptr_t Value;

inline constexpr uintptr_t kTagMask = 7;
enum Tag : uintptr_t {
  kFixnumTag = 1,
  kConsTag = 2,
  kSymbolTag = 3,
  kVectorTag = 4,
  kTableTag = 5
};
inline constexpr Value kNil = 0;
inline constexpr int64_t kFixnumMax = (int64_t{1} << 60) - 1;
inline constexpr int64_t kFixnumMin = -(int64_t{1} << 60);

struct Cons {  // type "cons": both words are pointer slots
  void* car;
  void* cdr;
};
struct Symbol {  // gc_alloc_noscan: the name follows, NUL-terminated
  uint64_t length;
};
struct Vector {  // type "vector": pointer-free header, tail of values
  uint64_t length;
};
struct Table {        // type "table": pointer-free header, tail of bucket heads
  uint64_t nbuckets;  // each bucket: NULL or an ephemeron chain (next)
};
inline constexpr uint64_t kTableBuckets = 16;

inline Value MakeFixnum(int64_t n) {
  return (static_cast<uintptr_t>(n) << 3) | kFixnumTag;
}
inline int64_t FixnumValue(Value v) { return static_cast<int64_t>(v) >> 3; }
inline uintptr_t TagOf(Value v) { return v & kTagMask; }
inline Value Tagged(const void* p, Tag tag) {
  return reinterpret_cast<uintptr_t>(p) | tag;
}
template <typename T>
T* Untag(Value v) {
  return reinterpret_cast<T*>(v & ~kTagMask);
}
inline const char* SymbolName(const Symbol* s) {
  return reinterpret_cast<const char*>(s + 1);
}
inline char* SymbolName(Symbol* s) { return reinterpret_cast<char*>(s + 1); }
inline void** VectorItems(Vector* v) { return reinterpret_cast<void**>(v + 1); }
inline void** TableBuckets(Table* t) { return reinterpret_cast<void**>(t + 1); }

// ---- heap setup ------------------------------------------------------------

// The defaults and environment (gc_config_init), plus the VM's tag mask;
// finalizers run when the program says (finalizer_thread = 0).
gc_config DefaultConfig();

struct Types {
  gc_type_id cons = 0;
  gc_type_id vector = 0;
  gc_type_id table = 0;
};
// Registers the VM's types with heap. False with gc_last_error() set.
bool RegisterTypes(gc_heap* heap, Types* out);

// ---- the VM ----------------------------------------------------------------

enum Op : uint8_t {
  kPush,           // push fixnum arg
  kPushNil,        // push nil
  kIntern,         // push the symbol named `name`
  kLoad,           // push globals[arg]
  kStore,          // globals[arg] = pop
  kDrop,           // pop
  kDup,            // push top
  kSwap,           // exchange the top two
  kCons,           // cdr = pop, car = pop, push (car . cdr)
  kCar,            // push car(pop)
  kCdr,            // push cdr(pop)
  kAdd,            // b = pop, a = pop, push a + b (fixnums)
  kSub,            // b = pop, a = pop, push a - b
  kMul,            // b = pop, a = pop, push a * b
  kEq,             // push 1 if the two popped words are identical, else 0
  kJumpIfZero,     // if pop is fixnum 0, jump to arg
  kJumpIfNil,      // if pop is nil, jump to arg
  kJump,           // jump to arg (a safepoint poll on backward jumps)
  kListToVector,   // push a vector of the elements of the list on top
  kVectorLength,   // push the length of the popped vector
  kVectorRef,      // i = pop, v = pop, push v[i]
  kMakeTable,      // push a new, empty weak-keyed table
  kTablePut,       // value = pop, key = pop, table = pop: table[key] = value
  kTableGet,       // key = pop, table = pop, push table[key] (nil if absent)
  kTableCount,     // push the live entries of the popped table (and drop
                   // the entries the collector cleared)
  kFinalize,       // give the pair on top a finalizer (it stays on top)
  kRunFinalizers,  // run ready finalizers; push how many ran in all so far
  kCollect,        // gc_collect
  kPrint,          // write the popped value and a newline to the VM's output
  kHalt,           // result = pop, stop
};

struct Instr {
  Op op;
  int64_t arg = 0;
  const char* name = nullptr;  // kIntern
};

inline constexpr size_t kStackSlots = 4096;
inline constexpr size_t kGlobals = 16;

struct Vm {
  gc_heap* heap = nullptr;
  gc_mutator* m = nullptr;
  bool attached_thread = false;  // NewVm attached it: DeleteVm detaches
  Types types;
  FILE* out = nullptr;  // kPrint writes here; NULL: kPrint discards

  void* stack[kStackSlots] = {};  // root scanner: slots [0, sp)
  size_t sp = 0;
  void* globals[kGlobals] = {};  // root range
  void* symbols = nullptr;       // root slot: list of interned symbols
  void* result = nullptr;        // root slot: what kHalt popped
  std::string error;             // why Run failed
  // What the pairs' finalizers saw: how many ran, and the sum of the
  // fixnum cars of the pairs they finalized.
  std::atomic<int64_t> finalized{0};
  std::atomic<int64_t> finalized_car_sum{0};
};

// Attaches the calling thread to heap (if it is not attached yet) and
// registers the VM's roots. Use the Vm on this thread only. NULL on failure
// (the reason goes to stderr).
Vm* NewVm(gc_heap* heap, const Types& types, FILE* out);
// Unregisters the roots, and detaches the thread if NewVm attached it.
void DeleteVm(Vm* vm);

// Runs code from its first instruction until kHalt. False with vm->error
// set on a VM error (stack, type, allocation failure).
bool Run(Vm* vm, const std::vector<Instr>& code);

// The printed form of a value: 42, sym, (1 2 3), (a . 1), #(1 2), ().
std::string Format(Value v);

// ---- the example program ----------------------------------------------------

// Builds (1 2 ... n), reverses it into (n ... 1), converts that to a vector
// and adds up its elements v[i] (sum) and (i+1)*v[i] (weighted), `rounds`
// times with a collection after each round. Prints and returns the
// association list ((sum . S) (weighted . W)).
std::vector<Instr> ListProgram(int64_t n, int64_t rounds);

// Expected results of ListProgram: rounds * n(n+1)/2 and
// rounds * n(n+1)(n+2)/6. False if they do not fit in a fixnum.
bool ExpectedListResults(int64_t n, int64_t rounds, int64_t* sum,
                         int64_t* weighted);

// Checks vm->result against ExpectedListResults; *why says what differs.
bool CheckListResult(const Vm* vm, int64_t n, int64_t rounds, std::string* why);

}  // namespace cons_vm

#endif  // GCHEAP_EXAMPLES_CONS_VM_LIB_H_
