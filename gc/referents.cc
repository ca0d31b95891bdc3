#include "gc/referents.h"

#include <cstdlib>

#include "heap/base.h"

namespace gcheap {

ReferentTable::~ReferentTable() {
  for (Shard& sh : shards_) {
    for (Node* c : sh.chunks) free(c);
  }
}

ReferentTable::Node* ReferentTable::NewNode(Shard& sh) {
  if (sh.chunk < sh.chunks.size() && sh.used == kChunkNodes) {
    sh.chunk++;
    sh.used = 0;
  }
  if (sh.chunk == sh.chunks.size()) {
    auto* c = static_cast<Node*>(malloc(kChunkNodes * sizeof(Node)));
    if (c == nullptr) return nullptr;
    sh.chunks.push_back(c);
    sh.used = 0;
  }
  return &sh.chunks[sh.chunk][sh.used++];
}

bool ReferentTable::AddWaiter(const MSpan* s, uintptr_t key, uintptr_t eph,
                              uintptr_t raw) {
  Shard& sh = ShardOf(s);
  std::lock_guard<std::mutex> g(sh.mu);
  Node* n = NewNode(sh);
  if (n == nullptr) return false;
  Entry& e = sh.map[key];
  *n = Node{e.waiters, eph, raw, 0};
  e.waiters = n;
  sh.wait_ops++;
  return true;
}

bool ReferentTable::AddSlot(const MSpan* s, uintptr_t key, void** slot,
                            uintptr_t raw, uint8_t kind) {
  Shard& sh = ShardOf(s);
  std::lock_guard<std::mutex> g(sh.mu);
  Node* n = NewNode(sh);
  if (n == nullptr) return false;
  Entry& e = sh.map[key];
  *n = Node{e.slots, reinterpret_cast<uintptr_t>(slot), raw, kind};
  e.slots = n;
  return true;
}

bool ReferentTable::TakeLocked(const MSpan* s, uintptr_t key, Entry* out) {
  Shard& sh = ShardOf(s);
  auto it = sh.map.find(key);
  if (it == sh.map.end()) return false;
  *out = it->second;
  sh.map.erase(it);
  return true;
}

void ReferentTable::Reset() {
  for (Shard& sh : shards_) {
    std::lock_guard<std::mutex> g(sh.mu);
    GC_CHECK(sh.map.empty(),
             "referent records left after every span was swept");
    sh.chunk = 0;
    sh.used = 0;
  }
}

size_t ReferentTable::size() {
  size_t n = 0;
  for (Shard& sh : shards_) {
    std::lock_guard<std::mutex> g(sh.mu);
    n += sh.map.size();
  }
  return n;
}

uint64_t ReferentTable::wait_ops() {
  uint64_t n = 0;
  for (Shard& sh : shards_) {
    std::lock_guard<std::mutex> g(sh.mu);
    n += sh.wait_ops;
  }
  return n;
}

}  // namespace gcheap
