// boehm_api_check: a multi-threaded program written against Boehm GC 8.2's
// public headers (gc.h with GC_THREADS, gc_typed.h, javaxfc.h) that checks
// the observable behaviour its clients rely on, on whatever libgc.so.1 the
// dynamic loader gives it. It is the acceptance program of issue 13: it
// must print the same transcript on Debian's libgc1 and on gcheap's
// drop-in libgc.so.1 (tests/boehm_clients/api_check_test.sh compares it
// with boehm_api_check.golden on both).
//
// Determinism. The transcript is one line per check, "ok   SECTION: WHAT",
// or "FAIL SECTION: WHAT" (the measured figures go to stderr only), then a
// count; the exit status is 1 if any check failed. Every line must be the
// same on any correct Boehm-compatible collector, however its conservative
// scanning happens to go, so each check is one of:
//   - exact, where Boehm promises an outcome: a reachable object is never
//     collected and its data stay intact; uncollectable objects and
//     objects reachable from roots are never finalized; finalizers of
//     objects on a finalizable cycle never run; an ordered finalizer of A
//     runs before that of B when A points to B; a short link is cleared
//     exactly for the objects whose finalizers became ready, a long link
//     only after the finalizer ran and the object stayed unreachable; return
//     codes; GC_disable stops every collection;
//   - a bound where Boehm promises only that much: a dropped object may be
//     kept by a stale word on a stack or in a register, so "at least 90%
//     of N dropped objects were reclaimed (finalized, link cleared)",
//     never "all".
// To keep such stale words rare, objects are made and dropped in separate
// noinline functions, the only references the program keeps to dropped
// objects are hidden (GC_HIDE_POINTER) in malloc'ed memory, which the
// collector does not scan, and ClearStack() zeroes the stack below the
// caller before each collection. Finalizers run only when the program calls
// GC_invoke_finalizers (finalize-on-demand is set before GC_INIT), except
// in the sections that test the default mode and GC_finalize_all, so they
// always run on the main thread at known points.
//
// The roots the program keeps live objects in are static arrays (the data
// segment of the program is a root, as Boehm promises) or the stacks of
// registered threads.
#define GC_NO_THREAD_REDIRECTS 1  // pthread_create stays the plain one.
#include <gc/gc.h>
#include <gc/gc_typed.h>
#include <gc/javaxfc.h>
#include <pthread.h>
#include <semaphore.h>
#include <unistd.h>

#include <atomic>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

#define NOINLINE __attribute__((noinline))

int g_checks = 0;
int g_failed = 0;

// One line on stderr: prefix, then fmt formatted with ap.
void StderrLine(const char* prefix, const char* fmt, va_list ap) {
  std::fputs(prefix, stderr);
  std::vfprintf(stderr, fmt, ap);
  std::fputc('\n', stderr);
}

// One transcript line; on failure the detail goes to stderr.
void Check(bool ok, const char* section, const char* what,
           const char* detail_fmt = nullptr, ...) {
  ++g_checks;
  std::printf("%s %s: %s\n", ok ? "ok  " : "FAIL", section, what);
  std::fflush(stdout);
  if (ok) return;
  ++g_failed;
  std::fprintf(stderr, "FAIL %s: %s%s", section, what,
               detail_fmt != nullptr ? ": " : "");
  va_list ap;
  va_start(ap, detail_fmt);
  StderrLine("", detail_fmt != nullptr ? detail_fmt : "", ap);
  va_end(ap);
}

// A measured figure that is not part of the transcript.
void Info(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  StderrLine("info: ", fmt, ap);
  va_end(ap);
}

// "At least 90% of n": the bound for reclaiming dropped objects.
bool MostOf(int got, int n) { return got * 10 >= n * 9; }

NOINLINE void ClearStack() {
  volatile char buf[64 * 1024];
  std::memset(const_cast<char*>(buf), 0, sizeof buf);
  asm volatile("" : : "r"(buf) : "memory");
}

// Full collections with the stack cleared below; finalizers that became
// ready are run after each one (finalize-on-demand mode).
NOINLINE void Collect(int rounds = 3) {
  for (int i = 0; i < rounds; ++i) {
    ClearStack();
    GC_gcollect();
    GC_invoke_finalizers();
  }
}

// A test object: 4 words.
struct Obj {
  Obj* ref;        // Scanned in GC_malloc objects.
  uintptr_t id;    // Identity.
  uintptr_t seal;  // Seal(id): the data are intact.
  Obj* ref2;
};
uintptr_t Seal(uintptr_t id) { return id * 0x9E3779B97F4A7C15u ^ 0x5a5a5a5au; }

Obj* NewObj(uintptr_t id) {
  auto* o = static_cast<Obj*>(GC_malloc(sizeof(Obj)));
  if (o == nullptr) std::abort();
  o->id = id;
  o->seal = Seal(id);
  return o;
}
bool Intact(const Obj* o, uintptr_t id) {
  return o != nullptr && o->id == id && o->seal == Seal(id);
}

// Hidden references: in malloc'ed memory (not scanned) and disguised.
using Hidden = std::vector<GC_hidden_pointer>;
void* Reveal(GC_hidden_pointer h) { return GC_REVEAL_POINTER(h); }

// Finalization bookkeeping. Each section that tracks finalizers calls
// ResetFinals(), which starts a fresh range of object ids: the object with
// local index i gets id Id(i) = g_id_base + i, and its finalizer's client
// data is that id. RecordFinal stores the sequence number of the run (0:
// not run) in g_final_seq[i]. An object left over from an earlier section
// (kept until then by a root, or by a stale word) has an id below the
// range and is only counted in g_stale_finals, so it cannot pass for one of
// this section's objects.
constexpr int kMaxTracked = 4096;
uintptr_t g_id_base = 0;
std::atomic<int> g_seq{0};
std::atomic<int> g_final_seq[kMaxTracked];
std::atomic<int> g_bad_final_args{0};
std::atomic<int> g_stale_finals{0};

uintptr_t Id(int i) { return g_id_base + i; }
void* IdData(int i) { return reinterpret_cast<void*>(Id(i)); }

void ResetFinals() {
  g_id_base += 1 << 20;
  for (auto& s : g_final_seq) s.store(0);
}
// The object must carry the id its client data names.
void GC_CALLBACK RecordFinal(void* obj, void* cd) {
  auto id = reinterpret_cast<uintptr_t>(cd);
  if (!Intact(static_cast<Obj*>(obj), id)) {
    g_bad_final_args.fetch_add(1);
    return;
  }
  if (id < g_id_base || id - g_id_base >= kMaxTracked) {
    g_stale_finals.fetch_add(1);
    return;
  }
  g_final_seq[id - g_id_base].store(++g_seq);
}
int CountFinals(int from, int to) {
  int n = 0;
  for (int i = from; i < to; ++i) n += g_final_seq[i].load() != 0;
  return n;
}
void GC_CALLBACK CountFinal(void* obj, void* cd) {
  static_cast<std::atomic<int>*>(cd)->fetch_add(1);
}

// Roots in the data segment.
constexpr int kRoots = 1024;
Obj* g_roots[kRoots];
void* g_word_roots[kRoots];  // Interior and one-past-the-end pointers.
void ClearRoots() {
  std::memset(g_roots, 0, sizeof g_roots);
  std::memset(g_word_roots, 0, sizeof g_word_roots);
}

// ------------------------------------------------------------------ init

void CheckInit() {
  Check(GC_is_init_called() != 0, "init", "GC_is_init_called after GC_INIT");
  Check((GC_get_version() >> 16) == GC_VERSION_MAJOR, "init",
        "GC_get_version reports the header's major version");
  Check(GC_get_finalize_on_demand() == 1, "init",
        "GC_set_finalize_on_demand(1) before GC_INIT holds");
  GC_set_free_space_divisor(4);
  Check(GC_get_free_space_divisor() == 4, "init",
        "GC_set_free_space_divisor round-trips");
  GC_set_free_space_divisor(3);
}

// -------------------------------------------------------------- allocation

