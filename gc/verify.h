// verify.h: the checkmark verifier (Go's gccheckmark).
//
// After marking, with the world still stopped, the verifier walks the whole
// reachable graph again from the roots with its own visited set (a hash map
// from object to the object that first reached it), never looking at
// gcmarkBits while it walks. Weak slots are not followed (it checks instead
// that one naming an unmarked object has a referent record, so the sweep
// can clear it), and an ephemeron's value is followed only once its key
// has been reached (its own wait lists: the ephemeron rule). Every object it
// reaches must have its mark bit set; if one does not, the collector missed a
// live object and would free it: the verifier prints the object, its type and
// the path from a root, and aborts. It also checks every object slot whose
// value does not resolve in this heap against the process's other live heaps
// (MHeap::InOtherHeap): a pointer into another heap is traced by neither, so
// its target may be freed while referenced; the verifier names the slot, its
// object and both heaps, and aborts. (Roots are exempt: one table of globals
// may be registered with several heaps.)
//
// Roots are the heap's (precise slots, scanners, conservative ranges) and
// every mutator's own (its stack, handles and mutator scanners, reported by
// thread_roots with the world stopped). Precise roots are checked strictly.
// An ambiguous root word (a stack word, a word of a conservative range)
// need not be a pointer at all, and may have been written since the cycle
// took its snapshot (a stale copy, an integer that looks like an address):
// one that resolves (gc/conservative.h) to an unmarked object is not a
// miss and is not followed; one that resolves to a marked object is
// followed like a root, since nothing reachable from a marked object may be
// unmarked (weak slots and ephemeron values aside, by the rules above). The
// words of a conservative object are resolved with the same policy and
// checked strictly: they are written through the barrier like any pointer
// slot. (A conservative type has no weak slots: registration refuses one.)
// Root scanners, the heap's and the mutators', are called with a
// RootVisitor as their visit context, never a TraceVisitor, so
// gc_trace_weak is refused there as in the marker.
#ifndef GCHEAP_GC_VERIFY_H_
#define GCHEAP_GC_VERIFY_H_

#include <cstdint>

#include "absl/functional/function_ref.h"
#include "gc/mark.h"
#include "gc/roots.h"

namespace gcheap {

// Returns the number of reachable objects checked. Aborts on a miss.
uint64_t VerifyMarks(Marker* marker, const RootSet& roots,
                     absl::FunctionRef<void(RootVisitor&)> thread_roots);

}  // namespace gcheap

#endif  // GCHEAP_GC_VERIFY_H_
