/* gc.h: the public C API of gcheap, an embeddable garbage-collected heap.
 *
 * A VM or interpreter embeds the heap like this:
 *
 *   gc_config cfg;
 *   gc_config_init(&cfg);                 // defaults, then GC_* variables
 *   gc_heap* heap = gc_heap_create(&cfg);
 *   gc_mutator* m = gc_thread_attach(heap);   // every thread that allocates
 *   gc_type_id cons = gc_register_type(heap, &cons_desc);
 *   void* cell = gc_alloc(m, cons, sizeof(Cons));
 *   gc_write_barrier(m, cell, &((Cons*)cell)->car, other);
 *   gc_add_root(heap, (void**)&vm_globals);
 *   gc_collect(m);
 *   gc_thread_detach(m);
 *   gc_heap_destroy(heap);
 *
 * Threading contract
 *  - A thread must attach before it calls anything that takes a gc_mutator,
 *    and uses only its own mutator. A mutator is stopped for a collection
 *    only at safepoints: inside gc_alloc / gc_alloc_noscan / gc_collect /
 *    gc_safepoint, or while it is inside a gc_enter_blocking /
 *    gc_leave_blocking bracket. A thread that runs a long time without
 *    allocating must call gc_safepoint now and then, and must bracket
 *    blocking calls (I/O, locks, sleeping) so it does not hold up a
 *    collection. Inside a blocking bracket it must not touch heap objects.
 *    Blocking brackets nest.
 *  - Heap pointers a thread holds must be reachable from roots at every
 *    safepoint: registered slots/ranges, slots reported by a root scanner
 *    (the heap's or the thread's own), the thread's handles
 *    (gc_handle_new), or, with gc_config.conservative_stacks, the thread's
 *    own stack and registers. Without conservative stacks a pointer held
 *    only in a C local across gc_alloc may be freed.
 *  - Conservative stacks: the thread's stack is scanned as it was when the
 *    thread stopped (at a safepoint, or at gc_enter_blocking). Inside a
 *    blocking bracket the thread must therefore not manipulate heap
 *    pointers at all (Boehm's rule for GC_do_blocking): not even copy one
 *    from one local variable into another. Threads that switch stacks
 *    (fibers, coroutines with their own stacks, a signal's alternate stack)
 *    are not supported: a safepoint on another stack aborts with a message.
 *  - A thread that exits (returns from its start routine, or calls
 *    pthread_exit) while attached is detached when it exits.
 *  - Process exit: the thread that ends the process (returning from main,
 *    or calling exit()) is not detached. Once exit has begun (the main
 *    thread's thread-local destructors, which run inside exit(), or
 *    gcheap's atexit handler for exit() on another thread), no stop of the
 *    world completes: no cycle starts marking or finishes, and no root
 *    scanner or cycle hook is called, so a scanner may point into main's
 *    frame. Threads that want a collection then wait until the process is
 *    gone; the exiting thread never waits: its safepoints return,
 *    gc_collect returns without collecting, gc_thread_detach returns, and
 *    gc_heap_destroy frees nothing. The process exits normally. Trace
 *    callbacks of a cycle already marking concurrently may still run on
 *    collector threads during exit (they read heap objects, which stay
 *    mapped). docs/embedding.md (section 3) gives the details and limits.
 *  - fork(): the child gets working heaps. The fork waits for cycles in
 *    progress to end and is a safepoint for the calling thread; in the
 *    child only the forking thread exists, its mutators stay attached,
 *    the other threads' mutators are detached, and the collector's threads
 *    run again. Roots the other threads registered stay registered: remove
 *    those that point into their stacks. Do not fork from a root scanner,
 *    trace callback or cycle hook.
 *
 * Errors: functions that can fail return NULL (or a negative number) and
 * gc_last_error() returns a readable reason for the calling thread. API
 * misuse (a detached mutator, a mutator used from another thread, a
 * pointer store into a non-heap object, or of a pointer into another heap)
 * aborts with a message in debug builds; a gc_leave_blocking without a
 * matching gc_enter_blocking aborts in every build.
 *
 * Environment variables (read by gc_config_init, override its defaults):
 *   GC_PERCENT=n        heap goal = live x (1 + n/100); "off" or negative:
 *                       no proportional goal (with GC_MEMORY_LIMIT, collect
 *                       only near the limit) (default 100)
 *   GC_MEMORY_LIMIT=n   soft limit in bytes (suffixes K, M, G accepted);
 *                       collections become more frequent near it
 *   GC_MAX_HEAP=n       hard maximum heap size in bytes (K, M, G)
 *   GC_WORKERS=n        marking threads (default: the CPUs this process may
 *                       use: its affinity mask, capped by a cgroup quota)
 *   GCTRACE=1           one line per collection on stderr
 *   GC_VERIFY=1         re-mark after every collection and abort if a
 *                       reachable object was left unmarked, or an object
 *                       points into another heap
 *   GC_STW=0|1          0: mark concurrently with the mutators, two short
 *                       pauses per cycle (the default); 1: stop-the-world
 *                       cycles (for debugging and comparison)
 *   GC_CONSERVATIVE_STACKS=0|1
 *                       1: scan every attached thread's stack and registers
 *                       for ambiguous pointers (default 0)
 *   GC_TRACE_FILE=path  write the collector's timeline to path (Chrome Trace
 *                       Event JSON: open it in Perfetto or chrome://tracing;
 *                       see gc_config.trace_file and docs/embedding.md)
 *
 * Versions: GCHEAP_VERSION_* below are the version of this header and
 * gc_version() that of the library linked at run time (docs/build.md says
 * how the number moves). A program can check at start-up that the shared
 * library it loaded is the one it was compiled for:
 *
 *   if (gc_version() / 10000 != GCHEAP_VERSION_MAJOR) abort();
 */
#ifndef GCHEAP_RUNTIME_GC_H_
#define GCHEAP_RUNTIME_GC_H_

#include <stddef.h>
#include <stdint.h>

/* ---- version ---- */

/* The only place the version is written: the install step reads these
 * lines for the shared library's file name and soname (libgcheap.so.MAJOR),
 * gcheap.pc and the CMake package version. MAJOR changes when a program
 * built against the old header may break with the new library (the ABI or
 * a documented behaviour changed), MINOR on compatible additions, PATCH on
 * fixes; see docs/build.md. */
#define GCHEAP_VERSION_MAJOR 1
#define GCHEAP_VERSION_MINOR 0
#define GCHEAP_VERSION_PATCH 0
/* MAJOR * 10000 + MINOR * 100 + PATCH: 1.0.0 is 10000. */
#define GCHEAP_VERSION                                         \
  (GCHEAP_VERSION_MAJOR * 10000 + GCHEAP_VERSION_MINOR * 100 + \
   GCHEAP_VERSION_PATCH)
#define GCHEAP_STRINGIFY_(x) #x
#define GCHEAP_XSTRINGIFY_(x) GCHEAP_STRINGIFY_(x)
/* "MAJOR.MINOR.PATCH" */
#define GCHEAP_VERSION_STRING                                          \
  GCHEAP_XSTRINGIFY_(GCHEAP_VERSION_MAJOR)                             \
  "." GCHEAP_XSTRINGIFY_(GCHEAP_VERSION_MINOR) "." GCHEAP_XSTRINGIFY_( \
      GCHEAP_VERSION_PATCH)

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gc_heap gc_heap;
typedef struct gc_mutator gc_mutator;
typedef uint32_t gc_type_id; /* 0 is never a valid type */

/* The library's version, as GCHEAP_VERSION and GCHEAP_VERSION_STRING were
 * when it was compiled (which may differ from the header a program was
 * compiled with, if a newer shared library was installed since). */
int gc_version(void);
const char* gc_version_string(void);

/* ---- versioned structs ----
 *
 * gc_config, gc_stats and gc_cycle_info begin with struct_size, the size
 * of the layout the caller was compiled with, so they can grow without
 * breaking compiled programs: fields are only ever appended, and every
 * earlier layout is a prefix of the current one (its size a multiple of 8).
 *  - gc_config (input): gc_config_init sets struct_size. gc_heap_create
 *    takes the fields that lie inside struct_size and gives the others
 *    gc_config_init's values (environment included); a struct_size that is
 *    no layout's (0, not a multiple of 8, below the first field's end, or
 *    larger than this library's gc_config: fields it does not know) fails
 *    with a message.
 *  - gc_stats (output): set struct_size before gc_get_stats, which fills
 *    what lies inside it and nothing beyond, and sets struct_size to the
 *    bytes it filled (smaller than yours when the library is older).
 *  - gc_cycle_info (to the hook): struct_size is what the library filled;
 *    a hook compiled against a newer header tests GC_HAS_FIELD before it
 *    reads a field the library may not have.
 * Binaries compiled before struct_size existed must be rebuilt. */

/* True if the struct at p (with its struct_size) contains field. */
#define GC_HAS_FIELD(p, type, field) \
  (offsetof(type, field) + sizeof(((type*)0)->field) <= (p)->struct_size)

/* ---- configuration ---- */

typedef struct gc_config {
  size_t struct_size;        /* sizeof(gc_config): set by gc_config_init */
  int gc_percent;            /* GOGC-like; < 0: no proportional goal */
  size_t max_heap_bytes;     /* hard maximum of heap memory; 0 = none */
  size_t memory_limit_bytes; /* soft limit; 0 = none */
  int gc_workers;            /* marking threads; 0 = usable CPUs */
  int verify;                /* nonzero: checkmark after every cycle */
  int stop_the_world;        /* nonzero: stop-the-world cycles */
  int trace;                 /* nonzero: gctrace line per cycle */
  uintptr_t tag_mask;        /* bits cleared from a slot before lookup */
  /* ---- appended later (used only inside struct_size) ---- */
  int finalizer_thread;        /* nonzero (the default): a thread the heap owns
                                  runs ready finalizers and cleanups; 0: the
                                  embedder runs them with gc_run_finalizers */
  int conservative_stacks;     /* nonzero: every attached thread's stack and
                                  registers are roots (ambiguous words) */
  const char* trace_file;      /* write the collector's timeline here (Chrome
                                  Trace Event JSON, for Perfetto); NULL: none */
  int ambiguous_displacements; /* nonzero: an ambiguous word of an object or
                              of a conservative root range retains an object
                              only if it points at the object's start or at
                              start + a displacement registered with
                              gc_register_displacement (Boehm's
                              GC_all_interior_pointers = 0); words of thread
                              stacks and registers still retain through any
                              interior pointer. 0 (the default): any
                              interior pointer retains */
  size_t min_heap_bytes;       /* the heap goal never drops below this many
                                  bytes in use, so no collection starts
                                  automatically before that much is
                                  allocated; 0 (the default): 4 MiB. Below
                                  256 KiB is rejected. A smaller floor keeps
                                  a small program's heap nearer its live data
                                  at the price of more collections */
} gc_config;

