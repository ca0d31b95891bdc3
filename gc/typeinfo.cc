// typeinfo.cc: validating and registering types (design in typeinfo.h).
#include "gc/typeinfo.h"

#include <algorithm>

#include "heap/arena.h"
#include "heap/base.h"

namespace gcheap {

// Zeroed pages from the OS for both tables: only the pages of registered
// ids are ever touched (calloc would not promise that: an allocator may
// clear the memory it hands out, as ThreadSanitizer's does).
TypeTable::TypeTable()
    : types_(static_cast<const TypeInfo**>(SysAllocMeta(kSlotTableBytes))),
      alloc_min_(static_cast<uint32_t*>(SysAllocMeta(kAllocMinTableBytes))) {
  GC_CHECK(types_ != nullptr && alloc_min_ != nullptr,
           "TypeTable: cannot map the type table");
}

TypeTable::~TypeTable() {
  // owned_ deletes the types; the tables' untouched pages stay so.
  SysFreeMeta(types_, kSlotTableBytes);
  SysFreeMeta(alloc_min_, kAllocMinTableBytes);
}

namespace {

// Words of a bitmap with one bit per 8-byte word of a `bytes`-long layout.
size_t BitmapWords(size_t bytes) { return ((bytes + 7) / 8 + 63) / 64; }

// Checks one bitmap of a description: present with a length that covers
// its layout, or absent with no length; no bit set for a word that is not
// whole inside the layout. `what` names the field ("ptr_bitmap").
Status CheckBitmap(const char* type, const char* what, const char* layout,
                   const uint64_t* map, size_t words, size_t bytes) {
  if (map == nullptr) {
    if (words != 0) {
      return InvalidArgumentError("type '%s': %s is NULL but %s_words is %zu",
                                  type, what, what, words);
    }
    return OkStatus();
  }
  const size_t need = BitmapWords(bytes);
  if (words == 0) {
    return InvalidArgumentError(
        "type '%s': %s is set but %s_words is 0: give the bitmap's length "
        "in 64-bit words (%zu for the %zu-byte %s), with struct_size = "
        "sizeof(gc_type_desc)",
        type, what, what, need, bytes, layout);
  }
  if (words < need) {
    return InvalidArgumentError(
        "type '%s': %s is too short: %zu 64-bit word(s), but the %zu-byte %s "
        "needs %zu (one bit per 8-byte word)",
        type, what, words, bytes, layout, need);
  }
  // Bits for the words [bytes / 8, need * 64): a partial last word, or
  // padding bits of the last bitmap word. Words past `need` are not read.
  for (size_t i = bytes / 8; i < need * 64; i++) {
    if ((map[i / 64] >> (i % 64)) & 1) {
      return InvalidArgumentError(
          "type '%s': %s bit %zu lies past the end of the %zu-byte %s (a "
          "pointer slot must be a whole 8-byte word inside it)",
          type, what, i, bytes, layout);
    }
  }
  return OkStatus();
}

// The first `nbits` bits of map (which holds at least that many), as a
// vector of words; empty when no bit is set.
std::vector<uint64_t> CopyBits(const uint64_t* map, size_t nbits) {
  std::vector<uint64_t> v;
  if (map == nullptr) return v;
  v.assign((nbits + 63) / 64, 0);
  bool any = false;
  for (size_t w = 0; w < v.size(); w++) {
    const size_t left = nbits - w * 64;
    v[w] = left >= 64 ? map[w] : map[w] & ((uint64_t{1} << left) - 1);
    any |= v[w] != 0;
  }
  if (!any) v.clear();
  return v;
}

}  // namespace

StatusOr<uint16_t> TypeTable::Register(const TypeSpec& spec) {
  const char* name = spec.name ? spec.name : "(unnamed)";
  if (spec.size == 0 && spec.elem_size == 0) {
    return InvalidArgumentError("type '%s': size and elem_size are both 0",
                                name);
  }
  if (spec.size > kMaxAllocBytes || spec.elem_size > kMaxAllocBytes) {
    return InvalidArgumentError(
        "type '%s': size %zu or elem_size %zu exceeds the largest object "
        "(GC_MAX_ALLOC_BYTES, %zu bytes)",
        name, spec.size, spec.elem_size, kMaxAllocBytes);
  }
  if (spec.trace != nullptr && spec.trace_ctx != nullptr) {
    return InvalidArgumentError(
        "type '%s': both trace and trace_ctx are set (give one)", name);
  }
  if (spec.elem_size == 0 &&
      (spec.elem_ptrmap != nullptr || spec.elem_ptrmap_words != 0)) {
    return InvalidArgumentError(
        "type '%s': an elem_ptr_bitmap without a tail (elem_size is 0)", name);
  }
  // Bitmaps first: nothing below reads one before its length is checked.
  if (Status st = CheckBitmap(name, "ptr_bitmap", "fixed part", spec.ptrmap,
                              spec.ptrmap_words, spec.size);
      !st.ok()) {
    return st;
  }
  if (Status st =
          CheckBitmap(name, "elem_ptr_bitmap", "element", spec.elem_ptrmap,
                      spec.elem_ptrmap_words, spec.elem_size);
      !st.ok()) {
    return st;
  }
  if (Status st = CheckBitmap(name, "weak_bitmap", "fixed part", spec.weakmap,
                              spec.weakmap_words, spec.size);
      !st.ok()) {
    return st;
  }
  if (spec.weak_kind != 0 && spec.weak_kind != 1) {
    return InvalidArgumentError(
        "type '%s': weak_kind must be GC_WEAK_SHORT (0) or GC_WEAK_LONG (1), "
        "not %d",
        name, spec.weak_kind);
  }
  // A pointer slot must be a whole, aligned word inside the layout.
  std::vector<uint64_t> ptrmap = CopyBits(spec.ptrmap, spec.size / 8);
  std::vector<uint64_t> weakmap = CopyBits(spec.weakmap, spec.size / 8);
  if (!weakmap.empty() &&
      (spec.trace != nullptr || spec.trace_ctx != nullptr)) {
    return InvalidArgumentError(
        "type '%s': a weak_bitmap with a trace callback (the callback "
        "reports weak slots itself, with gc_trace_weak)",
        name);
  }
  for (size_t w = 0; w < std::min(weakmap.size(), ptrmap.size()); w++) {
    if ((weakmap[w] & ptrmap[w]) != 0) {
      return InvalidArgumentError(
          "type '%s': word %zu is both a pointer slot and a weak slot", name,
          w * 64 + __builtin_ctzll(weakmap[w] & ptrmap[w]));
    }
  }
  std::vector<uint64_t> elem_ptrmap =
      CopyBits(spec.elem_ptrmap, spec.elem_size / 8);
  const bool elem_ptrs = !elem_ptrmap.empty();
  if (elem_ptrs && spec.elem_size % 8 != 0) {
    return InvalidArgumentError(
        "type '%s': elements with pointers must be a multiple of 8 bytes "
        "(elem_size %zu)",
        name, spec.elem_size);
  }
  if (elem_ptrs && spec.size % 8 != 0) {
    return InvalidArgumentError(
        "type '%s': a pointer tail needs a fixed part that is a multiple of "
        "8 bytes (size %zu)",
        name, spec.size);
  }
  if (spec.conservative &&
      (spec.trace != nullptr || spec.trace_ctx != nullptr ||
       (ptrmap.empty() && elem_ptrmap.empty()))) {
    return InvalidArgumentError(
        "type '%s': a conservative type needs pointer words and no trace "
        "callback",
        name);
  }
  if (spec.conservative && (!weakmap.empty() || spec.ephemeron)) {
    // Every word of a conservative object is a strong, ambiguous reference
    // (gc/conservative.h); a weak word among them could not be told apart.
    return InvalidArgumentError(
        "type '%s': a conservative type has no weak slots and is not an "
        "ephemeron (each of its words is a strong ambiguous reference)",
        name);
  }
  auto* t = new TypeInfo;
  t->name = name;
  t->size = spec.size;
  t->ptrmap = std::move(ptrmap);
  t->elem_size = spec.elem_size;
  t->elem_ptrmap = std::move(elem_ptrmap);
  t->trace = spec.trace;
  t->trace_ctx = spec.trace_ctx;
  t->user_data = spec.user_data;
  t->weakmap = std::move(weakmap);
  t->weak_kind = static_cast<uint8_t>(spec.weak_kind);
  t->special = spec.ephemeron        ? TypeSpecial::kEphemeron
               : !t->weakmap.empty() ? TypeSpecial::kWeakSlots
                                     : TypeSpecial::kNone;
  t->noscan = t->ptrmap.empty() && t->elem_ptrmap.empty() && !t->has_trace() &&
              t->special == TypeSpecial::kNone;
  t->conservative = spec.conservative;
  if (!t->has_trace() && t->special == TypeSpecial::kNone && !t->conservative &&
      t->elem_ptrmap.empty() && t->ptrmap.size() == 1) {
    t->simple_ptrmask = t->ptrmap[0];
  }

  std::lock_guard<std::mutex> g(mu_);
  size_t n = count_.load(std::memory_order_relaxed);
  if (n >= kMaxTypes) {
    delete t;
    return ResourceExhaustedError(
        "type '%s': the heap already has %zu types (the maximum)", name,
        kMaxTypes);
  }
  // Before the id is published: the inline allocation path reads it.
  alloc_min_[n + 1] = t->noscan
                          ? 0
                          : static_cast<uint32_t>(
                                std::min<size_t>(t->size, UINT32_MAX - 1) + 1);
  owned_.emplace_back(t);
  __atomic_store_n(&types_[n + 1], t, __ATOMIC_RELEASE);
  count_.store(n + 1, std::memory_order_release);
  return static_cast<uint16_t>(n + 1);
}

}  // namespace gcheap
