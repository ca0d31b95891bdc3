// Tests of conservative roots (gc/stack_scan.h, gc/conservative.h,
// runtime/thread_roots.h): thread stacks and registers scanned for
// ambiguous words (gc_config.conservative_stacks), conservative root
// ranges and conservative objects (gc_alloc_conservative).
//
// conservative_test runs with concurrent marking, conservative_test_stw
// with stop-the-world cycles (GC_STW=1); verification is on in every heap.
// Objects held only on a stack are checked by payload (a cell's value
// encodes its address: a freed cell is zeroed or poisoned, a reused one
// holds another address) and, where the test controls every copy of an
// address, by liveness right after gc_collect (IsLive). "Kept by a stale
// word" is tested only where it is deterministic: words the test owns in a
// conservative range or object, and one stack word of a thread that is
// blocked (its dead stack below is overwritten first).
//
// Under ASan the test binary turns on detect_stack_use_after_return, so
// address-taken locals live in ASan's fake frames, which the stack scan
// must find.
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "heap/base.h"
#include "runtime/gc.h"
#include "runtime/runtime.h"
#include "tests/gc_test_util.h"
#include "tests/thread_roots_test_util.h"
#include "tools/mark_window.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
extern "C" const char* __asan_default_options() {
  return "detect_stack_use_after_return=1";
}
#endif
#endif

namespace gcheap {
namespace {

// An address kept where no scan can see it as a pointer.
constexpr uintptr_t kHide = 0x5a5a5a5a5a5a5a5aull;

// Keeps a pointer array in memory (on the stack, or in an ASan fake
// frame) across calls.
GC_NOINLINE void Opaque(void* p) { asm volatile("" : : "r"(p) : "memory"); }

// Overwrites the dead stack below the caller's frame, so stale copies of
// addresses that earlier calls left there are gone.
GC_NOINLINE void ClobberDeadStack() {
  volatile char pad[16384];
  for (size_t i = 0; i < sizeof(pad); i++) pad[i] = 0;
}

// GcTest's heap, made again with conservative stacks on or off.
class ConservativeTest : public GcTest {
 protected:
  void Init(bool conservative_stacks) {
    const gc_config cfg = RootsConfig(conservative_stacks);
    GcTest::Init(&cfg);
  }
  // A new cell whose address is returned only hidden (nothing on this
  // thread's live stack keeps it).
  GC_NOINLINE uintptr_t NewHiddenCell() {
    return reinterpret_cast<uintptr_t>(NewMarkedCell(m_, cell_)) ^ kHide;
  }
  // IsLive and Valid of a hidden address, without leaving it on the
  // caller's live stack.
  GC_NOINLINE bool LiveHidden(uintptr_t hidden) {
    return IsLive(heap_, reinterpret_cast<void*>(hidden ^ kHide));
  }
  GC_NOINLINE bool ValidHidden(uintptr_t hidden) {
    return Valid(reinterpret_cast<Cell*>(hidden ^ kHide));
  }
  // A new cell, returned as a pointer 12 bytes into it.
  GC_NOINLINE char* NewCellInterior() {
    return reinterpret_cast<char*>(NewMarkedCell(m_, cell_)) + 12;
  }
};

TEST_F(ConservativeTest, ConfigInitReadsGcConservativeStacks) {
  gc_config cfg;
  gc_config_init(&cfg);
  EXPECT_EQ(cfg.conservative_stacks, 0);
  setenv("GC_CONSERVATIVE_STACKS", "1", 1);
  gc_config_init(&cfg);
  unsetenv("GC_CONSERVATIVE_STACKS");
  EXPECT_EQ(cfg.conservative_stacks, 1);
}

// ---- stacks -----------------------------------------------------------------

struct RecursionState {
  gc_mutator* m;
  gc_type_id cell;
  bool collects;  // this thread calls gc_collect at the bottom
  int64_t bad = 0;
};

// Each frame holds one cell only in a local and another only in an
// address-taken local array (a fake frame under ASan); the bottom churns
// and collects; every frame checks its cells on the way back.
GC_NOINLINE void Recurse(RecursionState* st, int depth) {
  Cell* local = NewMarkedCell(st->m, st->cell);
  void* array[2] = {NewMarkedCell(st->m, st->cell), nullptr};
  Opaque(array);
  if (depth > 0) {
    Recurse(st, depth - 1);
  } else {
    for (int i = 0; i < 3; i++) {
      Churn(st->m, st->cell, 20000);
      if (st->collects) {
        gc_collect(st->m);
      } else {
        gc_safepoint(st->m);
      }
    }
  }
  Opaque(array);
  if (!Valid(local)) st->bad++;
  if (!Valid(static_cast<Cell*>(array[0]))) st->bad++;
}

// Several threads, each 2000 frames deep, hold cells only in C locals
// while the heap collects: with conservative stacks every cell survives.
TEST_F(ConservativeTest, ObjectsInLocalsSurviveOnSeveralDeepStacks) {
  Init(/*conservative_stacks=*/true);
  constexpr int kThreads = 4;
  constexpr int kDepth = 2000;
  std::vector<RecursionState> states(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&, t] {
      gc_mutator* m = gc_thread_attach(heap_);
      states[t] = {m, cell_, /*collects=*/t % 2 == 0};
      Recurse(&states[t], kDepth);
      gc_thread_detach(m);
    });
  }
  // The main thread counts as blocked while it waits.
  gc_enter_blocking(m_);
  for (auto& th : threads) th.join();
  gc_leave_blocking(m_);
  for (int t = 0; t < kThreads; t++) {
    EXPECT_EQ(states[t].bad, 0) << "thread " << t;
  }
  EXPECT_GE(GetStats(heap_).cycles,
            3u);  // concurrent requests may share a cycle
}

