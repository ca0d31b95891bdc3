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
// A type with no pointer bit and no trace callback is noscan: its objects
// live in noscan spans and are never scanned. A conservative type (the
// heap's built-in type of gc_alloc_conservative) is a tail of pointer words
// that are ambiguous: each word is resolved with the policy of
// gc/conservative.h instead of being trusted as a slot.
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
#ifndef GCHEAP_GC_TYPEINFO_H_
#define GCHEAP_GC_TYPEINFO_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace gcheap {

// A visitor receives the address of a slot that may hold a heap pointer.
using VisitFn = void (*)(void** slot, void* ctx);
// A trace callback reports every pointer slot of obj through visit(slot, ctx).
using TraceFn = void (*)(void* obj, VisitFn visit, void* ctx);
// The context form also gets the type's user data.
using TraceCtxFn = void (*)(void* obj, VisitFn visit, void* ctx,
                            void* user_data);

struct TypeInfo {
  std::string name;
  size_t size = 0;                    // fixed part, bytes
  std::vector<uint64_t> ptrmap;       // bit per word of the fixed part
  size_t elem_size = 0;               // 0: no variable tail
  std::vector<uint64_t> elem_ptrmap;  // bit per word of one element
  TraceFn trace = nullptr;            // at most one of trace, trace_ctx
  TraceCtxFn trace_ctx = nullptr;
  void* user_data = nullptr;  // passed to trace_ctx
  bool noscan = true;         // no pointer anywhere
  bool conservative = false;  // its pointer words are ambiguous

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
  // Every pointer word is ambiguous (gc/conservative.h). Needs pointer
  // words and no trace callback.
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
  absl::StatusOr<uint16_t> Register(const TypeSpec& spec);

  // The type for id, or nullptr if id was never registered.
  const TypeInfo* Get(uint32_t id) const {
    if (id == 0 || id > kMaxTypes) return nullptr;
    return types_[id].load(std::memory_order_acquire);
  }
  size_t size() const { return count_.load(std::memory_order_acquire); }

 private:
  std::mutex mu_;
  std::atomic<size_t> count_{0};
  std::atomic<const TypeInfo*>* types_;  // kMaxTypes + 1 entries
};

}  // namespace gcheap

#endif  // GCHEAP_GC_TYPEINFO_H_
