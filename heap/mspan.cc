#include "heap/mspan.h"

namespace gcheap {

MSpan empty_mspan;

size_t MSpan::NextFreeRun(size_t* end) {
  const size_t n = nelems;
  // The first clear bit of allocBits at or after freeindex. Bits past
  // nelems in the last word are clear; the bound below catches them.
  size_t i = freeindex;
  while (i < n) {
    const uint64_t free = ~alloc_bits[i / 64] >> (i % 64);
    if (free != 0) {
      i += __builtin_ctzll(free);
      break;
    }
    i = (i / 64 + 1) * 64;
  }
  if (i >= n) {
    set_freeindex(n);
    *end = n;
    return n;
  }
  // The first set bit after it ends the run.
  size_t e = i + 1;
  while (e < n) {
    const uint64_t used = alloc_bits[e / 64] >> (e % 64);
    if (used != 0) {
      e += __builtin_ctzll(used);
      break;
    }
    e = (e / 64 + 1) * 64;
  }
  set_freeindex(i);
  *end = e < n ? e : n;
  return i;
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
