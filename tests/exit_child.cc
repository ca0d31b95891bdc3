// exit_child: a multi-threaded embedder that ends the process while
// collections are in flight; run many times by process_exit_test.
//
//   exit_child MODE CYCLES SEED
//     MODE    return       main returns (its frame is gone when exit runs)
//             exit         main calls exit(0)
//             thread-exit  a mutator thread other than main calls exit(0)
//             atexit       main returns; an atexit handler registered after
//                          the heap was created allocates, collects and
//                          detaches main's mutator on the exiting thread
//     CYCLES  concurrent | stw
//     SEED    varies how long the program runs before it ends
//
// Main registers a root scanner whose data is a frame in main's stack (a
// VM's interpreter stack), attaches, starts mutator threads that allocate
// and a thread that calls gc_collect in a loop (so a cycle is nearly always
// waiting for a stop or running), allocates itself for a few milliseconds,
// and then ends the process as MODE says. It never detaches the other
// threads: they run until the process is gone, through 20 ms of exit-time
// work (an atexit handler that sleeps, as flushing logs would).
//
// The scanner checks gcheap's promise: no root scanner runs once exit has
// begun. The program raises a flag as exit begins (main's frame's last
// destructor for `return`, just before exit() otherwise); a scanner that
// sees it writes a message and ends the process with status 3 (or 4 if the
// frame's contents are no longer the frame's). A clean run exits 0.
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "runtime/gc.h"

namespace {

constexpr uint64_t kFrameMagic = 0x6d61696e6672616dull;  // "mainfram"
constexpr int kFrameSlots = 16;

struct MainFrame {
  uint64_t magic;
  void* slots[kFrameSlots];
};

struct Cell {
  void* car;
  void* cdr;
  int64_t value;
};

std::atomic<bool> exit_begun{false};
gc_heap* heap = nullptr;
gc_type_id cell_type = 0;
gc_mutator* main_mutator = nullptr;

void Die(const char* msg, int status) {
  (void)!write(2, msg, strlen(msg));
  _exit(status);
}

void ScanMainFrame(gc_visit_fn visit, void* visit_ctx, void* data) {
  if (exit_begun.load()) {
    Die("exit_child: a root scanner ran after exit had begun\n", 3);
  }
  auto* frame = static_cast<MainFrame*>(data);
  if (frame->magic != kFrameMagic) {
    Die("exit_child: the root scanner read a dead frame\n", 4);
  }
  for (int i = 0; i < kFrameSlots; i++) visit(&frame->slots[i], visit_ctx);
}

Cell* Cons(gc_mutator* m, void* cdr, int64_t v) {
  auto* c = static_cast<Cell*>(gc_alloc(m, cell_type, sizeof(Cell)));
  if (c == nullptr) Die("exit_child: gc_alloc failed\n", 5);
  gc_write_barrier(m, c, &c->cdr, cdr);
  c->value = v;
  return c;
}

// A mutator that builds and drops lists forever, rooted in its own slot.
void Allocate(int id, bool exits) {
  gc_mutator* m = gc_thread_attach(heap);
  static void* roots[16];
  gc_add_root(heap, &roots[id]);
  for (int64_t i = 0;; i++) {
    roots[id] = (i % 1000 == 0) ? nullptr : Cons(m, roots[id], i);
    gc_safepoint(m);
    if (exits && i == 20000) {
      exit_begun.store(true);
      exit(0);
    }
  }
}

void CollectForever() {
  gc_mutator* m = gc_thread_attach(heap);
  for (;;) gc_collect(m);
}

// MODE atexit: runs on the exiting thread during exit. gcheap must not make
// it wait: the allocation and the collection return (the collection
// without collecting), the detach returns.
void AtExitUsesTheHeap() {
  Cons(main_mutator, nullptr, 1);
  gc_collect(main_mutator);
  gc_thread_detach(main_mutator);
}

// Exit-time work of a real program (static destructors, flushing logs):
// registered before the heap exists, so it runs after gcheap's handler.
// While it runs the other threads go on allocating and collecting.
void SlowExit() { std::this_thread::sleep_for(std::chrono::milliseconds(20)); }

struct RaiseExitFlag {
  ~RaiseExitFlag() { exit_begun.store(true); }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: exit_child MODE CYCLES SEED\n");
    return 2;
  }
  const std::string mode = argv[1];
  const bool stw = std::string(argv[2]) == "stw";
  const int seed = atoi(argv[3]);
  atexit(SlowExit);
  // Destroyed last when main returns: from then on main's frame is gone.
  RaiseExitFlag raise_on_return;
  MainFrame frame;
  frame.magic = kFrameMagic;
  for (void*& s : frame.slots) s = nullptr;

  gc_config cfg;
  gc_config_init(&cfg);
  cfg.verify = 1;
  cfg.stop_the_world = stw ? 1 : 0;
  heap = gc_heap_create(&cfg);
  if (heap == nullptr) Die("exit_child: gc_heap_create failed\n", 5);
  static const uint64_t kCellMap = 0b11;
  gc_type_desc d;
  gc_type_desc_init(&d);
  d.name = "Cell";
  d.size = sizeof(Cell);
  d.ptr_bitmap = &kCellMap;
  d.ptr_bitmap_words = 1;
  cell_type = gc_register_type(heap, &d);
  if (cell_type == 0) Die("exit_child: gc_register_type failed\n", 5);
  gc_add_root_scanner(heap, ScanMainFrame, &frame);
  gc_mutator* m = gc_thread_attach(heap);
  main_mutator = m;
  if (mode == "atexit") atexit(AtExitUsesTheHeap);

  constexpr int kAllocators = 3;
  for (int i = 0; i < kAllocators; i++) {
    std::thread(Allocate, i, mode == "thread-exit" && i == 0).detach();
  }
  std::thread(CollectForever).detach();

  // Allocate for 5 to 24 ms, keeping the lists in main's frame.
  const auto end = std::chrono::steady_clock::now() +
                   std::chrono::milliseconds(5 + seed % 20);
  for (int64_t i = 0; std::chrono::steady_clock::now() < end; i++) {
    void*& slot = frame.slots[i % kFrameSlots];
    slot = (i % 500 == 0) ? nullptr : Cons(m, slot, i);
  }
  if (mode == "exit") {
    exit_begun.store(true);
    exit(0);
  }
  if (mode == "thread-exit") {
    // Wait (attached, polling) for the thread that ends the process.
    for (int64_t i = 0;; i++) {
      void*& slot = frame.slots[i % kFrameSlots];
      slot = (i % 500 == 0) ? nullptr : Cons(m, slot, i);
    }
  }
  return 0;  // modes return and atexit
}
