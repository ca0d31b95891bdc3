#include "tests/oracle/boehm.h"

// Only this file sees Boehm's headers. No pthread redirection: the oracle's
// Boehm side runs on one thread, and the macros would rename pthread calls.
#define GC_NO_THREAD_REDIRECTS 1
#include <gc/gc.h>
#include <gc/gc_typed.h>

#include <cstring>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "tests/oracle/model.h"

namespace gcheap::oracle::boehm {

namespace {
std::once_flag init_once;
std::mutex descr_mu;
// Descriptors are a finite resource in Boehm: one per (kind, bytes).
std::map<std::pair<int, uint32_t>, GC_descr>* descriptors;
}  // namespace

void Init() {
  std::call_once(init_once, [] {
    GC_set_all_interior_pointers(0);
    // What is reachable from a finalized _no_order object is kept (Java
    // mode), as ours does; finalizers run when the oracle asks.
    GC_set_java_finalization(1);
    GC_set_finalize_on_demand(1);
    GC_INIT();
    // (Its "finalization cycle" warnings are the documented leak of
    // ordered finalizable cycles, which the programs build on purpose.)
    GC_set_warn_proc(GC_ignore_warn_proc);
    // Interior offsets and tags (tag_mask 7 programs): base + off + tag.
    for (uint32_t off : kValidOffsets) {
      for (uint32_t tag = 0; tag < 8; tag++) {
        if (off + tag != 0) GC_register_displacement(off + tag);
      }
    }
    descriptors = new std::map<std::pair<int, uint32_t>, GC_descr>;
  });
}

void* AllocTyped(Kind k, uint32_t bytes) {
  const uint32_t words = Words(bytes);
  GC_descr d;
  {
    std::lock_guard<std::mutex> g(descr_mu);
    auto key = std::make_pair(static_cast<int>(k), bytes);
    auto it = descriptors->find(key);
    if (it == descriptors->end()) {
      std::vector<GC_word> bm((words + GC_WORDSZ - 1) / GC_WORDSZ + 1, 0);
      size_t last = 0;
      for (uint32_t w = 0; w < words; w++) {
        // An ephemeron's value (word 1) is a strong pointer on Boehm's
        // side (Boehm has no ephemerons: it keeps more, never less).
        if (RoleOf(k, bytes, w) == Role::kPtr ||
            (k == Kind::kEphemeron && w == 1)) {
          GC_set_bit(bm.data(), w);
          last = w + 1;
        }
      }
      d = GC_make_descriptor(bm.data(), last == 0 ? 1 : last);
      descriptors->emplace(key, d);
    } else {
      d = it->second;
    }
  }
  return GC_malloc_explicitly_typed(bytes, d);
}

void* AllocAtomic(size_t bytes) { return GC_malloc_atomic(bytes); }

void** AllocRoots(size_t n) {
  auto** r = static_cast<void**>(GC_malloc_uncollectable(n * sizeof(void*)));
  if (r != nullptr) memset(r, 0, n * sizeof(void*));
  return r;
}

void FreeRoots(void** roots) { GC_free(roots); }

bool RegisterLink(void** link, void* obj) {
  return GC_general_register_disappearing_link(link, obj) == GC_SUCCESS;
}

void UnregisterLink(void** link) { GC_unregister_disappearing_link(link); }

bool RegisterLongLink(void** link, void* obj) {
  return GC_register_long_link(link, obj) == GC_SUCCESS;
}

void UnregisterLongLink(void** link) { GC_unregister_long_link(link); }

void RegisterFinalizer(void* obj, uint8_t mode, void (*fn)(void*, void*),
                       void* data) {
  if (mode == kFinUnordered) {
    GC_register_finalizer_no_order(obj, fn, data, nullptr, nullptr);
  } else if (mode == kFinIgnoreSelf) {
    GC_register_finalizer_ignore_self(obj, fn, data, nullptr, nullptr);
  } else {
    GC_register_finalizer(obj, fn, data, nullptr, nullptr);
  }
}

void InvokeFinalizers() { GC_invoke_finalizers(); }

void Collect() { GC_gcollect(); }

uint64_t Collections() { return GC_get_gc_no(); }

}  // namespace gcheap::oracle::boehm
