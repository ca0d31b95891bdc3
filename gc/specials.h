// specials.h: per-object records that outlive a cycle ("specials", as Go
// calls them): the weak handles that point at an object and its cleanups;
// and the per-span side record whose bitmaps tell the marker and the
// sweeper which objects have records at all.
//
// Span side record (SpanSide, hung off MSpan::gc_side, allocated on first
// use). Three bitmaps of the span's bitmap_words words, one bit per slot:
//   specials   persistent: the slot's object has records in SpecialsTable;
//   referents  this cycle: somebody waits for the object (gc/referents.h:
//              an ephemeron whose key it is, a weak slot that held it when
//              its holder was scanned); set by markers, cleared by the sweep;
//   revived    this cycle: the object was marked by finalization, not by
//              strong marking (gc/finalize.h); the revive bit is set before
//              the mark bit.
// Every bit is read and written with atomic operations. Lifetime: a side
// record is installed with a compare-and-swap (by a marker, or by a
// mutator under its span lock) and freed only by the sweep hook, under the
// span lock, when no slot has specials left; every span is swept before
// the next cycle marks, so markers never see one freed, and a mutator sets
// a specials bit under the span lock, so it never sets one in a record
// being freed. A span is never freed with a side record (the heap checks).
//
// SpecialsTable: a map from an object's base address to its Record (the
// weak handles targeting it, in a doubly-linked list through the cells; its
// cleanups), in kShards shards with one mutex each, chosen by the object's
// span (the MSpan address: a reader that holds only a possibly stale
// pointer finds it in the arena's page map, without reading the span, which
// may be freed meanwhile; see gc/weak.h). Invariants, under the shard's lock:
// an object has a Record exactly when its specials bit is set; a weak cell is
// linked in the Record of the object its target resolves to exactly when its
// target is not NULL (a cell is unlinked in the same critical section that
// clears it). The sweep hook (gc/weak.h) takes the shard lock of every object
// with a specials bit that it frees or revives, so a reader holding that lock
// while a cell still targets the object knows the object's span is not
// freed meanwhile.
#ifndef GCHEAP_GC_SPECIALS_H_
#define GCHEAP_GC_SPECIALS_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "heap/mspan.h"

namespace gcheap {

inline constexpr uint8_t kWeakShort = 0;  // GC_WEAK_SHORT
inline constexpr uint8_t kWeakLong = 1;   // GC_WEAK_LONG

// ---- the per-span side record -----------------------------------------------

struct SpanSide {
  uint32_t words;   // per bitmap (the span's bitmap_words)
  uint64_t bits[];  // specials, then referents, then revived

  uint64_t* specials() { return bits; }
  uint64_t* referents() { return bits + words; }
  uint64_t* revived() { return bits + 2 * size_t{words}; }

  // The span's side record, or null (acquire: its bits are visible).
  static SpanSide* Of(const MSpan* s) {
    return static_cast<SpanSide*>(s->gc_side.load(std::memory_order_acquire));
  }
  static bool Test(const uint64_t* map, size_t i) {
    return (__atomic_load_n(&map[i / 64], __ATOMIC_SEQ_CST) >> (i % 64)) & 1;
  }
  // Sets bit i (sequentially consistent); returns whether it was clear.
  static bool Set(uint64_t* map, size_t i) {
    const uint64_t bit = uint64_t{1} << (i % 64);
    return !(__atomic_fetch_or(&map[i / 64], bit, __ATOMIC_SEQ_CST) & bit);
  }
  static void Clear(uint64_t* map, size_t i) {
    __atomic_fetch_and(&map[i / 64], ~(uint64_t{1} << (i % 64)),
                       __ATOMIC_SEQ_CST);
  }
  static uint64_t Word(const uint64_t* map, size_t w) {
    return __atomic_load_n(&map[w], __ATOMIC_ACQUIRE);
  }
};

// The shard of a span's records in SpecialsTable and ReferentTable: from
// the MSpan's address, so that it can be chosen without reading the span.
inline size_t SpanShard(const MSpan* s, size_t shards_log2) {
  return ((reinterpret_cast<uintptr_t>(s) >> 4) * 0x9e3779b97f4a7c15ull) >>
         (64 - shards_log2);
}

// Creation and retirement of side records, and the specials bits that
// mutators set (under a per-span lock, striped over kLocks mutexes).
// A side record that the sweep finds without specials is retired (the
// span's pointer cleared) and freed only by FreeRetired, which the
// collector calls when every span has been swept and the world is stopped:
// a weak reader that loaded the pointer before (gc/weak.h) still reads
// valid memory, and sees the cleared bits as a change of sweepgen.
class SpanSides {
 public:
  static constexpr size_t kLocks = 64;

