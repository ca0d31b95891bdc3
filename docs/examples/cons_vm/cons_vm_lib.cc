// cons_vm_lib.cc: the VM of cons_vm_lib.h. See docs/embedding.md for a
// walk through it.
#include "cons_vm_lib.h"

#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace cons_vm {

// ---- heap setup -----------------------------------------------------------

gc_config DefaultConfig() {
  gc_config cfg;
  gc_config_init(&cfg);  // defaults, then GC_PERCENT, GCTRACE, ...
  cfg.tag_mask = kTagMask;
  cfg.finalizer_thread = 0;  // kRunFinalizers runs them, on the VM's thread
  return cfg;
}

bool RegisterTypes(gc_heap* heap, Types* out) {
  // A cons cell: words 0 (car) and 1 (cdr) are pointer slots.
  static const uint64_t kConsMap = 0b11;
  gc_type_desc cons;
  gc_type_desc_init(&cons);
  cons.name = "cons";
  cons.size = sizeof(Cons);
  cons.ptr_bitmap = &kConsMap;
  cons.ptr_bitmap_words = 1;
  // A vector: an 8-byte pointer-free header, then a tail of 8-byte elements,
  // each a pointer slot.
  static const uint64_t kElemMap = 0b1;
  gc_type_desc vector;
  gc_type_desc_init(&vector);
  vector.name = "vector";
  vector.size = sizeof(Vector);
  vector.elem_size = sizeof(void*);
  vector.elem_ptr_bitmap = &kElemMap;
  vector.elem_ptr_bitmap_words = 1;
  out->cons = gc_register_type(heap, &cons);
  if (out->cons == 0) return false;
  out->vector = gc_register_type(heap, &vector);
  if (out->vector == 0) return false;
  // A weak-keyed table: the same shape, a pointer-free header and a tail of
  // bucket heads (pointer slots holding ephemerons). The ephemerons hold
  // the keys weakly; the table holds its ephemerons strongly.
  gc_type_desc table = vector;
  table.name = "table";
  table.size = sizeof(Table);
  out->table = gc_register_type(heap, &table);
  return out->table != 0;
}

// ---- roots ----------------------------------------------------------------

namespace {

// Runs with the world stopped: reports the live part of the operand stack.
void ScanStack(gc_visit_fn visit, void* visit_ctx, void* data) {
  Vm* vm = static_cast<Vm*>(data);
  for (size_t i = 0; i < vm->sp; i++) visit(&vm->stack[i], visit_ctx);
}

}  // namespace

Vm* NewVm(gc_heap* heap, const Types& types, FILE* out) {
  Vm* vm = new Vm;
  vm->heap = heap;
  vm->m = gc_current_mutator(heap);
  if (vm->m == nullptr) {
    vm->m = gc_thread_attach(heap);
    vm->attached_thread = true;
  }
  vm->types = types;
  vm->out = out;
  // The three kinds of roots. (Registration fails only for NULL arguments.)
  if (gc_add_root_scanner(heap, ScanStack, vm) != 0 ||
      gc_add_root_range(heap, vm->globals, kGlobals) != 0 ||
      gc_add_root(heap, &vm->symbols) != 0 ||
      gc_add_root(heap, &vm->result) != 0) {
    std::string why = gc_last_error();
    DeleteVm(vm);  // removing what was not added fails harmlessly
    fprintf(stderr, "cons_vm: %s\n", why.c_str());
    return nullptr;
  }
  return vm;
}

void DeleteVm(Vm* vm) {
  gc_remove_root(vm->heap, &vm->result);
  gc_remove_root(vm->heap, &vm->symbols);
  gc_remove_root_range(vm->heap, vm->globals, kGlobals);
  gc_remove_root_scanner(vm->heap, ScanStack, vm);
  if (vm->attached_thread) gc_thread_detach(vm->m);
  delete vm;
}

// ---- the interpreter ------------------------------------------------------