// The same object kept only through an interior pointer on the stack.
TEST_F(ConservativeTest, AnInteriorPointerOnTheStackKeepsItsObject) {
  Init(/*conservative_stacks=*/true);
  char* volatile inside = NewCellInterior();
  ClobberDeadStack();
  for (int i = 0; i < 2; i++) {
    Churn(m_, cell_, 20000);
    gc_collect(m_);
  }
  Cell* c = reinterpret_cast<Cell*>(inside - 12);
  EXPECT_TRUE(IsLive(heap_, c));
  EXPECT_TRUE(Valid(c));
}

#if defined(__x86_64__)
// Calls fn(arg) with rbx holding the only copy of the address hidden in
// *hidden (computed inside the asm, so the compiler never sees it), and
// returns what rbx holds afterwards. The stack is realigned past the red
// zone for the call.
GC_NOINLINE uintptr_t CallWithAddressInRbx(void (*fn)(void*), void* arg,
                                           const uintptr_t* hidden) {
  uintptr_t out;
  asm volatile(
      "movq %[fn], %%r13\n\t"
      "movq %[arg], %%r14\n\t"
      "movq %[hidden], %%rbx\n\t"
      "movq (%%rbx), %%rbx\n\t"
      "movabsq $0x5a5a5a5a5a5a5a5a, %%rax\n\t"
      "xorq %%rax, %%rbx\n\t"
      "movq %%rsp, %%r12\n\t"
      "subq $128, %%rsp\n\t"
      "andq $-16, %%rsp\n\t"
      "movq %%r14, %%rdi\n\t"
      "call *%%r13\n\t"
      "movq %%r12, %%rsp\n\t"
      "movq %%rbx, %[out]\n\t"
      : [out] "=m"(out)
      : [fn] "m"(fn), [arg] "m"(arg), [hidden] "m"(hidden)
      : "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11",
        "r12", "r13", "r14", "memory", "cc", "xmm0", "xmm1", "xmm2", "xmm3",
        "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11",
        "xmm12", "xmm13", "xmm14", "xmm15");
  return out;
}

struct RegisterCase {
  gc_mutator* m;
  gc_type_id cell;
};

void ChurnAndCollectTwice(void* arg) {
  auto* rc = static_cast<RegisterCase*>(arg);
  for (int i = 0; i < 2; i++) {
    Churn(rc->m, rc->cell, 20000);
    gc_collect(rc->m);
  }
}

// A safepoint (gc_collect) reached with the object's address only in a
// callee-saved register: the capture spills registers onto the scanned
// stack.
TEST_F(ConservativeTest, AnAddressOnlyInACalleeSavedRegisterSurvives) {
  Init(/*conservative_stacks=*/true);
  const uintptr_t hidden = NewHiddenCell();
  RegisterCase rc{m_, cell_};
  ClobberDeadStack();
  const uintptr_t got =
      CallWithAddressInRbx(&ChurnAndCollectTwice, &rc, &hidden);
  EXPECT_EQ(got, hidden ^ kHide);
  EXPECT_TRUE(IsLive(heap_, reinterpret_cast<void*>(got)));
  EXPECT_TRUE(Valid(reinterpret_cast<Cell*>(got)));
}