  SpanSides() = default;
  ~SpanSides();
  SpanSides(const SpanSides&) = delete;
  SpanSides& operator=(const SpanSides&) = delete;

  // The span's side record, installed if it has none (a compare-and-swap:
  // markers call it without the span lock). Null only if out of memory.
  SpanSide* GetOrCreate(MSpan* s);
  // Sets / clears the specials bit of slot i (the caller holds the
  // SpecialsTable shard lock of the object). SetSpecial returns false if
  // out of memory.
  bool SetSpecial(MSpan* s, size_t i);
  void ClearSpecial(MSpan* s, size_t i);
  // Sweep: retires the span's side record if no slot has specials left.
  // Called by the sweep hook after it cleared the per-cycle bits.
  void RetireIfNoSpecials(MSpan* s);
  // Frees the retired records (every span swept, the world stopped).
  void FreeRetired();
  // Records installed and not retired (for tests and statistics).
  size_t live() const { return live_.load(std::memory_order_relaxed); }
  size_t retired() {
    std::lock_guard<std::mutex> g(retired_mu_);
    return retired_.size();
  }

 private:
  std::mutex& LockOf(const MSpan* s) { return locks_[SpanShard(s, 6)]; }
  std::mutex locks_[kLocks];
  std::atomic<size_t> live_{0};
  std::mutex retired_mu_;
  std::vector<SpanSide*> retired_;
};
static_assert(SpanSides::kLocks == 64);

// ---- per-object records -----------------------------------------------------

// A weak reference held outside the heap (the body of a gc_weak handle).
// target is the pointer given (0 = NULL), read and written atomically;
// prev/next link the cells of one target (under its shard lock).
struct WeakCell {
  uintptr_t target = 0;
  uint8_t kind = kWeakShort;
  WeakCell* prev = nullptr;
  WeakCell* next = nullptr;

  uintptr_t Load() const { return __atomic_load_n(&target, __ATOMIC_ACQUIRE); }
  void Store(uintptr_t v) { __atomic_store_n(&target, v, __ATOMIC_RELEASE); }
};

// A cleanup (Go's AddCleanup): a callback run after its object was freed.
// fn and arg are the embedder's, opaque here. state: registered (linked in
// its object's Record), then queued (the object was freed: the sweep queues
// it, gc/finalize.h), then running (taken by a runner, which frees it
// afterwards); or cancelled while queued (the runner frees it unrun).
struct Cleanup {
  enum State : int { kRegistered, kQueued, kRunning, kCancelled };
  uintptr_t obj = 0;  // the object's base
  void (*fn)() = nullptr;
  void* arg = nullptr;
  Cleanup* prev = nullptr;
  Cleanup* next = nullptr;
  std::atomic<int> state{kRegistered};
};

class SpecialsTable {
 public:
  static constexpr size_t kShards = 64;

  struct Record {
    WeakCell* cells = nullptr;  // weak handles targeting the object
    Cleanup* cleanups = nullptr;
    bool empty() const { return cells == nullptr && cleanups == nullptr; }
  };

  explicit SpecialsTable(SpanSides* sides) : sides_(sides) {}
  // Frees the cleanups still registered (the heap is being destroyed).
  ~SpecialsTable();
  SpecialsTable(const SpecialsTable&) = delete;
  SpecialsTable& operator=(const SpecialsTable&) = delete;

