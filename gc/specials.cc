#include "gc/specials.h"

#include <cstdlib>

// LeakSanitizer scans malloc'ed blocks, globals, stacks and TLS, but not
// the heap's own metadata (span structs come from FixAlloc's mmap'ed
// chunks), so a side record whose only reference is its span's gc_side
// reads as leaked when a heap that is never destroyed (libgc.so.1's)
// still has one at exit. Such records are told to it as not leaked.
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(leak_sanitizer)
#include <sanitizer/lsan_interface.h>
#define GCHEAP_LSAN_IGNORE(p) __lsan_ignore_object(p)
#endif
#endif
#ifndef GCHEAP_LSAN_IGNORE
#define GCHEAP_LSAN_IGNORE(p) ((void)(p))
#endif

namespace gcheap {

SpanSides::~SpanSides() { FreeRetired(); }

SpanSide* SpanSides::GetOrCreate(MSpan* s) {
  if (SpanSide* side = SpanSide::Of(s)) return side;
  const size_t words = s->bitmap_words;
  auto* fresh = static_cast<SpanSide*>(
      calloc(1, sizeof(SpanSide) + 3 * words * sizeof(uint64_t)));
  if (fresh == nullptr) return nullptr;
  GCHEAP_LSAN_IGNORE(fresh);  // referenced from the span struct only
  fresh->words = static_cast<uint32_t>(words);
  void* expect = nullptr;
  if (s->gc_side.compare_exchange_strong(expect, fresh,
                                         std::memory_order_seq_cst)) {
    live_.fetch_add(1, std::memory_order_relaxed);
    return fresh;
  }
  free(fresh);  // another thread installed one first
  return static_cast<SpanSide*>(expect);
}

bool SpanSides::SetSpecial(MSpan* s, size_t i) {
  std::lock_guard<std::mutex> g(LockOf(s));
  SpanSide* side = GetOrCreate(s);
  if (side == nullptr) return false;
  SpanSide::Set(side->specials(), i);
  return true;
}

void SpanSides::ClearSpecial(MSpan* s, size_t i) {
  std::lock_guard<std::mutex> g(LockOf(s));
  SpanSide* side = SpanSide::Of(s);
  GC_CHECK(side != nullptr, "clearing a specials bit of a span without one");
  SpanSide::Clear(side->specials(), i);
}

void SpanSides::RetireIfNoSpecials(MSpan* s) {
  std::lock_guard<std::mutex> g(LockOf(s));
  SpanSide* side = SpanSide::Of(s);
  if (side == nullptr) return;
  for (size_t w = 0; w < side->words; w++) {
    if (SpanSide::Word(side->specials(), w) != 0) return;
  }
  s->gc_side.store(nullptr, std::memory_order_release);
  live_.fetch_sub(1, std::memory_order_relaxed);
  std::lock_guard<std::mutex> r(retired_mu_);
  retired_.push_back(side);
}

void SpanSides::FreeRetired() {
  std::vector<SpanSide*> v;
  {
    std::lock_guard<std::mutex> r(retired_mu_);
    v.swap(retired_);
  }
  for (SpanSide* side : v) free(side);
}

SpecialsTable::~SpecialsTable() {
  for (Shard& sh : shards_) {
    for (auto& [base, r] : sh.map) {
      for (Cleanup* c = r.cleanups; c != nullptr;) {
        Cleanup* next = c->next;
        delete c;
        c = next;
      }
    }
  }
}

SpecialsTable::Record* SpecialsTable::Find(const MSpan* s, uintptr_t base) {
  Shard& sh = ShardOf(s);
  auto it = sh.map.find(base);
  return it == sh.map.end() ? nullptr : &it->second;
}

SpecialsTable::Record* SpecialsTable::FindOrMake(MSpan* s, size_t i,
                                                 uintptr_t base, Shard& sh) {
  auto [it, fresh] = sh.map.try_emplace(base);
  if (fresh && !sides_->SetSpecial(s, i)) {
    sh.map.erase(it);
    return nullptr;
  }
  return &it->second;
}

bool SpecialsTable::LinkCell(MSpan* s, size_t i, uintptr_t base, WeakCell* c) {
  Record* r = FindOrMake(s, i, base, ShardOf(s));
  if (r == nullptr) return false;
  PushFront(r->cells, c);
  return true;
}

void SpecialsTable::UnlinkCell(MSpan* s, size_t i, uintptr_t base,
                               WeakCell* c) {
  Shard& sh = ShardOf(s);
  auto it = sh.map.find(base);
  GC_CHECK(it != sh.map.end(), "a linked weak cell's target has no record");
  Unlink(it->second.cells, c);
  DropIfEmpty(s, i, base, sh);
}

bool SpecialsTable::AddCleanup(MSpan* s, size_t i, uintptr_t base, Cleanup* c) {
  Record* r = FindOrMake(s, i, base, ShardOf(s));
  if (r == nullptr) return false;
  c->obj = base;
  PushFront(r->cleanups, c);
  return true;
}

void SpecialsTable::RemoveCleanup(MSpan* s, size_t i, uintptr_t base,
                                  Cleanup* c) {
  Shard& sh = ShardOf(s);
  auto it = sh.map.find(base);
  GC_CHECK(it != sh.map.end(), "a registered cleanup's object has no record");
  Unlink(it->second.cleanups, c);
  DropIfEmpty(s, i, base, sh);
}

void SpecialsTable::DropIfEmpty(MSpan* s, size_t i, uintptr_t base, Shard& sh) {
  auto it = sh.map.find(base);
  if (it == sh.map.end() || !it->second.empty()) return;
  sh.map.erase(it);
  sides_->ClearSpecial(s, i);
}

size_t SpecialsTable::size() {
  size_t n = 0;
  for (Shard& sh : shards_) {
    std::lock_guard<std::mutex> g(sh.mu);
    n += sh.map.size();
  }
  return n;
}

}  // namespace gcheap