namespace {

inline void* W(Value v) { return reinterpret_cast<void*>(v); }
inline Value V(void* p) { return reinterpret_cast<Value>(p); }

bool Fail(Vm* vm, const std::string& why) {
  vm->error = why;
  return false;
}

bool FitsFixnum(__int128 n) { return n >= kFixnumMin && n <= kFixnumMax; }

// Finds or creates the symbol `name`; pushes it.
bool Intern(Vm* vm, const char* name) {
  const size_t len = strlen(name);
  for (Value p = V(vm->symbols); p != kNil; p = V(Untag<Cons>(p)->cdr)) {
    Value sym = V(Untag<Cons>(p)->car);
    const Symbol* s = Untag<Symbol>(sym);
    if (s->length == len && memcmp(SymbolName(s), name, len) == 0) {
      vm->stack[vm->sp++] = W(sym);
      return true;
    }
  }
  // A noscan string. Rounded to a multiple of 8 bytes: small noscan objects
  // are aligned only to their size's natural alignment, and the tag needs
  // the low three bits.
  const size_t bytes = (sizeof(Symbol) + len + 1 + 7) & ~size_t{7};
  auto* s = static_cast<Symbol*>(gc_alloc_noscan(vm->m, bytes));
  if (s == nullptr) return Fail(vm, gc_last_error());
  s->length = len;
  memcpy(SymbolName(s), name, len + 1);
  // Root the new symbol on the stack before the next allocation: held only
  // in the C local `s`, it could be freed by a collection inside gc_alloc.
  vm->stack[vm->sp++] = W(Tagged(s, kSymbolTag));
  auto* link =
      static_cast<Cons*>(gc_alloc(vm->m, vm->types.cons, sizeof(Cons)));
  if (link == nullptr) return Fail(vm, gc_last_error());
  gc_write_barrier(vm->m, link, &link->car, vm->stack[vm->sp - 1]);
  gc_write_barrier(vm->m, link, &link->cdr, vm->symbols);
  vm->symbols = W(Tagged(link, kConsTag));  // a root slot: a plain store
  return true;
}

bool ListToVector(Vm* vm) {
  // The list stays on the stack (rooted) until the vector is filled.
  Value list = V(vm->stack[vm->sp - 1]);
  size_t n = 0;
  for (Value p = list; p != kNil; p = V(Untag<Cons>(p)->cdr)) {
    if (TagOf(p) != kConsTag) return Fail(vm, "list->vector: not a list");
    n++;
  }
  auto* v = static_cast<Vector*>(
      gc_alloc(vm->m, vm->types.vector, sizeof(Vector) + n * sizeof(void*)));
  if (v == nullptr) return Fail(vm, gc_last_error());
  v->length = n;  // not a pointer: a plain store
  void** items = VectorItems(v);
  list = V(vm->stack[vm->sp - 1]);  // re-read after the safepoint
  for (size_t i = 0; i < n; i++, list = V(Untag<Cons>(list)->cdr)) {
    gc_write_barrier(vm->m, v, &items[i], Untag<Cons>(list)->car);
  }
  vm->stack[vm->sp - 1] = W(Tagged(v, kVectorTag));
  return true;
}

// ---- weak-keyed tables ------------------------------------------------------
//
// A table's bucket is a chain of ephemerons linked through their strong
// `next` field. Keys and values are tagged Values (the collector strips
// the tag). An entry whose key died reads as a NULL key (the collector
// cleared it); the table unlinks such entries when it next walks their
// bucket. Keys hash by address: nothing moves.

size_t BucketOf(Value key) {
  uint64_t x = key >> 3;
  x ^= x >> 29;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 32;
  return x % kTableBuckets;
}

// Unlinks the cleared entries of t's bucket b; returns its live entries.
size_t PurgeBucket(Vm* vm, Table* t, size_t b) {
  void** head = &TableBuckets(t)[b];
  void* prev = nullptr;
  size_t live = 0;
  for (void* e = *head; e != nullptr;) {
    void* next = gc_ephemeron_next(vm->m, e);
    if (gc_ephemeron_key(vm->m, e) == nullptr) {
      if (prev == nullptr) {
        gc_write_barrier(vm->m, t, head, next);
      } else {
        gc_ephemeron_set_next(vm->m, prev, next);
      }
    } else {
      prev = e;
      live++;
    }
    e = next;
  }
  return live;
}

// The entry of key in t, or NULL.
void* FindEntry(Vm* vm, Table* t, Value key) {
  for (void* e = TableBuckets(t)[BucketOf(key)]; e != nullptr;
       e = gc_ephemeron_next(vm->m, e)) {
    if (V(gc_ephemeron_key(vm->m, e)) == key) return e;
  }
  return nullptr;
}

bool MakeTable(Vm* vm) {
  auto* t = static_cast<Table*>(gc_alloc(
      vm->m, vm->types.table, sizeof(Table) + kTableBuckets * sizeof(void*)));
  if (t == nullptr) return Fail(vm, gc_last_error());
  t->nbuckets = kTableBuckets;
  vm->stack[vm->sp++] = W(Tagged(t, kTableTag));
  return true;
}

// Stack: table key value -> (nothing).
bool TablePut(Vm* vm) {
  Value tv = V(vm->stack[vm->sp - 3]), key = V(vm->stack[vm->sp - 2]);
  if (TagOf(tv) != kTableTag) return Fail(vm, "table-put: not a table");
  if (key == kNil) return Fail(vm, "table-put: nil key");
  Table* t = Untag<Table>(tv);
  if (void* found = FindEntry(vm, t, key)) {
    gc_ephemeron_set_value(vm->m, found, vm->stack[vm->sp - 1]);
  } else {
    const size_t b = BucketOf(key);
    PurgeBucket(vm, t, b);
    // Allocate while key and value are on the stack (a safepoint).
    void* e =
        gc_ephemeron_new(vm->m, vm->stack[vm->sp - 2], vm->stack[vm->sp - 1]);
    if (e == nullptr) return Fail(vm, gc_last_error());
    void** head = &TableBuckets(t)[b];
    gc_ephemeron_set_next(vm->m, e, *head);
    gc_write_barrier(vm->m, t, head, e);
  }
  vm->sp -= 3;
  return true;
}

// Stack: table key -> value or nil.
bool TableGet(Vm* vm) {
  Value tv = V(vm->stack[vm->sp - 2]), key = V(vm->stack[vm->sp - 1]);
  if (TagOf(tv) != kTableTag) return Fail(vm, "table-get: not a table");
  void* e = FindEntry(vm, Untag<Table>(tv), key);
  vm->sp -= 2;
  vm->stack[vm->sp++] = e == nullptr ? W(kNil) : gc_ephemeron_value(vm->m, e);
  return true;
}

// Stack: table -> live entries.
bool TableCount(Vm* vm) {
  Value tv = V(vm->stack[vm->sp - 1]);
  if (TagOf(tv) != kTableTag) return Fail(vm, "table-count: not a table");
  size_t live = 0;
  for (size_t b = 0; b < kTableBuckets; b++) {
    live += PurgeBucket(vm, Untag<Table>(tv), b);
  }
  vm->stack[vm->sp - 1] = W(MakeFixnum(static_cast<int64_t>(live)));
  return true;
}

// ---- finalizers
// ---------------------------------------------------------------
//
// Runs in gc_run_finalizers on the VM's thread, once the pair became
// unreachable. It may read the pair (it is alive until this returns, and
// longer if the finalizer stored it somewhere reachable: resurrection);
// this one only records what it saw.
void FinalizePair(gc_mutator*, void* obj, void* data) {
  Vm* vm = static_cast<Vm*>(data);
  Value car = V(static_cast<Cons*>(obj)->car);
  if (TagOf(car) == kFixnumTag) vm->finalized_car_sum += FixnumValue(car);
  vm->finalized++;
}

bool Finalize(Vm* vm) {
  Value v = V(vm->stack[vm->sp - 1]);
  if (TagOf(v) != kConsTag) return Fail(vm, "finalize: not a pair");
  if (gc_register_finalizer(vm->m, Untag<Cons>(v), FinalizePair, vm,
                            GC_FINALIZE_ORDERED) != 0) {
    return Fail(vm, gc_last_error());
  }
  return true;
}

bool Print(Vm* vm, Value v) {
  if (vm->out == nullptr) return true;
  // Format first (it reads heap objects), then write inside a blocking
  // bracket: a slow write must not hold up other threads' collections, and
  // the bracket must not touch the heap.
  std::string text = Format(v) + "\n";
  gc_enter_blocking(vm->m);
  bool ok = fwrite(text.data(), 1, text.size(), vm->out) == text.size() &&
            fflush(vm->out) == 0;
  gc_leave_blocking(vm->m);
  return ok ? true : Fail(vm, "print: write failed");
}

}  // namespace

