// handles.h: a mutator's handle stack, behind the inline gc_handle_new and
// gc_handle_scope_open / _close of runtime/gc.h (V8's HandleScope).
//
// The stack is a doubly linked chain of fixed-size blocks
// (gc_handle_block_, GC_HANDLE_BLOCK_SLOTS slots each). gc_mutator_head_
// holds the current block, the next free slot in it (handle_top) and its
// end (handle_limit). The slots in use are all the slots of every block
// below the current one (through prev) and the current block's slots below
// handle_top. Blocks above the current one (through next) are spares, kept
// for reuse until the mutator detaches.
//
// Invariants (checked in debug builds by the out-of-line paths):
//   - an attached mutator always has a current block; handle_top lies in
//     [block->slots, block->slots + GC_HANDLE_BLOCK_SLOTS] and handle_limit
//     is that block's end;
//   - every block below the current one is full;
//   - a scope closes a position at or below the current one (LIFO);
//   - only the owning thread changes the stack; the collector reads it
//     only while the owner cannot (runtime/thread_roots.h).
#ifndef GCHEAP_RUNTIME_HANDLES_H_
#define GCHEAP_RUNTIME_HANDLES_H_

#include "gc/roots.h"
#include "runtime/gc.h"

namespace gcheap {

// Gives m an empty handle stack (attach). Reuses m's first block if it has
// one (a recycled mutator).
void ResetHandles(gc_mutator* m);
// Frees every block but the first (detach), or all of them (heap
// destruction, with keep_first false).
void FreeHandles(gc_mutator* m, bool keep_first);
// True if m holds no handle.
bool HandlesEmpty(const gc_mutator* m);
// Reports every handle slot in use to v (precise roots).
void VisitHandles(const gc_mutator* m, RootVisitor& v);

}  // namespace gcheap

#endif  // GCHEAP_RUNTIME_HANDLES_H_