struct BlockedRegisterCase {
  gc_mutator* m;
  Signal* blocked;
  Signal* go;
};

void BlockAndWait(void* arg) {
  auto* bc = static_cast<BlockedRegisterCase*>(arg);
  gc_enter_blocking(bc->m);
  bc->blocked->Notify();
  bc->go->Wait();
  gc_leave_blocking(bc->m);
}

// The same across a blocking region: the address is only in rbx when the
// thread enters it, and other threads collect while it is blocked (the
// collector scans its stack as captured at the entry).
TEST_F(ConservativeTest, AnAddressOnlyInARegisterSurvivesABlockingRegion) {
  Init(/*conservative_stacks=*/true);
  Signal blocked, go;
  // Hidden: the main thread's stack is scanned too.
  std::atomic<uintptr_t> got_hidden{0};
  const uintptr_t hidden = NewHiddenCell();
  ClobberDeadStack();
  std::thread t([&] {
    gc_mutator* m = gc_thread_attach(heap_);
    BlockedRegisterCase bc{m, &blocked, &go};
    ClobberDeadStack();
    got_hidden = CallWithAddressInRbx(&BlockAndWait, &bc, &hidden) ^ kHide;
    gc_thread_detach(m);
  });
  ASSERT_TRUE(blocked.Wait());
  for (int i = 0; i < 3; i++) {
    Churn(m_, cell_, 20000);
    gc_collect(m_);
  }
  EXPECT_TRUE(LiveHidden(hidden));
  go.Notify();
  JoinBlocked(m_, t);
  EXPECT_EQ(got_hidden.load(), hidden);
  EXPECT_TRUE(ValidHidden(hidden));
}
#endif  // __x86_64__

// A thread that stays inside a blocking region holds cells only in its
// locals; the other threads collect meanwhile; the collector scans the
// blocked thread's stack (its scans count as the collector's).
TEST_F(ConservativeTest, ABlockedThreadsStackIsScannedByTheCollector) {
  Init(/*conservative_stacks=*/true);
  Signal ready, go;
  std::atomic<gc_mutator*> tm{nullptr};
  std::atomic<int> bad{0};
  std::thread t([&] {
    gc_mutator* m = gc_thread_attach(heap_);
    Cell* volatile cells[16];
    for (auto& c : cells) c = NewMarkedCell(m, cell_);
    tm = m;
    gc_enter_blocking(m);
    ready.Notify();
    go.Wait();
    gc_leave_blocking(m);
    for (auto& c : cells) bad += !Valid(c);
    gc_thread_detach(m);
  });
  ASSERT_TRUE(ready.Wait());
  gc_mutator* m = tm.load();
  const uint64_t collector0 = CollectorScans(m), self0 = SelfScans(m);
  for (int i = 0; i < 3; i++) {
    Churn(m_, cell_, 20000);
    gc_collect(m_);
  }
  EXPECT_GE(CollectorScans(m) - collector0, 3u);
  EXPECT_EQ(SelfScans(m) - self0, 0u);
  go.Notify();
  JoinBlocked(m_, t);
  EXPECT_EQ(bad.load(), 0);
}

// Writes the hidden address into slot 3 of the caller's array.
GC_NOINLINE void Reveal(uintptr_t* words, uintptr_t hidden) {
  words[3] = hidden ^ kHide;
}

