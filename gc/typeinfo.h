// typeinfo.h: object layouts the collector scans by, and the type table.
//
// A type describes where an object's heap pointers are:
//   - a fixed part of `size` bytes with a pointer bitmap (bit i set: the word
//     at offset 8*i may hold a heap pointer);
//   - optionally a variable-length tail of repeated elements, each
//     `elem_size` bytes with its own pointer bitmap, filling the object from
//     offset `size` to its end;
//   - or a trace callback, for layouts no bitmap describes, which reports
//     every pointer slot of the object to a visitor; the context form also
//     receives the type's user data (an embedder's VM state).
// Weak slots: a bitmap of the fixed part's words that hold weak references
// (not traced; cleared in place when their target dies, gc/weak.h), all of
// one kind (short or long); a weak slot is not also a pointer slot. A
// trace callback reports weak slots itself (gc_trace_weak), so a type does
// not have both. The built-in ephemeron type (gc/weak.h's EphemeronObject)
// is marked `special` too: the marker and the verifier scan it by its own
// rule. A type with no pointer bit, no weak bit and no trace callback is
// noscan: its objects live in noscan spans and are never scanned.
//
// A conservative type (the heap's built-in type of gc_alloc_conservative)
// is a tail of pointer words that are ambiguous: each word is resolved with
// the policy of gc/conservative.h instead of being trusted as a slot. It
// has no weak slots and is not an ephemeron: every word of it is a strong
// ambiguous reference, and a weak word among them could not be told apart
// (registration refuses the combination).
//
// Visitors: every visit context the collector passes to a trace callback
// begins with a TraceVisitor, whose `weak` function receives the weak slots
// the callback reports (gc_trace_weak): the marker records them, the
// verifier checks them, and nothing traces them. Code that calls a trace
// callback with its own context must make it a TraceVisitor too. Root
// scanners get a RootVisitor (gc/roots.h) instead, whose first word is its
// vtable pointer (8-byte aligned, so never the odd TraceVisitor::kMagic):
// gc_trace_weak refuses it.
//
// Registration validates a description before it reads any of it beyond
// what the description promises: each bitmap comes with its length in
// 64-bit words, which must cover its layout (one bit per 8-byte word of the
// fixed part, of one element); a shorter one is rejected, never read past
// its end. Set bits that name no whole word inside the layout are rejected.
// Only the words the layout needs are read and copied.
//
// The table is append-only: a registered type never changes or goes away
// while its heap lives, so the collector reads it without locks. Type ids are
// 16-bit (the heap stores one per object slot); 0 is never a valid id.
// Its 65536 slots (512 KiB), and the inline allocation path's table of
// 65536 minimum sizes (256 KiB), are mapped from the OS untouched (zero
// pages, read as null and 0): only the pages of registered ids become
// resident, so a heap with a few types pays a page or two of each, not
// three quarters of a MiB of RSS. The
// slots are plain pointers read and written with atomic builtins (a
// std::atomic array would have to be constructed, writing every page).
#ifndef GCHEAP_GC_TYPEINFO_H_
#define GCHEAP_GC_TYPEINFO_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "gc/status_or.h"

struct gc_heap;  // the API's heap handle (weak callbacks get it)

namespace gcheap {

// A visitor receives the address of a slot that may hold a heap pointer.
using VisitFn = void (*)(void** slot, void* ctx);
// A trace callback reports every pointer slot of obj through visit(slot, ctx).
using TraceFn = void (*)(void* obj, VisitFn visit, void* ctx);
// The context form also gets the type's user data.
using TraceCtxFn = void (*)(void* obj, VisitFn visit, void* ctx,
                            void* user_data);

// The header of every visit context given to a trace callback (above).
struct TraceVisitor {
  static constexpr uint32_t kMagic = 0x74726163;  // "trac"
  // Odd: the first word of a RootVisitor (a vtable pointer, 8-byte
  // aligned) never reads as kMagic (gc_trace_weak's check).
  static_assert(kMagic % alignof(void*) != 0);
  uint32_t magic = kMagic;
  // Receives a weak slot (kind: 0 short, 1 long); null: ignored.
  void (*weak)(TraceVisitor* self, void** slot, uint8_t kind) = nullptr;
  // Receives a weak callback for this cycle (gc_trace_weak_callback;
  // gc/weak_callbacks.h); null: ignored (visits that are not marking).
  void (*weak_callback)(TraceVisitor* self, void (*fn)(gc_heap*, void*),
                        void* data) = nullptr;
};

// What scanning a type needs beyond its pointer maps (TypeInfo::special).
enum class TypeSpecial : uint8_t { kNone, kWeakSlots, kEphemeron };

struct TypeInfo {
  std::string name;
  size_t size = 0;                    // fixed part, bytes
  std::vector<uint64_t> ptrmap;       // bit per word of the fixed part
  size_t elem_size = 0;               // 0: no variable tail
  std::vector<uint64_t> elem_ptrmap;  // bit per word of one element
  TraceFn trace = nullptr;            // at most one of trace, trace_ctx
  TraceCtxFn trace_ctx = nullptr;
  void* user_data = nullptr;      // passed to trace_ctx
  std::vector<uint64_t> weakmap;  // weak slots of the fixed part
  uint8_t weak_kind = 0;          // of every weak slot (and gc_weak_load)
  TypeSpecial special = TypeSpecial::kNone;
  bool noscan = true;         // no pointer or weak slot anywhere
  bool conservative = false;  // its pointer words are ambiguous
  // The pointer words of the fixed part as one bitmap word, when they are
  // all a scan must visit: no trace callback, no weak slot or ephemeron,
  // not conservative, no repeated tail with pointers, the fixed part's map
  // within one word. Else 0. Marker::ScanItem's fast path.
  uint64_t simple_ptrmask = 0;