bool Run(Vm* vm, const std::vector<Instr>& code) {
  gc_mutator* m = vm->m;
  void** stack = vm->stack;
  vm->sp = 0;
  vm->error.clear();
  size_t pc = 0;

#define NEED(k) \
  if (vm->sp < (k)) return Fail(vm, "stack underflow at " + std::to_string(pc))
#define ROOM(k)                                                 \
  if (vm->sp + (k) > kStackSlots) {                             \
    return Fail(vm, "stack overflow at " + std::to_string(pc)); \
  }
#define TOP (V(stack[vm->sp - 1]))

  while (pc < code.size()) {
    const Instr& in = code[pc++];
    switch (in.op) {
      case kPush:
        ROOM(1);
        if (!FitsFixnum(in.arg)) return Fail(vm, "push: fixnum overflow");
        stack[vm->sp++] = W(MakeFixnum(in.arg));
        break;
      case kPushNil:
        ROOM(1);
        stack[vm->sp++] = W(kNil);
        break;
      case kIntern:
        ROOM(1);
        if (!Intern(vm, in.name)) return false;
        break;
      case kLoad:
        ROOM(1);
        if (in.arg < 0 || in.arg >= int64_t{kGlobals}) {
          return Fail(vm, "load: bad global");
        }
        stack[vm->sp++] = vm->globals[in.arg];
        break;
      case kStore:
        NEED(1);
        if (in.arg < 0 || in.arg >= int64_t{kGlobals}) {
          return Fail(vm, "store: bad global");
        }
        vm->globals[in.arg] = stack[--vm->sp];  // a root: no barrier
        break;
      case kDrop:
        NEED(1);
        vm->sp--;
        break;
      case kDup:
        NEED(1);
        ROOM(1);
        stack[vm->sp] = stack[vm->sp - 1];
        vm->sp++;
        break;
      case kSwap:
        NEED(2);
        std::swap(stack[vm->sp - 1], stack[vm->sp - 2]);
        break;
      case kCons: {
        NEED(2);
        // Allocate while car and cdr are still on the stack: gc_alloc is a
        // safepoint, and only rooted values survive it.
        auto* c = static_cast<Cons*>(gc_alloc(m, vm->types.cons, sizeof(Cons)));
        if (c == nullptr) return Fail(vm, gc_last_error());
        gc_write_barrier(m, c, &c->car, stack[vm->sp - 2]);
        gc_write_barrier(m, c, &c->cdr, stack[vm->sp - 1]);
        vm->sp -= 2;
        stack[vm->sp++] = W(Tagged(c, kConsTag));
        break;
      }
      case kCar:
      case kCdr: {
        NEED(1);
        Value v = TOP;
        if (TagOf(v) != kConsTag) return Fail(vm, "car/cdr: not a pair");
        Cons* c = Untag<Cons>(v);
        stack[vm->sp - 1] = in.op == kCar ? c->car : c->cdr;
        break;
      }
      case kAdd:
      case kSub:
      case kMul: {
        NEED(2);
        Value a = V(stack[vm->sp - 2]), b = V(stack[vm->sp - 1]);
        if (TagOf(a) != kFixnumTag || TagOf(b) != kFixnumTag) {
          return Fail(vm, "arithmetic on a non-fixnum");
        }
        __int128 x = FixnumValue(a), y = FixnumValue(b);
        __int128 r = in.op == kAdd ? x + y : in.op == kSub ? x - y : x * y;
        if (!FitsFixnum(r)) return Fail(vm, "fixnum overflow");
        vm->sp -= 2;
        stack[vm->sp++] = W(MakeFixnum(static_cast<int64_t>(r)));
        break;
      }
      case kEq: {
        NEED(2);
        bool eq = stack[vm->sp - 2] == stack[vm->sp - 1];
        vm->sp -= 2;
        stack[vm->sp++] = W(MakeFixnum(eq ? 1 : 0));
        break;
      }
      case kJumpIfZero:
      case kJumpIfNil:
      case kJump: {
        bool jump = true;
        if (in.op != kJump) {
          NEED(1);
          Value v = V(stack[--vm->sp]);
          jump = in.op == kJumpIfNil ? v == kNil : v == MakeFixnum(0);
        }
        if (!jump) break;
        if (in.arg < 0 || static_cast<size_t>(in.arg) > code.size()) {
          return Fail(vm, "jump: bad target");
        }
        // A loop may run long without allocating: poll at backward jumps
        // so other threads' collections are not held up.
        if (static_cast<size_t>(in.arg) < pc) gc_safepoint(m);
        pc = static_cast<size_t>(in.arg);
        break;
      }
      case kListToVector:
        NEED(1);
        if (!ListToVector(vm)) return false;
        break;
      case kVectorLength: {
        NEED(1);
        Value v = TOP;
        if (TagOf(v) != kVectorTag) {
          return Fail(vm, "vector-length: not a vector");
        }
        stack[vm->sp - 1] =
            W(MakeFixnum(static_cast<int64_t>(Untag<Vector>(v)->length)));
        break;
      }
      case kVectorRef: {
        NEED(2);
        Value v = V(stack[vm->sp - 2]), i = V(stack[vm->sp - 1]);
        if (TagOf(v) != kVectorTag || TagOf(i) != kFixnumTag) {
          return Fail(vm, "vector-ref: bad arguments");
        }
        Vector* vec = Untag<Vector>(v);
        int64_t k = FixnumValue(i);
        if (k < 0 || static_cast<uint64_t>(k) >= vec->length) {
          return Fail(vm, "vector-ref: index out of range");
        }
        vm->sp -= 2;
        stack[vm->sp++] = VectorItems(vec)[k];
        break;
      }
      case kMakeTable:
        ROOM(1);
        if (!MakeTable(vm)) return false;
        break;
      case kTablePut:
        NEED(3);
        if (!TablePut(vm)) return false;
        break;
      case kTableGet:
        NEED(2);
        if (!TableGet(vm)) return false;
        break;
      case kTableCount:
        NEED(1);
        if (!TableCount(vm)) return false;
        break;
      case kFinalize:
        NEED(1);
        if (!Finalize(vm)) return false;
        break;
      case kRunFinalizers:
        ROOM(1);
        gc_run_finalizers(m);
        stack[vm->sp++] = W(MakeFixnum(vm->finalized.load()));
        break;
      case kCollect:
        gc_collect(m);
        break;
      case kPrint:
        NEED(1);
        if (!Print(vm, TOP)) return false;
        vm->sp--;
        break;
      case kHalt:
        NEED(1);
        vm->result = stack[--vm->sp];
        vm->sp = 0;
        return true;
    }
  }
#undef NEED
#undef ROOM
#undef TOP
  return Fail(vm, "ran off the end of the code");
}