// One stack word of a blocked thread keeps a cell; once the thread has
// overwritten that word (and its dead stack), the cell is freed. The cell
// is allocated by the main thread and its address reaches the thread only
// hidden.
TEST_F(ConservativeTest, AStackWordStopsKeepingItsObjectOnceOverwritten) {
  Init(/*conservative_stacks=*/true);
  const uintptr_t hidden = NewHiddenCell();
  ClobberDeadStack();
  Signal blocked1, overwrite, blocked2, finish;
  std::thread t([&] {
    gc_mutator* m = gc_thread_attach(heap_);
    uintptr_t words[8] = {};
    Reveal(words, hidden);
    Opaque(words);  // the store is not dead: the stack is read
    ClobberDeadStack();
    gc_enter_blocking(m);
    blocked1.Notify();
    overwrite.Wait();
    gc_leave_blocking(m);
    words[3] = 0;
    Opaque(words);
    ClobberDeadStack();
    gc_enter_blocking(m);
    blocked2.Notify();
    finish.Wait();
    gc_leave_blocking(m);
    gc_thread_detach(m);
  });
  ASSERT_TRUE(blocked1.Wait());
  gc_collect(m_);
  EXPECT_TRUE(LiveHidden(hidden));
  overwrite.Notify();
  ASSERT_TRUE(blocked2.Wait());
  ClobberDeadStack();
  gc_collect(m_);
  EXPECT_FALSE(LiveHidden(hidden));
  finish.Notify();
  JoinBlocked(m_, t);
}

// ---- conservative root ranges
// -------------------------------------------------

// Only 8-byte words wholly inside a range are roots; interior pointers
// keep their object; an overwritten word keeps nothing; registrations are
// counted; errors have messages. (Stacks are not scanned in this heap: the
// range is the only place the addresses are.)
TEST_F(ConservativeTest, RangesScanTheWordsWhollyInside) {
  Init(/*conservative_stacks=*/false);
  alignas(8) static uintptr_t words[4];
  const uintptr_t a = NewHiddenCell(), b = NewHiddenCell(), c = NewHiddenCell(),
                  d = NewHiddenCell();
  words[0] = a ^ kHide;         // the range starts inside this word
  words[1] = (b ^ kHide) + 20;  // interior
  words[2] = c ^ kHide;
  words[3] = d ^ kHide;  // past the range's end
  const char* start = reinterpret_cast<const char*>(words) + 1;
  ASSERT_EQ(gc_add_conservative_root_range(heap_, start, 23), 0);
  ASSERT_EQ(gc_add_conservative_root_range(heap_, start, 23), 0);  // counted
  gc_collect(m_);
  EXPECT_FALSE(IsLive(heap_, reinterpret_cast<void*>(a ^ kHide)));
  EXPECT_TRUE(IsLive(heap_, reinterpret_cast<void*>(b ^ kHide)));
  EXPECT_TRUE(IsLive(heap_, reinterpret_cast<void*>(c ^ kHide)));
  EXPECT_FALSE(IsLive(heap_, reinterpret_cast<void*>(d ^ kHide)));
  EXPECT_TRUE(Valid(reinterpret_cast<Cell*>(c ^ kHide)));
  words[2] = 12345;  // overwritten: c is no longer kept
  gc_collect(m_);
  EXPECT_FALSE(IsLive(heap_, reinterpret_cast<void*>(c ^ kHide)));
  EXPECT_TRUE(IsLive(heap_, reinterpret_cast<void*>(b ^ kHide)));
  ASSERT_EQ(gc_remove_conservative_root_range(heap_, start, 23), 0);
  gc_collect(m_);
  EXPECT_TRUE(IsLive(heap_, reinterpret_cast<void*>(b ^ kHide)));  // still 1
  ASSERT_EQ(gc_remove_conservative_root_range(heap_, start, 23), 0);
  gc_collect(m_);
  EXPECT_FALSE(IsLive(heap_, reinterpret_cast<void*>(b ^ kHide)));

  EXPECT_EQ(gc_remove_conservative_root_range(heap_, start, 23), -1);
  EXPECT_NE(std::string(gc_last_error()).find("not registered"),
            std::string::npos)
      << gc_last_error();
  EXPECT_EQ(gc_add_conservative_root_range(heap_, nullptr, 8), -1);
  EXPECT_NE(std::string(gc_last_error()).find("NULL"), std::string::npos)
      << gc_last_error();
  EXPECT_EQ(gc_add_conservative_root_range(
                heap_, reinterpret_cast<void*>(~uintptr_t{0} - 8), 64),
            -1);
  EXPECT_NE(std::string(gc_last_error()).find("wraps"), std::string::npos)
      << gc_last_error();
}

