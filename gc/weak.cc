#include "gc/weak.h"

#include <cstdlib>
#include <thread>

#include "heap/error.h"

namespace gcheap {

namespace {
uintptr_t LoadWord(const uintptr_t* w) {
  return __atomic_load_n(w, __ATOMIC_ACQUIRE);
}
// Clears *w if it still holds expect. True if it did.
bool ClearWord(uintptr_t* w, uintptr_t expect) {
  return __atomic_compare_exchange_n(w, &expect, uintptr_t{0}, false,
                                     __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
}
}  // namespace

WeakProcessor::WeakProcessor(MHeap* heap, uintptr_t tag_mask)
    : heap_(heap), tag_keep_(~tag_mask) {}

WeakProcessor::~WeakProcessor() {
  heap_->ForEachSpan([](MSpan* s) {
    if (void* side = s->gc_side.exchange(nullptr)) free(side);
  });
}

bool WeakProcessor::Resolve(uintptr_t value, ObjectRef* r) const {
  // (Not IsAllocated: the span may be being swept by another thread; the
  // object is one the caller holds, or one a weak word names.)
  const uintptr_t p = Strip(value);
  return p >= 4096 && heap_->FindObject(p, r);
}

// ---- the sweep ------------------------------------------------------------

void WeakProcessor::BeforeSweep(MSpan* s) {
  SpanSide* side = SpanSide::Of(s);
  if (side == nullptr) return;
  WeakCounts n;
  const auto queue = [&](Cleanup* c) {
    n.cleanups++;
    queue_cleanup_(c);
  };
  {
    // One span, one shard of each table: held for the whole span (the
    // readers' argument needs every clear of this span's words to happen
    // under them).
    std::lock_guard<std::mutex> gs(specials_.LockOf(s));
    std::lock_guard<std::mutex> gr(referents_.LockOf(s));
    for (size_t w = 0; w < side->words; w++) {
      const uint64_t alloc = s->AllocatedWord(w);
      const uint64_t marked =
          __atomic_load_n(&s->gcmark_bits[w], __ATOMIC_RELAXED) &
          s->SlotMask(w);
      const uint64_t spec = SpanSide::Word(side->specials(), w);
      const uint64_t ref = SpanSide::Word(side->referents(), w);
      const uint64_t rev_all = SpanSide::Word(side->revived(), w);
      const uint64_t rev = rev_all & marked;
      const uint64_t freed = alloc & ~marked;
      uint64_t todo = (spec & (freed | rev)) | ref;
      while (todo != 0) {
        const unsigned b = __builtin_ctzll(todo);
        todo &= todo - 1;
        const uint64_t bit = uint64_t{1} << b;
        const size_t i = w * 64 + b;
        const uintptr_t base = s->start + i * s->elemsize;
        const bool is_freed = (freed & bit) != 0;
        if ((spec & bit) != 0 && (is_freed || (rev & bit) != 0)) {
          n.cells += specials_.SweepObject(s, i, base, !is_freed, queue);
        }
        if ((ref & bit) != 0) {
          SweepReferents(s, base, is_freed, (rev & bit) != 0, &n);
        }
      }
      if (ref != 0)
        __atomic_store_n(&side->referents()[w], 0, __ATOMIC_RELAXED);
      if (rev_all != 0) {
        __atomic_store_n(&side->revived()[w], 0, __ATOMIC_RELAXED);
      }
    }
  }
  sides_.RetireIfNoSpecials(s);
  if (n.cells) cleared_cells_.fetch_add(n.cells, std::memory_order_relaxed);
  if (n.slots) cleared_slots_.fetch_add(n.slots, std::memory_order_relaxed);
  if (n.ephemerons) {
    cleared_ephemerons_.fetch_add(n.ephemerons, std::memory_order_relaxed);
  }
  if (n.cleanups) {
    queued_cleanups_.fetch_add(n.cleanups, std::memory_order_relaxed);
  }
}

void WeakProcessor::SweepReferents(MSpan* s, uintptr_t key, bool freed,
                                   bool revived, WeakCounts* n) {
  ReferentTable::Entry e;
  if (!referents_.TakeLocked(s, key, &e)) return;
  // A strongly marked key's records are only dropped; so are a revived
  // one's long slots and waiters (revived keys count as marked).
  if (!freed && !revived) return;
  for (ReferentTable::Node* x = e.slots; x != nullptr; x = x->next) {
    if (!freed && x->kind != kWeakShort) continue;
    n->slots += ClearWord(reinterpret_cast<uintptr_t*>(x->holder), x->raw);
  }
  if (!freed) return;
  for (ReferentTable::Node* x = e.waiters; x != nullptr; x = x->next) {
    // Value first: a reader that sees the key cleared (acquire) sees the
    // value cleared too, never the value of a freed key.
    auto* eph = reinterpret_cast<EphemeronObject*>(x->holder);
    if (__atomic_load_n(&eph->key, __ATOMIC_ACQUIRE) != x->raw) continue;
    __atomic_store_n(&eph->value, uintptr_t{0}, __ATOMIC_RELEASE);
    n->ephemerons += ClearWord(&eph->key, x->raw);
  }
}

void WeakProcessor::AfterSweepCycle() {
  referents_.Reset();
  sides_.FreeRetired();
}

WeakCounts WeakProcessor::counts() const {
  WeakCounts c;
  c.cells = cleared_cells_.load(std::memory_order_relaxed);
  c.slots = cleared_slots_.load(std::memory_order_relaxed);
  c.ephemerons = cleared_ephemerons_.load(std::memory_order_relaxed);
  c.cleanups = queued_cleanups_.load(std::memory_order_relaxed);
  return c;
}

// ---- handles ----------------------------------------------------------------

bool WeakProcessor::Link(WeakCell* c, uintptr_t value, WeakPhase phase) {
  GC_DCHECK(c->Load() == 0 && c->prev == nullptr && c->next == nullptr,
            "linking a linked weak cell");
  if (value == 0) return true;
  ObjectRef r;
  if (!Resolve(value, &r)) {
    SetLastError("%p is not an object of this heap",
                 reinterpret_cast<void*>(value));
    return false;
  }
  if (phase == WeakPhase::kSweep) SettleRevived(value);
  std::lock_guard<std::mutex> g(specials_.LockOf(r.span));
  if (!specials_.LinkCell(r.span, r.index, r.base, c)) {
    SetLastError("out of memory for a weak reference's record");
    return false;
  }
  c->Store(value);
  return true;
}

void WeakProcessor::Unlink(WeakCell* c) {
  for (;;) {
    const uintptr_t v = c->Load();
    if (v == 0) return;  // never linked, or cleared (and unlinked) by a sweep
    // The target is live or has a record the sweep must clear under the
    // lock: its span is in use while we hold the lock and c still holds v.
    MSpan* s = heap_->SpanAt(Strip(v));
    GC_CHECK(s != nullptr, "a linked weak cell's target has no span");
    std::lock_guard<std::mutex> g(specials_.LockOf(s));
    if (c->Load() != v) continue;
    ObjectRef r;
    GC_CHECK(heap_->FindObject(Strip(v), &r) && r.span == s,
             "a linked weak cell's target moved");
    specials_.UnlinkCell(s, r.index, r.base, c);
    c->Store(0);
    return;
  }
}

void WeakProcessor::StoreSlot(uintptr_t* slot, uintptr_t value,
                              WeakPhase phase) {
  if (phase == WeakPhase::kSweep) SettleRevived(value);
  __atomic_store_n(slot, value, __ATOMIC_RELEASE);
}

void WeakProcessor::SettleRevived(uintptr_t value) {
  const uintptr_t p = Strip(value);
  if (p < 4096 || heap_->FullySwept()) return;
  MSpan* s = heap_->SpanAt(p);
  if (s == nullptr) return;
  SpanSide* side = SpanSide::Of(s);
  if (side == nullptr) return;  // no revive bits: nothing to settle
  // The order BeforeSweep takes them in.
  std::lock_guard<std::mutex> gs(specials_.LockOf(s));
  std::lock_guard<std::mutex> gr(referents_.LockOf(s));
  if (s->state.load(std::memory_order_acquire) != SpanState::kInUse ||
      p < s->start || p >= s->limit || SpanSide::Of(s) != side) {
    return;
  }
  const size_t i = s->ObjIndex(p);
  // Set: the sweep has not processed this span (module comment).
  if (!SpanSide::Test(side->revived(), i)) return;
  const uintptr_t base = s->start + i * s->elemsize;
  WeakCounts n;
  if (SpanSide::Test(side->specials(), i)) {
    n.cells =
        specials_.SweepObject(s, i, base, /*revived=*/true, [](Cleanup*) {});
  }
  if (SpanSide::Test(side->referents(), i)) {
    SweepReferents(s, base, /*freed=*/false, /*revived=*/true, &n);
    SpanSide::Clear(side->referents(), i);
  }
  SpanSide::Clear(side->revived(), i);
  if (n.cells) cleared_cells_.fetch_add(n.cells, std::memory_order_relaxed);
  if (n.slots) cleared_slots_.fetch_add(n.slots, std::memory_order_relaxed);
}

// ---- reads ------------------------------------------------------------------

bool WeakProcessor::Marked(const ObjectRef& r) {
  const size_t i = r.index;
  if ((__atomic_load_n(&r.span->gcmark_bits[i / 64], __ATOMIC_SEQ_CST) >>
       (i % 64)) &
      1) {
    return true;
  }
  // An object allocated black during the mark, not yet marked in bulk by
  // its mcache, is live (and strongly: it is never revived).
  return r.span->IsMarkedOrBlack(i);
}

bool WeakProcessor::StronglyMarked(const ObjectRef& r) {
  const size_t i = r.index;
  if (!Marked(r)) return false;
  SpanSide* side = SpanSide::Of(r.span);
  return side == nullptr || !SpanSide::Test(side->revived(), i);
}

WeakRead WeakProcessor::Read(const uintptr_t* word, WeakWord which,
                             bool is_long, WeakPhase phase) {
  switch (phase) {
    case WeakPhase::kMark: {
      const uintptr_t v = LoadWord(word);
      return {v, Strip(v) >= 4096};
    }
    case WeakPhase::kMarkFinalizers: {
      // Nothing is swept in this phase: spans are stable.
      const uintptr_t v = LoadWord(word);
      ObjectRef r;
      if (!Resolve(v, &r)) return {v, false};
      if (is_long) return {v, true};
      return {StronglyMarked(r) ? v : 0, false};
    }
    case WeakPhase::kSweep:
      if (heap_->FullySwept()) return {LoadWord(word), false};
      return {ReadSweeping(word, which, is_long), false};
  }
  return {};
}

uintptr_t WeakProcessor::ReadSweeping(const uintptr_t* word, WeakWord which,
                                      bool is_long) {
  for (;;) {
    const uintptr_t v = LoadWord(word);
    const uintptr_t p = Strip(v);
    if (p < 4096) return v;
    MSpan* s = heap_->SpanAt(p);
    if (s == nullptr) {
      // Free pages: a freed target's word was cleared before its span was
      // (the page map's release store orders it): reload; unchanged, it is
      // no heap pointer.
      if (LoadWord(word) == v) return v;
      continue;
    }
    std::unique_lock<std::mutex> g(which == WeakWord::kHandle
                                       ? specials_.LockOf(s)
                                       : referents_.LockOf(s));
    if (LoadWord(word) != v) continue;
    if (s->state.load(std::memory_order_acquire) != SpanState::kInUse ||
        p < s->start || p >= s->limit) {
      // Only a word that never named a live object (an immediate that
      // looks like an address) gets here: no record keeps its span.
      return v;
    }
    const uint32_t h = heap_->sweepgen();
    const uint32_t sg = s->sweepgen.load(std::memory_order_acquire);
    if (sg == h || sg == h + 3) return v;  // swept: the sweep kept it
    if (sg == h - 1) {
      g.unlock();
      std::this_thread::yield();
      continue;
    }
    GC_DCHECK(sg == h - 2, "a span in an unexpected sweep state");
    // Unswept: this cycle's marks, as long as sweepgen does not change.
    const size_t i = s->ObjIndex(p);
    const uint64_t* marks = s->MarkBitsForRead();
    const bool marked =
        (__atomic_load_n(&marks[i / 64], __ATOMIC_RELAXED) >> (i % 64)) & 1;
    bool revived = false;
    if (!is_long && marked) {
      if (SpanSide* side = SpanSide::Of(s)) {
        revived = SpanSide::Test(side->revived(), i);
      }
    }
    std::atomic_thread_fence(std::memory_order_acquire);
    if (s->sweepgen.load(std::memory_order_relaxed) != sg) continue;
    return marked && !revived ? v : 0;
  }
}

}  // namespace gcheap
