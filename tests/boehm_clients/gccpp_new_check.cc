// gccpp_new_check: a program that replaces the global operator new with
// collector memory, as Debian's libgccpp.so.1 does (gc_cpp.h: new is
// GC_malloc_uncollectable, delete GC_free), and never calls GC_init: its
// first `new` initializes the collector from inside operator new. Linked
// against libgc.so.1; gccpp_new_test.sh runs it under a timeout on
// Debian's library and on gcheap's (which once deadlocked here: its own
// initialization's `new` re-entered this operator new). Prints a line
// that the test compares.
#include <gc/gc.h>
#include <stdio.h>

#include <new>
#include <string>
#include <vector>

void* operator new(size_t n) {
  void* p = GC_MALLOC_UNCOLLECTABLE(n);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
void* operator new[](size_t n) { return operator new(n); }
void operator delete(void* p) noexcept { GC_FREE(p); }
void operator delete[](void* p) noexcept { GC_FREE(p); }
void operator delete(void* p, size_t) noexcept { GC_FREE(p); }
void operator delete[](void* p, size_t) noexcept { GC_FREE(p); }

int main() {
  auto* v = new std::vector<std::string*>;
  for (int i = 0; i < 2000; i++) {
    v->push_back(
        new std::string(100 + i % 50, static_cast<char>('a' + i % 26)));
  }
  GC_gcollect();  // uncollectable: every string survives
  long sum = 0;
  for (const std::string* s : *v) sum += static_cast<long>(s->size()) + (*s)[0];
  for (std::string* s : *v) delete s;
  delete v;
  GC_gcollect();
  printf("gccpp new: 2000 strings, checksum %ld\n", sum);
  return 0;
}