// gc_config.ambiguous_displacements (Boehm's GC_all_interior_pointers = 0):
// a word of a conservative range or object keeps an object only through
// its base or a registered displacement; a stack word through any interior
// pointer. The default heap refuses gc_register_displacement.
TEST_F(ConservativeTest, DisplacementsRuleDataWordsButNotStackWords) {
  gc_config cfg = RootsConfig(/*conservative_stacks=*/true);
  cfg.ambiguous_displacements = 1;
  GcTest::Init(&cfg);
  alignas(8) static uintptr_t words[4];
  const uintptr_t a = NewHiddenCell(), b = NewHiddenCell(), c = NewHiddenCell();
  words[0] = a ^ kHide;         // base: kept
  words[1] = (b ^ kHide) + 8;   // not registered yet: not kept
  words[2] = (c ^ kHide) + 16;  // registered below: kept
  words[3] = 0;
  ASSERT_EQ(gc_add_conservative_root_range(heap_, words, sizeof(words)), 0);
  ASSERT_EQ(gc_register_displacement(heap_, 16), 0);
  auto** obj = static_cast<void**>(gc_alloc_conservative(m_, 16));
  void* root = obj;
  ASSERT_EQ(gc_add_root(heap_, &root), 0);
  const uintptr_t d = NewHiddenCell(), e = NewHiddenCell();
  gc_write_barrier(m_, obj, &obj[0], reinterpret_cast<char*>(d ^ kHide) + 24);
  gc_write_barrier(m_, obj, &obj[1], reinterpret_cast<char*>(e ^ kHide) + 16);
  // A stack word 12 bytes into a cell keeps it (any interior pointer).
  char* on_stack = NewCellInterior();
  Opaque(&on_stack);
  ClobberDeadStack();
  gc_collect(m_);
  EXPECT_TRUE(LiveHidden(a));
  EXPECT_FALSE(LiveHidden(b));
  EXPECT_TRUE(LiveHidden(c));
  EXPECT_FALSE(LiveHidden(d));
  EXPECT_TRUE(LiveHidden(e));
  EXPECT_TRUE(IsLive(heap_, on_stack - 12));
  Opaque(&on_stack);
  // Registered now: b's word keeps the next new object named through it.
  ASSERT_EQ(gc_register_displacement(heap_, 8), 0);
  const uintptr_t f = NewHiddenCell();
  words[1] = (f ^ kHide) + 8;
  gc_collect(m_);
  EXPECT_TRUE(LiveHidden(f));
  EXPECT_EQ(gc_register_displacement(heap_, 4096), -1);
  EXPECT_NE(std::string(gc_last_error()).find("not below 4096"),
            std::string::npos)
      << gc_last_error();
  ASSERT_EQ(gc_remove_root(heap_, &root), 0);
  ASSERT_EQ(gc_remove_conservative_root_range(heap_, words, sizeof(words)), 0);

  Init(/*conservative_stacks=*/false);  // the default: any interior pointer
  EXPECT_EQ(gc_register_displacement(heap_, 8), -1);
  EXPECT_NE(std::string(gc_last_error()).find("ambiguous_displacements"),
            std::string::npos)
      << gc_last_error();
}

// A big range (4 MiB of noise with a few addresses in it) is copied in the
// first pause and scanned after it.
TEST_F(ConservativeTest, ABigRangeKeepsTheObjectsItNames) {
  Init(/*conservative_stacks=*/false);
  std::vector<uintptr_t> range(512 * 1024);
  for (size_t i = 0; i < range.size(); i++) range[i] = i * 0x9e3779b97f4a7c15;
  std::vector<uintptr_t> hidden;
  for (size_t i = 0; i < 64; i++) {
    hidden.push_back(NewHiddenCell());
    range[(i * 8191) % range.size()] = hidden.back() ^ kHide;
  }
  ASSERT_EQ(gc_add_conservative_root_range(heap_, range.data(),
                                           range.size() * sizeof(uintptr_t)),
            0);
  for (int i = 0; i < 2; i++) {
    Churn(m_, cell_, 20000);
    gc_collect(m_);
  }
  for (uintptr_t x : hidden) {
    EXPECT_TRUE(IsLive(heap_, reinterpret_cast<void*>(x ^ kHide)));
    EXPECT_TRUE(Valid(reinterpret_cast<Cell*>(x ^ kHide)));
  }
  ASSERT_EQ(gc_remove_conservative_root_range(heap_, range.data(),
                                              range.size() * sizeof(uintptr_t)),
            0);
}

