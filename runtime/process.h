// process.h: what gcheap does at the process's edges: the registry of live
// heaps, thread exit, process exit, and fork.
//
// Thread exit. A thread that exits (returns from its start routine, or
// calls pthread_exit, the main thread included) while still attached is
// detached then: a pthread key's destructor walks the thread's list of
// mutators (runtime.cc). POSIX runs key destructors on thread exit only,
// never inside exit(), so the thread that ends the process is not detached.
//
// Process exit. Exit begins at the first of:
//   - the main thread's thread-local destructors: glibc runs them only
//     inside exit(), so they run when main returns or the main thread
//     calls exit(); a sentinel thread_local, constructed on the main
//     thread when gcheap is loaded, calls BeginExit from its destructor;
//   - gcheap's atexit handler (registered when the first heap is
//     created), for exit() called on another thread.
// BeginExit marks the calling thread as the exiting thread, sets the
// process-wide flag, and for every live heap wakes a stopper that is
// waiting for the mutators and waits until no pause of that heap is in
// force (Handshake::OnExitBegun). From then on:
//   - no stop of the world completes (handshake.h), so no cycle starts
//     marking, none finishes, and no root scanner, verifier walk or cycle
//     hook runs; a collector thread or mutator that wants a stop waits
//     until the process is gone;
//   - the exiting thread never waits for the collector: its safepoints do
//     not park it, gc_collect returns without collecting, an allocation
//     does not wait for a cycle, and gc_thread_detach returns;
//   - gc_heap_destroy frees nothing (the heap's own threads may be waiting
//     for a stop that never comes): the heap stays until the process is
//     gone.
// Other threads keep running until the process is gone; one that asks for
// a collection waits. Trace callbacks of a cycle that is marking
// concurrently can still run on collector threads while exit proceeds
// (they read heap objects, which stay mapped).
// Limits: a stop that completed before exit began ends before BeginExit
// returns, but a root scanner of that pause may still run after main's
// frame is gone if main returned while not counting as running (inside a
// blocking bracket, or not attached), and so may a mutator root scanner of
// a per-thread scan (runtime/thread_roots.h) that a collector thread began
// before exit began (scans that begin later call no scanner); and thread-local destructors that
// run before the sentinel's, or atexit handlers that run before gcheap's
// on a thread other than main, see exit not yet begun.
//
// Fork. pthread_atfork handlers (registered with the exit handler) give the
// child working heaps:
//   prepare (in the forking thread; it counts as stopped in every heap from
//   here to the end of its handler, so fork() is a safepoint for it), in
//   phases over all live heaps:
//     1. close each heap's sweep gate: wait for sweeps that collecting
//        threads do while they count as blocked;
//     2. Collector::PrepareFork: wait for a cycle in progress to end, join
//        the driver, the sweeper, the idle worker and the mark workers,
//        hold the driver lock (requests made meanwhile stay pending);
//     3. stop each heap's world (Handshake::PrepareFork): every other
//        mutator is parked or blocked, so none is inside the allocator;
//     4. close each heap's API gate: wait for gc_* calls that take the
//        heap's locks without a mutator (types, roots, statistics).
//   So at the fork no thread holds a heap's lock, a sweep locker, or waits
//   half-way through the handshake, and no collector thread exists.
//   parent: undo it in reverse order: open the API gates, restart the
//   worlds, restart the collector threads, open the sweep gates.
//   child: only the forking thread exists. Each heap's handshake resets its
//   condition variables and withdraws the stop; the mutators of the other
//   threads are recycled as if they had detached (their cached spans
//   return to the heap); the gates are reset; the collector drops pending
//   requests (their threads are gone), resets its condition variables and
//   starts its threads again. The forking thread's mutators stay attached.
// What the child inherits as it was: every object, type and root. Roots
// and root scanners that the other threads registered stay registered; if
// they point into those threads' stacks they must be removed in the child
// (glibc reuses those stacks for the child's new threads, the collector's
// own included). fork() must not be called from a root scanner, trace
// callback or cycle hook, and after exit has begun the handlers do nothing
// (the child's heaps then have no collector threads).
#ifndef GCHEAP_RUNTIME_PROCESS_H_
#define GCHEAP_RUNTIME_PROCESS_H_

#include <atomic>

#include "runtime/gc.h"

namespace gcheap {

// Creates and registers a heap, and unregisters and deletes one, under
// the registry's lock, so the exit and fork handlers never see a heap half
// built or half destroyed, and a fork never happens while one is (heap/
// keeps its own process-wide list of heaps, MHeap::InOtherHeap). The
// first creation installs the exit and fork handlers.
gc_heap* NewHeap(const gc_config& cfg);
void DeleteHeap(gc_heap* h);

// True once process exit has begun. Any thread.
bool ExitBegun();
// True on the thread that began process exit, once it has.
bool IsExitingThread();
// Begins process exit on the calling thread (idempotent). Called by the
// main thread's sentinel and the atexit handler.
void BeginExit();

}  // namespace gcheap

#endif  // GCHEAP_RUNTIME_PROCESS_H_
