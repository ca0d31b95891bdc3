// process.h: what gcheap does at the process's edges: the registry of live
// heaps, thread exit, and process exit.
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
// blocking bracket, or not attached); and thread-local destructors that
// run before the sentinel's, or atexit handlers that run before gcheap's
// on a thread other than main, see exit not yet begun.
#ifndef GCHEAP_RUNTIME_PROCESS_H_
#define GCHEAP_RUNTIME_PROCESS_H_

#include <atomic>

struct gc_heap;

namespace gcheap {

// Live heaps, for process-wide events (exit). Called by gc_heap's
// constructor and destructor. The first registration installs the exit
// handler.
void RegisterHeap(gc_heap* h);
void UnregisterHeap(gc_heap* h);

// True once process exit has begun. Any thread.
bool ExitBegun();
// True on the thread that began process exit, once it has.
bool IsExitingThread();
// Begins process exit on the calling thread (idempotent). Called by the
// main thread's sentinel and the atexit handler.
void BeginExit();

}  // namespace gcheap

#endif  // GCHEAP_RUNTIME_PROCESS_H_
