// referents.h: the per-cycle referent table: who waits for an object that
// was not (strongly) marked when they were scanned.
//
// For a key object K (by base address) it keeps two lists:
//   waiters  ephemerons whose key is K, scanned while K was unmarked: their
//            values are marked when K is (Marker::GreyObject takes the
//            list), or the ephemerons are cleared when K is freed;
//   slots    weak slots of scanned objects that held K while K was not
//            strongly marked: cleared (compare-and-swap from the value then
//            read to NULL) when K is freed, or, if short, when K is revived.
// Every record names a holder (an ephemeron, an object with a weak slot)
// that was being scanned, i.e. marked: so it is not freed before the sweep
// of this cycle consumes the record, and every span is swept before the
// next cycle marks. A record exists for K exactly when K's referent bit
// (SpanSide::referents) is set; the table is empty between the end of one
// cycle's sweep and the next cycle's marking (Reset checks it).
//
// kShards shards, chosen by K's span (as SpecialsTable's), each with a mutex, a
// hash map K -> Entry and an arena for the list nodes (rewound by Reset, never
// freed piecemeal). Taking a list is atomic under the shard lock, so each
// node is taken at most once; each ephemeron is appended at most once per
// cycle (it is scanned once), so the work is linear in the number of
// ephemerons whatever the shape of their chains. wait_ops() counts appends
// and taken nodes, so tests can check that.
#ifndef GCHEAP_GC_REFERENTS_H_
#define GCHEAP_GC_REFERENTS_H_

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "gc/specials.h"
#include "heap/mspan.h"

namespace gcheap {

class ReferentTable {
 public:
  static constexpr size_t kShards = 64;

  struct Node {
    Node* next;
    uintptr_t holder;  // the ephemeron, or the weak slot's address
    uintptr_t raw;     // the word read from the key or weak slot
    uint8_t kind;      // weak slots: kWeakShort / kWeakLong
  };
  struct Entry {
    Node* waiters = nullptr;
    Node* slots = nullptr;
  };

  ReferentTable() = default;
  ~ReferentTable();
  ReferentTable(const ReferentTable&) = delete;
  ReferentTable& operator=(const ReferentTable&) = delete;

  // The lock of key's shard (a weak-slot or ephemeron-key reader takes it:
  // the sweep takes it before it clears anything that waits for key).
  // s is the span of the key object.
  std::mutex& LockOf(const MSpan* s) { return ShardOf(s).mu; }

  // Appends ephemeron eph (whose key word is raw) to the waiters of key,
  // an object of span s. False if out of memory.
  bool AddWaiter(const MSpan* s, uintptr_t key, uintptr_t eph, uintptr_t raw);
  // Records that the weak slot at `slot` held raw (resolving to key).
  bool AddSlot(const MSpan* s, uintptr_t key, void** slot, uintptr_t raw,
               uint8_t kind);
  // Takes key's waiters and calls f(ephemeron base) for each.
  template <typename F>
  void TakeWaiters(const MSpan* s, uintptr_t key, F f);
  // Takes key's whole entry (the sweep, which holds LockOf(s) while it
  // clears what the entry names). Returns false if it has none.
  bool TakeLocked(const MSpan* s, uintptr_t key, Entry* out);

  // Called when every span has been swept (no record can be left): checks
  // that the table is empty and rewinds the arenas.
  void Reset();
  size_t size();
  // Appends and taken waiter nodes since the table was created.
  uint64_t wait_ops();

 private:
  static constexpr size_t kChunkNodes = 1024;
  struct alignas(64) Shard {
    std::mutex mu;
    absl::flat_hash_map<uintptr_t, Entry> map;
    std::vector<Node*> chunks;  // kChunkNodes nodes each
    size_t chunk = 0;           // the chunk being filled
    size_t used = 0;            // nodes used in it
    uint64_t wait_ops = 0;
  };
  Shard& ShardOf(const MSpan* s) { return shards_[SpanShard(s, 6)]; }
  // A node from sh's arena (sh.mu held); null if out of memory.
  static Node* NewNode(Shard& sh);

  Shard shards_[kShards];
};
static_assert(ReferentTable::kShards == 64, "ShardOf takes 6 bits");

template <typename F>
void ReferentTable::TakeWaiters(const MSpan* s, uintptr_t key, F f) {
  Shard& sh = ShardOf(s);
  Node* list;
  {
    std::lock_guard<std::mutex> g(sh.mu);
    auto it = sh.map.find(key);
    if (it == sh.map.end()) return;
    list = it->second.waiters;
    it->second.waiters = nullptr;
    for (Node* n = list; n != nullptr; n = n->next) sh.wait_ops++;
  }
  // The nodes stay valid: the arena is rewound only by Reset.
  for (Node* n = list; n != nullptr; n = n->next) f(n->holder);
}

}  // namespace gcheap

#endif  // GCHEAP_GC_REFERENTS_H_