  bool FixedWordIsWeak(size_t w) const {
    return w / 64 < weakmap.size() && ((weakmap[w / 64] >> (w % 64)) & 1);
  }
  // Calls f(offset) for the byte offset of every weak slot, ascending.
  template <typename F>
  void ForEachWeakOffset(F f) const {
    for (size_t wi = 0; wi < weakmap.size(); wi++) {
      for (uint64_t bits = weakmap[wi]; bits != 0; bits &= bits - 1) {
        f((wi * 64 + __builtin_ctzll(bits)) * 8);
      }
    }
  }

  bool has_trace() const { return trace != nullptr || trace_ctx != nullptr; }
  // Calls the type's trace callback (has_trace() must hold).
  void Trace(void* obj, VisitFn visit, void* ctx) const {
    if (trace_ctx != nullptr) {
      trace_ctx(obj, visit, ctx, user_data);
    } else {
      trace(obj, visit, ctx);
    }
  }

  bool FixedWordHasPointer(size_t w) const {
    return w / 64 < ptrmap.size() && ((ptrmap[w / 64] >> (w % 64)) & 1);
  }
  bool ElemWordHasPointer(size_t w) const {
    return w / 64 < elem_ptrmap.size() &&
           ((elem_ptrmap[w / 64] >> (w % 64)) & 1);
  }
};

// What an embedder passes in (mirrors gc_type_desc without the C types).
struct TypeSpec {
  const char* name = nullptr;
  size_t size = 0;
  const uint64_t* ptrmap = nullptr;  // ceil(size/8) bits at least
  size_t ptrmap_words = 0;           // 64-bit words at ptrmap
  size_t elem_size = 0;
  const uint64_t* elem_ptrmap = nullptr;  // ceil(elem_size/8) bits at least
  size_t elem_ptrmap_words = 0;           // 64-bit words at elem_ptrmap
  TraceFn trace = nullptr;
  TraceCtxFn trace_ctx = nullptr;
  void* user_data = nullptr;
  const uint64_t* weakmap = nullptr;  // ceil(size/8) bits at least
  size_t weakmap_words = 0;
  int weak_kind = 0;       // 0 short, 1 long
  bool ephemeron = false;  // the built-in ephemeron type (gc/weak.h)
  // Every pointer word is ambiguous (gc/conservative.h). Needs pointer
  // words, no trace callback, no weak slot and not ephemeron.
  bool conservative = false;
};

class TypeTable {
 public:
  static constexpr size_t kMaxTypes = 65535;

  TypeTable();
  ~TypeTable();
  TypeTable(const TypeTable&) = delete;
  TypeTable& operator=(const TypeTable&) = delete;

  // Validates and registers a type; the error says what is wrong.
  StatusOr<uint16_t> Register(const TypeSpec& spec);

  // The type for id, or nullptr if id was never registered.
  const TypeInfo* Get(uint32_t id) const {
    if (id == 0 || id > kMaxTypes) return nullptr;
    return __atomic_load_n(&types_[id], __ATOMIC_ACQUIRE);
  }
  size_t size() const { return count_.load(std::memory_order_acquire); }

  // For the inline allocation path (runtime/gc.h's alloc_type_min): per
  // type id (kMaxTypes + 1 entries), the type's fixed size + 1 if its
  // objects hold pointers (it allocates from scan spans), else 0 (noscan,
  // or not registered). Written once, before the id is returned.
  const uint32_t* alloc_min_table() const { return alloc_min_; }

  // The two tables' sizes, and the slot table itself (tests check which
  // of their pages are resident).
  static constexpr size_t kSlotTableBytes = (kMaxTypes + 1) * sizeof(void*);
  static constexpr size_t kAllocMinTableBytes =
      (kMaxTypes + 1) * sizeof(uint32_t);
  const void* slot_table() const { return types_; }

 private:
  std::mutex mu_;
  std::atomic<size_t> count_{0};
  // kMaxTypes + 1 entries in zero-filled OS memory (SysAllocMeta); entry
  // 0 and entries past count_ stay null.
  const TypeInfo** types_;
  // Owns what the entries point to (under mu_): ordinary heap memory, so a
  // leak checker that does not scan the table's mapping still sees them.
  std::vector<std::unique_ptr<const TypeInfo>> owned_;
  uint32_t* alloc_min_;  // kMaxTypes + 1 entries, as types_
};

}  // namespace gcheap

#endif  // GCHEAP_GC_TYPEINFO_H_
