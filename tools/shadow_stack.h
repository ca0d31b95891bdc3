// shadow_stack.h: a per-thread stack of root slots for the tools' workloads
// (what an interpreter's own stack is to a VM). Slots are reported to the
// collector by a root scanner, so a pointer pushed here survives every
// safepoint until it is popped.
#ifndef GCHEAP_TOOLS_SHADOW_STACK_H_
#define GCHEAP_TOOLS_SHADOW_STACK_H_

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "runtime/gc.h"

namespace gcheap {

class ShadowStack {
 public:
  explicit ShadowStack(gc_heap* heap, size_t capacity = 1 << 16)
      : heap_(heap), slots_(capacity, nullptr) {
    gc_add_root_scanner(heap_, &Scan, this);
  }
  ~ShadowStack() { gc_remove_root_scanner(heap_, &Scan, this); }
  ShadowStack(const ShadowStack&) = delete;
  ShadowStack& operator=(const ShadowStack&) = delete;

  // Pushes p and returns its slot (valid until popped).
  void** Push(void* p) {
    if (sp_ == slots_.size()) {
      fprintf(stderr, "shadow stack overflow\n");
      abort();
    }
    slots_[sp_] = p;
    return &slots_[sp_++];
  }
  void Pop(size_t n = 1) {
    sp_ -= n;
    for (size_t i = 0; i < n; i++) slots_[sp_ + i] = nullptr;
  }
  size_t depth() const { return sp_; }
  // The slot i entries below the top (0: the top).
  void** Top(size_t i = 0) { return &slots_[sp_ - 1 - i]; }

 private:
  static void Scan(gc_visit_fn visit, void* ctx, void* data) {
    auto* s = static_cast<ShadowStack*>(data);
    for (size_t i = 0; i < s->sp_; i++) visit(&s->slots_[i], ctx);
  }
  gc_heap* heap_;
  std::vector<void*> slots_;
  size_t sp_ = 0;
};

}  // namespace gcheap

#endif  // GCHEAP_TOOLS_SHADOW_STACK_H_