// A word written into a conservative range while a cycle marks, naming an
// object that was unreachable when the cycle began (an integer that
// happens to equal its address), is not a verifier error: ambiguous roots
// are checked only when they name marked objects. The object is freed.
TEST_F(ConservativeTest, AnAmbiguousRootNamingAnUnmarkedObjectIsNoVerifyError) {
  gc_config cfg = RootsConfig(/*conservative_stacks=*/false,
                              /*gc_percent=*/-1);
  cfg.stop_the_world = 0;  // needs a mark phase to write in
  GcTest::Init(&cfg);
  alignas(8) static uintptr_t word;
  word = 0;
  ASSERT_EQ(gc_add_conservative_root_range(heap_, &word, sizeof(word)), 0);
  const uintptr_t hidden = NewHiddenCell();
  {
    MarkWindow window(heap_, m_);
    window.Open();
    word = hidden ^ kHide;  // after the first pause copied the range
    window.Close();         // the final pause verifies
  }
  EXPECT_FALSE(IsLive(heap_, reinterpret_cast<void*>(hidden ^ kHide)));
  ASSERT_EQ(gc_remove_conservative_root_range(heap_, &word, sizeof(word)), 0);
}

// ---- conservative objects
// -----------------------------------------------------

// Every word of gc_alloc_conservative memory is ambiguous: pointers and
// interior pointers keep their objects, an overwritten word keeps nothing,
// and a word naming a free slot marks nothing (the sweeper would abort on
// a marked free slot). Large ones are scanned in pieces to the end.
TEST_F(ConservativeTest, ConservativeObjectsKeepWhatTheirWordsName) {
  Init(/*conservative_stacks=*/false);
  void* root = nullptr;
  ASSERT_EQ(gc_add_root(heap_, &root), 0);
  auto** obj = static_cast<void**>(gc_alloc_conservative(m_, 61));
  ASSERT_NE(obj, nullptr) << gc_last_error();
  root = obj;
  for (int i = 0; i < 8; i++) EXPECT_EQ(obj[i], nullptr);  // zeroed, 64 B
  const uintptr_t a = NewHiddenCell(), b = NewHiddenCell();
  gc_write_barrier(m_, obj, &obj[0], reinterpret_cast<void*>(a ^ kHide));
  gc_write_barrier(m_, obj, &obj[7],
                   reinterpret_cast<char*>(b ^ kHide) + 17);  // interior
  gc_collect(m_);
  EXPECT_TRUE(IsLive(heap_, reinterpret_cast<void*>(a ^ kHide)));
  EXPECT_TRUE(IsLive(heap_, reinterpret_cast<void*>(b ^ kHide)));
  gc_write_barrier(m_, obj, &obj[0], reinterpret_cast<void*>(4242));
  gc_collect(m_);
  EXPECT_FALSE(IsLive(heap_, reinterpret_cast<void*>(a ^ kHide)));
  // a's slot is free now: a word naming it marks nothing.
  gc_write_barrier(m_, obj, &obj[1], reinterpret_cast<void*>(a ^ kHide));
  gc_collect(m_);
  EXPECT_FALSE(IsLive(heap_, reinterpret_cast<void*>(a ^ kHide)));
  EXPECT_TRUE(IsLive(heap_, reinterpret_cast<void*>(b ^ kHide)));

  // Distinct minimal objects.
  void* z1 = gc_alloc_conservative(m_, 0);
  void* z2 = gc_alloc_conservative(m_, 0);
  EXPECT_NE(z1, nullptr);
  EXPECT_NE(z1, z2);

  // A large one (scanned in 128 KiB pieces): its last word keeps an object.
  const size_t big = 300 * 1024;
  auto** large = static_cast<void**>(gc_alloc_conservative(m_, big));
  ASSERT_NE(large, nullptr) << gc_last_error();
  gc_write_barrier(m_, obj, &obj[2], large);
  const uintptr_t c = NewHiddenCell();
  gc_write_barrier(m_, large, &large[big / 8 - 1],
                   reinterpret_cast<void*>(c ^ kHide));
  gc_collect(m_);
  EXPECT_TRUE(IsLive(heap_, reinterpret_cast<void*>(c ^ kHide)));
  EXPECT_TRUE(Valid(reinterpret_cast<Cell*>(c ^ kHide)));

  EXPECT_EQ(gc_alloc_conservative(m_, GC_MAX_ALLOC_BYTES + 1), nullptr);
  EXPECT_NE(std::string(gc_last_error()).find("gc_alloc_conservative"),
            std::string::npos)
      << gc_last_error();
  ASSERT_EQ(gc_remove_root(heap_, &root), 0);
}