/* Fills *cfg with the defaults (gc_percent 100, no limits, workers 0,
 * verify off, stop_the_world off (concurrent), trace off, tag_mask 0,
 * finalizer_thread on, conservative_stacks off, trace_file NULL,
 * ambiguous_displacements off, min_heap_bytes 0: 4 MiB), then
 * applies the GC_* environment variables above; sets struct_size. The heap
 * copies trace_file's string. */
void gc_config_init(gc_config* cfg);

/* ---- heaps ---- */

/* Creates an independent heap. cfg may be NULL (defaults + environment).
 * Returns NULL with gc_last_error() set if the configuration is invalid
 * (including a struct_size that is no gc_config layout's).
 * Heaps are independent: an object of one heap must never point into
 * another, since neither traces such a pointer (its target may be freed
 * while referenced). Verify mode reports such a slot at the end of a cycle
 * and debug builds at the barrier store, naming both heaps; release builds
 * do not check. A root slot may hold any heap's pointers. */
gc_heap* gc_heap_create(const gc_config* cfg);

/* Destroys a heap and all its memory. Every mutator must be detached.
 * Once process exit has begun it frees nothing (see Process exit above). */
void gc_heap_destroy(gc_heap* heap);

/* ---- threads ---- */

/* Attaches the calling thread to heap and returns its mutator (its
 * allocation cache and safepoint state). Attaching again from the same
 * thread returns the same mutator and counts: the thread stays attached
 * until it has detached as many times as it attached. */
gc_mutator* gc_thread_attach(gc_heap* heap);

/* Detaches the calling thread: its cached memory returns to the heap and the
 * mutator becomes invalid. A thread that exits while attached is detached
 * automatically when it exits; the thread that ends the process is not. */
void gc_thread_detach(gc_mutator* m);

/* The calling thread's mutator for heap, or NULL if it is not attached. */
gc_mutator* gc_current_mutator(gc_heap* heap);

/* ---- types ---- */

/* Reports the address of one pointer slot. */
typedef void (*gc_visit_fn)(void** slot, void* visit_ctx);
/* A trace callback reports every pointer slot of obj through visit. */
typedef void (*gc_trace_fn)(void* obj, gc_visit_fn visit, void* visit_ctx);
/* The same, also given the user_data of obj's type (gc_type_desc), e.g. the
 * embedder's VM state, so the callback needs no global. */
typedef void (*gc_trace_ctx_fn)(void* obj, gc_visit_fn visit, void* visit_ctx,
                                void* user_data);

/* A layout. Bitmaps: bit i of word i/64 set means the 8-byte word at offset
 * 8*i of the fixed part (of one tail element) is a pointer slot; each
 * bitmap's length in 64-bit words is given beside it and must cover its
 * layout: at least GC_BITMAP_WORDS(size) words for ptr_bitmap and
 * GC_BITMAP_WORDS(elem_size) for elem_ptr_bitmap (words beyond are not
 * read). A shorter bitmap, a bitmap of length 0, a length without a bitmap
 * or a bit for a word that is not whole inside the layout is an error.
 *
 * Compatibility: the first six fields are those of the original layout, so
 * an initializer that lists only them still compiles, and the fields after
 * them are then 0: noscan and trace-only types register as before, while a
 * pointer bitmap without its length is rejected with a message saying what
 * to set.
 * struct_size (0 or sizeof(gc_type_desc), set by gc_type_desc_init) lets
 * later versions append fields: 0 always means this layout. Prefer
 * gc_type_desc_init and assignments, or designated initializers. */
typedef struct gc_type_desc {
  const char* name;                /* for diagnostics; copied */
  size_t size;                     /* fixed part, bytes */
  const uint64_t* ptr_bitmap;      /* pointer words of the fixed part, or
                                      NULL */
  size_t elem_size;                /* variable tail element size; 0 = none */
  const uint64_t* elem_ptr_bitmap; /* pointer words of one element, or NULL */
  gc_trace_fn trace;               /* optional; replaces the bitmaps */
  /* ---- since struct_size ---- */
  size_t struct_size;           /* sizeof(gc_type_desc), or 0 (this layout) */
  size_t ptr_bitmap_words;      /* 64-bit words at ptr_bitmap */
  size_t elem_ptr_bitmap_words; /* 64-bit words at elem_ptr_bitmap */
  gc_trace_ctx_fn trace_ctx;    /* optional, instead of trace: also gets
                                   user_data */
  void* user_data;              /* passed to trace_ctx; the heap never reads
                                   or frees it */
  /* ---- since weak slots (a struct_size that ends at user_data is the
   * layout before them: these fields read as 0) ---- */
  const uint64_t* weak_bitmap; /* weak slots of the fixed part, or NULL:
                                  bit i set means the word at offset 8*i
                                  holds a weak reference (not traced;
                                  cleared in place when its object dies).
                                  Not with a trace callback (which reports
                                  weak slots with gc_trace_weak); no word
                                  is both a pointer and a weak slot */
  size_t weak_bitmap_words;    /* 64-bit words at weak_bitmap (at least
                                  GC_BITMAP_WORDS(size)) */
  int weak_kind;               /* GC_WEAK_SHORT or GC_WEAK_LONG: the kind of
                                  every weak slot of the type, and of
                                  gc_weak_load on its objects (trace
                                  callback types included) */
} gc_type_desc;

/* The number of 64-bit bitmap words a layout of `bytes` bytes needs: one
 * bit per 8-byte word. */
#define GC_BITMAP_WORDS(bytes) ((((size_t)(bytes) + 7) / 8 + 63) / 64)

/* Zeroes *desc and sets desc->struct_size. */
void gc_type_desc_init(gc_type_desc* desc);

/* Registers a type and returns its id (>= 1), or 0 with gc_last_error() set
 * if the description is invalid. A type with no pointer bit and no trace
 * callback is noscan: its objects are never scanned. A pointer slot may hold
 * NULL, a small integer or a tagged value: the collector ignores anything
 * that does not resolve (after clearing cfg.tag_mask bits) to an object of
 * this heap. An object of a type with a tail is `size + k * elem_size` bytes
 * (the tail fills whatever the allocation gives beyond size). */
gc_type_id gc_register_type(gc_heap* heap, const gc_type_desc* desc);

/* ---- allocation ---- */

/* The largest request gc_alloc and gc_alloc_noscan accept (1 TiB). A larger
 * one fails with an "allocation size overflow" reason before any size
 * arithmetic; one up to it is attempted, and fails, if it does, with the
 * reason of the hard limit or of the OS. */
#define GC_MAX_ALLOC_BYTES ((size_t)1 << 40)

/* Allocates `bytes` of zeroed memory for an object of type `type`; bytes
 * must be at least the type's fixed size. May collect first (a safepoint).
 * Returns NULL with gc_last_error() set on failure: unknown type, size
 * overflow (bytes > GC_MAX_ALLOC_BYTES), or the hard heap limit reached
 * even after a collection.
 * bytes == 0 with a type of size 0 gives a distinct minimal object.
 * gc_alloc and gc_alloc_noscan are also inline functions (below, after the
 * barriers: a call through these names uses them); these are their
 * out-of-line forms, which do everything. */
void* gc_alloc(gc_mutator* m, gc_type_id type, size_t bytes);

/* Alignment: gc_alloc returns memory aligned to at least 8 bytes, and to 16
 * bytes for every size class that is a multiple of 16 (all sizes above 24
 * bytes; see docs/decisions.md). gc_alloc_noscan of fewer than 16 bytes is
 * aligned to the request's natural alignment (8, 4, 2 or 1 by its size), as
 * Go's tiny allocator does; round the size up if you need more. */

/* Allocates `bytes` of zeroed pointer-free memory (never scanned). */
void* gc_alloc_noscan(gc_mutator* m, size_t bytes);

/* The thread's last error message ("" if none). */
const char* gc_last_error(void);

/* ---- collection ---- */

/* Runs a full, blocking collection: marks, then sweeps the whole heap before
 * returning, so statistics read afterwards are exact. On the thread that
 * is ending the process, once exit has begun, it returns without
 * collecting. */
void gc_collect(gc_mutator* m);

/* ---- roots ---- */

/* Registers the slot at `slot` as a root (counted: add twice, remove
 * twice). Returns 0, or -1 with gc_last_error() set. */
int gc_add_root(gc_heap* heap, void** slot);
int gc_remove_root(gc_heap* heap, void** slot);

/* Registers `count` consecutive slots starting at start. */
int gc_add_root_range(gc_heap* heap, void** start, size_t count);
int gc_remove_root_range(gc_heap* heap, void** start, size_t count);

/* A root scanner reports slots of VM structures (interpreter stacks, handle
 * tables) through visit(slot, visit_ctx) when the collector asks. It runs
 * on the collector's own driver thread (in both modes; never on the thread
 * that called gc_collect or allocated), with the world stopped, and must
 * not allocate or take locks that a stopped mutator may hold. */
typedef void (*gc_root_scanner_fn)(gc_visit_fn visit, void* visit_ctx,
                                   void* data);
int gc_add_root_scanner(gc_heap* heap, gc_root_scanner_fn fn, void* data);
int gc_remove_root_scanner(gc_heap* heap, gc_root_scanner_fn fn, void* data);

