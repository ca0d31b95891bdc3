/* quickstart.c: the first program of docs/embedding.md, in C, on gcheap as
 * it is installed (<gcheap/gc.h>).
 *
 *   cc quickstart.c $(pkg-config --cflags --libs gcheap) -o quickstart
 *
 * It goes through the steps of the guide once: a heap from the defaults and
 * the GC_* environment variables, this thread attached, one registered type
 * (a list cell whose first word is a pointer), a root slot, allocation
 * through the write barrier, an explicit collection and the statistics.
 *
 * It builds kRounds lists of kLength cells, each replacing the last in the
 * root slot, so all but the last list become garbage (and automatic
 * collections run on the way). After gc_collect exactly the kLength cells of
 * the last list are live. It checks that, the list's contents and that the
 * library it runs with is the version it was compiled for; it prints what it
 * found and exits 0 only if everything is right. tests/install/ builds and
 * runs it against an installed tree, //docs/examples/quickstart runs it in
 * the Bazel build.
 */
#include <gcheap/gc.h>
#include <stdint.h>
#include <stdio.h>

typedef struct Cell {
  void* next;    /* word 0: a pointer slot */
  int64_t value; /* word 1: not a pointer */
} Cell;

enum { kLength = 10000, kRounds = 100 };

int main(void) {
  /* The library must be the version this program was compiled against (a
   * newer minor version would do too; see docs/build.md). */
  printf("gcheap %s (compiled against %s)\n", gc_version_string(),
         GCHEAP_VERSION_STRING);
  if (gc_version() / 10000 != GCHEAP_VERSION_MAJOR ||
      gc_version() < GCHEAP_VERSION) {
    fprintf(stderr, "quickstart: library version %d, header version %d\n",
            gc_version(), GCHEAP_VERSION);
    return 1;
  }

  gc_config cfg;
  gc_config_init(&cfg); /* defaults, then GC_PERCENT, GCTRACE, ... */
  gc_heap* heap = gc_heap_create(&cfg);
  if (heap == NULL) {
    fprintf(stderr, "quickstart: %s\n", gc_last_error());
    return 1;
  }
  gc_mutator* m = gc_thread_attach(heap);

  static const uint64_t kCellMap = 0x1; /* word 0 is a pointer */
  gc_type_desc cell_desc;
  gc_type_desc_init(&cell_desc); /* zeroed, struct_size set */
  cell_desc.name = "cell";
  cell_desc.size = sizeof(Cell);
  cell_desc.ptr_bitmap = &kCellMap;
  cell_desc.ptr_bitmap_words = 1; /* the bitmap's length, in words */
  gc_type_id cell = gc_register_type(heap, &cell_desc);
  if (cell == 0) {
    fprintf(stderr, "quickstart: %s\n", gc_last_error());
    return 1;
  }

  /* The only root: the head of the current list. Everything the program
   * needs across an allocation (a safepoint) is reachable from it. */
  void* list = NULL;
  if (gc_add_root(heap, &list) != 0) {
    fprintf(stderr, "quickstart: %s\n", gc_last_error());
    return 1;
  }
  for (int round = 0; round < kRounds; round++) {
    list = NULL; /* a root slot, not a heap object: a plain store */
    for (int64_t i = 1; i <= kLength; i++) {
      Cell* c = (Cell*)gc_alloc(m, cell, sizeof(Cell)); /* may collect */
      if (c == NULL) {
        fprintf(stderr, "quickstart: %s\n", gc_last_error());
        return 1;
      }
      c->value = i;                           /* not a pointer */
      gc_write_barrier(m, c, &c->next, list); /* c->next = list */
      list = c;
    }
  }

  int64_t length = 0, sum = 0;
  for (Cell* c = (Cell*)list; c != NULL; c = (Cell*)c->next) {
    length++;
    sum += c->value;
  }
  printf("list: %lld cells, sum %lld\n", (long long)length, (long long)sum);

  gc_collect(m); /* marks and sweeps everything: the statistics are exact */
  gc_stats s;
  s.struct_size = sizeof(s); /* the layout this program was compiled with */
  gc_get_stats(heap, &s);
  printf("after gc_collect: %llu objects live of %llu allocated\n",
         (unsigned long long)s.live_objects,
         (unsigned long long)s.objects_allocated);

  int ok = length == kLength && sum == (int64_t)kLength * (kLength + 1) / 2 &&
           s.live_objects == kLength &&
           s.objects_allocated == (uint64_t)kLength * kRounds;

  gc_remove_root(heap, &list);
  gc_thread_detach(m);
  gc_heap_destroy(heap);
  printf("%s\n", ok ? "ok" : "WRONG");
  return ok ? 0 : 1;
}