// The arena-bounds reject (ArenaIndex::MayContain, gc/conservative.h rule
// 2) under heap growth racing with cycles: each round adds an arena (a
// noscan object of nearly an arena's size, never touched, so it costs
// address space, not memory) and puts a conservative object beside it,
// (most of them land in the new arenas; the test checks that they do),
// known only by an interior word of a rooted conservative holder, while
// another thread runs collections back to back. The words are stored
// while a cycle marks or not (the barrier shades them in one case, a later
// cycle's scan of the holder reads them through the bounds in the other).
// A marker whose bounds did not cover an arena added before its cycle
// would leave that arena's objects white and the sweep would free them:
// every object must stay allocated with its payload. (With the bounds
// widened only by the first arena, the objects of the later arenas are
// freed and this test fails.)
TEST_F(ConservativeTest, WordsNamingObjectsInNewArenasKeepThemAcrossCycles) {
  Init(/*conservative_stacks=*/false);
  constexpr int kRounds = 12;
  constexpr size_t kBig = kArenaBytes - (2 << 20);
  constexpr size_t kObj = 256 << 10;  // a span of its own
  void* root = nullptr;
  ASSERT_EQ(gc_add_root(heap_, &root), 0);
  auto** holder =
      static_cast<void**>(gc_alloc_conservative(m_, 2 * kRounds * 8));
  ASSERT_NE(holder, nullptr) << gc_last_error();
  root = holder;
  std::atomic<bool> stop{false};
  std::atomic<int> cycles{0};
  std::thread collector([&] {
    gc_mutator* m = gc_thread_attach(heap_);
    while (!stop.load()) {
      gc_collect(m);
      cycles.fetch_add(1);
    }
    gc_thread_detach(m);
  });
  std::vector<uintptr_t*> objs;
  const HeapArena* first_arena =
      heap_->heap.ArenaOf(reinterpret_cast<uintptr_t>(holder));
  int in_new_arena = 0;
  for (int r = 0; r < kRounds; r++) {
    void* big = gc_alloc_noscan(m_, kBig);
    ASSERT_NE(big, nullptr) << gc_last_error();
    gc_write_barrier(m_, holder, &holder[2 * r], big);
    auto* obj = static_cast<uintptr_t*>(gc_alloc_conservative(m_, kObj));
    ASSERT_NE(obj, nullptr) << gc_last_error();
    const uintptr_t a = reinterpret_cast<uintptr_t>(obj);
    // Inserted during the test: the heap began with the holder's arena
    // (PageAlloc::Grow inserts arenas as the heap needs them).
    if (heap_->heap.ArenaOf(a) != first_arena) in_new_arena++;
    for (size_t i = 0; i < kObj / 8; i += 512) obj[i] = (a + i) ^ kHide;
    gc_write_barrier(m_, holder, &holder[2 * r + 1],
                     reinterpret_cast<char*>(obj) + 4096 + 8);
    objs.push_back(obj);
    // Let two cycles run over the new arena (allocation polls the
    // safepoint).
    const int until = cycles.load() + 2;
    const auto deadline = std::chrono::steady_clock::now() + kLiveness;
    while (cycles.load() < until &&
           std::chrono::steady_clock::now() < deadline) {
      Churn(m_, cell_, 64);
    }
  }
  stop = true;
  JoinBlocked(m_, collector);
  gc_collect(m_);
  gc_collect(m_);
  EXPECT_GE(in_new_arena, kRounds / 2)
      << "the objects did not land in the new arenas: the test shows little";
  EXPECT_GE(cycles.load(), kRounds);
  for (uintptr_t* obj : objs) {
    const uintptr_t a = reinterpret_cast<uintptr_t>(obj);
    ASSERT_TRUE(IsLive(heap_, obj)) << std::hex << a;
    for (size_t i = 0; i < kObj / 8; i += 512) {
      ASSERT_EQ(obj[i], (a + i) ^ kHide) << std::hex << a << " word " << i;
    }
  }
  ASSERT_EQ(gc_remove_root(heap_, &root), 0);
}

}  // namespace
}  // namespace gcheap