// ---- printing -------------------------------------------------------------

namespace {

void FormatTo(Value v, std::string* out, int depth) {
  if (depth > 100) {
    *out += "...";
    return;
  }
  switch (TagOf(v)) {
    case 0:
      *out += v == kNil ? "()" : "#<bad>";
      return;
    case kFixnumTag:
      *out += std::to_string(FixnumValue(v));
      return;
    case kSymbolTag:
      *out += SymbolName(Untag<Symbol>(v));
      return;
    case kVectorTag: {
      Vector* vec = Untag<Vector>(v);
      *out += "#(";
      for (uint64_t i = 0; i < vec->length; i++) {
        if (i != 0) *out += ' ';
        FormatTo(V(VectorItems(vec)[i]), out, depth + 1);
      }
      *out += ')';
      return;
    }
    case kTableTag:
      *out += "#<table>";
      return;
    case kConsTag: {
      *out += '(';
      Value p = v;
      for (bool first = true;; first = false) {
        if (!first) *out += ' ';
        FormatTo(V(Untag<Cons>(p)->car), out, depth + 1);
        p = V(Untag<Cons>(p)->cdr);
        if (TagOf(p) != kConsTag) break;
      }
      if (p != kNil) {
        *out += " . ";
        FormatTo(p, out, depth + 1);
      }
      *out += ')';
      return;
    }
    default:
      *out += "#<bad>";
  }
}

}  // namespace