/* A root scanner that belongs to one mutator (one thread's interpreter
 * stack or frame chain), not to the heap: it is dropped when the mutator
 * detaches, the automatic detach at thread exit included, so it never
 * walks the frames of a thread that is gone. Its data must stay valid
 * until then: gc_thread_detach (and the detach at thread exit) waits
 * counting as blocked, and the thread's roots, scanners included, may be
 * scanned meanwhile; remove a scanner whose data lives in a frame before
 * that frame returns. Called with m's thread stopped
 * (parked at a safepoint or inside a blocking bracket) or about to resume:
 * once per cycle, right after the first pause, on m's own thread before it
 * runs again, or on a collector thread while m stays blocked; and on the
 * collector's driver thread, with the world stopped, for the verifier.
 * Never while m's thread runs its own code, so it may read the thread's
 * structures without locks. It must not allocate, call gcheap, or take
 * locks that m's thread may hold. Only m's own thread may add or remove
 * its scanners; a pair (fn, data) may be added more than once (removed
 * once per add). Return 0, or -1 with gc_last_error() set (fn NULL; a
 * remove of a pair that is not registered). */
int gc_add_mutator_root_scanner(gc_mutator* m, gc_root_scanner_fn fn,
                                void* data);
int gc_remove_mutator_root_scanner(gc_mutator* m, gc_root_scanner_fn fn,
                                   void* data);

/* ---- conservative roots ----
 *
 * An ambiguous word may or may not be a pointer: if it points into an
 * allocated object of the heap (its base or any interior byte, after
 * clearing gc_config.tag_mask bits), that object is kept alive; nothing
 * moves, and a word that designates nothing is ignored. With
 * gc_config.ambiguous_displacements, a word of an object or of a
 * conservative range keeps an object alive only through its base or base +
 * a registered displacement (stack and register words: any interior byte).
 */

/* With gc_config.ambiguous_displacements: from now on, an ambiguous word
 * that points `offset` bytes past an object's base also keeps the object
 * alive (Boehm's GC_register_displacement; offset 0 always does). Register
 * displacements before the pointers that use them exist: one registered
 * while a cycle marks counts from the next cycle. Returns 0, or -1 with
 * gc_last_error() set (offset 4096 or more; a heap without
 * ambiguous_displacements). */
int gc_register_displacement(gc_heap* heap, size_t offset);

/* Registers `bytes` bytes from start (any alignment: every 8-byte-aligned
 * word wholly inside is an ambiguous root), for data segments and foreign
 * buffers that hold heap pointers. Like other registered roots, their
 * contents are copied in a cycle's first pause: the program may write the
 * range without barriers. Counted per (start, bytes): add twice, remove
 * twice. Returns 0, or -1 with gc_last_error() set (start NULL with bytes >
 * 0, a range that wraps, or, for remove, one that is not registered). */
int gc_add_conservative_root_range(gc_heap* heap, const void* start,
                                   size_t bytes);
int gc_remove_conservative_root_range(gc_heap* heap, const void* start,
                                      size_t bytes);

/* Allocates `bytes` of zeroed memory whose every 8-byte word is an
 * ambiguous pointer (Boehm's GC_malloc): an object of the heap's built-in
 * conservative kind, scanned word by word (interior pointers keep their
 * object). Every word is a pointer-capable slot: stores into it go through
 * the barriers, like stores into any pointer slot. bytes 0 gives a
 * minimal object. NULL + gc_last_error() as for gc_alloc. A safepoint. */
void* gc_alloc_conservative(gc_mutator* m, size_t bytes);

/* ---- barriers and safepoints ----
 *
 * A pointer-capable slot is a word of a heap object that the collector may
 * read as a pointer: one whose bit is set in its type's bitmap, or one a
 * trace callback reports. EVERY store into such a slot goes through one of
 * the barriers below, whatever the value: a heap pointer, NULL, a tagged
 * immediate. While a concurrent cycle marks, the barrier records the value
 * being overwritten (it may be the last reference to an object that was
 * reachable when marking began: a plain store of an immediate over it would
 * let the cycle free that object while the program still holds it, e.g. in
 * a root or in another object it already scanned) and the value stored.
 * Words that are never pointer-capable (lengths, counts, characters) and
 * root slots are written directly.
 *
 * Each barrier is inline: when no cycle is marking it is one relaxed load,
 * a predictable branch and the store (or the atomic operation); while one
 * marks, gc_write_barrier also records inline and the others call their
 * out-of-line part. Stores are release stores: a marker thread that reads
 * the pointer also sees the stored object's initialization. Debug builds
 * (GCHEAP_DEBUG) always take the out-of-line parts, which check that the
 * slots lie inside obj and, as verify mode does, that a stored value is not
 * an object of another heap. */

/* Stores value into *slot, where slot is a pointer-capable slot of the
 * heap object obj. */
void gc_write_barrier_slow(gc_mutator* m, void* obj, void** slot, void* value);
/* Out-of-line parts of the barriers below. */
int gc_write_barrier_cas_slow(gc_mutator* m, void* obj, void** slot,
                              void** expected, void* desired);
void* gc_write_barrier_exchange_slow(gc_mutator* m, void* obj, void** slot,
                                     void* value);
void gc_write_barrier_copy_slow(gc_mutator* m, void* dst_obj, void** dst,
                                void* const* src, size_t n);

/* An allocation window: a run of free slots of one span class in the
 * mutator's cache, [next, end), each `size` bytes. Allocating is taking
 * next and adding size. A scan class's span records its objects' types in
 * one of two ways: one type for every object (`mono`, the type; `types`
 * NULL), or a type tag per slot (`types` points at the tag of the slot at
 * next, one uint16_t per slot, which the allocation writes and advances;
 * `mono` is 0xffffffff, which no type equals). An allocation of another
 * type than `mono` into a window whose `types` is NULL must call the
 * out-of-line function (which gives the span its tags). Noscan windows:
 * `types` NULL, `mono` 0xffffffff. Slots read as zero. heap/mcache.h
 * (AllocWindow) owns them; other threads read next (object queries), so
 * it is written with release stores. */
typedef struct gc_alloc_window_ {
  uintptr_t next;  /* the next free slot; the window is open while < end */
  uintptr_t end;   /* the end of the run */
  uint16_t* types; /* scan classes, a span with per-slot tags: the type tag
                      of the slot at next; else NULL */
  uint32_t size;   /* slot size (bytes) */
  uint32_t mono;   /* scan classes, a span of one type: that type; else
                      0xffffffff */
} gc_alloc_window_;

/* The first words of every gc_mutator, read and written by the inline
 * functions below (runtime/runtime.h keeps them first and checks the
 * offsets). Its layout is part of the ABI (it changes only with
 * GCHEAP_VERSION_MAJOR): generated code may read poll and wb_enabled
 * itself (GC_MUTATOR_POLL_OFFSET, GC_MUTATOR_WB_ENABLED_OFFSET; both are
 * read with relaxed loads) and inline the functions below; everything else
 * is written only through them. docs/embedding.md ("Generated code")
 * gives the rules. A JIT that inlines the allocation fast path relies on
 * the offsets of this struct, and what each path reads and writes is what
 * the functions below do. The allocation fast path (gc_alloc_inline_,
 * gc_alloc_noscan_inline_):
 *   1. poll == 0 (else the out-of-line call: a safepoint);
 *   2. gc_alloc: type <= 0xffff, 1 <= bytes <= GC_INLINE_ALLOC_MAX_, and
 *      alloc_type_min[type] != 0 and bytes + 1 >= alloc_type_min[type]
 *      (a registered type whose objects hold pointers, and bytes at least
 *      its fixed size); gc_alloc_noscan: 16 <= bytes <= GC_INLINE_ALLOC_MAX_;
 *   3. the window alloc_windows[alloc_size_class[(bytes + 7) >> 3] * 2 + k],
 *      k = 0 for gc_alloc (scan), 1 for gc_alloc_noscan;
 *   4. if next < end: the object is next; gc_alloc, unless type == mono,
 *      stores (uint16_t)type at *types (a relaxed atomic store) and
 *      advances types by one, or, when types is NULL, calls the
 *      out-of-line gc_alloc instead (the span holds objects of another
 *      type); then next += size, stored with release order after the type
 *      (an ordinary store on x86): object queries on other threads read
 *      next (gc_object_base sees an object as soon as it is handed out,
 *      with its type).
 * Anything else: the out-of-line gc_alloc / gc_alloc_noscan. A JIT that
 * knows the type and size of an allocation site can do steps 2 and 3 when
 * it compiles the site. */
typedef struct gc_mutator_head_ {
  uint32_t poll;                   /* nonzero: a collection wants this thread */
  uint32_t wb_enabled;             /* nonzero while a concurrent cycle marks */
  uintptr_t* wbbuf_next;           /* next free pair of the barrier buffer */
  uintptr_t* wbbuf_end;            /* end of the barrier buffer */
  void** handle_top;               /* next free handle slot (gc_handle_new) */
  void** handle_limit;             /* end of the current handle block's slots */
  void* handle_block;              /* the current handle block
                                      (gc_handle_block_) */
  gc_alloc_window_* alloc_windows; /* by span class: size class * 2 +
                                      noscan */
  const uint8_t* alloc_size_class; /* (bytes + 7) >> 3 -> size class, for
                                      bytes <= GC_INLINE_ALLOC_MAX_ */
  const uint32_t* alloc_type_min;  /* by type id: fixed size + 1 for a type
                                      whose objects hold pointers, else 0 */
} gc_mutator_head_;

/* Byte offsets in a gc_mutator, for generated code: the 32-bit safepoint
 * poll word (nonzero: call gc_safepoint_slow) and the 32-bit barrier flag
 * (nonzero: stores into pointer slots need the barrier's slow part). */
#define GC_MUTATOR_POLL_OFFSET offsetof(gc_mutator_head_, poll)
#define GC_MUTATOR_WB_ENABLED_OFFSET offsetof(gc_mutator_head_, wb_enabled)

/* The largest request the inline allocation paths serve. */
#define GC_INLINE_ALLOC_MAX_ 1024

/* The fast paths below (barrier, safepoint poll, allocation, handles) must
 * be inlined into their callers, the promise "no call" depends on it: GCC
 * at -O2 leaves gc_alloc_inline_ and gc_write_barrier out of line in a
 * recursive caller (tools/bench/tree_bench's BuildBottomUp) unless told.
 * tests/symbols:fast_paths_inlined_test checks that none stays out of line. */
#if defined(__GNUC__) || defined(__clang__)
#define GC_FAST_PATH_ static inline __attribute__((always_inline))
#else
#define GC_FAST_PATH_ static inline
#endif