NOINLINE void Churn(size_t size, int n) {
  for (int i = 0; i < n; ++i) {
    auto* p = static_cast<unsigned char*>(GC_malloc(size));
    std::memset(p, 0xAB, size);
  }
}

NOINLINE int CountDirty(size_t size, int n) {
  int dirty = 0;
  for (int i = 0; i < n; ++i) {
    auto* p = static_cast<unsigned char*>(GC_malloc(size));
    for (size_t b = 0; b < size; ++b) dirty += p[b] != 0;
  }
  return dirty;
}

int g_static_word;

void CheckMalloc() {
  const size_t sizes[] = {8, 16, 24, 48, 100, 256, 1000, 4096, 10000, 100000};
  int dirty = 0;
  for (size_t s : sizes) {
    Churn(s, s > 4096 ? 50 : 2000);
    Collect(1);
    dirty += CountDirty(s, s > 4096 ? 50 : 2000);
  }
  Check(dirty == 0, "malloc", "GC_malloc memory is zeroed after churn", "%d",
        dirty);

  bool sizes_ok = true, base_ok = true, heap_ok = true;
  for (size_t s : sizes) {
    auto* p = static_cast<char*>(GC_malloc(s));
    sizes_ok &= GC_size(p) >= s;
    base_ok &=
        GC_base(p) == p && GC_base(p + s / 2) == p && GC_base(p + s - 1) == p;
    heap_ok &= GC_is_heap_ptr(p) != 0 && GC_is_heap_ptr(p + s - 1) != 0;
  }
  Check(sizes_ok, "malloc", "GC_size is at least the requested size");
  Check(base_ok, "malloc", "GC_base maps interior pointers to the start");
  Check(heap_ok, "malloc", "GC_is_heap_ptr is true inside objects");
  int local = 0;
  void* m = std::malloc(64);
  Check(GC_base(&local) == nullptr && GC_base(&g_static_word) == nullptr &&
            GC_base(m) == nullptr,
        "malloc", "GC_base is NULL for stack, static and malloc memory");
  Check(GC_is_heap_ptr(&local) == 0 && GC_is_heap_ptr(&g_static_word) == 0 &&
            GC_is_heap_ptr(m) == 0,
        "malloc",
        "GC_is_heap_ptr is false for stack, static and malloc memory");
  std::free(m);
}

// Objects reachable only through an interior or one-past-the-end pointer.
NOINLINE void MakeInterior(int n) {
  for (int i = 0; i < n; ++i) {
    Obj* o = NewObj(Id(i));
    GC_register_finalizer(o, RecordFinal, IdData(i), nullptr, nullptr);
    char* c = reinterpret_cast<char*>(o);
    g_word_roots[i] = i % 2 ? c + sizeof(Obj) : c + 8;  // End or middle.
  }
}

void CheckInteriorPointers() {
  ResetFinals();
  ClearRoots();
  constexpr int n = 200;
  MakeInterior(n);
  Collect();
  bool intact = true;
  for (int i = 0; i < n; ++i) {
    char* c = static_cast<char*>(g_word_roots[i]);
    auto* o = reinterpret_cast<Obj*>(i % 2 ? c - sizeof(Obj) : c - 8);
    intact &= Intact(o, Id(i));
  }
  Check(CountFinals(0, n) == 0 && intact, "interior",
        "objects kept only by interior pointers survive intact");
  Check(g_bad_final_args.load() == 0, "interior",
        "no finalizer ran with a wrong object or client data");
  ClearRoots();
  Collect();
  int freed = CountFinals(0, n);
  Info("interior: %d/%d finalized once the pointers were dropped", freed, n);
  Check(MostOf(freed, n), "interior",
        "at least 90% finalized once the interior pointers are dropped");
}

// Atomic objects hold the only pointer to finalizable targets: the
// targets must be reclaimed. The same pointer in a GC_malloc object keeps
// its target.
NOINLINE void MakeHeldBy(int n, int first, bool atomic) {
  for (int i = first; i < first + n; ++i) {
    Obj* target = NewObj(Id(i));
    GC_register_finalizer(target, RecordFinal, IdData(i), nullptr, nullptr);
    auto* holder = static_cast<Obj*>(atomic ? GC_malloc_atomic(sizeof(Obj))
                                            : GC_malloc(sizeof(Obj)));
    holder->ref = target;
    holder->id = 1000000 + i;
    holder->seal = Seal(holder->id);
    holder->ref2 = nullptr;
    g_roots[i] = holder;
  }
}

void CheckAtomic() {
  ResetFinals();
  ClearRoots();
  constexpr int n = 300;
  MakeHeldBy(n, 0, /*atomic=*/true);
  MakeHeldBy(n, n, /*atomic=*/false);
  Collect();
  int atomic_freed = CountFinals(0, n), normal_freed = CountFinals(n, 2 * n);
  bool holders = true;
  for (int i = 0; i < 2 * n; ++i) {
    holders &= Intact(g_roots[i], 1000000 + i);
  }
  Info("atomic: %d/%d targets of atomic holders finalized", atomic_freed, n);
  Check(MostOf(atomic_freed, n), "atomic",
        "GC_malloc_atomic objects are not scanned (at least 90% of their "
        "targets reclaimed)");
  Check(normal_freed == 0, "atomic",
        "GC_malloc objects are scanned (every target kept)", "%d",
        normal_freed);
  Check(holders, "atomic", "the holders themselves are intact");
  ClearRoots();
}

// Typed objects: word 0 and 2 are pointers, words 1 and 3 are not.
NOINLINE void MakeTyped(int n, GC_descr d) {
  for (int i = 0; i < n; ++i) {
    auto* t = static_cast<Obj*>(GC_malloc_explicitly_typed(sizeof(Obj), d));
    Obj* kept = NewObj(Id(i));              // Through word 0: kept.
    Obj* dropped = NewObj(Id(n + i));       // Through word 1: dropped.
    Obj* dropped2 = NewObj(Id(2 * n + i));  // Through word 3: dropped.
    for (Obj* o : {kept, dropped, dropped2}) {
      GC_register_finalizer(o, RecordFinal, reinterpret_cast<void*>(o->id),
                            nullptr, nullptr);
    }
    t->ref = kept;
    t->id = reinterpret_cast<uintptr_t>(dropped);
    t->seal = 0x1234;
    t->ref2 = dropped2;
    g_roots[i] = t;
  }
}

void CheckTyped() {
  ResetFinals();
  ClearRoots();
  GC_word bitmap[GC_BITMAP_SIZE(Obj)] = {0};
  GC_set_bit(bitmap, GC_WORD_OFFSET(Obj, ref));
  GC_set_bit(bitmap, GC_WORD_OFFSET(Obj, seal));  // Word 2: a pointer slot.
  GC_descr d = GC_make_descriptor(bitmap, GC_WORD_LEN(Obj));
  constexpr int n = 300;
  MakeTyped(n, d);
  Collect();
  int kept_freed = CountFinals(0, n);
  int dropped_freed = CountFinals(n, 3 * n);
  bool intact = true;
  for (int i = 0; i < n; ++i) {
    intact &= g_roots[i]->seal == 0x1234 && Intact(g_roots[i]->ref, Id(i));
  }
  Info("typed: %d/%d targets of non-pointer words finalized", dropped_freed,
       2 * n);
  Check(kept_freed == 0 && intact, "typed",
        "GC_malloc_explicitly_typed: pointer words keep their targets");
  Check(MostOf(dropped_freed, 2 * n), "typed",
        "non-pointer words of the descriptor are not scanned (at least 90% "
        "reclaimed)");
  ClearRoots();
}

