/* A program that calls every fast path of runtime/gc.h from callers shaped
 * like an interpreter's hot code: a recursive tree builder with several
 * allocation, barrier, handle and poll sites, and an allocation loop.
 * fast_paths_inlined_test.sh checks that the optimized binaries (this file
 * compiled as C, and as C++ by fast_paths_probe.cc) keep no out-of-line
 * copy of any fast path, and runs them: each builds and checks its trees
 * across collections. Written in the common subset of C and C++. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "runtime/gc.h"

typedef struct Node {
  struct Node* left;
  struct Node* right;
  uint64_t depth;
} Node;

static gc_type_id g_node;

/* Every pointer to a heap object is held by a handle across each
 * safepoint and allocation (a collection may run there), except the one
 * an allocation just returned until the next of them. */
static Node* Build(gc_mutator* m, int depth) {
  gc_safepoint(m);
  Node* n = (Node*)gc_alloc(m, g_node, sizeof(Node));
  if (n == NULL) return NULL;
  n->depth = (uint64_t)depth;
  if (depth > 0) {
    gc_handle_scope scope;
    gc_handle_scope_open(m, &scope);
    void** h = gc_handle_new(m, n);
    Node* l = Build(m, depth - 1);
    n = (Node*)*h;
    gc_write_barrier(m, n, (void**)&n->left, l);
    Node* r = Build(m, depth - 1);
    n = (Node*)*h;
    gc_write_barrier(m, n, (void**)&n->right, r);
    gc_handle_scope_close(m, &scope);
  }
  return n;
}

/* Many call sites, as in an interpreter (one per opcode that allocates or
 * stores). (This unit is small: GCC inlines these even without
 * always_inline; tools/bench/tree_bench is the unit where it did not.) */
#define PROBE_CONS(k)                                     \
  static Node* Cons##k(gc_mutator* m, Node* l, Node* r) { \
    gc_safepoint(m);                                      \
    gc_handle_scope scope;                                \
    gc_handle_scope_open(m, &scope);                      \
    void** hl = gc_handle_new(m, l);                      \
    void** hr = gc_handle_new(m, r);                      \
    char* s = (char*)gc_alloc_noscan(m, 16 + (k));        \
    if (s != NULL) s[0] = (char)(k);                      \
    /* The last allocation: n is held by no handle. */    \
    Node* n = (Node*)gc_alloc(m, g_node, sizeof(Node));   \
    if (n != NULL) {                                      \
      n->depth = (uint64_t)(k);                           \
      gc_write_barrier(m, n, (void**)&n->left, *hl);      \
      gc_write_barrier(m, n, (void**)&n->right, *hr);     \
    }                                                     \
    gc_handle_scope_close(m, &scope);                     \
    return n;                                             \
  }
PROBE_CONS(0)
PROBE_CONS(1)
PROBE_CONS(2)
PROBE_CONS(3)
PROBE_CONS(4)
PROBE_CONS(5)
PROBE_CONS(6)
PROBE_CONS(7)
PROBE_CONS(8)
PROBE_CONS(9)
PROBE_CONS(10)
PROBE_CONS(11)
PROBE_CONS(12)
PROBE_CONS(13)
PROBE_CONS(14)
PROBE_CONS(15)

typedef Node* (*ConsFn)(gc_mutator*, Node*, Node*);
static const ConsFn kCons[16] = {Cons0,  Cons1,  Cons2,  Cons3, Cons4,  Cons5,
                                 Cons6,  Cons7,  Cons8,  Cons9, Cons10, Cons11,
                                 Cons12, Cons13, Cons14, Cons15};

/* A list of n cells made by the constructors in turn; each cell's depth
 * field names its constructor. */
static Node* List(gc_mutator* m, int n) {
  gc_handle_scope scope;
  gc_handle_scope_open(m, &scope);
  void** head = gc_handle_new(m, NULL);
  for (int i = 0; i < n; i++) {
    Node* c = kCons[i % 16](m, NULL, (Node*)*head);
    if (c == NULL) break;
    *head = c;
  }
  Node* result = (Node*)*head;
  gc_handle_scope_close(m, &scope);
  return result;
}

static long ListCheck(const Node* l, int n) {
  long ok = 0;
  for (int i = n - 1; i >= 0 && l != NULL; i--, l = l->right) {
    if (l->depth == (uint64_t)(i % 16)) ok++;
  }
  return l == NULL ? ok : -1;
}

static long Count(const Node* n, int depth) {
  if (n == NULL || n->depth != (uint64_t)depth) return -1000000;
  if (depth == 0) return 1;
  return 1 + Count(n->left, depth - 1) + Count(n->right, depth - 1);
}

int main(void) {
  gc_config cfg;
  gc_config_init(&cfg);
  gc_heap* heap = gc_heap_create(&cfg);
  if (heap == NULL) return 1;
  gc_mutator* m = gc_thread_attach(heap);
  static const uint64_t kMap = 0x3; /* left, right */
  gc_type_desc d;
  gc_type_desc_init(&d);
  d.name = "Node";
  d.size = sizeof(Node);
  d.ptr_bitmap = &kMap;
  d.ptr_bitmap_words = 1;
  g_node = gc_register_type(heap, &d);
  int failures = 0;
  for (int round = 0; round < 40; round++) {
    const int depth = 8 + round % 6;
    Node* t = Build(m, depth);
    const long want = (2L << depth) - 1;
    if (Count(t, depth) != want) failures++;
    Node* l = List(m, 5000);
    if (ListCheck(l, 5000) != 5000) failures++;
    for (int i = 0; i < 1000; i++) {
      char* s = (char*)gc_alloc_noscan(m, 16 + (size_t)(i % 200));
      if (s == NULL || s[0] != 0)
        failures++;
      else
        s[0] = 1;
    }
    if (round % 10 == 9) gc_collect(m);
  }
  gc_thread_detach(m);
  gc_heap_destroy(heap);
  printf("fast_paths_probe: %d failures\n", failures);
  return failures == 0 ? 0 : 1;
}
