// handshake.cc: the stop-the-world handshake (design and invariants in
// handshake.h).
#include "runtime/handshake.h"

#include <errno.h>
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <new>
#include <thread>

#include "heap/base.h"
#include "runtime/process.h"
#include "runtime/runtime.h"

namespace gcheap {

namespace {

// The asymmetric fence of handshake.h: true once the process registered
// for MEMBARRIER_CMD_PRIVATE_EXPEDITED (never changes back).
std::atomic<bool> g_membarrier{false};

int Membarrier(int cmd) {
  return static_cast<int>(syscall(SYS_membarrier, cmd, 0, 0));
}

bool RegisterMembarrier() {
  if (getenv("GCHEAP_NO_MEMBARRIER") != nullptr) return false;
  const int cmds = Membarrier(MEMBARRIER_CMD_QUERY);
  if (cmds < 0 || (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0) return false;
  return Membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
}

// The mutator's side, between its state store and its read of the
// request: a compiler barrier when the stopper's membarrier orders the
// pair, a full fence otherwise.
inline void LightFence() {
  if (g_membarrier.load(std::memory_order_relaxed)) {
    std::atomic_signal_fence(std::memory_order_seq_cst);
  } else {
    std::atomic_thread_fence(std::memory_order_seq_cst);
  }
}

// The stopper's side, between its request store and its reads of the
// states: every other running thread of the process executes a full
// barrier (membarrier), or a full fence here when membarrier is not
// registered (the mutators then fence themselves).
void HeavyFence() {
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (!g_membarrier.load(std::memory_order_relaxed)) return;
  if (Membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0) return;
  // A forked child may need its own registration.
  GC_CHECK(errno == EPERM &&
               Membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0 &&
               Membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0,
           "membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) failed after the "
           "process registered for it");
}

}  // namespace

Handshake::Handshake() {
  static const bool registered = [] {
    const bool ok = RegisterMembarrier();
    g_membarrier.store(ok, std::memory_order_seq_cst);
    return ok;
  }();
  (void)registered;
}

bool Handshake::AsymmetricFence() {
  return g_membarrier.load(std::memory_order_relaxed);
}

void Handshake::Add(gc_mutator* m, const std::unique_lock<std::mutex>& held) {
  GC_DCHECK(held.owns_lock() && held.mutex() == &list_mu_,
            "the mutator list is not locked");
  GC_DCHECK(!stopped_.load(std::memory_order_relaxed),
            "a mutator attached while the world is stopped");
  mutators_.push_back(m);
}

void Handshake::Remove(gc_mutator* m,
                       const std::unique_lock<std::mutex>& held) {
  GC_DCHECK(held.owns_lock() && held.mutex() == &list_mu_,
            "the mutator list is not locked");
  GC_DCHECK(!stopped_.load(std::memory_order_relaxed),
            "a mutator detached while the world is stopped");
  auto it = std::find(mutators_.begin(), mutators_.end(), m);
  GC_CHECK(it != mutators_.end(), "detaching a mutator that is not attached");
  mutators_.erase(it);
}

size_t Handshake::attached() {
  std::lock_guard<std::mutex> g(list_mu_);
  return mutators_.size();
}

bool Handshake::AllStopped(const gc_mutator* self) const {
  for (gc_mutator* m : mutators_) {
    if (m != self && m->state.load(std::memory_order_seq_cst) == kRunning) {
      return false;
    }
  }
  return true;
}

void Handshake::StopTheWorld(gc_mutator* self) {
  if (ExitBegun()) WaitForProcessEnd();
  list_mu_.lock();  // released by StartTheWorld
  GC_DCHECK(!stopped_.load(std::memory_order_relaxed),
            "the world is already stopped");
  GC_DCHECK(self == nullptr ||
                self->state.load(std::memory_order_relaxed) == kBlocked,
            "a mutator stops the world while it counts as running");
  stopper_self_ = self;
  stw_requested_.store(true, std::memory_order_seq_cst);
  for (gc_mutator* m : mutators_) {
    if (m != self) m->poll.fetch_or(kPollStop, std::memory_order_seq_cst);
  }
  HeavyFence();  // the request before the reads of the states (handshake.h)
  // Running mutators reach a safepoint within microseconds: spin briefly
  // (yielding, so a mutator waiting for this processor gets it) before
  // sleeping on the condition variable, whose wake-ups cost more.
  bool stopped = false;
  for (int i = 0; i < 64 && !stopped; i++) {
    stopped = AllStopped(self);
    if (!stopped) std::this_thread::yield();
  }
  if (!stopped) {
    std::unique_lock<std::mutex> g(world_mu_);
    stopped_cv_.wait(g, [&] { return AllStopped(self) || ExitBegun(); });
  }
  if (ExitBegun()) {
    // BeginExit sets the flag, then wakes us under world_mu_, then takes
    // list_mu_: either we see the flag here and withdraw, or the pause we
    // complete ends before exit goes on.
    WithdrawAndWaitForProcessEnd();
  }
  stopped_.store(true, std::memory_order_seq_cst);
  if constexpr (kDebugBuild) {
    for (gc_mutator* m : mutators_) {
      if (m == self) continue;
      GC_DCHECK(m->poll.load(std::memory_order_relaxed) & kPollStop,
                "a mutator lacks the stop bit while the world is stopped");
    }
  }
}

int64_t Handshake::StartTheWorld() {
  GC_DCHECK(stopped_.load(std::memory_order_relaxed),
            "restarting a world that is not stopped");
  stopped_.store(false, std::memory_order_seq_cst);
  return Release();
}

int64_t Handshake::Release() {
  {
    std::lock_guard<std::mutex> g(world_mu_);
    for (gc_mutator* m : mutators_) {
      m->poll.fetch_and(~kPollStop, std::memory_order_relaxed);
    }
    stw_requested_.store(false, std::memory_order_seq_cst);
  }
  stopper_self_ = nullptr;
  list_mu_.unlock();
  const int64_t released =
      std::chrono::duration_cast<std::chrono::nanoseconds>(
          std::chrono::steady_clock::now().time_since_epoch())
          .count();
  world_cv_.notify_all();
  return released;
}

void Handshake::ForEachMutator(absl::FunctionRef<void(gc_mutator*)> f) {
  GC_DCHECK(stopped_.load(std::memory_order_relaxed),
            "ForEachMutator needs the world stopped");
  for (gc_mutator* m : mutators_) f(m);
}

void Handshake::RaggedHandshake(uint32_t bit) {
  // Mutators are never freed while the heap lives (detached ones are
  // recycled), so reading their poll words after the lock is released is
  // safe; a mutator (re)attached meanwhile starts with the bit clear.
  std::vector<gc_mutator*> ms;
  {
    std::lock_guard<std::mutex> g(list_mu_);
    ms = mutators_;
    for (gc_mutator* m : ms) m->poll.fetch_or(bit);
  }
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(1);
  for (gc_mutator* m : ms) {
    while ((m->poll.load(std::memory_order_acquire) & bit) != 0 &&
           m->state.load(std::memory_order_acquire) == kRunning &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::yield();
    }
  }
}

int Handshake::RunningMutators() {
  std::lock_guard<std::mutex> g(list_mu_);
  int n = 0;
  for (gc_mutator* m : mutators_) {
    // Parked mutators count: they are parked only while the world is
    // stopped, and run again as soon as it restarts.
    n += m->state.load(std::memory_order_relaxed) != kBlocked;
  }
  return n;
}

void Handshake::Park(gc_mutator* m) {
  GC_DCHECK(m->state.load(std::memory_order_relaxed) == kRunning &&
                m->blocking_depth == 0,
            "Park: the mutator is not running");
  // The exiting thread never waits for the collector (process.h): it stays
  // kRunning, so the stop it was asked for never completes.
  if (IsExitingThread()) return;
  std::unique_lock<std::mutex> g(world_mu_);
  for (;;) {
    m->state.store(kParked, std::memory_order_seq_cst);
    stopped_cv_.notify_all();
    world_cv_.wait(
        g, [&] { return !stw_requested_.load(std::memory_order_seq_cst); });
    // The re-check of handshake.h: store kRunning, then re-read the request.
    m->state.store(kRunning, std::memory_order_seq_cst);
    if (!stw_requested_.load(std::memory_order_seq_cst)) {
      CheckResumed();
      return;
    }
  }
}

void Handshake::EnterBlocking(gc_mutator* m) {
  if (m->blocking_depth++ > 0) {  // nested: already kBlocked
    GC_DCHECK(m->state.load(std::memory_order_relaxed) == kBlocked,
              "EnterBlocking: nested, but the mutator is not blocked");
    return;
  }
  GC_DCHECK(m->state.load(std::memory_order_relaxed) == kRunning,
            "EnterBlocking: the mutator is not running");
  m->state.store(kBlocked, std::memory_order_release);
  LightFence();  // the state before the read of the request (handshake.h)
  if (stw_requested_.load(std::memory_order_relaxed)) {
    // A stopper may be waiting for us: wake it to re-check.
    std::lock_guard<std::mutex> g(world_mu_);
    stopped_cv_.notify_all();
  }
}

bool Handshake::LeaveBlocking(gc_mutator* m) {
  GC_DCHECK(m->blocking_depth > 0 &&
                m->state.load(std::memory_order_relaxed) == kBlocked,
            "LeaveBlocking: the mutator is not blocked");
  if (--m->blocking_depth > 0) return false;  // an inner bracket ends
  m->state.store(kRunning, std::memory_order_relaxed);
  LightFence();  // the state before the read of the request (handshake.h)
  if (stw_requested_.load(std::memory_order_acquire)) return true;  // park
  CheckResumed();
  return false;
}

void Handshake::PrepareFork(gc_mutator* self) {
  StopTheWorld(self);
  world_mu_.lock();
}

void Handshake::AfterForkParent() {
  world_mu_.unlock();
  StartTheWorld();
}

std::vector<gc_mutator*> Handshake::AfterForkChild(gc_mutator* self) {
  GC_DCHECK(stopped_.load(std::memory_order_relaxed),
            "fork: the world was not stopped");
  new (&world_cv_) std::condition_variable();
  new (&stopped_cv_) std::condition_variable();
  std::vector<gc_mutator*> gone;
  for (gc_mutator* m : mutators_) {
    m->poll.fetch_and(~kPollStop, std::memory_order_relaxed);
    if (m != self) gone.push_back(m);
  }
  mutators_.clear();
  if (self != nullptr) mutators_.push_back(self);
  stw_requested_.store(false, std::memory_order_relaxed);
  stopped_.store(false, std::memory_order_relaxed);
  stopper_self_ = nullptr;
  world_mu_.unlock();
  list_mu_.unlock();
  return gone;
}

void Handshake::OnExitBegun() {
  {
    std::lock_guard<std::mutex> g(world_mu_);
    stopped_cv_.notify_all();
  }
  // Waits out a pause in force; a stopper still waiting withdraws.
  std::lock_guard<std::mutex> g(list_mu_);
}

void Handshake::WithdrawAndWaitForProcessEnd() {
  // No mutator stays parked, and list_mu_ is free for the exiting thread's
  // own detach.
  Release();
  WaitForProcessEnd();
}

void Handshake::WaitForProcessEnd() {
  for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
}

void Handshake::CheckResumed() const {
  // The mutator stored kRunning and then found no request (seq_cst): by the
  // argument of handshake.h no stopper can have counted it as stopped and
  // completed a stop since, so the world cannot be stopped now.
  GC_DCHECK(!stopped_.load(std::memory_order_seq_cst),
            "a mutator resumed while the world is stopped");
}

}  // namespace gcheap