// Uncollectable objects are roots and never collected.
NOINLINE void MakeUncollectable(int n, Hidden* hidden, Hidden* atomic_hidden) {
  for (int i = 0; i < n; ++i) {
    auto* u = static_cast<Obj*>(GC_malloc_uncollectable(sizeof(Obj)));
    u->ref = NewObj(Id(i));
    GC_register_finalizer(u->ref, RecordFinal, IdData(i), nullptr, nullptr);
    u->id = 5000 + i;
    u->seal = Seal(u->id);
    hidden->push_back(GC_HIDE_POINTER(u));
    // Atomic uncollectable: never collected, never scanned.
    auto* a = static_cast<Obj*>(GC_malloc_atomic_uncollectable(sizeof(Obj)));
    a->ref = NewObj(Id(n + i));
    GC_register_finalizer(a->ref, RecordFinal, IdData(n + i), nullptr, nullptr);
    a->id = 7000 + i;
    a->seal = Seal(a->id);
    atomic_hidden->push_back(GC_HIDE_POINTER(a));
  }
}

NOINLINE void FreeAll(const Hidden& hidden) {
  for (GC_hidden_pointer h : hidden) GC_free(Reveal(h));
}

void CheckUncollectable() {
  ResetFinals();
  constexpr int n = 300;
  Hidden hidden, atomic_hidden;
  MakeUncollectable(n, &hidden, &atomic_hidden);
  Collect();
  int broken = 0;
  for (int i = 0; i < n; ++i) {
    auto* u = static_cast<Obj*>(Reveal(hidden[i]));
    auto* a = static_cast<Obj*>(Reveal(atomic_hidden[i]));
    broken +=
        !Intact(u, 5000 + i) + !Intact(u->ref, Id(i)) + !Intact(a, 7000 + i);
  }
  Check(broken == 0 && CountFinals(0, n) == 0, "uncollectable",
        "unreferenced GC_malloc_uncollectable objects stay, intact, and keep "
        "what they point to",
        "%d broken, %d finalized", broken, CountFinals(0, n));
  int atomic_targets = CountFinals(n, 2 * n);
  Check(MostOf(atomic_targets, n), "uncollectable",
        "GC_malloc_atomic_uncollectable objects are not scanned (at least 90% "
        "of their targets reclaimed)");
  FreeAll(hidden);
  FreeAll(atomic_hidden);
  Collect();
  int freed = CountFinals(0, n);
  Info("uncollectable: %d/%d targets finalized after GC_free of the holders",
       freed, n);
  Check(MostOf(freed, n), "uncollectable",
        "after GC_free of the holders, at least 90% of their targets "
        "reclaimed");
}

// GC_add_roots on malloc'ed memory.
NOINLINE void FillRootBuffer(Obj** buf, int n) {
  for (int i = 0; i < n; ++i) {
    buf[i] = NewObj(Id(i));
    GC_register_finalizer(buf[i], RecordFinal, IdData(i), nullptr, nullptr);
  }
}

void CheckRoots() {
  ResetFinals();
  constexpr int n = 300;
  auto** buf = static_cast<Obj**>(std::calloc(n, sizeof(Obj*)));
  GC_add_roots(buf, buf + n);
  FillRootBuffer(buf, n);
  Collect();
  bool intact = true;
  for (int i = 0; i < n; ++i) intact &= Intact(buf[i], Id(i));
  Check(intact && CountFinals(0, n) == 0, "roots",
        "GC_add_roots: objects referenced from an added range are kept");
  GC_remove_roots(buf, buf + n);
  Collect();
  int freed = CountFinals(0, n);
  Info("roots: %d/%d finalized after GC_remove_roots", freed, n);
  Check(MostOf(freed, n), "roots",
        "GC_remove_roots: at least 90% reclaimed afterwards");
  std::free(buf);
}

void CheckMallocMany() {
  constexpr size_t kSize = 48;
  void* list = GC_malloc_many(kSize);
  int count = 0;
  bool sizes = true, zero = true;
  for (void* p = list; p != nullptr; p = GC_NEXT(p)) {
    sizes &= GC_size(p) >= kSize && GC_base(p) == p;
    auto* w = static_cast<uintptr_t*>(p);
    for (size_t k = 1; k < kSize / sizeof(uintptr_t); ++k) zero &= w[k] == 0;
    if (count < kRoots) g_word_roots[count] = p;
    ++count;
  }
  Info("malloc_many: %d objects of %zu bytes", count, kSize);
  Check(count >= 1 && sizes, "malloc_many",
        "GC_malloc_many returns a list of objects of at least the size");
  Check(zero, "malloc_many", "the objects are zeroed past the link word");
  int kept = count < kRoots ? count : kRoots;
  for (int i = 0; i < kept; ++i) {
    auto* w = static_cast<uintptr_t*>(g_word_roots[i]);
    w[0] = 0;
    w[1] = Seal(i);
  }
  list = nullptr;
  Collect();
  bool intact = true;
  for (int i = 0; i < kept; ++i) {
    intact &= static_cast<uintptr_t*>(g_word_roots[i])[1] == Seal(i);
  }
  Check(intact, "malloc_many",
        "the objects are collectable objects, kept "
        "while referenced");
  ClearRoots();
}

void CheckRealloc() {
  auto* p = static_cast<unsigned char*>(GC_malloc(100));
  for (int i = 0; i < 100; ++i) p[i] = static_cast<unsigned char>(i);
  auto* q = static_cast<unsigned char*>(GC_realloc(p, 5000));
  bool grown = q != nullptr && GC_size(q) >= 5000;
  for (int i = 0; i < 100; ++i) grown &= q[i] == i;
  Check(grown, "realloc", "growing keeps the contents");
  auto* r = static_cast<unsigned char*>(GC_realloc(q, 10));
  bool shrunk = r != nullptr && GC_size(r) >= 10;
  for (int i = 0; i < 10; ++i) shrunk &= r[i] == i;
  Check(shrunk, "realloc", "shrinking keeps the contents");
  auto* z = static_cast<uintptr_t*>(GC_realloc(nullptr, 64));
  bool zeroed = z != nullptr && GC_size(z) >= 64;
  for (int i = 0; i < 8; ++i) zeroed &= z[i] == 0;
  Check(zeroed, "realloc", "GC_realloc(NULL, n) is GC_malloc(n)");
  Check(GC_realloc(r, 0) == nullptr, "realloc",
        "GC_realloc(p, 0) frees and returns NULL");
  g_roots[0] = reinterpret_cast<Obj*>(z);
  Collect(1);
  bool still = true;
  for (int i = 0; i < 8; ++i) still &= z[i] == 0;
  Check(still, "realloc", "a reallocated object stays intact across GC");
  ClearRoots();
}

// Explicit frees: freed memory is reused, live objects are untouched, new
// objects are zeroed.
void CheckFree() {
  constexpr int n = 1000;
  for (int i = 0; i < n; ++i) {
    g_roots[i] = static_cast<Obj*>(GC_malloc(sizeof(Obj) * (1 + i % 8)));
    g_roots[i]->id = i;
    g_roots[i]->seal = Seal(i);
  }
  for (int i = 0; i < n; i += 2) {
    GC_free(g_roots[i]);
    g_roots[i] = nullptr;
  }
  GC_free(nullptr);
  int dirty = 0;
  for (int i = 0; i < n; i += 2) {
    size_t size = sizeof(Obj) * (1 + i % 8);
    auto* p = static_cast<unsigned char*>(GC_malloc(size));
    for (size_t b = 0; b < size; ++b) dirty += p[b] != 0;
    g_roots[i] = reinterpret_cast<Obj*>(p);
    g_roots[i]->id = i;
    g_roots[i]->seal = Seal(i);
  }
  Check(dirty == 0, "free", "objects allocated after GC_free are zeroed");
  Collect(1);
  bool intact = true;
  for (int i = 0; i < n; ++i) intact &= Intact(g_roots[i], i);
  Check(intact, "free", "GC_free leaves every other object intact");
  ClearRoots();
}