std::string Format(Value v) {
  std::string s;
  FormatTo(v, &s, 0);
  return s;
}

// ---- the example program --------------------------------------------------

namespace {

// Appends instructions; labels are instruction indices, patched when bound.
class Assembler {
 public:
  using Label = size_t;  // index into labels_
  Label NewLabel() {
    labels_.push_back(-1);
    return labels_.size() - 1;
  }
  void Bind(Label l) { labels_[l] = static_cast<int64_t>(code_.size()); }
  void Emit(Op op, int64_t arg = 0) { code_.push_back({op, arg, nullptr}); }
  void EmitJump(Op op, Label l) {
    fixups_.push_back({code_.size(), l});
    code_.push_back({op, 0, nullptr});
  }
  void Intern(const char* name) { code_.push_back({kIntern, 0, name}); }
  std::vector<Instr> Finish() {
    for (const auto& [at, l] : fixups_) code_[at].arg = labels_[l];
    return code_;
  }

 private:
  std::vector<Instr> code_;
  std::vector<int64_t> labels_;
  std::vector<std::pair<size_t, Label>> fixups_;
};

// Global registers of ListProgram.
enum : int64_t {
  kList = 0,   // the list being built, then the reversal cursor
  kI = 1,      // a counter / index
  kRev = 2,    // the reversed list
  kSum = 3,    // running sum over all rounds
  kRound = 4,  // rounds left
  kVec = 5,    // the vector
  kWeighted = 6,
};

}  // namespace

