// operator_new.cc: the C++ allocation functions of libgc.so.1's own code,
// over malloc and free (linked into //runtime/boehm:libgc.so.1 only).
//
// A program may replace the global operator new with collector memory:
// Debian's libgccpp.so.1 (gc_cpp.h) defines it as GC_malloc_uncollectable,
// and fauhdlc links it. Had the library's own `new` (gcheap's registries,
// vectors, hash tables; Abseil's inline containers) bound to that operator
// new, the first allocation would re-enter initialization from inside it
// (GC_malloc_uncollectable -> std::call_once -> gc_heap_create -> new ->
// GC_malloc_uncollectable: a deadlock on the call_once), and later ones
// would allocate gcheap's own state in its heap under its locks.
//
// Invariant: every reference to an allocation function made by code
// linked into the library binds here at link time: the definitions are
// hidden (the assembler directive below; C++ cannot redeclare them hidden,
// and gold exports a definition that libstdc++.so also provides despite
// the version script's `local: *`), so they are neither exported nor
// preempted. libstdc++ is linked in statically (BUILD.bazel), so its
// out-of-line members allocate here too; the Abseil objects the library
// still loads (flat_hash_map's hashing) allocate nothing. Under the
// sanitizers the library loads the shared libstdc++ instead, whose
// out-of-line members call the program's operator new: such calls must
// stay off initialization and out of gcheap's locks (docs/boehm.md).
// What such code allocates may come back here to be freed, inline (a
// std::string that libstdc++ grew, destroyed in the library): memory of
// the collector's heap is handed to GC_free (the program's operator new
// took it from GC_malloc*), anything else to free().
//
// The std::basic_string members that the library instantiates are hidden
// too: gold exported them (as it did these functions) although the version
// script makes them local, so they interposed on libstdc++'s for the whole
// process, allocating with this file's malloc for the program's strings.
// Under a sanitizer (--config=asan|asan-ubsan|tsan) the file defines
// nothing: the sanitizer's runtime supplies operator new and checks that
// each block is released by the allocator that made it, which a second,
// library-local set breaks (alloc-dealloc-mismatch); the library then uses
// the program's, as before, and the gccpp_new tests are not run there.
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define GCHEAP_SANITIZER_NEW 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define GCHEAP_SANITIZER_NEW 1
#endif

#ifndef GCHEAP_SANITIZER_NEW
#include <cstddef>
#include <cstdlib>
#include <new>

#define GC_THREADS 1
#define GC_NO_THREAD_REDIRECTS 1
#include <gc/gc.h>

namespace {

void* AllocOrNull(std::size_t n, std::size_t align) {
  if (n == 0) n = 1;
  if (align <= alignof(std::max_align_t)) return std::malloc(n);
  void* p = nullptr;
  return posix_memalign(&p, align, n) == 0 ? p : nullptr;
}

// The throwing forms: the new-handler loop of [new.delete.single].
void* AllocOrThrow(std::size_t n, std::size_t align) {
  for (;;) {
    if (void* p = AllocOrNull(n, align)) return p;
    std::new_handler h = std::get_new_handler();
    if (h == nullptr) throw std::bad_alloc();
    h();
  }
}

void* AllocNoThrow(std::size_t n, std::size_t align) noexcept {
  try {
    return AllocOrThrow(n, align);
  } catch (...) {
    return nullptr;
  }
}

constexpr std::size_t kDefault = alignof(std::max_align_t);

void Release(void* p) noexcept {
  if (p == nullptr) return;
  if (GC_is_heap_ptr(p)) {
    GC_free(p);
  } else {
    std::free(p);
  }
}

}  // namespace

asm(".hidden _Znwm\n.hidden _Znam\n"
    ".hidden _ZnwmRKSt9nothrow_t\n.hidden _ZnamRKSt9nothrow_t\n"
    ".hidden _ZnwmSt11align_val_t\n.hidden _ZnamSt11align_val_t\n"
    ".hidden _ZnwmSt11align_val_tRKSt9nothrow_t\n"
    ".hidden _ZnamSt11align_val_tRKSt9nothrow_t\n"
    ".hidden _ZdlPv\n.hidden _ZdaPv\n"
    ".hidden _ZdlPvRKSt9nothrow_t\n.hidden _ZdaPvRKSt9nothrow_t\n"
    ".hidden _ZdlPvm\n.hidden _ZdaPvm\n"
    ".hidden _ZdlPvSt11align_val_t\n.hidden _ZdaPvSt11align_val_t\n"
    ".hidden _ZdlPvmSt11align_val_t\n.hidden _ZdaPvmSt11align_val_t\n"
    ".hidden _ZdlPvSt11align_val_tRKSt9nothrow_t\n"
    ".hidden _ZdaPvSt11align_val_tRKSt9nothrow_t\n"
    ".hidden _ZNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEE10_M_"
    "disposeEv\n"
    ".hidden _ZNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEE10_M_"
    "replaceEmmPKcm\n"
    ".hidden _ZNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEE9_M_"
    "mutateEmmPKcm\n"
    ".hidden _ZNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEC1EOS4_");

void* operator new(std::size_t n) { return AllocOrThrow(n, kDefault); }
void* operator new[](std::size_t n) { return AllocOrThrow(n, kDefault); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  return AllocNoThrow(n, kDefault);
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  return AllocNoThrow(n, kDefault);
}
void* operator new(std::size_t n, std::align_val_t a) {
  return AllocOrThrow(n, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t n, std::align_val_t a) {
  return AllocOrThrow(n, static_cast<std::size_t>(a));
}
void* operator new(std::size_t n, std::align_val_t a,
                   const std::nothrow_t&) noexcept {
  return AllocNoThrow(n, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t n, std::align_val_t a,
                     const std::nothrow_t&) noexcept {
  return AllocNoThrow(n, static_cast<std::size_t>(a));
}

void operator delete(void* p) noexcept { Release(p); }
void operator delete[](void* p) noexcept { Release(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { Release(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { Release(p); }
void operator delete(void* p, std::size_t) noexcept { Release(p); }
void operator delete[](void* p, std::size_t) noexcept { Release(p); }
void operator delete(void* p, std::align_val_t) noexcept { Release(p); }
void operator delete[](void* p, std::align_val_t) noexcept { Release(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
  Release(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
  Release(p);
}
void operator delete(void* p, std::align_val_t,
                     const std::nothrow_t&) noexcept {
  Release(p);
}
void operator delete[](void* p, std::align_val_t,
                       const std::nothrow_t&) noexcept {
  Release(p);
}

#endif  // GCHEAP_SANITIZER_NEW