void CheckStrings() {
  const char* text = "drop-in libgc.so.1 & gcheap";
  char* s = GC_strdup(text);
  Check(s != nullptr && std::strcmp(s, text) == 0 && GC_base(s) == s, "strings",
        "GC_strdup copies into the heap");
  char* t = GC_strndup(text, 7);
  Check(t != nullptr && std::strcmp(t, "drop-in") == 0, "strings",
        "GC_strndup truncates and terminates");
  char* u = GC_strndup("ab", 100);
  Check(u != nullptr && std::strcmp(u, "ab") == 0, "strings",
        "GC_strndup stops at the terminator");
  Check(GC_strdup(nullptr) == nullptr, "strings", "GC_strdup(NULL) is NULL");
  g_word_roots[0] = s;
  g_word_roots[1] = t;
  Collect(1);
  Check(std::strcmp(static_cast<char*>(g_word_roots[0]), text) == 0 &&
            std::strcmp(static_cast<char*>(g_word_roots[1]), "drop-in") == 0,
        "strings", "the copies survive a collection");
  ClearRoots();
}

void CheckIgnoreOffPage() {
  constexpr size_t kBig = 4 << 20;
  auto* big = static_cast<uint32_t*>(GC_malloc_ignore_off_page(kBig));
  auto* big_atomic =
      static_cast<uint32_t*>(GC_malloc_atomic_ignore_off_page(kBig));
  for (size_t i = 0; i < kBig / 4; ++i) {
    big[i] = static_cast<uint32_t>(i * 2654435761u) | 1;  // Never a pointer.
    big_atomic[i] = static_cast<uint32_t>(i);
  }
  g_word_roots[0] = big;
  g_word_roots[1] = big_atomic;
  Collect(1);
  bool intact = true;
  for (size_t i = 0; i < kBig / 4; ++i) {
    intact &= big[i] == (static_cast<uint32_t>(i * 2654435761u) | 1) &&
              big_atomic[i] == i;
  }
  Check(intact, "ignore_off_page",
        "large objects referenced from their start survive intact");
  Check(GC_size(big) >= kBig && GC_base(big + kBig / 8) == big &&
            GC_base(big_atomic + kBig / 8) == big_atomic,
        "ignore_off_page", "GC_size and GC_base of a large object");
  ClearRoots();
}

// ------------------------------------------------------------- finalizers

// Pairs a -> b, both with ordered finalizers.
NOINLINE void MakeOrderedPairs(int n) {
  for (int i = 0; i < n; ++i) {
    Obj* a = NewObj(Id(i));
    Obj* b = NewObj(Id(n + i));
    a->ref = b;
    GC_register_finalizer(a, RecordFinal, IdData(i), nullptr, nullptr);
    GC_register_finalizer(b, RecordFinal, IdData(n + i), nullptr, nullptr);
  }
}

std::atomic<int> g_cycle_finals{0};
std::atomic<int> g_self_finals{0};
std::atomic<int> g_ignore_self_finals{0};

NOINLINE void MakeCycles(int n) {
  for (int i = 0; i < n; ++i) {
    Obj* a = NewObj(i);
    Obj* b = NewObj(i);
    a->ref = b;
    b->ref = a;
    GC_register_finalizer(a, CountFinal, &g_cycle_finals, nullptr, nullptr);
    GC_register_finalizer(b, CountFinal, &g_cycle_finals, nullptr, nullptr);
    Obj* s = NewObj(i);
    s->ref = s;
    GC_register_finalizer(s, CountFinal, &g_self_finals, nullptr, nullptr);
    Obj* t = NewObj(i);
    t->ref = t;
    GC_register_finalizer_ignore_self(t, CountFinal, &g_ignore_self_finals,
                                      nullptr, nullptr);
  }
}

NOINLINE void MakeNoOrderPairs(int n) {
  for (int i = 0; i < n; ++i) {
    Obj* a = NewObj(Id(i));
    Obj* b = NewObj(Id(n + i));
    a->ref = b;
    b->ref = a;  // Even a cycle: no order, so both are finalized.
    GC_register_finalizer_no_order(a, RecordFinal, IdData(i), nullptr, nullptr);
    GC_register_finalizer_no_order(b, RecordFinal, IdData(n + i), nullptr,
                                   nullptr);
  }
}

NOINLINE void MakeUnregistered(int n) {
  for (int i = 0; i < n; ++i) {
    Obj* o = NewObj(Id(i));
    GC_register_finalizer(o, RecordFinal, IdData(i), nullptr, nullptr);
    GC_finalization_proc old_fn = nullptr;
    void* old_cd = nullptr;
    GC_register_finalizer(o, nullptr, nullptr, &old_fn, &old_cd);
    if (old_fn != RecordFinal || old_cd != IdData(i)) {
      g_bad_final_args.fetch_add(1);
    }
  }
}

constexpr int kCycles = 100;

void CheckFinalizers() {
  ResetFinals();
  constexpr int n = 300;
  MakeOrderedPairs(n);
  Collect(6);
  int out_of_order = 0, both = 0;
  for (int i = 0; i < n; ++i) {
    int a = g_final_seq[i].load(), b = g_final_seq[n + i].load();
    if (b != 0 && (a == 0 || a > b)) ++out_of_order;
    if (a != 0 && b != 0) ++both;
  }
  Info("ordered: %d/%d pairs fully finalized", both, n);
  Check(out_of_order == 0, "finalizers",
        "ordered: A's finalizer runs before B's when A points to B", "%d",
        out_of_order);
  Check(MostOf(both, n), "finalizers",
        "ordered: at least 90% of dropped pairs fully finalized");
  Check(g_bad_final_args.load() == 0, "finalizers",
        "finalizers get their object and client data");

  MakeCycles(kCycles);
  Collect(4);
  Info("ignore_self: %d/%d", g_ignore_self_finals.load(), kCycles);
  Check(g_cycle_finals.load() == 0, "finalizers",
        "ordered: objects on a cycle of finalizable objects are never "
        "finalized");
  Check(g_self_finals.load() == 0, "finalizers",
        "GC_register_finalizer: a self-referencing object is never finalized");
  Check(MostOf(g_ignore_self_finals.load(), kCycles), "finalizers",
        "GC_register_finalizer_ignore_self: self-referencing objects are "
        "finalized (at least 90%)");

  ResetFinals();
  MakeNoOrderPairs(n);
  ClearStack();
  GC_gcollect();
  GC_invoke_finalizers();
  both = 0;
  for (int i = 0; i < n; ++i) {
    both += g_final_seq[i].load() != 0 && g_final_seq[n + i].load() != 0;
  }
  Info("no_order: %d/%d pairs finalized by one collection", both, n);
  Check(MostOf(both, n), "finalizers",
        "no_order: both objects of a dropped cycle are finalized by one "
        "collection (at least 90%)");

  ResetFinals();
  MakeUnregistered(n);
  Collect();
  Check(CountFinals(0, n) == 0 && g_bad_final_args.load() == 0, "finalizers",
        "registering a NULL finalizer returns the old one and removes it");
}

// Finalize on demand: the notifier is called, nothing runs until
// GC_invoke_finalizers, which returns how many ran.
std::atomic<int> g_notified{0};
void GC_CALLBACK Notifier() { g_notified.fetch_add(1); }

NOINLINE void MakeFinalizable(int n) {
  for (int i = 0; i < n; ++i) {
    Obj* o = NewObj(Id(i));
    GC_register_finalizer(o, RecordFinal, IdData(i), nullptr, nullptr);
  }
}

void CheckFinalizeOnDemand() {
  ResetFinals();
  constexpr int n = 300;
  GC_set_finalizer_notifier(Notifier);
  Check(GC_get_finalizer_notifier() == Notifier, "on_demand",
        "GC_set_finalizer_notifier round-trips");
  MakeFinalizable(n);
  int before = g_notified.load();
  ClearStack();
  GC_gcollect();
  int ran_early = CountFinals(0, n);
  Check(g_notified.load() > before, "on_demand",
        "the notifier is called when finalizers become ready");
  Check(ran_early == 0, "on_demand",
        "no finalizer runs before GC_invoke_finalizers", "%d", ran_early);
  Check(GC_should_invoke_finalizers() != 0, "on_demand",
        "GC_should_invoke_finalizers reports the ready ones");
  int invoked = GC_invoke_finalizers();
  Check(invoked == CountFinals(0, n) && invoked > 0, "on_demand",
        "GC_invoke_finalizers runs them and returns how many", "%d vs %d",
        invoked, CountFinals(0, n));
  Collect();
  Check(MostOf(CountFinals(0, n), n), "on_demand",
        "at least 90% finalized after more collections");
  GC_set_finalizer_notifier(nullptr);

  // The default mode: GC_gcollect runs the ready finalizers itself.
  ResetFinals();
  GC_set_finalize_on_demand(0);
  MakeFinalizable(n);
  for (int i = 0; i < 3; ++i) {
    ClearStack();
    GC_gcollect();
  }
  int ran = CountFinals(0, n);
  GC_set_finalize_on_demand(1);
  Info("default mode: %d/%d finalized by GC_gcollect alone", ran, n);
  Check(MostOf(ran, n), "on_demand",
        "without finalize-on-demand, GC_gcollect runs the finalizers (at "
        "least 90%)");
}