  // The lock that guards the records of the objects of span s.
  std::mutex& LockOf(const MSpan* s) { return ShardOf(s).mu; }

  // ---- under LockOf(s) ----
  // Links cell c into the record of the object at `base` (slot i of span
  // s), creating it and setting the specials bit. False if out of memory.
  bool LinkCell(MSpan* s, size_t i, uintptr_t base, WeakCell* c);
  // Unlinks c from that record (and drops the record when it empties).
  void UnlinkCell(MSpan* s, size_t i, uintptr_t base, WeakCell* c);
  bool AddCleanup(MSpan* s, size_t i, uintptr_t base, Cleanup* c);
  void RemoveCleanup(MSpan* s, size_t i, uintptr_t base, Cleanup* c);
  // The record of base (an object of span s), or null.
  Record* Find(const MSpan* s, uintptr_t base);

  // The object at base (slot i of span s) was freed: clears every cell
  // (target := 0, unlinked), hands every cleanup to queue(Cleanup*) and
  // drops the record. With revived instead: clears the short cells only.
  // Returns the number of cells cleared. (The sweep hook holds LockOf(s)
  // for the whole span.)
  template <typename QueueFn>
  size_t SweepObject(MSpan* s, size_t i, uintptr_t base, bool revived,
                     QueueFn queue);

  // Objects with records (walks every shard; for tests and statistics).
  size_t size();

 private:
  struct alignas(64) Shard {
    std::mutex mu;
    absl::flat_hash_map<uintptr_t, Record> map;
  };
  Shard& ShardOf(const MSpan* s) { return shards_[SpanShard(s, 6)]; }
  // Drops base's record if it is empty (clears the specials bit).
  void DropIfEmpty(MSpan* s, size_t i, uintptr_t base, Shard& sh);
  // base's record, made (and the specials bit set) if it has none; nullptr
  // if the span's side record cannot be made.
  Record* FindOrMake(MSpan* s, size_t i, uintptr_t base, Shard& sh);
  // Doubly-linked list steps shared by weak cells and cleanups.
  template <typename Node>
  static void PushFront(Node*& head, Node* c) {
    c->prev = nullptr;
    c->next = head;
    if (head != nullptr) head->prev = c;
    head = c;
  }
  template <typename Node>
  static void Unlink(Node*& head, Node* c) {
    if (c->prev != nullptr) c->prev->next = c->next;
    if (c->next != nullptr) c->next->prev = c->prev;
    if (head == c) head = c->next;
    c->prev = c->next = nullptr;
  }

  SpanSides* sides_;
  Shard shards_[kShards];
};
static_assert(SpecialsTable::kShards == 64, "ShardOf takes 6 bits");

template <typename QueueFn>
size_t SpecialsTable::SweepObject(MSpan* s, size_t i, uintptr_t base,
                                  bool revived, QueueFn queue) {
  Shard& sh = ShardOf(s);
  auto it = sh.map.find(base);
  if (it == sh.map.end()) return 0;
  Record& r = it->second;
  size_t cleared = 0;
  for (WeakCell* c = r.cells; c != nullptr;) {
    WeakCell* next = c->next;
    if (!revived || c->kind == kWeakShort) {
      // Unlinked in the same critical section that clears it (the
      // invariant readers rely on).
      Unlink(r.cells, c);
      c->Store(0);
      cleared++;
    }
    c = next;
  }
  if (!revived) {
    for (Cleanup* c = r.cleanups; c != nullptr;) {
      Cleanup* next = c->next;
      c->prev = c->next = nullptr;
      c->state.store(Cleanup::kQueued, std::memory_order_release);
      queue(c);
      c = next;
    }
    r.cleanups = nullptr;
  }
  DropIfEmpty(s, i, base, sh);
  return cleared;
}

}  // namespace gcheap

#endif  // GCHEAP_GC_SPECIALS_H_