GC_FAST_PATH_ void gc_write_barrier(gc_mutator* m, void* obj, void** slot,
                                    void* value) {
#if defined(GCHEAP_DEBUG) && GCHEAP_DEBUG
  gc_write_barrier_slow(m, obj, slot, value);
#else
  gc_mutator_head_* h = (gc_mutator_head_*)m;
  if (__atomic_load_n(&h->wb_enabled, __ATOMIC_RELAXED) != 0) {
    /* Marking: record the old and the new value (Go's wbBuf.putFast); the
     * out-of-line path shades a full buffer. */
    uintptr_t* next = h->wbbuf_next;
    if (next == h->wbbuf_end) {
      gc_write_barrier_slow(m, obj, slot, value);
      return;
    }
    next[0] = (uintptr_t)__atomic_load_n(slot, __ATOMIC_RELAXED);
    next[1] = (uintptr_t)value;
    h->wbbuf_next = next + 2;
  }
  (void)obj;
  __atomic_store_n(slot, value, __ATOMIC_RELEASE);
#endif
}

/* Compare-and-swap of a pointer-capable slot of obj, with the barrier (a
 * lock-free VM's CAS on a shared field): if *slot equals *expected, stores
 * desired and returns 1; otherwise stores the slot's current value into
 * *expected and returns 0. Acquire-release on success, acquire on failure
 * (C11's atomic_compare_exchange_strong_explicit with those orders). A
 * failed CAS stores nothing and records nothing. */