// ------------------------------------------------------- disappearing links

struct LinkSet {
  std::vector<void*> link;  // Malloc'ed: not scanned. Holds hidden values.
  explicit LinkSet(int n) : link(n, nullptr) {}
  int Cleared(int from, int to) const {
    int c = 0;
    for (int i = from; i < to; ++i) c += link[i] == nullptr;
    return c;
  }
};

void* HideAsLink(const void* p) {
  return reinterpret_cast<void*>(GC_HIDE_POINTER(p));
}

// Objects [0, n) rooted, [n, 2n) dropped, each with a short link.
NOINLINE void MakeLinked(LinkSet* s, int n, bool long_link) {
  for (int i = 0; i < 2 * n; ++i) {
    Obj* o = NewObj(i);
    s->link[i] = HideAsLink(o);
    int r = long_link ? GC_register_long_link(&s->link[i], o)
                      : GC_general_register_disappearing_link(&s->link[i], o);
    if (r != GC_SUCCESS) std::abort();
    if (i < n) g_roots[i] = o;
  }
}

void CheckLinks() {
  constexpr int n = 300;
  for (bool long_link : {false, true}) {
    const char* sec = long_link ? "long_links" : "links";
    ClearRoots();
    LinkSet s(2 * n);
    MakeLinked(&s, n, long_link);
    Collect();
    bool kept_ok = s.Cleared(0, n) == 0;
    for (int i = 0; i < n; ++i) {
      kept_ok &= s.link[i] == HideAsLink(g_roots[i]) && Intact(g_roots[i], i);
    }
    int dropped = s.Cleared(n, 2 * n);
    Info("%s: %d/%d links of dropped objects cleared", sec, dropped, n);
    Check(kept_ok, sec, "links to reachable objects are never cleared");
    Check(MostOf(dropped, n), sec,
          "links to dropped objects are cleared (at least 90%)");
    ClearRoots();
    for (int i = 0; i < 2 * n; ++i) {  // Links not cleared stay registered.
      if (s.link[i] != nullptr) {
        long_link ? GC_unregister_long_link(&s.link[i])
                  : GC_unregister_disappearing_link(&s.link[i]);
      }
    }
  }

  // Return codes: duplicate, unregister, move.
  Obj* o = NewObj(1);
  g_roots[0] = o;
  void** a = static_cast<void**>(std::calloc(4, sizeof(void*)));
  a[0] = HideAsLink(o);
  Check(GC_general_register_disappearing_link(&a[0], o) == GC_SUCCESS &&
            GC_general_register_disappearing_link(&a[0], o) == GC_DUPLICATE,
        "links", "registering a link twice returns GC_DUPLICATE");
  Check(GC_move_disappearing_link(&a[0], &a[0]) == GC_SUCCESS &&
            GC_move_disappearing_link(&a[1], &a[2]) == GC_NOT_FOUND,
        "links",
        "GC_move_disappearing_link: self is GC_SUCCESS, an "
        "unregistered link GC_NOT_FOUND");
  Check(GC_general_register_disappearing_link(&a[2], o) == GC_SUCCESS &&
            GC_move_disappearing_link(&a[0], &a[2]) == GC_DUPLICATE,
        "links", "moving onto a registered link returns GC_DUPLICATE");
  Check(GC_unregister_disappearing_link(&a[2]) == 1 &&
            GC_unregister_disappearing_link(&a[2]) == 0,
        "links", "GC_unregister_disappearing_link returns 1, then 0");
  Check(GC_register_long_link(&a[3], o) == GC_SUCCESS &&
            GC_register_long_link(&a[3], o) == GC_DUPLICATE &&
            GC_move_long_link(&a[1], &a[2]) == GC_NOT_FOUND &&
            GC_unregister_long_link(&a[3]) == 1 &&
            GC_unregister_long_link(&a[3]) == 0,
        "long_links", "long link return codes");
  GC_unregister_disappearing_link(&a[0]);
  std::free(a);
  ClearRoots();

  // Unregistered and moved links on dropped objects.
  LinkSet s(3 * n);
  MakeLinked(&s, n, false);  // [0,n) rooted, [n,2n) dropped.
  ClearRoots();              // Now all 2n are dropped.
  for (int i = 0; i < n; ++i) {
    if (GC_unregister_disappearing_link(&s.link[i]) != 1) std::abort();
  }
  for (int i = n; i < 2 * n; ++i) {
    s.link[n + i] = s.link[i];  // [2n, 3n): the moved links.
    if (GC_move_disappearing_link(&s.link[i], &s.link[n + i]) != GC_SUCCESS) {
      std::abort();
    }
  }
  std::vector<void*> before(s.link.begin(), s.link.begin() + 2 * n);
  Collect();
  bool untouched = true;
  for (int i = 0; i < 2 * n; ++i) untouched &= s.link[i] == before[i];
  Check(untouched, "links",
        "unregistered and moved-from links are never cleared");
  int moved = s.Cleared(2 * n, 3 * n);
  Info("links: %d/%d moved links cleared", moved, n);
  Check(MostOf(moved, n), "links",
        "moved links are cleared when their targets die (at least 90%)");
  for (int i = 2 * n; i < 3 * n; ++i) {
    if (s.link[i] != nullptr) GC_unregister_disappearing_link(&s.link[i]);
  }
}

// Short links are cleared when the object becomes finalizable; long links
// only when it is reclaimed. A finalizer that resurrects its object keeps
// the long link.
Obj* g_resurrected[kMaxTracked];
void GC_CALLBACK Resurrect(void* obj, void* cd) {
  RecordFinal(obj, cd);
  auto i = reinterpret_cast<uintptr_t>(cd) - g_id_base;
  if (i < kMaxTracked) g_resurrected[i] = static_cast<Obj*>(obj);
}

NOINLINE void MakeFinalizableLinked(LinkSet* shorts, LinkSet* longs, int n,
                                    bool resurrect) {
  for (int i = 0; i < n; ++i) {
    Obj* o = NewObj(Id(i));
    GC_register_finalizer(o, resurrect ? Resurrect : RecordFinal, IdData(i),
                          nullptr, nullptr);
    shorts->link[i] = HideAsLink(o);
    longs->link[i] = HideAsLink(o);
    GC_general_register_disappearing_link(&shorts->link[i], o);
    GC_register_long_link(&longs->link[i], o);
  }
}

