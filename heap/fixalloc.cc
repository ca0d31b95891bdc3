#include "heap/fixalloc.h"

#include <cstring>

#include "heap/arena.h"
#include "heap/base.h"

namespace gcheap {

FixAlloc::FixAlloc(size_t size, bool zero_reused)
    : size_(AlignUp(size, 8)), zero_reused_(zero_reused) {
  GC_CHECK(size_ >= sizeof(FreeNode) && size_ <= kChunkBytes,
           "fixalloc size out of range");
}

FixAlloc::~FixAlloc() {
  for (void* c : chunks_) SysFreeMeta(c, kChunkBytes);
}

void* FixAlloc::Alloc(bool* reused) {
  void* p;
  if (reused != nullptr) *reused = free_ != nullptr;
  if (free_ != nullptr) {
    p = free_;
    free_ = free_->next;
    if (zero_reused_) memset(p, 0, size_);
  } else {
    if (chunk_left_ < size_) {
      void* c = SysAllocMeta(kChunkBytes);
      if (c == nullptr) return nullptr;
      chunks_.push_back(c);
      chunk_ = static_cast<char*>(c);
      chunk_left_ = kChunkBytes;
    }
    p = chunk_;  // fresh OS memory is already zero
    chunk_ += size_;
    chunk_left_ -= size_;
  }
  in_use_++;
  return p;
}

void FixAlloc::Free(void* p) {
  auto* n = static_cast<FreeNode*>(p);
  n->next = free_;
  free_ = n;
  in_use_--;
}

}  // namespace gcheap
