#include "gc/typeinfo.h"

#include "absl/strings/str_format.h"
#include "heap/base.h"

namespace gcheap {

TypeTable::TypeTable()
    : types_(new std::atomic<const TypeInfo*>[kMaxTypes + 1]()) {}

TypeTable::~TypeTable() {
  for (size_t i = 0; i <= kMaxTypes; i++) {
    delete types_[i].load(std::memory_order_relaxed);
  }
  delete[] types_;
}

namespace {
bool AnyBit(const uint64_t* map, size_t nbits) {
  if (map == nullptr) return false;
  for (size_t i = 0; i < nbits; i++) {
    if ((map[i / 64] >> (i % 64)) & 1) return true;
  }
  return false;
}

std::vector<uint64_t> CopyBits(const uint64_t* map, size_t nbits) {
  std::vector<uint64_t> v((nbits + 63) / 64, 0);
  if (map != nullptr) {
    for (size_t i = 0; i < nbits; i++) {
      if ((map[i / 64] >> (i % 64)) & 1) v[i / 64] |= uint64_t{1} << (i % 64);
    }
  }
  return v;
}
}  // namespace

absl::StatusOr<uint16_t> TypeTable::Register(const TypeSpec& spec) {
  const char* name = spec.name ? spec.name : "(unnamed)";
  if (spec.size == 0 && spec.elem_size == 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("type '%s': size and elem_size are both 0", name));
  }
  if (spec.size > kMaxAllocBytes || spec.elem_size > kMaxAllocBytes) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "type '%s': size %zu or elem_size %zu exceeds the largest object "
        "(GC_MAX_ALLOC_BYTES, %zu bytes)",
        name, spec.size, spec.elem_size, kMaxAllocBytes));
  }
  // A pointer slot must be a whole, aligned word inside the layout.
  const size_t fixed_words = spec.size / 8;
  const size_t elem_words = spec.elem_size / 8;
  bool fixed_ptrs = AnyBit(spec.ptrmap, fixed_words);
  bool elem_ptrs = AnyBit(spec.elem_ptrmap, elem_words);
  if (spec.ptrmap != nullptr && spec.size % 8 != 0 &&
      ((spec.ptrmap[fixed_words / 64] >> (fixed_words % 64)) & 1)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "type '%s': pointer bit %zu lies past the end of the %zu-byte fixed "
        "part",
        name, fixed_words, spec.size));
  }
  if (elem_ptrs && spec.elem_size % 8 != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "type '%s': elements with pointers must be a multiple of 8 bytes "
        "(elem_size %zu)",
        name, spec.elem_size));
  }
  if (elem_ptrs && spec.size % 8 != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "type '%s': a pointer tail needs a fixed part that is a multiple of "
        "8 bytes (size %zu)",
        name, spec.size));
  }
  auto* t = new TypeInfo;
  t->name = name;
  t->size = spec.size;
  t->ptrmap = CopyBits(spec.ptrmap, fixed_words);
  t->elem_size = spec.elem_size;
  t->elem_ptrmap = CopyBits(spec.elem_ptrmap, elem_words);
  t->trace = spec.trace;
  t->noscan = !fixed_ptrs && !elem_ptrs && spec.trace == nullptr;

  std::lock_guard<std::mutex> g(mu_);
  size_t n = count_.load(std::memory_order_relaxed);
  if (n >= kMaxTypes) {
    delete t;
    return absl::ResourceExhaustedError(absl::StrFormat(
        "type '%s': the heap already has %zu types (the maximum)", name,
        kMaxTypes));
  }
  types_[n + 1].store(t, std::memory_order_release);
  count_.store(n + 1, std::memory_order_release);
  return static_cast<uint16_t>(n + 1);
}

}  // namespace gcheap