void CheckLinksWithFinalizers() {
  constexpr int n = 300;
  ResetFinals();
  LinkSet shorts(n), longs(n);
  MakeFinalizableLinked(&shorts, &longs, n, false);
  ClearStack();
  GC_gcollect();  // Finalize on demand: the ready ones wait.
  int short_cleared = shorts.Cleared(0, n);
  Check(longs.Cleared(0, n) == 0, "links",
        "long links stay while the objects await finalization");
  GC_invoke_finalizers();
  bool same = true;
  for (int i = 0; i < n; ++i) {
    same &= (shorts.link[i] == nullptr) == (g_final_seq[i].load() != 0);
  }
  Info("links: %d/%d short links cleared by the first collection",
       short_cleared, n);
  Check(same && short_cleared > 0, "links",
        "short links are cleared exactly for the objects made finalizable");
  Collect();
  bool long_after = true;
  for (int i = 0; i < n; ++i) {
    long_after &= longs.link[i] == nullptr ? g_final_seq[i].load() != 0 : true;
  }
  Check(long_after, "links",
        "a long link is cleared only after its object's finalizer ran");
  Check(MostOf(longs.Cleared(0, n), n), "links",
        "long links of finalized, unreachable objects are cleared (at least "
        "90%)");
  for (int i = 0; i < n; ++i) {
    if (shorts.link[i]) GC_unregister_disappearing_link(&shorts.link[i]);
    if (longs.link[i]) GC_unregister_long_link(&longs.link[i]);
  }

  ResetFinals();
  std::memset(g_resurrected, 0, sizeof g_resurrected);
  LinkSet rshorts(n), rlongs(n);
  MakeFinalizableLinked(&rshorts, &rlongs, n, true);
  Collect();
  int resurrected = 0;
  bool ok = true;
  for (int i = 0; i < n; ++i) {
    if (g_final_seq[i].load() == 0) continue;
    ++resurrected;
    ok &= rshorts.link[i] == nullptr && rlongs.link[i] != nullptr &&
          Intact(g_resurrected[i], Id(i));
  }
  Info("resurrection: %d/%d finalized and resurrected", resurrected, n);
  Check(ok, "links",
        "a resurrected object is intact; its short link cleared, its long "
        "link kept");
  Check(MostOf(resurrected, n), "links",
        "at least 90% of the resurrecting finalizers ran");
  std::memset(g_resurrected, 0, sizeof g_resurrected);
  for (int i = 0; i < n; ++i) {
    if (rshorts.link[i]) GC_unregister_disappearing_link(&rshorts.link[i]);
    if (rlongs.link[i]) GC_unregister_long_link(&rlongs.link[i]);
  }
}

// ---------------------------------------------------------------- control

NOINLINE void AllocGarbage(size_t total, size_t chunk) {
  for (size_t done = 0; done < total; done += chunk) {
    auto* p = static_cast<char*>(GC_malloc_atomic(chunk));
    p[0] = 1;
  }
}

void* GC_CALLBACK UnderLock(void* data) {
  ++*static_cast<int*>(data);
  return data;
}

void CheckControl() {
  Collect(1);
  GC_disable();
  GC_disable();
  Check(GC_is_disabled() != 0, "control", "GC_disable disables");
  GC_enable();
  Check(GC_is_disabled() != 0, "control",
        "GC_disable nests: one GC_enable of two leaves it disabled");
  GC_word gc_no = GC_get_gc_no();
  GC_word total = GC_get_total_bytes();
  constexpr size_t kGarbage = 48 << 20;
  AllocGarbage(kGarbage, 64 << 10);
  GC_gcollect();
  Check(GC_get_gc_no() == gc_no, "control",
        "while disabled nothing collects, not even GC_gcollect");
  Check(GC_get_bytes_since_gc() >= kGarbage &&
            GC_get_total_bytes() - total >= kGarbage,
        "control",
        "GC_get_bytes_since_gc and GC_get_total_bytes count "
        "the allocation");
  Check(GC_get_heap_size() >= kGarbage, "control", "the heap grew to hold it");
  GC_enable();
  Check(GC_is_disabled() == 0, "control", "the second GC_enable enables");
  ClearStack();
  GC_gcollect();
  Check(GC_get_gc_no() > gc_no, "control", "GC_gcollect collects again");
  Check(GC_get_bytes_since_gc() < kGarbage / 4, "control",
        "GC_get_bytes_since_gc restarts after a collection");
  GC_word heap = 0, free_bytes = 0, unmapped = 0, since = 0, total2 = 0;
  GC_get_heap_usage_safe(&heap, &free_bytes, &unmapped, &since, &total2);
  Info("control: heap %lu free %lu unmapped %lu", (unsigned long)heap,
       (unsigned long)free_bytes, (unsigned long)unmapped);
  Check(heap == GC_get_heap_size() && free_bytes == GC_get_free_bytes() &&
            unmapped == GC_get_unmapped_bytes() &&
            total2 == GC_get_total_bytes(),
        "control", "GC_get_heap_usage_safe agrees with the getters");
  Check(free_bytes <= heap && free_bytes + unmapped >= kGarbage / 2, "control",
        "the dropped garbage is free (or unmapped) heap");
  Check(GC_get_memory_use() <= heap, "control",
        "GC_get_memory_use is within the heap");
  GC_word h0 = GC_get_heap_size();
  Check(GC_expand_hp(1 << 20) != 0 && GC_get_heap_size() >= h0 + (1 << 20),
        "control", "GC_expand_hp grows the heap");
  int calls = 0;
  Check(GC_call_with_alloc_lock(UnderLock, &calls) == &calls && calls == 1,
        "control",
        "GC_call_with_alloc_lock calls once and returns the "
        "result");
}

// ---------------------------------------------------------------- threads

// A list of n nodes with ids base..base+n-1, built while allocating
// garbage; returns its head.
NOINLINE Obj* BuildList(int n, uintptr_t base) {
  Obj* head = nullptr;
  for (int i = 0; i < n; ++i) {
    Obj* o = NewObj(base + i);
    o->ref = head;
    head = o;
    for (int g = 0; g < 4; ++g) GC_malloc(16 + 16 * g);  // Garbage.
  }
  return head;
}

int ListErrors(const Obj* head, int n, uintptr_t base) {
  int errors = 0, count = 0;
  for (const Obj* o = head; o != nullptr && count <= n; o = o->ref, ++count) {
    errors += !Intact(o, base + n - 1 - count);
  }
  return errors + (count != n);
}

struct Worker {
  int index;
  std::atomic<int>* finals;
  int errors = 0;
  int registered = 0;
  int links_cleared = 0;
};

NOINLINE void WorkerGarbage(std::atomic<int>* finals) {
  for (int i = 0; i < 50; ++i) {
    Obj* o = NewObj(i);
    GC_register_finalizer(o, CountFinal, finals, nullptr, nullptr);
  }
}

void* WorkerMain(void* arg) {
  auto* w = static_cast<Worker*>(arg);
  w->registered = GC_thread_is_registered();
  constexpr int kNodes = 4000;
  const uintptr_t base = 100000 * (w->index + 1);
  // The head lives only in this frame (and so on this thread's stack).
  Obj* volatile head = BuildList(kNodes, base);
  std::vector<void*> links(64, nullptr);
  Obj* volatile kept[64];
  for (int i = 0; i < 64; ++i) {
    kept[i] = NewObj(i);
    links[i] = HideAsLink(kept[i]);
    GC_general_register_disappearing_link(&links[i], kept[i]);
  }
  for (int round = 0; round < 5; ++round) {
    WorkerGarbage(w->finals);
    Obj* extra = BuildList(500, 0);  // Dropped at once.
    (void)extra;
    w->errors += ListErrors(head, kNodes, base);
  }
  for (int i = 0; i < 64; ++i) {
    w->links_cleared += links[i] == nullptr;
    w->errors += !Intact(kept[i], i);
    GC_unregister_disappearing_link(&links[i]);
  }
  return nullptr;
}

// A thread created with plain pthread_create that registers itself.
struct SelfRegistered {
  sem_t built, collected;
  int before = -1, reg = -1, dup = -1, during = -1, unreg = -1, after = -1;
  int stack_base = -1;
  int errors = -1;
};

void* SelfRegisteredMain(void* arg) {
  auto* s = static_cast<SelfRegistered*>(arg);
  s->before = GC_thread_is_registered();
  GC_stack_base sb;
  s->stack_base = GC_get_stack_base(&sb);
  s->reg = GC_register_my_thread(&sb);
  s->dup = GC_register_my_thread(&sb);
  s->during = GC_thread_is_registered();
  Obj* volatile head = BuildList(3000, 7);
  sem_post(&s->built);
  while (sem_wait(&s->collected) != 0) {
  }
  s->errors = ListErrors(head, 3000, 7);
  s->unreg = GC_unregister_my_thread();
  s->after = GC_thread_is_registered();
  return nullptr;
}

// A thread that blocks in GC_do_blocking while the main thread collects.
struct Blocking {
  sem_t entered, release;
  int errors = -1;
  uintptr_t active_result = 0;
  void* blocking_result = nullptr;
};