std::vector<Instr> ListProgram(int64_t n, int64_t rounds) {
  Assembler a;
  auto round = a.NewLabel(), done = a.NewLabel(), build = a.NewLabel(),
       built = a.NewLabel(), rev = a.NewLabel(), reversed = a.NewLabel(),
       sum = a.NewLabel(), summed = a.NewLabel();
  a.Emit(kPush, 0), a.Emit(kStore, kSum);
  a.Emit(kPush, 0), a.Emit(kStore, kWeighted);
  a.Emit(kPush, rounds), a.Emit(kStore, kRound);

  a.Bind(round);  // while (round != 0)
  a.Emit(kLoad, kRound), a.EmitJump(kJumpIfZero, done);
  // list = (1 2 ... n): cons i onto it for i = n down to 1.
  a.Emit(kPushNil), a.Emit(kStore, kList);
  a.Emit(kPush, n), a.Emit(kStore, kI);
  a.Bind(build);
  a.Emit(kLoad, kI), a.EmitJump(kJumpIfZero, built);
  a.Emit(kLoad, kI), a.Emit(kLoad, kList), a.Emit(kCons), a.Emit(kStore, kList);
  a.Emit(kLoad, kI), a.Emit(kPush, 1), a.Emit(kSub), a.Emit(kStore, kI);
  a.EmitJump(kJump, build);
  a.Bind(built);
  // rev = reverse(list).
  a.Emit(kPushNil), a.Emit(kStore, kRev);
  a.Bind(rev);
  a.Emit(kLoad, kList), a.EmitJump(kJumpIfNil, reversed);
  a.Emit(kLoad, kList), a.Emit(kCar), a.Emit(kLoad, kRev), a.Emit(kCons);
  a.Emit(kStore, kRev);
  a.Emit(kLoad, kList), a.Emit(kCdr), a.Emit(kStore, kList);
  a.EmitJump(kJump, rev);
  a.Bind(reversed);
  // vec = list->vector(rev); for i in 0..len: sum += v[i],
  // weighted += (i+1) * v[i].
  a.Emit(kLoad, kRev), a.Emit(kListToVector), a.Emit(kStore, kVec);
  a.Emit(kPush, 0), a.Emit(kStore, kI);
  a.Bind(sum);
  a.Emit(kLoad, kI), a.Emit(kLoad, kVec), a.Emit(kVectorLength), a.Emit(kSub);
  a.EmitJump(kJumpIfZero, summed);
  a.Emit(kLoad, kVec), a.Emit(kLoad, kI), a.Emit(kVectorRef);  // v[i]
  a.Emit(kDup), a.Emit(kLoad, kSum), a.Emit(kAdd), a.Emit(kStore, kSum);
  a.Emit(kLoad, kI), a.Emit(kPush, 1), a.Emit(kAdd), a.Emit(kMul);
  a.Emit(kLoad, kWeighted), a.Emit(kAdd), a.Emit(kStore, kWeighted);
  a.Emit(kLoad, kI), a.Emit(kPush, 1), a.Emit(kAdd), a.Emit(kStore, kI);
  a.EmitJump(kJump, sum);
  a.Bind(summed);
  // Drop this round's data, collect, next round.
  a.Emit(kPushNil), a.Emit(kDup), a.Emit(kStore, kRev), a.Emit(kStore, kVec);
  a.Emit(kCollect);
  a.Emit(kLoad, kRound), a.Emit(kPush, 1), a.Emit(kSub), a.Emit(kStore, kRound);
  a.EmitJump(kJump, round);

  a.Bind(done);  // ((sum . S) (weighted . W))
  a.Intern("sum"), a.Emit(kLoad, kSum), a.Emit(kCons);
  a.Intern("weighted"), a.Emit(kLoad, kWeighted), a.Emit(kCons);
  a.Emit(kPushNil), a.Emit(kCons), a.Emit(kCons);
  a.Emit(kDup), a.Emit(kPrint);
  a.Emit(kHalt);
  return a.Finish();
}

