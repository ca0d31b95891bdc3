#include "gc/gcwork.h"

#include <utility>

namespace gcheap {

WorkPool::~WorkPool() {
  for (WorkBuf* list : {full_, empty_}) {
    while (list != nullptr) {
      WorkBuf* next = list->next;
      delete list;
      list = next;
    }
  }
}

WorkBuf* WorkPool::GetEmpty() {
  {
    std::lock_guard<CountedMutex> g(mu_);
    if (empty_ != nullptr) {
      WorkBuf* b = empty_;
      empty_ = b->next;
      b->next = nullptr;
      b->n = 0;
      return b;
    }
  }
  return new WorkBuf;
}

void WorkPool::PutEmpty(WorkBuf* b) {
  std::lock_guard<CountedMutex> g(mu_);
  b->n = 0;
  b->next = empty_;
  empty_ = b;
}

void WorkPool::PutFull(WorkBuf* b) {
  std::lock_guard<CountedMutex> g(mu_);
  b->next = full_;
  full_ = b;
  queued_.fetch_add(b->n, std::memory_order_relaxed);
  nfull_.fetch_add(1, std::memory_order_release);
}

WorkBuf* WorkPool::TryGetFull() {
  if (nfull_.load(std::memory_order_acquire) == 0) return nullptr;
  std::lock_guard<CountedMutex> g(mu_);
  WorkBuf* b = full_;
  if (b != nullptr) {
    full_ = b->next;
    b->next = nullptr;
    queued_.fetch_sub(b->n, std::memory_order_relaxed);
    nfull_.fetch_sub(1, std::memory_order_release);
    BumpHeld(steals_);
  }
  return b;
}

void GcWork::PutSlow() {
  if (w1_ == nullptr) {
    w1_ = pool_->GetEmpty();
    return;
  }
  // w1 is full: try the other buffer, else publish w1 and start a new one.
  std::swap(w1_, w2_);
  if (w1_ == nullptr) {
    w1_ = pool_->GetEmpty();
  } else if (w1_->n == WorkBuf::kCapacity) {
    pool_->PutFull(w1_);
    w1_ = pool_->GetEmpty();
  }
}

bool GcWork::TryGetSlow() {
  std::swap(w1_, w2_);
  if (w1_ != nullptr && w1_->n > 0) return true;
  WorkBuf* b = pool_->TryGetFull();
  if (b == nullptr) return false;
  if (w1_ != nullptr) pool_->PutEmpty(w1_);
  w1_ = b;
  return true;
}

void GcWork::Balance() {
  WorkBuf* src = (w2_ != nullptr && w2_->n > 0) ? w2_ : w1_;
  if (src == nullptr || src->n < 2) return;
  if (src == w2_) {
    // Hand over the whole second buffer.
    pool_->PutFull(w2_);
    w2_ = nullptr;
    return;
  }
  WorkBuf* b = pool_->GetEmpty();
  size_t half = src->n / 2;
  for (size_t i = 0; i < half; i++) b->items[i] = src->items[src->n - half + i];
  b->n = half;
  src->n -= half;
  pool_->PutFull(b);
}

void GcWork::Dispose() {
  for (WorkBuf** b : {&w1_, &w2_}) {
    if (*b == nullptr) continue;
    if ((*b)->n > 0) {
      pool_->PutFull(*b);
    } else {
      pool_->PutEmpty(*b);
    }
    *b = nullptr;
  }
}

}  // namespace gcheap