void* GC_CALLBACK ActiveAgain(void* arg) {
  Obj* o = NewObj(99);  // Allocating is allowed again here.
  return reinterpret_cast<void*>(o->id + reinterpret_cast<uintptr_t>(arg));
}

void* GC_CALLBACK BlockedSection(void* arg) {
  auto* b = static_cast<Blocking*>(arg);
  b->active_result = reinterpret_cast<uintptr_t>(
      GC_call_with_gc_active(ActiveAgain, reinterpret_cast<void*>(1)));
  sem_post(&b->entered);
  while (sem_wait(&b->release) != 0) {
  }
  return b;
}

void* BlockingMain(void* arg) {
  auto* b = static_cast<Blocking*>(arg);
  Obj* volatile head = BuildList(3000, 11);
  b->blocking_result = GC_do_blocking(BlockedSection, b);
  b->errors = ListErrors(head, 3000, 11);
  return nullptr;
}

struct Detached {
  sem_t done;
  int errors = -1;
};

void* DetachedMain(void* arg) {
  auto* d = static_cast<Detached*>(arg);
  Obj* volatile head = BuildList(2000, 13);
  d->errors = ListErrors(head, 2000, 13);
  sem_post(&d->done);
  return nullptr;
}

void CheckThreads() {
  constexpr int kWorkers = 8;  // Oversubscribes the 2-core machines.
  std::atomic<int> finals{0};
  Worker workers[kWorkers];
  pthread_t tids[kWorkers];
  bool created = true;
  for (int i = 0; i < kWorkers; ++i) {
    workers[i].index = i;
    workers[i].finals = &finals;
    created &=
        GC_pthread_create(&tids[i], nullptr, WorkerMain, &workers[i]) == 0;
  }
  Check(created, "threads", "GC_pthread_create starts 8 threads");

  SelfRegistered s;
  sem_init(&s.built, 0, 0);
  sem_init(&s.collected, 0, 0);
  pthread_t self_tid;
  bool plain = pthread_create(&self_tid, nullptr, SelfRegisteredMain, &s) == 0;

  Blocking b;
  sem_init(&b.entered, 0, 0);
  sem_init(&b.release, 0, 0);
  pthread_t blocking_tid;
  bool blocking =
      GC_pthread_create(&blocking_tid, nullptr, BlockingMain, &b) == 0;

  Detached d;
  sem_init(&d.done, 0, 0);
  pthread_t detached_tid;
  bool detached =
      GC_pthread_create(&detached_tid, nullptr, DetachedMain, &d) == 0 &&
      GC_pthread_detach(detached_tid) == 0;

  // Collect while everyone runs; the self-registered and blocked threads
  // wait until these collections are over.
  if (plain) {
    while (sem_wait(&s.built) != 0) {
    }
  }
  if (blocking) {
    while (sem_wait(&b.entered) != 0) {
    }
  }
  for (int i = 0; i < 6; ++i) {
    ClearStack();
    GC_gcollect();
  }
  if (plain) sem_post(&s.collected);
  if (blocking) sem_post(&b.release);

  bool joined = true;
  int errors = 0, registered = 0, links_cleared = 0;
  for (int i = 0; i < kWorkers; ++i) {
    joined &= GC_pthread_join(tids[i], nullptr) == 0;
    errors += workers[i].errors;
    registered += workers[i].registered != 0;
    links_cleared += workers[i].links_cleared;
  }
  Check(joined, "threads", "GC_pthread_join joins them");
  Check(registered == kWorkers, "threads",
        "GC_pthread_create threads are registered");
  Check(errors == 0, "threads",
        "lists on each thread's stack survive concurrent collections intact",
        "%d", errors);
  Check(links_cleared == 0, "threads",
        "links to objects kept on threads' stacks are never cleared");

  Check(plain && pthread_join(self_tid, nullptr) == 0, "threads",
        "a plain pthread_create thread runs");
  Check(s.before == 0 && s.stack_base == GC_SUCCESS && s.reg == GC_SUCCESS &&
            s.dup == GC_DUPLICATE && s.during == 1,
        "threads",
        "GC_register_my_thread: GC_SUCCESS, then GC_DUPLICATE; "
        "GC_thread_is_registered follows");
  Check(s.errors == 0, "threads",
        "the self-registered thread's stack is scanned");
  Check(s.unreg == GC_SUCCESS && s.after == 0, "threads",
        "GC_unregister_my_thread unregisters");

  Check(blocking && GC_pthread_join(blocking_tid, nullptr) == 0 &&
            b.blocking_result == &b,
        "threads", "GC_do_blocking returns its function's result");
  Check(b.active_result == 100, "threads",
        "GC_call_with_gc_active inside GC_do_blocking can allocate");
  Check(b.errors == 0, "threads",
        "a blocked thread's stack above GC_do_blocking is still scanned");

  if (detached) {
    while (sem_wait(&d.done) != 0) {
    }
  }
  Check(detached && d.errors == 0, "threads",
        "a GC_pthread_detach'ed thread runs and its list survives");
  Collect();
  Info("threads: %d/%d worker garbage finalized", finals.load(),
       kWorkers * 5 * 50);
  Check(MostOf(finals.load(), kWorkers * 5 * 50), "threads",
        "objects dropped by the threads are finalized (at least 90%)");
}

// ------------------------------------------------------------ debug

// What the program wrote to stderr (file descriptor 2, where Boehm's
// GC_err_printf writes) while fn ran.
template <typename Fn>
std::string CaptureStderr(Fn fn) {
  std::fflush(stderr);
  FILE* tmp = std::tmpfile();
  if (tmp == nullptr) std::abort();
  const int saved = dup(2);
  dup2(fileno(tmp), 2);
  fn();
  std::fflush(stderr);
  dup2(saved, 2);
  close(saved);
  std::string out;
  std::rewind(tmp);
  char buf[512];
  size_t got;
  while ((got = std::fread(buf, 1, sizeof buf, tmp)) > 0) out.append(buf, got);
  std::fclose(tmp);
  return out;
}
bool Has(const std::string& s, const char* what) {
  return s.find(what) != std::string::npos;
}

// The byte n past p, where the program writes out of bounds on purpose:
// the pointer is laundered so that the compiler (and UBSan's object-size
// check, which knows GC_debug_malloc's alloc_size) cannot see the bound.
NOINLINE unsigned char* PastTheEnd(unsigned char* p, size_t n) {
  asm volatile("" : "+r"(p));
  return p + n;
}

// Debugging objects with finalizers, dropped: their finalizers get the body
// (an intact Obj) and the client data.
NOINLINE void MakeDebugFinalizable(int n) {
  for (int i = 0; i < n; ++i) {
    auto* o = static_cast<Obj*>(GC_debug_malloc(sizeof(Obj), "dbg.c", i));
    o->id = Id(i);
    o->seal = Seal(Id(i));
    GC_debug_register_finalizer(o, RecordFinal, IdData(i), nullptr, nullptr);
  }
}

// Debugging objects kept only by pointers to their bodies (in g_roots).
NOINLINE void MakeDebugRooted(int n) {
  for (int i = 0; i < n; ++i) {
    auto* o = static_cast<Obj*>(GC_debug_malloc(sizeof(Obj), "dbg.c", i));
    o->id = i;
    o->seal = Seal(i);
    o->ref = NewObj(n + i);
    g_roots[i] = o;
  }
}

void GC_CALLBACK OtherFinal(void*, void*) {}