static inline int gc_write_barrier_cas(gc_mutator* m, void* obj, void** slot,
                                       void** expected, void* desired) {
#if defined(GCHEAP_DEBUG) && GCHEAP_DEBUG
  return gc_write_barrier_cas_slow(m, obj, slot, expected, desired);
#else
  if (__atomic_load_n(&((gc_mutator_head_*)m)->wb_enabled, __ATOMIC_RELAXED)) {
    return gc_write_barrier_cas_slow(m, obj, slot, expected, desired);
  }
  (void)obj;
  return __atomic_compare_exchange_n(slot, expected, desired, 0,
                                     __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
#endif
}

/* Atomically stores value into the pointer-capable slot of obj and returns
 * the value it replaced, with the barrier (acquire-release). */
static inline void* gc_write_barrier_exchange(gc_mutator* m, void* obj,
                                              void** slot, void* value) {
#if defined(GCHEAP_DEBUG) && GCHEAP_DEBUG
  return gc_write_barrier_exchange_slow(m, obj, slot, value);
#else
  if (__atomic_load_n(&((gc_mutator_head_*)m)->wb_enabled, __ATOMIC_RELAXED)) {
    return gc_write_barrier_exchange_slow(m, obj, slot, value);
  }
  (void)obj;
  return __atomic_exchange_n(slot, value, __ATOMIC_ACQ_REL);
#endif
}

/* Word-by-word move of n slots, as memmove: the ranges may overlap. Every
 * word is read and written with an atomic (acquire load, release store),
 * so a concurrent marker, or another thread's atomic operations on the
 * same slots, never see a torn word, and an object published through a
 * slot stays published through the copy. Not part of the API. */
static inline void gc_move_slots_(void** dst, void* const* src, size_t n) {
  size_t i;
  if ((uintptr_t)dst <= (uintptr_t)src) {
    for (i = 0; i < n; i++) {
      __atomic_store_n(&dst[i], __atomic_load_n(&src[i], __ATOMIC_ACQUIRE),
                       __ATOMIC_RELEASE);
    }
  } else {
    for (i = n; i-- > 0;) {
      __atomic_store_n(&dst[i], __atomic_load_n(&src[i], __ATOMIC_ACQUIRE),
                       __ATOMIC_RELEASE);
    }
  }
}

/* The bulk barrier: copies n words from src to dst with memmove semantics
 * (the ranges may overlap), where dst..dst+n are pointer-capable slots of
 * the heap object dst_obj and src is any memory (a heap object, a C
 * array). For array copies, shifting elements within an array, and moving
 * a growing vector's contents into its new storage. While a cycle marks,
 * every overwritten value and every copied value is recorded. n may be 0. */
static inline void gc_write_barrier_copy(gc_mutator* m, void* dst_obj,
                                         void** dst, void* const* src,
                                         size_t n) {
#if defined(GCHEAP_DEBUG) && GCHEAP_DEBUG
  gc_write_barrier_copy_slow(m, dst_obj, dst, src, n);
#else
  if (__atomic_load_n(&((gc_mutator_head_*)m)->wb_enabled, __ATOMIC_RELAXED)) {
    gc_write_barrier_copy_slow(m, dst_obj, dst, src, n);
    return;
  }
  (void)dst_obj;
  gc_move_slots_(dst, src, n);
#endif
}

/* Out-of-line part of gc_safepoint. */
void gc_safepoint_slow(gc_mutator* m);

/* A cheap poll: one load and a predictable branch. The first word of every
 * gc_mutator is its poll flag, set when a collection wants this thread. */
GC_FAST_PATH_ void gc_safepoint(gc_mutator* m) {
  if (__atomic_load_n(&((gc_mutator_head_*)m)->poll, __ATOMIC_RELAXED) != 0) {
    gc_safepoint_slow(m);
  }
}

/* The inline allocation fast paths (see gc_mutator_head_): a bump of the
 * mutator's allocation window for its size class when nothing else is
 * needed, else the out-of-line function. No lock, no atomic
 * read-modify-write (the bump is a release store), no call. Debug builds
 * (GCHEAP_DEBUG) always call the out-of-line functions, which check the
 * mutator. */
/* Step 4 of the allocation fast path: hands out the window's slot p (its
 * next, read by the caller and below its end). A scan window (scan != 0)
 * records the slot's type first unless it is the window's mono type, and
 * returns NULL, having written nothing, when it is not and the window has
 * no tags (the caller calls the out-of-line function); then next advances
 * with a release store. The one place the bump is written: gcheap's inline
 * paths below and libgc.so.1's (runtime/boehm/boehm.cc, AllocFast) call it
 * (heap/mcache.h's AllocWindow::TakeTyped is the same in C++). */
GC_FAST_PATH_ void* gc_alloc_window_take_(gc_alloc_window_* w, uintptr_t p,
                                          int scan, uint16_t type) {
  if (scan && type != w->mono) {
    uint16_t* const t = w->types;
    if (t == NULL) return NULL;
    __atomic_store_n(t, type, __ATOMIC_RELAXED);
    w->types = t + 1;
  }
  __atomic_store_n(&w->next, p + w->size, __ATOMIC_RELEASE);
  return (void*)p;
}

GC_FAST_PATH_ void* gc_alloc_inline_(gc_mutator* m, gc_type_id type,
                                     size_t bytes) {
#if !(defined(GCHEAP_DEBUG) && GCHEAP_DEBUG)
  gc_mutator_head_* h = (gc_mutator_head_*)m;
  if (__atomic_load_n(&h->poll, __ATOMIC_RELAXED) == 0 && type <= 0xffff &&
      bytes - 1 < GC_INLINE_ALLOC_MAX_) {
    const uint32_t min = h->alloc_type_min[type];
    if (min != 0 && bytes + 1 >= min) {
      gc_alloc_window_* w =
          &h->alloc_windows[(size_t)h->alloc_size_class[(bytes + 7) >> 3] * 2];
      const uintptr_t p = w->next;
      if (p < w->end) {
        void* const obj = gc_alloc_window_take_(w, p, 1, (uint16_t)type);
        if (obj != NULL) return obj;
      }
    }
  }
#endif
  return gc_alloc(m, type, bytes);
}

GC_FAST_PATH_ void* gc_alloc_noscan_inline_(gc_mutator* m, size_t bytes) {
#if !(defined(GCHEAP_DEBUG) && GCHEAP_DEBUG)
  gc_mutator_head_* h = (gc_mutator_head_*)m;
  if (__atomic_load_n(&h->poll, __ATOMIC_RELAXED) == 0 &&
      bytes - 16 <= GC_INLINE_ALLOC_MAX_ - 16) {
    gc_alloc_window_* w =
        &h->alloc_windows[(size_t)h->alloc_size_class[(bytes + 7) >> 3] * 2 +
                          1];
    const uintptr_t p = w->next;
    if (p < w->end) return gc_alloc_window_take_(w, p, 0, 0);
  }
#endif
  return gc_alloc_noscan(m, bytes);
}

/* Calls through these names use the inline paths; (gc_alloc)(...) and a
 * function pointer reach the out-of-line functions. (Variadic, so that an
 * argument with a comma, such as a C++ template argument list, passes.) */
#define gc_alloc(...) gc_alloc_inline_(__VA_ARGS__)
#define gc_alloc_noscan(...) gc_alloc_noscan_inline_(__VA_ARGS__)

/* Brackets a blocking call: between the two, the thread counts as stopped
 * for collections and must not touch heap objects or call gc_ functions
 * that take m (other than gc_enter_blocking and gc_leave_blocking). With
 * conservative stacks it must not manipulate heap pointers either (see the
 * threading contract): its stack and registers are scanned as they were at
 * gc_enter_blocking, possibly by another thread while it is blocked.
 * Brackets nest: the thread counts as stopped from the first enter until
 * the leave that matches it, however many brackets open and close inside.
 * A gc_leave_blocking without a matching gc_enter_blocking is API misuse
 * and aborts with a message (in every build). */
void gc_enter_blocking(gc_mutator* m);
void gc_leave_blocking(gc_mutator* m);

/* ---- handles: cheap local roots (V8's HandleScope) ----
 *
 * Each mutator has a stack of handle slots. gc_handle_new(m, obj) stores
 * obj in the next slot and returns the slot: a root of m, read and written
 * directly by the program (it is a root: no barrier), that keeps its value
 * alive until the enclosing scope closes. A scope saves the top of the
 * stack (gc_handle_scope_open) and restores it (gc_handle_scope_close),
 * releasing every handle made since. Scopes nest and close in LIFO order;
 * debug builds (GCHEAP_DEBUG) abort on a scope closed out of order or by
 * another thread and fill released slots with a poison pattern. Handles
 * made outside any scope live until the thread detaches. A handle, like
 * its scope, belongs to its thread: only that thread reads or writes it.
 *
 * The three functions are inline: no lock and no call, except when the
 * current block of GC_HANDLE_BLOCK_SLOTS slots is full (gc_handle_new then
 * moves to the next block, allocating it the first time). Blocks stay with
 * the mutator until it detaches, so a thread that once needed many handles
 * allocates nothing the next time. The collector scans a mutator's handles
 * in its per-thread snapshot (docs/collector.md), like its stack. */

#define GC_HANDLE_BLOCK_SLOTS 254

/* One block of handle slots (2 KiB). Not part of the API. */
typedef struct gc_handle_block_ {
  struct gc_handle_block_* prev; /* the block below, or NULL */
  struct gc_handle_block_* next; /* the block above (a spare), or NULL */
  void* slots[GC_HANDLE_BLOCK_SLOTS];
} gc_handle_block_;

/* A saved handle-stack top: fill with gc_handle_scope_open. */
typedef struct gc_handle_scope {
  void** saved_top;
  void* saved_block;
} gc_handle_scope;

/* Out-of-line parts: a full block; and, in debug builds, every call. */
void** gc_handle_new_slow(gc_mutator* m, void* obj);
void gc_handle_scope_close_slow(gc_mutator* m, gc_handle_scope* s);

/* Saves m's handle-stack top in *s. */
GC_FAST_PATH_ void gc_handle_scope_open(gc_mutator* m, gc_handle_scope* s) {
  gc_mutator_head_* h = (gc_mutator_head_*)m;
  s->saved_top = h->handle_top;
  s->saved_block = h->handle_block;
}

/* Releases every handle made since the matching gc_handle_scope_open. */
GC_FAST_PATH_ void gc_handle_scope_close(gc_mutator* m, gc_handle_scope* s) {
#if defined(GCHEAP_DEBUG) && GCHEAP_DEBUG
  gc_handle_scope_close_slow(m, s);
#else
  gc_mutator_head_* h = (gc_mutator_head_*)m;
  gc_handle_block_* b = (gc_handle_block_*)s->saved_block;
  h->handle_block = b;
  h->handle_top = s->saved_top;
  h->handle_limit = b->slots + GC_HANDLE_BLOCK_SLOTS;
#endif
}

/* A new handle of m holding obj (any value: a pointer, NULL, an
 * immediate); returns its slot. Not a safepoint. Returns NULL only if a new
 * block cannot be allocated (out of memory; gc_last_error() says so). */
GC_FAST_PATH_ void** gc_handle_new(gc_mutator* m, void* obj) {
#if defined(GCHEAP_DEBUG) && GCHEAP_DEBUG
  return gc_handle_new_slow(m, obj);
#else
  gc_mutator_head_* h = (gc_mutator_head_*)m;
  void** slot = h->handle_top;
  if (slot == h->handle_limit) return gc_handle_new_slow(m, obj);
  *slot = obj;
  h->handle_top = slot + 1;
  return slot;
#endif
}

/* ---- generated code ----
 *
 * Where m's two flags live, for a JIT that inlines the safepoint poll and
 * the barrier's test itself (docs/embedding.md, "Generated code"). Both
 * are 32-bit words that generated code reads with relaxed loads and never
 * writes:
 *  - the safepoint flag: nonzero when a collection wants this thread; the
 *    code then calls gc_safepoint_slow(m) (what gc_safepoint does);
 *  - the barrier flag: nonzero while a concurrent cycle marks; a store
 *    into a pointer slot then takes the recording path of gc_write_barrier
 *    (or calls gc_write_barrier_slow).
 * The addresses are fixed for as long as m is attached (a JIT may embed
 * them in the code it generates for m's thread); after gc_thread_detach
 * they may belong to another thread's mutator. Both lie inside m, at
 * offsets that are part of the ABI (they change only with
 * GCHEAP_VERSION_MAJOR). A non-mutator m is API misuse and aborts. */
const uint32_t* gc_mutator_safepoint_flag_address(gc_mutator* m);
const uint32_t* gc_mutator_barrier_flag_address(gc_mutator* m);

/* ---- statistics ---- */

#define GC_NUM_SIZE_CLASSES 68
#define GC_PAUSE_BUCKETS 32

typedef struct gc_size_class_stats {
  uint32_t object_size; /* slot size; 0 for the large-object class */
  uint64_t allocated;   /* objects allocated, cumulative */
  uint64_t freed;       /* objects freed, cumulative */
} gc_size_class_stats;

typedef struct gc_stats {
  size_t struct_size;         /* set by the caller: sizeof(gc_stats) */
  uint64_t bytes_in_use;      /* object bytes (slot-rounded) live or not yet
                                 collected; exact right after gc_collect */
  uint64_t bytes_allocated;   /* cumulative bytes allocated */
  uint64_t heap_bytes;        /* bytes of in-use spans */
  uint64_t mapped_bytes;      /* committed heap memory */
  uint64_t released_bytes;    /* committed but returned to the OS */
  uint64_t heap_goal;         /* next automatic collection at this size */
  uint64_t objects_allocated; /* cumulative */
  uint64_t objects_freed;     /* cumulative */
  uint64_t live_objects;      /* marked by the last collection */
  uint64_t live_bytes;        /* marked by the last collection */
  uint64_t cycles;
  uint64_t pause_total_ns;
  uint64_t pause_last_ns;
  uint64_t pause_max_ns;
  uint64_t pause_hist[GC_PAUSE_BUCKETS]; /* bucket i: pauses < 2^i us */
  uint64_t stw_pauses;                   /* individual stop-the-world pauses */
  uint64_t mark_ns_total;                /* clock time of marking */
  uint64_t assist_ns_total;      /* mutator time spent in mark assists */
  uint64_t bg_mark_cpu_ns_total; /* background mark workers' CPU time */
  uint64_t cpu_limiter_engaged;  /* times the GC CPU limiter switched on */
  uint64_t pause_p50_ns; /* per-cycle pause, median of the last 256 cycles */
  uint64_t pause_p99_ns; /* ... 99th percentile (nearest rank) */
  uint64_t scan_bytes_total; /* bytes of objects scanned by marking */
  gc_size_class_stats by_class[GC_NUM_SIZE_CLASSES];
  uint64_t release_failures; /* runs of free memory the OS refused to take
                                back (locked pages, mlockall): kept
                                resident, and cleared when reused */
  /* ---- since weak references (cumulative) ---- */
  uint64_t weak_cleared;       /* weak handles and weak slots cleared */
  uint64_t ephemerons_cleared; /* ephemerons cleared (their key died) */
  uint64_t ephemeron_wait_ops; /* ephemerons appended to a key's wait list
                                  plus ephemerons taken from one: at most
                                  twice the ephemerons marked per cycle,
                                  whatever the shape of their chains */
} gc_stats;

/* Fills the part of *out that out->struct_size covers (set it first:
 *   gc_stats s; s.struct_size = sizeof(s); gc_get_stats(heap, &s);
 * ), then sets out->struct_size to the bytes filled. A struct_size below
 * 16 or not a multiple of 8 (uninitialized?) aborts with a message. */
void gc_get_stats(gc_heap* heap, gc_stats* out);

/* Contention counters: how often the allocator's and the collector's
 * shared structures were used and found busy, cumulative since the heap
 * was created. The benchmarks in tools/ report them per GiB allocated
 * (docs/benchmarks.md): a count per GiB is the same on any machine for the
 * same work, so it shows what will contend on a machine with many cores
 * even when measured on few. A "wait" is an acquisition that found its
 * lock held; a "retry" a lock-free operation that had to repeat. Reading
 * takes no lock that allocation takes. Versioned like gc_stats (set
 * struct_size first). Provisional: these may move into a wider counters
 * snapshot. */
typedef struct gc_perf_counters {
  size_t struct_size;
  uint64_t spanset_ops;        /* pushes and pops on the central span sets */
  uint64_t spanset_contended;  /* ... that found another in the way: a failed
                                  compare-and-swap of the lock-free set */
  uint64_t heap_locks;         /* acquisitions of the page heap's lock */
  uint64_t heap_lock_waits;    /* ... that waited */
  uint64_t sweep_lockers;      /* atomic adds to the heap's sweep state */
  uint64_t refills;            /* span refills of per-thread caches */
  uint64_t refills_heap_lock;  /* ... that took a fresh span from the page
                                  heap (its lock) */
  uint64_t heap_live_updates;  /* atomic adds to the live-heap counter */
  uint64_t large_allocs;       /* objects over 32 KiB (a span each) */
  uint64_t marked_objects;     /* by all finished cycles */
  uint64_t mark_races;         /* mark bits found clear, then set by another
                                  marker first (the atomic OR lost) */
  uint64_t pool_ops;           /* mark work-pool lock acquisitions */
  uint64_t pool_waits;         /* ... that waited */
  uint64_t pool_steals;        /* full work buffers taken from the pool */
  uint64_t refills_empty_span; /* refills that reused a span the sweep
                                  found empty (no heap lock) */
} gc_perf_counters;

/* Fills the part of *out that out->struct_size covers and sets
 * struct_size to the bytes filled (as gc_get_stats). */
void gc_get_perf_counters(gc_heap* heap, gc_perf_counters* out);

/* What one collection cycle did; passed to the cycle hook. Pauses are
 * counted as Go counts them: from the request to stop the world until
 * every mutator may run again. */
typedef struct gc_cycle_info {
  size_t struct_size; /* bytes the library filled: sizeof(gc_cycle_info) of
                         the library, which may be older than your header
                         (check GC_HAS_FIELD for fields added later) */
  uint64_t cycle;
  int concurrent;          /* marked concurrently (else stop-the-world) */
  int reason;              /* 0 explicit, 1 heap goal, 2 allocation failure */
  int cpu_limited;         /* the GC CPU limiter was on at the end */
  uint32_t pauses;         /* stop-the-world pauses in this cycle */
  uint64_t start_ns;       /* since the heap was created */
  uint64_t pause_ns;       /* sum of the cycle's pauses */
  uint64_t pause1_ns;      /* first pause: sweep termination, roots */
  uint64_t pause2_ns;      /* final pause: mark termination */
  uint64_t mark_ns;        /* clock time of concurrent marking */
  uint64_t assist_ns;      /* mutator time in mark assists */
  uint64_t bg_mark_cpu_ns; /* background mark workers' CPU time */
  int idle_worker;         /* the idle mark worker was offered a processor:
                              one was left over after the running
                              mutators and the 25% of gc_workers */
  uint64_t scan_bytes;     /* bytes of objects scanned */
  uint64_t heap_before;    /* heap in use when the cycle began */
  uint64_t heap_end;       /* ... when marking ended */
  uint64_t live_bytes;     /* marked */
  uint64_t live_objects;
  uint64_t heap_goal; /* next cycle's goal (0: none) */
  uint64_t trigger;   /* next cycle starts here (concurrent mode) */
} gc_cycle_info;
/* Called after every cycle once the world runs again, on the collector's
 * driver thread (the thread that runs every cycle, in both modes). The
 * hook must be quick and must not call gc_ functions on this heap. NULL
 * removes it. */
typedef void (*gc_cycle_hook_fn)(const gc_cycle_info* info, void* data);
void gc_set_cycle_hook(gc_heap* heap, gc_cycle_hook_fn fn, void* data);

/* ---- weak references ----
 *
 * A weak reference names an object without keeping it alive. It reads as
 * the object while the object lives and as NULL once it has been found
 * dead; a read never returns an object that the collector then frees, in
 * either collector mode and in any phase (docs/collector.md, "Weak
 * references", says why). Two clearing points:
 *   GC_WEAK_SHORT  cleared when the object is no longer strongly reachable,
 *                  before any finalizer of it runs (Go's weak.Pointer,
 *                  Java's WeakReference, JavaScript's WeakRef, Boehm's
 *                  short disappearing link);
 *   GC_WEAK_LONG   cleared only when the object is freed, i.e. after its
 *                  finalizer (if any) ran and did not resurrect it (Boehm's
 *                  long link, Java's phantom-reachability point).
 * Without finalizers the two are the same. A successful read returns a
 * strong reference: like a pointer loaded from a field, it must be
 * reachable from a root at the thread's next safepoint if it is still
 * needed. (JavaScript's rule that a WeakRef target read in a job stays
 * alive until the job ends is the embedder's: root what was read.) */
typedef struct gc_weak gc_weak; /* an off-heap weak cell */
#define GC_WEAK_SHORT 0         /* cleared when not strongly reachable */
#define GC_WEAK_LONG 1          /* cleared when freed */

/* Creates a weak handle holding obj (NULL, or a pointer into an object of
 * m's heap: an interior pointer keeps naming that object, and a read
 * returns the pointer given, as Go's weak.Make does). kind: GC_WEAK_SHORT
 * or GC_WEAK_LONG. Returns NULL with gc_last_error() set for an obj that is
 * not an object of this heap, a bad kind, or out of memory. The handle
 * lives until gc_weak_destroy (destroy every handle before its heap); it
 * may be read, retargeted and destroyed from any thread attached to the
 * heap, but not concurrently with its own destruction. A handle made (or
 * retargeted) after a cycle revived obj (finalization: the object came back
 * through its finalizer, a guardian or another revived object) is kept by
 * that cycle even before its sweep: only earlier short handles lose it. */
gc_weak* gc_weak_create(gc_mutator* m, void* obj, int kind);
/* The object, or NULL once it was found dead (or the handle holds NULL).
 * Cost: a load and a branch while the heap is fully swept; one buffered
 * shade while a cycle marks; a lock while spans are being swept. */
void* gc_weak_get(gc_mutator* m, gc_weak* w);
/* Retargets w at obj (NULL or an object of this heap; anything else is API
 * misuse and aborts). A concurrent gc_weak_get sees the old object, NULL
 * or the new one. */
void gc_weak_set(gc_mutator* m, gc_weak* w, void* obj);
/* Destroys w (NULL: nothing). */
void gc_weak_destroy(gc_mutator* m, gc_weak* w);

/* Weak slots: words of heap objects declared weak in their type
 * (gc_type_desc.weak_bitmap and weak_kind) or reported by a trace callback
 * with gc_trace_weak. A weak slot holds NULL, a pointer into an object of
 * this heap or any non-pointer word, like a pointer slot, but does not keep
 * its object alive: the collector stores NULL into it when the object dies
 * (short: when it is no longer strongly reachable; long: when it is freed),
 * with a compare-and-swap, so a value stored since is kept. Read and write
 * weak slots only with these two (never with gc_write_barrier, which would
 * treat the slot as strong, nor by plain loads, which may see an object the
 * cycle is about to free): */
/* The object in the weak slot `slot` of obj (the read rules of
 * gc_weak_get, with obj's type's weak_kind), or NULL once it was found
 * dead; a non-pointer word is returned as it is. */
void* gc_weak_load(gc_mutator* m, void* obj, void** slot);
/* Stores value (NULL, an object of this heap, or a non-pointer word) into
 * the weak slot `slot` of obj (a release store; no barrier is needed: a
 * weak slot keeps nothing alive, and the value is held by the caller).
 * Like gc_weak_create, a store made after a cycle revived value's object
 * (finalization) is a new reference: that cycle never clears it. */
void gc_weak_store(gc_mutator* m, void* obj, void** slot, void* value);
/* In a trace callback: reports slot, a weak slot of the object being
 * traced, of kind GC_WEAK_SHORT or GC_WEAK_LONG (the marker records it;
 * nothing traces it). visit_ctx is the callback's own visit_ctx argument;
 * calling it with anything else is API misuse and aborts. */
void gc_trace_weak(void* visit_ctx, void** slot, int kind);

/* ---- custom weak callbacks ----
 *
 * Weak structures the heap does not know (an off-heap table keyed by
 * objects, a cache, the embedder weak tables of V8, cppgc's
 * RegisterWeakCallback) are cleared by the embedder's own code at the point
 * where the cycle's liveness is final: a weak callback runs once per cycle
 * in the final pause (the world stopped, on the thread running the cycle),
 * after marking and after the finalization decision, before anything is
 * swept. Inside it, gc_is_live answers for any object of the heap:
 *   GC_WEAK_SHORT  strongly reachable (the short clearing point: an
 *                  object kept only for its finalizer, or a guardian, is
 *                  dead here, as gc_weak_get would return NULL for it);
 *   GC_WEAK_LONG   survives this cycle (kept for finalization included;
 *                  dead means it is about to be freed).
 * Objects allocated while the cycle marked read live (allocated black).
 * A callback may read and clear its own off-heap structures and store NULL
 * (or an object gc_is_live reports live) into fields of live objects with
 * plain stores: marking is over and the write barrier is off, so no
 * barrier is needed or allowed. It must not allocate, collect, attach,
 * take a lock that a mutator may hold at a safepoint (a mutator stopped
 * there would never let go), or call any gc_* function but gc_is_live.
 * Every entry that names an object dead by the rule the structure follows
 * must be dropped in that cycle's callback: the object is freed after it.
 * Mutators that read pointers out of such a structure read them through
 * gc_weak_read (the read barrier that makes a concurrent mark see them). */
typedef void (*gc_weak_callback_fn)(gc_heap* heap, void* data);
/* Adds fn(heap, data) to the callbacks run in every cycle from the next
 * final pause on (a pair may be added more than once; it then runs as
 * often). Returns 0, or -1 with gc_last_error() (fn NULL). Any thread, but
 * not from inside a weak callback (API misuse: aborts). */
int gc_add_weak_callback(gc_heap* heap, gc_weak_callback_fn fn, void* data);
/* Removes one registration of (fn, data). Returns 0, or -1 with
 * gc_last_error() if there is none. When it returns, fn is not running and
 * will not run again for it (it waits for the callbacks of a pause in
 * progress). From inside a weak callback it is API misuse and aborts. */
int gc_remove_weak_callback(gc_heap* heap, gc_weak_callback_fn fn, void* data);
/* In a trace callback: registers fn(heap, data) for this cycle only (the
 * object being traced is live; cppgc's visitor->RegisterWeakCallback). It
 * runs in this cycle's final pause, after the persistent callbacks. An
 * object allocated while the cycle marked is never traced that cycle, so
 * it registers nothing then. visit_ctx: the callback's own; other visits
 * (the verifier, heap walks) ignore it. */
void gc_trace_weak_callback(void* visit_ctx, gc_weak_callback_fn fn,
                            void* data);
/* Only inside a weak callback of this heap (else API misuse: aborts): 1 if
 * obj (a pointer into an object of the heap, interior ones included) is
 * live by kind's rule above, 0 if it is dead; -1 with gc_last_error() if
 * obj is not in an object of this heap. kind: GC_WEAK_SHORT or
 * GC_WEAK_LONG (anything else aborts). */
int gc_is_live(gc_heap* heap, const void* obj, int kind);
/* The read barrier for a pointer read out of a structure a weak callback
 * clears: returns obj, now a strong reference the caller must root before
 * its next safepoint, or NULL when the structure's entry must be treated
 * as already cleared (kind GC_WEAK_SHORT, read after strong marking ended,
 * obj not strongly reachable: the coming callback drops it). While a
 * concurrent cycle marks, it shades obj (the stacks were scanned at the
 * cycle's start, so an object found only through the structure would
 * otherwise be freed under the reader). Not a safepoint: read the entry
 * and call this with no safepoint in between (the object may be freed at
 * the next one if nothing holds it). obj: NULL or an object the structure
 * holds (kept by the callbacks' rule until then). */
void* gc_weak_read(gc_mutator* m, void* obj, int kind);

/* ---- ephemerons ----
 *
 * An ephemeron is a built-in heap object {key, value, next}: value is kept
 * alive only while key is (marked by something other than the ephemeron's
 * own value: a value that refers back to its key does not keep the pair),
 * and next is an ordinary strong field for chaining entries, e.g. the
 * buckets of a weak-keyed hash table (JavaScript's WeakMap, Lua's tables
 * with weak keys). When key dies the collector clears the ephemeron (key
 * and value := NULL). A key that is NULL or not a heap object (an
 * immediate) makes a strong pair. A key kept only by finalization
 * (revived) counts as alive: its entry goes only when the key is freed.
 * Processing is concurrent and linear in the number of ephemerons, whatever
 * the shape of their chains; the final pause does not grow with them.
 * Read and write an ephemeron's fields only with these functions: */
/* A new ephemeron (24 bytes); NULL with gc_last_error() on failure. A
 * safepoint, like gc_alloc: key and value must be rooted across it. */
void* gc_ephemeron_new(gc_mutator* m, void* key, void* value);
/* The key (the read rules of a GC_WEAK_LONG weak reference), or NULL once
 * the entry was cleared. */
void* gc_ephemeron_key(gc_mutator* m, void* eph);
/* The value, or NULL if the key is dead or the entry cleared. A value read
 * while a cycle marks keeps its key alive too. */
void* gc_ephemeron_value(gc_mutator* m, void* eph);
/* Stores value (a barriered store). Setting the value of an entry whose
 * key may be dead but not yet cleared may leave a pair with a NULL key and
 * that value: strong. */
void gc_ephemeron_set_value(gc_mutator* m, void* eph, void* value);
void* gc_ephemeron_next(gc_mutator* m, void* eph);
void gc_ephemeron_set_next(gc_mutator* m, void* eph, void* next);
/* key, value := NULL (the entry is removed from its table's view). */
void gc_ephemeron_clear(gc_mutator* m, void* eph);
/* Whether obj is an ephemeron of heap (0 for NULL or anything else). */
int gc_is_ephemeron(gc_heap* heap, const void* obj);

/* ---- finalization ----
 *
 * Finalizers (Go's runtime.SetFinalizer, Boehm's GC_register_finalizer):
 * fn(m, obj, data) runs once after obj becomes unreachable. It gets the
 * object, intact, with everything it reaches: resurrection is allowed (if
 * fn stores obj somewhere reachable it lives on, with no finalizer unless
 * registered again). Before fn runs, every GC_WEAK_SHORT reference to obj
 * or to what only it reaches has been cleared; GC_WEAK_LONG ones and
 * ephemerons keyed by them stay until the objects are freed. The decision
 * is taken when a cycle has found what is reachable (Boehm's order):
 *   GC_FINALIZE_ORDERED      (the default of Go and Boehm) if A reaches B
 *                            and both are unreachable and finalizable, A is
 *                            finalized first and B only in a later cycle,
 *                            so a finalizer never sees a finalized object.
 *                            A cycle of such objects is never finalized (a
 *                            leak, as in Go and Boehm; an object that
 *                            reaches itself included).
 *   GC_FINALIZE_UNORDERED    (Boehm's _no_order, Java) does not hold back
 *                            what it reaches; cycles of them are finalized.
 *                            It is held back itself while an unreachable
 *                            ordered object reaches it.
 *   GC_FINALIZE_IGNORE_SELF  ordered, but the object's own pointers to
 *                            itself do not count (Boehm's _ignore_self);
 *                            an ephemeron's do (its key, value and next
 *                            are scanned by the ephemeron rule, as when
 *                            it is reachable).
 *   GC_FINALIZE_UNREACHABLE  ordered, and also held back while an object
 *                            made ready in the same cycle reaches it (an
 *                            unordered one included): it runs only once
 *                            no finalizer can bring it back (Boehm's
 *                            GC_register_finalizer_unreachable).
 * Ready finalizers run on the heap's finalizer thread (gc_config.
 * finalizer_thread) or when the embedder calls gc_run_finalizers; until
 * one has run, its object is a root. */
#define GC_FINALIZE_ORDERED 0
#define GC_FINALIZE_UNORDERED 1
#define GC_FINALIZE_IGNORE_SELF 2
#define GC_FINALIZE_UNREACHABLE 3
typedef void (*gc_finalizer_fn)(gc_mutator* m, void* obj, void* data);
/* Registers (or, with fn == NULL, removes) obj's finalizer; a second
 * registration (a finalizer or a guardian's) replaces the first. obj: a
 * pointer into an object of m's heap; fn gets it back as given. Returns 0,
 * or -1 with gc_last_error() set (obj not an object of this heap, a bad
 * mode). */
int gc_register_finalizer(gc_mutator* m, void* obj, gc_finalizer_fn fn,
                          void* data, int mode);

/* Cleanups (Go's runtime.AddCleanup, JavaScript's FinalizationRegistry):
 * fn(m, arg) runs after obj was freed; it never sees obj, so it cannot
 * resurrect it, and arg is not traced (it must not be what keeps obj).
 * An object may have many; they run on the finalizer thread or in
 * gc_run_finalizers, like finalizers. */
typedef struct gc_cleanup gc_cleanup;
typedef void (*gc_cleanup_fn)(gc_mutator* m, void* arg);
/* Returns a handle for gc_cancel_cleanup, or NULL with gc_last_error()
 * (fn NULL, obj not an object of this heap, out of memory). The handle is
 * valid until the cleanup has run or was cancelled. */
gc_cleanup* gc_add_cleanup(gc_mutator* m, void* obj, gc_cleanup_fn fn,
                           void* arg);
/* Cancels c before it ran (also once its object was freed and it waits to
 * run); after it ran, or while it runs, c is gone: that is API misuse. */
void gc_cancel_cleanup(gc_mutator* m, gc_cleanup* c);

/* Guardians (Guile, Whippet): when an object registered with a guardian
 * would be finalized, it is instead queued in the guardian, revived, and
 * handed back by gc_guardian_pop as an ordinary object the mutator then
 * owns (a registration is used once). The order and the weak references
 * follow the finalizer rules. Queued objects are roots. What a cycle makes
 * ready (guardians' objects and finalizers alike) is handed back once that
 * cycle has ended, never while it still marks. */
typedef struct gc_guardian gc_guardian;
/* NULL with gc_last_error() if out of memory. */
gc_guardian* gc_guardian_create(gc_heap* heap);
/* Removes its registrations and drops the objects it holds. */
void gc_guardian_destroy(gc_guardian* g);
/* Registers obj (replacing any finalizer or guardian registration of it).
 * Returns 0, or -1 with gc_last_error() set. */
int gc_guardian_register(gc_mutator* m, gc_guardian* g, void* obj, int mode);
/* The next object handed back (the pointer given at registration), or
 * NULL. Root it before the next safepoint to keep it. */
void* gc_guardian_pop(gc_mutator* m, gc_guardian* g);

/* Runs every ready finalizer and cleanup on the calling thread (newly
 * ready ones too, until none is left); returns how many ran. Also allowed
 * with the finalizer thread on. A finalizer may call it. It is a
 * safepoint: it polls after every finalizer and cleanup (so a long batch
 * never holds up a pause), and the finalizers may allocate. */
int gc_run_finalizers(gc_mutator* m);
/* Finalizers and cleanups ready and not yet started. */
size_t gc_finalizers_pending(gc_heap* heap);
/* Called when finalizers or cleanups became ready since the last call: on
 * the collector's driver thread after a cycle, or on its background
 * sweeper thread after a sweep queued cleanups; no heap lock is held; it
 * must not call into the heap (it should wake the thread that will call
 * gc_run_finalizers). NULL removes it. */
typedef void (*gc_finalizer_notifier_fn)(gc_heap* heap, void* data);
void gc_set_finalizer_notifier(gc_heap* heap, gc_finalizer_notifier_fn fn,
                               void* data);

/* ---- counters without the heap lock ----
 *
 * gc_get_stats takes the heap lock (the one span refills take); a sampler
 * thread preempted while holding it delays every thread that needs a new
 * span. gc_get_counters reads only atomics: it never waits for the heap
 * and nothing waits for it, so a profiler may sample it as often as it
 * likes. Each field is exact as of some moment during the call; the fields
 * are not one consistent snapshot. */
typedef struct gc_counters {
  size_t struct_size;         /* set by the caller: sizeof(gc_counters) */
  uint64_t bytes_allocated;   /* cumulative, as gc_stats counts it: slots
                                 handed to a thread's cache are counted when
                                 it flushes (every cycle, at detach), large
                                 objects at once */
  uint64_t objects_allocated; /* cumulative, counted the same way */
  uint64_t cycles;            /* completed collection cycles */
  uint64_t heap_in_use;       /* object bytes in use (gc_stats.bytes_in_use) */
  uint64_t heap_goal;         /* next automatic collection at this size; 0:
                                 none */
  uint64_t live_bytes;        /* marked by the last cycle */
  uint64_t heap_bytes;        /* bytes of in-use spans */
} gc_counters;
/* Fills what out->struct_size covers (as gc_get_stats does) and sets it to
 * the bytes filled. Any thread; takes no lock. */
void gc_get_counters(gc_heap* heap, gc_counters* out);

/* ---- events ----
 *
 * A listener is a struct of function pointers (NULL: not interested) and a
 * user pointer, called at the moments a profiler, a tracer or the VM's own
 * telemetry needs. Several listeners may be installed; they are added and
 * removed at any time from any thread: once gc_remove_event_listener
 * returns, no call to that listener is in progress or will start, so its
 * data may be freed. While none is installed each moment costs one load
 * and a predictable branch.
 *
 * Every callback gets a gc_event: the kind, the time (steady clock, ns
 * since the heap was created: the clock of gc_cycle_info.start_ns), the OS
 * thread id of the thread it happened on, the cycle it belongs to
 * (1-based; 0 before the first), and the fields its kind uses (below).
 * Callbacks run on that thread: the collector's driver thread for the
 * cycle's moments (with the world stopped from stop_requested to
 * mutators_restarted), a mutator inside gc_alloc, gc_safepoint or a
 * blocking bracket, a mark worker, the background sweeper. So a callback
 * must be quick, must not call gc_ functions of this heap other than
 * gc_get_counters and the object queries, must not take locks a stopped
 * thread may hold, and must not add or remove listeners (that aborts).
 * No callback runs once process exit has begun.
 *
 *  kind                     fields
 *  CYCLE_START              detail: reason (as gc_cycle_info.reason);
 *                           bytes: heap in use; count: 1 concurrent
 *  PHASE                    detail: GC_PHASE_* the cycle enters (OFF is
 *                           not reported; MARK_FINALIZERS only in cycles
 *                           that have finalizer or guardian registrations)
 *  STOP_REQUESTED           count: which pause of the cycle (1, 2, ...)
 *  MUTATORS_STOPPED         ns: stop latency (request to all stopped)
 *  ROOTS_SCANNED            the heap's roots were taken (registered slots,
 *                           ranges and scanners, conservative ranges);
 *                           count: root values and ambiguous words taken
 *                           (concurrent mode; 0 in stop-the-world mode,
 *                           which marks as it scans). Each thread's own
 *                           roots (stack, handles, mutator scanners) are
 *                           scanned afterwards, by itself or the collector
 *                           (no event)
 *  HEAP_MARKED              bytes, count: marked bytes and objects (in
 *                           mark termination: objects the finalizer phase
 *                           revived included)
 *  MUTATORS_RESTARTED       ns: the pause (request to release); time: the
 *                           release
 *  CYCLE_END                (cycle_end also gets the gc_cycle_info)
 *  MUTATOR_ATTACHED/DETACHED count: attached threads now
 *  HEAP_RESIZED             detail: GC_RESIZE_*; bytes: the change;
 *                           address: the new arena; total_bytes: address
 *                           space reserved (ARENA_ADDED) or memory
 *                           released (MEMORY_RELEASED) now
 *  ACTIVITY_BEGIN/END       detail: GC_ACTIVITY_*; bytes (begin of
 *                           ALLOC_SLOW_PATH): the span or object size
 * A stop-the-world pause is STOP_REQUESTED .. MUTATORS_RESTARTED: its
 * length is exactly that event's ns, and the pauses of a cycle sum to its
 * gc_cycle_info.pause_ns. A concurrent cycle's finalizer phase
 * (MARK_FINALIZERS) ends strong marking's final pause by restarting the
 * world and has a final pause of its own (the one mark termination ends):
 * such a cycle has one more pause. Its marking reports MARK_WORKER
 * activities like MARK. Activities nest properly on
 * each thread; an END may come without its BEGIN when the listener was
 * added in between. Activities are reported only while some installed
 * listener has activity_begin or activity_end set: they come on hot paths
 * (every blocking bracket, every span refill), which a listener of the
 * other moments alone leaves at the cost of no listener. */
#define GC_EVENT_CYCLE_START 1
#define GC_EVENT_PHASE 2
#define GC_EVENT_STOP_REQUESTED 3
#define GC_EVENT_MUTATORS_STOPPED 4
#define GC_EVENT_ROOTS_SCANNED 5
#define GC_EVENT_HEAP_MARKED 6
#define GC_EVENT_MUTATORS_RESTARTED 7
#define GC_EVENT_CYCLE_END 8
#define GC_EVENT_MUTATOR_ATTACHED 9
#define GC_EVENT_MUTATOR_DETACHED 10
#define GC_EVENT_HEAP_RESIZED 11
#define GC_EVENT_ACTIVITY_BEGIN 12
#define GC_EVENT_ACTIVITY_END 13

#define GC_PHASE_OFF 0
#define GC_PHASE_SWEEP_TERMINATION 1
#define GC_PHASE_MARK 2
#define GC_PHASE_MARK_TERMINATION 3
#define GC_PHASE_SWEEP 4
#define GC_PHASE_MARK_FINALIZERS          \
  5 /* between MARK and MARK_TERMINATION, \
       only when finalizers or guardians  \
       are registered */

#define GC_RESIZE_ARENA_ADDED 1
#define GC_RESIZE_MEMORY_RELEASED 2

#define GC_ACTIVITY_ALLOC_SLOW_PATH 1 /* a span refill or a large object */
#define GC_ACTIVITY_ASSIST 2          /* a mark assist */
#define GC_ACTIVITY_SAFEPOINT_WAIT 3  /* parked for a stop of the world */
#define GC_ACTIVITY_BLOCKED                                             \
  4                               /* a blocking bracket (also while the \
                                     thread waits for a collection) */
#define GC_ACTIVITY_MARK_WORKER 5 /* a mark worker's part of a mark */
#define GC_ACTIVITY_SWEEP 6       /* a background sweeper round */

typedef struct gc_event {
  size_t struct_size; /* bytes the library filled */
  int kind;           /* GC_EVENT_* */
  int detail;
  uint64_t time_ns;
  uint64_t thread;
  uint64_t cycle;
  uint64_t ns;
  uint64_t bytes;
  uint64_t count;
  uint64_t total_bytes;
  uint64_t address;
} gc_event;

typedef void (*gc_event_fn)(const gc_event* e, void* data);
typedef struct gc_event_listener {
  size_t struct_size; /* sizeof(gc_event_listener): later versions append */
  gc_event_fn cycle_start;
  gc_event_fn phase;
  gc_event_fn stop_requested;
  gc_event_fn mutators_stopped;
  gc_event_fn roots_scanned;
  gc_event_fn heap_marked;
  gc_event_fn mutators_restarted;
  void (*cycle_end)(const gc_event* e, const gc_cycle_info* info, void* data);
  gc_event_fn mutator_attached;
  gc_event_fn mutator_detached;
  gc_event_fn heap_resized;
  gc_event_fn activity_begin;
  gc_event_fn activity_end;
} gc_event_listener;

/* Installs a listener: *listener is copied (the fields inside its
 * struct_size), and the pair (listener, data) names it for removal.
 * Returns 0, or -1 with gc_last_error() (NULL listener, a struct_size that
 * is no layout's, the pair already installed). */
int gc_add_event_listener(gc_heap* heap, const gc_event_listener* listener,
                          void* data);
/* Removes it; once this returns none of its callbacks runs. -1 with
 * gc_last_error() if it was not installed. */
int gc_remove_event_listener(gc_heap* heap, const gc_event_listener* listener,
                             void* data);

/* ---- running out of memory ---- */

/* Called on the allocating thread when an allocation is about to fail:
 * the heap hit its hard limit (max_heap_bytes) or the OS refused memory,
 * and a full collection and a retry did not help. bytes: the request. The
 * handler may free memory (drop the VM's caches: clear the references to
 * them) and return nonzero: the heap then collects and tries once more,
 * calling the handler again if that fails too. It may also leave: longjmp
 * to the VM's handler (to throw a language-level out-of-memory
 * exception); no lock is held and no cleanup is pending in gcheap's
 * frames at that point, and the thread's heap pointers must be rooted as
 * at any safepoint. Returning 0 makes the allocation fail (NULL, with
 * gc_last_error() saying why, already set when the handler runs). The
 * handler runs with the thread attached and running: it may allocate
 * (an allocation that fails inside it calls it again, nested) and
 * collect. NULL removes the handler. */
typedef int (*gc_oom_fn)(gc_heap* heap, size_t bytes, void* data);
void gc_set_oom_handler(gc_heap* heap, gc_oom_fn fn, void* data);

/* Called after each cycle whose live heap (the bytes it marked: what no
 * collection can free) is at least `fraction` of the hard limit
 * (max_heap_bytes) or, without one, of the soft limit
 * (memory_limit_bytes); never without a limit. heap_bytes: the live bytes;
 * limit: the limit it was compared to. A near-limit signal: a VM drops
 * caches or refuses work before allocation starts to fail. Runs on the
 * collector's driver thread after the cycle hook; the rules of the cycle
 * hook apply (quick; no gc_ calls on this heap but gc_get_counters).
 * fraction must be in (0, 1]; NULL removes the hook. */
typedef void (*gc_pressure_fn)(gc_heap* heap, uint64_t heap_bytes,
                               uint64_t limit, void* data);
void gc_set_memory_pressure_hook(gc_heap* heap, gc_pressure_fn fn, void* data,
                                 double fraction);

/* ---- object queries and heap walking ----
 *
 * The queries resolve any address, interior pointers included, from any
 * thread (attached or not) at any time, while mutators allocate and
 * collections run. An address "is in an object" when it lies inside an
 * allocated slot: not a free slot, not the unused tail of a span, not past
 * the requested size of a large object. An object the last collection
 * found unreachable still counts as allocated until its span is swept
 * (gc_collect sweeps everything before it returns); a query that races
 * with the sweep of its span answers as before the sweep (the dead object)
 * or as after it (nothing), never a mix. For an object the program can
 * still reach the answers are exact. Each query takes the heap lock for a
 * moment (the one span refills take): fine for debuggers, profilers and
 * assertions, too slow for a conservative scan of a large buffer. */

/* The base of the allocated object containing p, or NULL. A tiny
 * pointer-free object (gc_alloc_noscan under 16 bytes) shares a 16-byte
 * block with others: the block is the object the queries see. */
void* gc_object_base(gc_heap* heap, const void* p);
/* The size of that object's slot (its size class; for a large object, over
 * 32 KiB, the bytes requested), or 0 if p is in no object. */
size_t gc_object_size(gc_heap* heap, const void* p);
/* That object's type, or 0: p is in no object, or the object is
 * pointer-free (gc_alloc_noscan, or a noscan type: such types' ids are not
 * recorded per object). Objects of gc_alloc_conservative and
 * gc_ephemeron_new have the heap's built-in types (ids the embedder did not
 * register; gc_is_ephemeron tells an ephemeron). */
gc_type_id gc_object_type(gc_heap* heap, const void* p);
/* 1 if p points into memory the heap has given to objects: a span in use
 * (an object, a free slot, a span's tail), 0 otherwise (outside the heap,
 * or in free pages). Lock-free: a cheap filter before gc_object_base. */
int gc_is_heap_pointer(gc_heap* heap, const void* p);

/* Called for each allocated object; nonzero stops the walk. */
typedef int (*gc_walk_fn)(void* obj, size_t size, gc_type_id type, void* data);
/* Stops the world (a cycle in progress first finishes its pause), sweeps
 * whatever is left to sweep, and calls fn(obj, size, type, data) on the
 * calling thread for every allocated object, in address order within each
 * span (size and type as the queries give them). So it sees exactly the
 * objects that survived the last collection plus those allocated since.
 * fn runs with the world stopped: it may read objects and call the queries
 * above, but must not allocate, collect, poll, use barriers or take locks
 * a stopped thread may hold (debug builds abort if it allocates, polls or
 * collects). During a concurrent cycle the collector's mark workers go on
 * marking meanwhile (they only set mark bits). Returns 0 once every object
 * was visited, the nonzero value fn returned if it stopped the walk, or -1
 * with gc_last_error() set (fn is NULL; called on the thread that is
 * ending the process). */
int gc_heap_walk(gc_mutator* m, gc_walk_fn fn, void* data);

/* Writes a heap snapshot to path: JSON (format "gcheap-heap-snapshot",
 * documented in docs/heap-snapshot.md; tools/heapviz/heapviz.html draws
 * it): the arenas, every span (size class, scan or noscan, slots and
 * objects, sweep state, and marked objects when taken while a cycle
 * marks), the large objects, counts per size class and per type. Taken as
 * gc_heap_walk does (the world stopped, the sweep finished); the file is
 * written after the world restarts. Returns 0, or -1 with gc_last_error()
 * (the file cannot be written; on the thread that is ending the process).
 */
int gc_dump_heap(gc_mutator* m, const char* path);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* GCHEAP_RUNTIME_GC_H_ */
