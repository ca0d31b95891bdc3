// boehm.h: the Boehm GC side of the differential run, behind a small
// interface so no oracle header includes <gc/gc.h>.
//
// Boehm is initialized once per process (Java-style finalization,
// finalizers run only on demand) with interior-pointer recognition
// off (GC_set_all_interior_pointers(0)) and the oracle's interior offsets
// registered as displacements, so it recognizes exactly the pointers our
// heap does. Typed objects get exact layouts (gc_typed.h descriptors), so
// Boehm's only imprecision is its conservative scan of stacks and registers:
// that is the "excess retention" the oracle reports.
#ifndef GCHEAP_TESTS_ORACLE_BOEHM_H_
#define GCHEAP_TESTS_ORACLE_BOEHM_H_

#include <cstddef>
#include <cstdint>

#include "tests/oracle/layout.h"

namespace gcheap::oracle::boehm {

// Idempotent; call from the main thread before any other function here.
void Init();
// A zeroed object of kind k with pointer words per the oracle's layout.
void* AllocTyped(Kind k, uint32_t bytes);
// A pointer-free object (not zeroed).
void* AllocAtomic(size_t bytes);
// An uncollectable array of n pointer slots (scanned as roots), zeroed.
void** AllocRoots(size_t n);
void FreeRoots(void** roots);
// *link (which must hold a nonzero value) is cleared when obj dies.
bool RegisterLink(void** link, void* obj);
void UnregisterLink(void** link);
// A long link (GC_register_long_link): cleared only when obj is freed.
bool RegisterLongLink(void** link, void* obj);
void UnregisterLongLink(void** link);
// Finalization (issue 12's differential; Java-style finalization and
// finalize-on-demand are set by Init): registers fn(obj, data) on obj with
// mode (kFinOrdered: GC_register_finalizer, kFinUnordered: _no_order,
// kFinIgnoreSelf: _ignore_self), replacing any; fn NULL removes it.
void RegisterFinalizer(void* obj, uint8_t mode, void (*fn)(void*, void*),
                       void* data);
// Runs the finalizers Boehm queued (GC_invoke_finalizers).
void InvokeFinalizers();
void Collect();
uint64_t Collections();

}  // namespace gcheap::oracle::boehm

#endif  // GCHEAP_TESTS_ORACLE_BOEHM_H_
