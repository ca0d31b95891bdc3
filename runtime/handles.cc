// handles.cc: the handle stack's blocks and its out-of-line paths (design
// and invariants in handles.h).
#include "runtime/handles.h"

#include <new>

#include "heap/base.h"
#include "heap/error.h"
#include "runtime/runtime.h"

namespace gcheap {

namespace {

using Block = gc_handle_block_;

// What a released handle slot holds in debug builds: a stale handle reads
// this, not its old object.
void* const kHandlePoison =
    reinterpret_cast<void*>(static_cast<uintptr_t>(0xdbdbdbdbdbdbdbdbull));

Block* CurrentBlock(const gc_mutator* m) {
  return static_cast<Block*>(m->handle_block);
}

void** End(Block* b) { return b->slots + GC_HANDLE_BLOCK_SLOTS; }

void SetCurrent(gc_mutator* m, Block* b, void** top) {
  m->handle_block = b;
  m->handle_top = top;
  m->handle_limit = End(b);
}

// The first (bottom) block of m's chain.
Block* FirstBlock(const gc_mutator* m) {
  Block* b = CurrentBlock(m);
  while (b != nullptr && b->prev != nullptr) b = b->prev;
  return b;
}

}  // namespace

void ResetHandles(gc_mutator* m) {
  Block* b = FirstBlock(m);
  if (b == nullptr) {
    b = new Block;
    b->prev = nullptr;
    b->next = nullptr;
  }
  SetCurrent(m, b, b->slots);
}

void FreeHandles(gc_mutator* m, bool keep_first) {
  Block* first = FirstBlock(m);
  if (first == nullptr) return;
  for (Block* b = first->next; b != nullptr;) {
    Block* next = b->next;
    delete b;
    b = next;
  }
  first->next = nullptr;
  if (keep_first) {
    SetCurrent(m, first, first->slots);
  } else {
    delete first;
    m->handle_block = nullptr;
    m->handle_top = m->handle_limit = nullptr;
  }
}

bool HandlesEmpty(const gc_mutator* m) {
  const Block* b = CurrentBlock(m);
  return b == nullptr || (b->prev == nullptr && m->handle_top == b->slots);
}

void VisitHandles(const gc_mutator* m, RootVisitor& v) {
  Block* b = CurrentBlock(m);
  if (b == nullptr) return;
  for (void** s = b->slots; s < m->handle_top; s++) v.Slot(s);
  for (b = b->prev; b != nullptr; b = b->prev) {
    for (void** s = b->slots; s < End(b); s++) v.Slot(s);
  }
}

}  // namespace gcheap

using gcheap::Block;

extern "C" {

void** gc_handle_new_slow(gc_mutator* m, void* obj) {
  gcheap::CheckRunningMutator(m, "gc_handle_new");
  Block* b = gcheap::CurrentBlock(m);
  void** top = m->handle_top;
  if (top == gcheap::End(b)) {
    // The block is full: move to the next one (a spare, or a new one).
    Block* next = b->next;
    if (next == nullptr) {
      next = new (std::nothrow) Block;
      if (next == nullptr) {
        gcheap::SetLastError(
            "gc_handle_new: out of memory for a block of %d handles",
            GC_HANDLE_BLOCK_SLOTS);
        return nullptr;
      }
      next->prev = b;
      next->next = nullptr;
      b->next = next;
    }
    gcheap::SetCurrent(m, next, next->slots);
    top = next->slots;
  }
  *top = obj;
  m->handle_top = top + 1;
  return top;
}

void gc_handle_scope_close_slow(gc_mutator* m, gc_handle_scope* s) {
  const char* fn = "gc_handle_scope_close";
  gcheap::CheckRunningMutator(m, fn);
  auto* saved = static_cast<Block*>(s->saved_block);
  if (saved == nullptr || s->saved_top < saved->slots ||
      s->saved_top > gcheap::End(saved)) {
    gcheap::Misuse(fn, "the scope was not opened (or is corrupt)");
  }
  // The saved position must be at or below the current one: its block is
  // the current block or one below it.
  Block* cur = gcheap::CurrentBlock(m);
  bool below = false;
  if (saved == cur) {
    below = s->saved_top <= m->handle_top;
  } else {
    for (Block* b = cur->prev; b != nullptr; b = b->prev) below |= b == saved;
  }
  if (!below) {
    gcheap::Misuse(
        fn,
        "handle scopes closed out of order (an enclosing scope was closed "
        "first), or the scope belongs to another mutator");
  }
  if constexpr (kDebugBuild) {
    // Poison the released slots.
    for (Block* b = cur;; b = b->prev) {
      void** from = b == saved ? s->saved_top : b->slots;
      void** to = b == cur ? m->handle_top : gcheap::End(b);
      for (void** p = from; p < to; p++) *p = gcheap::kHandlePoison;
      if (b == saved) break;
    }
  }
  gcheap::SetCurrent(m, saved, s->saved_top);
}

}  // extern "C"
