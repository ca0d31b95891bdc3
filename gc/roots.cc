// roots.cc: the root set (design in roots.h).
#include "gc/roots.h"

#include <algorithm>

namespace gcheap {

Status RootSet::AddSlot(void** slot) {
  if (slot == nullptr) return InvalidArgumentError("root slot is NULL");
  std::lock_guard<std::mutex> g(mu_);
  slots_[slot]++;
  return OkStatus();
}

Status RootSet::RemoveSlot(void** slot) {
  std::lock_guard<std::mutex> g(mu_);
  auto it = slots_.find(slot);
  if (it == slots_.end()) {
    return NotFoundError("root slot %p is not registered", slot);
  }
  if (--it->second == 0) slots_.erase(it);
  return OkStatus();
}

Status RootSet::AddRange(void** start, size_t count) {
  if (start == nullptr && count != 0) {
    return InvalidArgumentError("root range starts at NULL");
  }
  if (count > kMaxRangeSlots) {
    return InvalidArgumentError(
        "root range of %zu slots is absurd (the maximum is %zu)", count,
        kMaxRangeSlots);
  }
  std::lock_guard<std::mutex> g(mu_);
  ranges_[start].push_back(count);
  return OkStatus();
}

namespace {

// Drops one registration of (start, n) from a map of start -> the sizes
// registered there. False if there is none.
template <typename Map, typename Key>
bool RemoveCounted(Map* map, Key start, size_t n) {
  auto it = map->find(start);
  if (it == map->end()) return false;
  auto& counts = it->second;
  auto c = std::find(counts.begin(), counts.end(), n);
  if (c == counts.end()) return false;
  counts.erase(c);
  if (counts.empty()) map->erase(it);
  return true;
}

}  // namespace

Status RootSet::RemoveRange(void** start, size_t count) {
  std::lock_guard<std::mutex> g(mu_);
  if (RemoveCounted(&ranges_, start, count)) return OkStatus();
  return NotFoundError("root range %p (%zu slots) is not registered", start,
                       count);
}

Status RootSet::AddScanner(RootScannerFn fn, void* data) {
  if (fn == nullptr) return InvalidArgumentError("root scanner is NULL");
  std::lock_guard<std::mutex> g(mu_);
  scanners_.push_back({fn, data});
  return OkStatus();
}

Status RootSet::RemoveScanner(RootScannerFn fn, void* data) {
  std::lock_guard<std::mutex> g(mu_);
  for (auto it = scanners_.begin(); it != scanners_.end(); ++it) {
    if (it->fn == fn && it->data == data) {
      scanners_.erase(it);
      return OkStatus();
    }
  }
  return NotFoundError("root scanner is not registered");
}

void RootSet::ForEachRoot(VisitFn visit, void* ctx) const {
  std::lock_guard<std::mutex> g(mu_);
  for (const auto& [slot, n] : slots_) visit(slot, ctx);
  for (const auto& [start, counts] : ranges_) {
    size_t count = *std::max_element(counts.begin(), counts.end());
    for (size_t i = 0; i < count; i++) visit(start + i, ctx);
  }
  for (const Scanner& s : scanners_) s.fn(visit, ctx, s.data);
}

Status RootSet::AddConservativeRange(const void* start, size_t bytes) {
  if (start == nullptr && bytes != 0) {
    return InvalidArgumentError("conservative root range starts at NULL");
  }
  if (bytes > kMaxRangeSlots * sizeof(void*)) {
    return InvalidArgumentError(
        "conservative root range of %zu bytes is absurd (the maximum is %zu)",
        bytes, kMaxRangeSlots * sizeof(void*));
  }
  if (reinterpret_cast<uintptr_t>(start) + bytes <
      reinterpret_cast<uintptr_t>(start)) {
    return InvalidArgumentError(
        "conservative root range %p + %zu bytes wraps around the address "
        "space",
        start, bytes);
  }
  std::lock_guard<std::mutex> g(mu_);
  conservative_[start].push_back(bytes);
  return OkStatus();
}

Status RootSet::RemoveConservativeRange(const void* start, size_t bytes) {
  std::lock_guard<std::mutex> g(mu_);
  if (RemoveCounted(&conservative_, start, bytes)) return OkStatus();
  return NotFoundError(
      "conservative root range %p (%zu bytes) is not registered", start, bytes);
}

void RootSet::ForEachConservativeRange(
    absl::FunctionRef<void(const void*, const void*)> f) const {
  std::lock_guard<std::mutex> g(mu_);
  for (const auto& [start, counts] : conservative_) {
    const size_t bytes = *std::max_element(counts.begin(), counts.end());
    f(start, static_cast<const char*>(start) + bytes);
  }
}

void VisitRootSlot(void** slot, void* visitor) {
  static_cast<RootVisitor*>(visitor)->Slot(slot);
}

void RootSet::VisitAll(RootVisitor& v) const {
  ForEachRoot(&VisitRootSlot, &v);
  ForEachConservativeRange(
      [&](const void* lo, const void* hi) { v.Ambiguous(lo, hi); });
}

size_t RootSet::conservative_bytes() const {
  size_t n = 0;
  ForEachConservativeRange([&](const void* lo, const void* hi) {
    n += static_cast<const char*>(hi) - static_cast<const char*>(lo);
  });
  return n;
}

size_t RootSet::slot_count() const {
  std::lock_guard<std::mutex> g(mu_);
  return slots_.size();
}

}  // namespace gcheap
