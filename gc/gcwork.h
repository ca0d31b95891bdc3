// gcwork.h: mark work buffers (Go's workbuf / gcWork).
//
// Grey objects waiting to be scanned live in work buffers of 510 addresses.
// Each mark worker owns a GcWork with two buffers (so a worker alternating
// between pushing and popping near a buffer boundary does not bounce buffers
// through the shared pool); full buffers go to the WorkPool, where idle
// workers take them. Marking never recurses: a 10-million-element list
// needs only the buffers of its frontier.
//
// Invariants: a buffer is owned by exactly one GcWork or sits on exactly one
// pool list. The pool's lists are guarded by its lock; its nfull count is
// readable without it (a hint for idle workers).
#ifndef GCHEAP_GC_GCWORK_H_
#define GCHEAP_GC_GCWORK_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>

#include "heap/counters.h"

namespace gcheap {

struct WorkBuf {
  static constexpr size_t kCapacity = 510;  // the buffer is 4 KiB
  WorkBuf* next = nullptr;
  size_t n = 0;
  uintptr_t items[kCapacity];
};

class WorkPool {
 public:
  WorkPool() = default;
  ~WorkPool();
  WorkPool(const WorkPool&) = delete;
  WorkPool& operator=(const WorkPool&) = delete;

  WorkBuf* GetEmpty();
  void PutEmpty(WorkBuf* b);
  void PutFull(WorkBuf* b);
  WorkBuf* TryGetFull();
  size_t nfull() const { return nfull_.load(std::memory_order_acquire); }
  // Demand from outside the mark workers: the idle worker found the pool
  // empty (RequestWork), so a busy worker should give it some of its local
  // work (TakeWorkRequest, then GcWork::Balance).
  void RequestWork() {
    if (!wanted_.load(std::memory_order_relaxed)) {
      wanted_.store(true, std::memory_order_relaxed);
    }
  }
  bool TakeWorkRequest() {
    return wanted_.load(std::memory_order_relaxed) &&
           wanted_.exchange(false, std::memory_order_relaxed);
  }
  // Grey objects in the pool's buffers (a hint, like nfull).
  size_t queued() const { return queued_.load(std::memory_order_acquire); }
  // Contention counters (heap/counters.h): lock acquisitions, the ones
  // that waited, and full buffers taken (a worker stealing work that
  // another put there).
  uint64_t lock_acquires() const { return mu_.acquires(); }
  uint64_t lock_waits() const { return mu_.waits(); }
  uint64_t steals() const { return steals_.load(std::memory_order_relaxed); }

 private:
  CountedMutex mu_;
  std::atomic<uint64_t> steals_{0};  // written under mu_
  WorkBuf* full_ = nullptr;
  WorkBuf* empty_ = nullptr;
  std::atomic<size_t> nfull_{0};
  std::atomic<size_t> queued_{0};
  std::atomic<bool> wanted_{false};  // RequestWork (a hint)
};

class GcWork {
 public:
  explicit GcWork(WorkPool* pool) : pool_(pool) {}
  ~GcWork() { Dispose(); }
  GcWork(const GcWork&) = delete;
  GcWork& operator=(const GcWork&) = delete;

  void Put(uintptr_t p) {
    if (w1_ == nullptr || w1_->n == WorkBuf::kCapacity) PutSlow();
    w1_->items[w1_->n++] = p;
  }
  bool TryGet(uintptr_t* p) {
    if (w1_ == nullptr || w1_->n == 0) {
      if (!TryGetSlow()) return false;
    }
    *p = w1_->items[--w1_->n];
    return true;
  }
  // Gives half of the local work to the pool when other workers are idle.
  void Balance();
  bool LocalEmpty() const {
    return (w1_ == nullptr || w1_->n == 0) && (w2_ == nullptr || w2_->n == 0);
  }
  // Returns both buffers to the pool (full ones as full).
  void Dispose();

 private:
  void PutSlow();
  bool TryGetSlow();

  WorkPool* pool_;
  WorkBuf* w1_ = nullptr;
  WorkBuf* w2_ = nullptr;
};

}  // namespace gcheap

#endif  // GCHEAP_GC_GCWORK_H_