bool ExpectedListResults(int64_t n, int64_t rounds, int64_t* sum,
                         int64_t* weighted) {
  if (n < 0 || rounds < 0) return false;
  __int128 s = static_cast<__int128>(n) * (n + 1) / 2 * rounds;
  __int128 w = static_cast<__int128>(n) * (n + 1) * (n + 2) / 6 * rounds;
  if (!FitsFixnum(s) || !FitsFixnum(w)) return false;
  *sum = static_cast<int64_t>(s);
  *weighted = static_cast<int64_t>(w);
  return true;
}

namespace {

// The cdr of the entry of alist whose car is the symbol `key`.
bool Lookup(Value alist, const char* key, Value* out) {
  for (Value p = alist; TagOf(p) == kConsTag; p = V(Untag<Cons>(p)->cdr)) {
    Value entry = V(Untag<Cons>(p)->car);
    if (TagOf(entry) != kConsTag) return false;
    Value k = V(Untag<Cons>(entry)->car);
    if (TagOf(k) == kSymbolTag &&
        strcmp(SymbolName(Untag<Symbol>(k)), key) == 0) {
      *out = V(Untag<Cons>(entry)->cdr);
      return true;
    }
  }
  return false;
}

}  // namespace

bool CheckListResult(const Vm* vm, int64_t n, int64_t rounds,
                     std::string* why) {
  int64_t sum, weighted;
  if (!ExpectedListResults(n, rounds, &sum, &weighted)) {
    *why = "n and rounds too large for fixnums";
    return false;
  }
  Value result = V(vm->result);
  Value s, w;
  if (!Lookup(result, "sum", &s) || !Lookup(result, "weighted", &w)) {
    *why = "result " + Format(result) + " lacks sum or weighted";
    return false;
  }
  if (s != MakeFixnum(sum) || w != MakeFixnum(weighted)) {
    *why = "got " + Format(result) + ", expected sum " + std::to_string(sum) +
           " and weighted " + std::to_string(weighted);
    return false;
  }
  return true;
}

}  // namespace cons_vm