// The debugging allocator (what GC_MALLOC and friends call in a program
// built with GC_DEBUG).
void CheckDebugAllocator() {
  ResetFinals();
  auto* p = static_cast<unsigned char*>(GC_debug_malloc(40, "dbgfile.c", 42));
  auto* base = static_cast<unsigned char*>(GC_base(p));
  const long offset = p - base;
  Check(base != nullptr && offset >= 16 && offset <= 64 &&
            GC_size(base) >= static_cast<size_t>(offset) + 40,
        "debug",
        "GC_debug_malloc: GC_base of the body is its header, and GC_size "
        "covers header and body",
        "offset %ld", offset);
  int dirty = 0;
  for (int b = 0; b < 40; ++b) dirty += p[b] != 0;
  Check(dirty == 0, "debug", "GC_debug_malloc: the body is zeroed");

  constexpr int n = 200;
  MakeDebugRooted(n);
  Collect();
  bool intact = true;
  for (int i = 0; i < n; ++i) {
    intact &= Intact(g_roots[i], i) && Intact(g_roots[i]->ref, n + i);
  }
  Check(intact, "debug",
        "objects kept only by pointers to their bodies survive, with what "
        "they point to");
  ClearRoots();

  MakeDebugFinalizable(n);
  Collect(4);
  Check(MostOf(CountFinals(0, n), n) && g_bad_final_args.load() == 0, "debug",
        "GC_debug_register_finalizer: dropped objects are finalized with "
        "their bodies and client data (at least 90%)",
        "%d of %d, %d bad", CountFinals(0, n), n, g_bad_final_args.load());

  auto* f = static_cast<Obj*>(GC_debug_malloc(sizeof(Obj), "dbg.c", 1));
  GC_debug_register_finalizer(f, RecordFinal, IdData(0), nullptr, nullptr);
  GC_finalization_proc ofn = nullptr;
  void* ocd = nullptr;
  GC_debug_register_finalizer(f, OtherFinal, nullptr, &ofn, &ocd);
  Check(ofn == RecordFinal && ocd == IdData(0), "debug",
        "GC_debug_register_finalizer returns the program's old function and "
        "client data");
  GC_debug_register_finalizer(f, nullptr, nullptr, &ofn, &ocd);
  Check(ofn == OtherFinal, "debug",
        "GC_debug_register_finalizer with NULL returns the old one");

  auto* q = static_cast<uintptr_t*>(GC_debug_malloc(32, "dbgfile.c", 7));
  q[0] = 1;
  GC_debug_free(q);
  Check(q[0] == 0xEFBEADDEdeadbeefu && q[3] == 0xEFBEADDEdeadbeefu, "debug",
        "GC_debug_free fills a collectable body with the freed marker");
  std::string err = CaptureStderr([q] { GC_debug_free(q); });
  Check(Has(err, "previously deallocated"), "debug",
        "a second GC_debug_free is reported", "%s", err.c_str());

  auto* r = static_cast<unsigned char*>(GC_debug_malloc(24, "dbgfile.c", 42));
  PastTheEnd(r, 24)[0] = 0x5a;
  err = CaptureStderr([r] { GC_debug_free(r); });
  Check(Has(err, "smashed") && Has(err, "(dbgfile.c:42, sz= 24)"), "debug",
        "GC_debug_free reports a write past the end with the allocation's "
        "file, line and size",
        "%s", err.c_str());

  // A live debugging object written past its end is reported by the next
  // collection (Boehm's GC_check_heap), and no other object is.
  auto* k = static_cast<unsigned char*>(GC_debug_malloc(48, "dbgfile.c", 99));
  g_word_roots[0] = k;
  PastTheEnd(k, 48)[0] = 0x5a;
  err = CaptureStderr([] { Collect(1); });
  Check(Has(err, "found 1 smashed heap objects") &&
            Has(err, "(dbgfile.c:99, sz= 48)"),
        "debug",
        "a collection reports a live debugging object written past its end, "
        "and only that one",
        "%s", err.c_str());
  CaptureStderr([k] { GC_debug_free(k); });  // reported; then deallocated
  err = CaptureStderr([] { Collect(1); });
  Check(!Has(err, "smashed"), "debug",
        "a debugging object freed with GC_debug_free is no longer checked",
        "%s", err.c_str());
  g_word_roots[0] = nullptr;

  void* plain = GC_malloc(32);
  err = CaptureStderr([plain] { GC_debug_free(plain); });
  Check(Has(err, "w/o debugging info"), "debug",
        "GC_debug_free of a GC_malloc object is reported", "%s", err.c_str());

  auto* g = static_cast<uintptr_t*>(GC_debug_malloc(16, "dbg.c", 3));
  g[0] = 11;
  g[1] = 22;
  g = static_cast<uintptr_t*>(GC_debug_realloc(g, 4000, "dbg.c", 4));
  bool kept = g != nullptr && g[0] == 11 && g[1] == 22;
  if (g != nullptr) {
    g[499] = 33;
    err = CaptureStderr([g] { GC_debug_free(g); });
  }
  Check(kept && err.empty(), "debug",
        "GC_debug_realloc keeps the contents and returns a debugging object",
        "%s", err.c_str());

  char* str = GC_debug_strdup("debugging", "dbg.c", 5);
  Check(str != nullptr && std::strcmp(str, "debugging") == 0 &&
            GC_base(str) != str,
        "debug", "GC_debug_strdup copies into a debugging object");

  auto* u =
      static_cast<Obj*>(GC_debug_malloc_uncollectable(sizeof(Obj), "dbg.c", 6));
  u->id = 77;
  u->seal = Seal(77);
  const GC_hidden_pointer hu = GC_HIDE_POINTER(u);
  u = nullptr;
  Collect();
  auto* uu = static_cast<Obj*>(Reveal(hu));
  Check(Intact(uu, 77), "debug",
        "a GC_debug_malloc_uncollectable object survives without a "
        "reference");
  err = CaptureStderr([uu] { GC_debug_free(uu); });
  Check(err.empty(), "debug",
        "GC_debug_free of an uncollectable debugging object reports nothing",
        "%s", err.c_str());
}

// -------------------------------------------------------------- javaxfc

NOINLINE void MakeRootedFinalizable(int n, std::atomic<int>* counter) {
  for (int i = 0; i < n; ++i) {
    g_roots[i] = NewObj(i);
    GC_register_finalizer(g_roots[i], CountFinal, counter, nullptr, nullptr);
  }
}

void CheckFinalizeAll() {
  std::atomic<int> rooted{0};
  constexpr int n = 50;
  MakeRootedFinalizable(n, &rooted);
  Collect(1);
  Check(rooted.load() == 0, "javaxfc", "reachable objects are not finalized");
  GC_finalize_all();
  Check(rooted.load() == n, "javaxfc",
        "GC_finalize_all runs the finalizers of reachable objects");
  Check(g_cycle_finals.load() == 2 * kCycles && g_self_finals.load() == kCycles,
        "javaxfc", "GC_finalize_all runs the finalizers stuck on cycles",
        "%d %d", g_cycle_finals.load(), g_self_finals.load());
  ClearRoots();
}

// Boehm warns about every finalizable cycle (MakeCycles keeps 100 of them)
// at each collection; those are expected, any other warning is shown.
std::atomic<int> g_cycle_warnings{0};
void GC_CALLBACK WarnProc(char* msg, GC_word arg) {
  if (std::strstr(msg, "Finalization cycle") != nullptr) {
    g_cycle_warnings.fetch_add(1);
    return;
  }
  std::fprintf(stderr, msg, static_cast<unsigned long>(arg));
}

}  // namespace

int main() {
  GC_set_finalize_on_demand(1);
  GC_set_warn_proc(WarnProc);
  GC_INIT();
  GC_allow_register_threads();
  CheckInit();
  CheckMalloc();
  CheckInteriorPointers();
  CheckAtomic();
  CheckTyped();
  CheckUncollectable();
  CheckRoots();
  CheckMallocMany();
  CheckRealloc();
  CheckFree();
  CheckStrings();
  CheckIgnoreOffPage();
  CheckFinalizers();
  CheckFinalizeOnDemand();
  CheckLinks();
  CheckLinksWithFinalizers();
  CheckControl();
  CheckThreads();
  CheckDebugAllocator();
  CheckFinalizeAll();
  Info(
      "%d finalizers of objects from earlier sections; %d finalization "
      "cycle warnings",
      g_stale_finals.load(), g_cycle_warnings.load());
  std::printf("%d checks, %d failed\n", g_checks, g_failed);
  return g_failed == 0 ? 0 : 1;
}
