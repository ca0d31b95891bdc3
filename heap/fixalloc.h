// fixalloc.h: a free-list allocator for fixed-size metadata (mspan structs,
// mark-bit blocks), like Go's fixalloc.
//
// Memory comes from the OS in 256 KiB chunks and is never returned while the
// allocator lives, so a stale pointer to a freed mspan still points at a
// (reused) mspan and never at unmapped memory: lock-free readers such as
// findObject rely on that. Not thread-safe: the owner (mheap) serializes
// calls with its lock.
#ifndef GCHEAP_HEAP_FIXALLOC_H_
#define GCHEAP_HEAP_FIXALLOC_H_

#include <cstddef>
#include <vector>

namespace gcheap {

class FixAlloc {
 public:
  // zero_reused: Alloc clears a reused block. Without it a reused block
  // keeps its old contents (the caller initializes it: mspan structs,
  // whose atomics lock-free readers of stale pointers may still load, are
  // reinitialized field by field, never overwritten wholesale).
  explicit FixAlloc(size_t size, bool zero_reused = true);
  ~FixAlloc();
  FixAlloc(const FixAlloc&) = delete;
  FixAlloc& operator=(const FixAlloc&) = delete;

  // Memory of `size` bytes, aligned to the largest power of two that
  // divides size (at most the page size); nullptr if the OS refuses. Fresh
  // memory is zero; a reused block is zeroed if zero_reused. *reused (if
  // given) tells which.
  void* Alloc(bool* reused = nullptr);
  void Free(void* p);
  // Bytes obtained from the OS.
  size_t sys_bytes() const { return chunks_.size() * kChunkBytes; }
  size_t in_use() const { return in_use_; }

 private:
  static constexpr size_t kChunkBytes = 256 << 10;
  struct FreeNode {
    FreeNode* next;
  };
  size_t size_;
  bool zero_reused_;
  FreeNode* free_ = nullptr;
  char* chunk_ = nullptr;  // bump region in the newest chunk
  size_t chunk_left_ = 0;
  size_t in_use_ = 0;
  std::vector<void*> chunks_;
};

}  // namespace gcheap

#endif  // GCHEAP_HEAP_FIXALLOC_H_
