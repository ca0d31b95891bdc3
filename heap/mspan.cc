#include "heap/mspan.h"

namespace gcheap {

MSpan empty_mspan;

size_t MSpan::NextFreeIndex() {
  size_t sfreeindex = freeindex;
  const size_t snelems = nelems;
  if (sfreeindex == snelems) return sfreeindex;
  uint64_t cache = alloc_cache;
  int bit = cache ? __builtin_ctzll(cache) : 64;
  while (bit == 64) {
    // Move to the next 64-slot word.
    sfreeindex = (sfreeindex + 64) & ~size_t{63};
    if (sfreeindex >= snelems) {
      set_freeindex(snelems);
      return snelems;
    }
    RefillAllocCache(sfreeindex / 64);
    cache = alloc_cache;
    bit = cache ? __builtin_ctzll(cache) : 64;
  }
  size_t result = sfreeindex + bit;
  if (result >= snelems) {
    set_freeindex(snelems);
    return snelems;
  }
  alloc_cache = (alloc_cache >> bit) >> 1;  // a shift by 64 would be UB
  sfreeindex = result + 1;
  if (sfreeindex % 64 == 0 && sfreeindex != snelems) {
    RefillAllocCache(sfreeindex / 64);
  }
  set_freeindex(sfreeindex);
  return result;
}

size_t MSpan::CountMarked() const {
  size_t n = 0;
  size_t full = nelems / 64;
  for (size_t w = 0; w < full; w++) {
    n += __builtin_popcountll(
        __atomic_load_n(&gcmark_bits[w], __ATOMIC_RELAXED));
  }
  if (nelems % 64) {
    uint64_t mask = (uint64_t{1} << (nelems % 64)) - 1;
    n += __builtin_popcountll(
        __atomic_load_n(&gcmark_bits[full], __ATOMIC_RELAXED) & mask);
  }
  return n;
}

}  // namespace gcheap
