// executor.h: runs a program's ops on the model, on our heap and (in the
// differential run) on Boehm GC, and checks after every collection that
//   - every reachable object is intact on each heap: identity stamp,
//     payload checksum (recomputed and stored), meta words, and every pointer
//     field equal to the shadow graph;
//   - our heap is exact: live_objects equals the count of what the model
//     keeps (F: the reachable objects, plus what finalization keeps; see
//     model.h), live_bytes and bytes_in_use equal their slot bytes, and
//     each size class's allocated - freed equals its count;
//   - the objects kept without being reachable are intact too;
//   - Boehm kept every reachable object (its long link is intact) and
//     at least as many objects in all (its excess is reported).
// Allocation is checked too: memory is zeroed, 8-byte aligned, and
// overlaps no object the model knows to be live.
//
// Contract kept: every pointer the program holds lives in its handle table
// (a root, or NULL) or in a reachable object's field at every safepoint; the
// model and executor use addresses only to check and to store.
#ifndef GCHEAP_TESTS_ORACLE_EXECUTOR_H_
#define GCHEAP_TESTS_ORACLE_EXECUTOR_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "runtime/gc.h"
#include "tests/oracle/model.h"
#include "tests/oracle/ops.h"

namespace gcheap::oracle {

// Faults the self-tests inject, to show the checks and the minimizer work.
enum class Fault : int {
  kNone = 0,
  kCorruptPayload,  // flip a payload bit of a reachable object before a check
  kDropRoot,        // rootset: store NULL in the real table, not the pointer
  kSkipStore,       // store: leave the real field unchanged
  kHidePointer,     // store: write the pointer to a payload word instead
};

struct RunOptions {
  bool boehm = true;         // run the differential side
  uint64_t boehm_every = 1;  // RunSeeds: only for seeds divisible by this
  bool final_checks = true;  // collect, drop every root, collect: 0 live
  bool exact_stats = true;   // live_objects / bytes checks after collections
  Fault fault = Fault::kNone;
  // Boehm collects after each object a chain op allocates (ephchain,
  // finchain), as an allocation that fills its heap there would: the
  // chain built so far must be held on Boehm's side too (HoldScratch).
  bool boehm_collect_in_chains = false;
};

struct RunStats {
  uint64_t ops = 0;              // ops executed
  uint64_t skipped = 0;          // ops skipped (invalid in the current state)
  uint64_t collections = 0;      // checked collections
  uint64_t cycles = 0;           // our heap's cycles (including automatic ones)
  uint64_t reachable = 0;        // sum over checked collections
  uint64_t ours = 0;             // sum of our live_objects
  uint64_t boehm = 0;            // sum of Boehm's live objects of the program
  uint64_t boehm_reachable = 0;  // `reachable` where Boehm was counted
  uint64_t objects_checked = 0;
  uint64_t allocated = 0;
  uint64_t churned = 0;       // untracked garbage objects (churn ops)
  uint64_t alloc_failed = 0;  // allocations refused under a hard limit
  uint64_t max_reachable = 0;
  // VM ops (issue 12) executed, by family, and what the model saw them do.
  uint64_t weak_ops = 0;       // weak handles and weak slots (create ... load)
  uint64_t eph_ops = 0;        // ephemerons (new, reads, writes, chains)
  uint64_t fin_ops = 0;        // registrations, guardians, cleanups, runs
  uint64_t weak_reads = 0;     // weak handle / slot / ephemeron reads checked
  uint64_t reads_marking = 0;  // of them, while our heap's cycle marked
  uint64_t drains = 0;  // DrainAutoQueues collections (not counted above)
  uint64_t holds_checked = 0;  // reads while marking, checked after the cycle
  uint64_t init_stores = 0;    // allocinit ops (barrier-free stores)
  VmCounts vm;                 // finalized, cleared, revived, ...
  // Boehm differential of finalization and disappearing links (programs
  // without automatic cycles of ours, while Boehm's history is ours):
  // objects both finalized, weak handles both cleared, and programs where
  // Boehm's conservative retention first kept back something we finalized
  // or cleared (the comparison stops there).
  uint64_t boehm_fin_agree = 0;
  uint64_t boehm_link_agree = 0;
  uint64_t boehm_diverged = 0;
  void Add(const RunStats& o);
};

struct RunResult {
  bool ok = true;
  std::string category;  // short failure class (for the minimizer)
  std::string message;
  size_t op_index = ~size_t{0};  // failing op (ops.size(): final checks)
  RunStats stats;
};

struct TypeIds {
  gc_type_id id[kNumKinds] = {};
  gc_type_id Of(Kind k) const { return id[static_cast<int>(k)]; }
};
// Registers the oracle's types in heap (aborts on failure).
TypeIds RegisterTypes(gc_heap* heap);

// What an exact heap must report for a set of reachable objects.
struct Expectation {
  uint64_t objects = 0;
  uint64_t bytes = 0;
  uint64_t by_class[GC_NUM_SIZE_CLASSES] = {};
  void Add(const Expectation& o);
};

class Executor {
 public:
  // A single-threaded program: creates a heap from cfg, attaches the
  // calling thread, registers the types and (if o.boehm) a Boehm side.
  Executor(const ProgramConfig& cfg, const RunOptions& o);
  // A graph in a shared heap (multi-threaded runs): no Boehm; the mutator
  // is set per call. all_rooted: the whole table is one registered range
  // and root ops are not allowed.
  Executor(gc_heap* heap, const TypeIds& types, uint32_t tag, bool all_rooted,
           const RunOptions& o);
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  void set_mutator(gc_mutator* m) { m_ = m; }
  gc_mutator* mutator() const { return m_; }
  gc_heap* heap() const { return heap_; }

  // Registers the prologue's roots.
  bool Start();
  // Runs one op (index: for reports). False once anything failed.
  bool Step(const Op& op, size_t index);
  // The checks after a collection (exact: also the heap's statistics).
  bool CheckAfterCollect(bool exact);
  // A full collection ran that no op of this graph asked for (another
  // thread's gc_collect while this graph stood still): the model applies
  // it as an explicit collection. maybe_hidden: the heap may have held
  // entries of this graph that other threads' cycles queued and nobody
  // ran yet (Model::CollectMaybeHidden).
  void Collected(bool maybe_hidden = false);
  // Intactness of the objects the last collection kept that the mutator
  // does not reach (revived, or reachable only from finalizable objects).
  bool CheckKept();
  // Intactness of every reachable object (our heap only).
  bool CheckGraph();
  // Collect, drop every root, collect again: nothing may stay live.
  bool FinalChecks(size_t index);
  // Unregisters every root of this graph (before its table goes away).
  void UnregisterRoots();
  // The heap's statistics against e (exact right after a collection that
  // no other thread's allocation followed).
  bool CheckStats(const Expectation& e);

  Expectation Expected();

  // ---- VM side (issue 12) ----
  // What the heap hands the callbacks: the registration they belong to
  // (stable addresses, one per registration / cleanup).
  struct FinalizerTag {
    Executor* ex;
    uint32_t id;
    uint32_t serial;  // the model's registration
    void* obj;        // its address (the finalizer thread reads only the
    uint64_t stamp;   // tag: the program's thread owns the rest)
    bool has_stamp;
  };
  struct CleanupTag {
    Executor* ex;
    uint64_t token;
  };
  // The data argument for gc_register_finalizer / gc_guardian... of id's
  // current registration in the model, and for gc_add_cleanup of token.
  void* FinalizerData(uint32_t id);
  void* CleanupData(uint64_t token);
  // gc_finalizer_fn and gc_cleanup_fn. On demand (gc_run_finalizers, on
  // the program's thread) a call is checked at once: the object is the one
  // registered and intact, the model allows the call now (validated call
  // by call, in the heap's order), and a resurrecting finalizer stores the
  // object into its slot. On the heap's finalizer thread the call is only
  // logged (the object's stamp checked) and checked in order by DrainCalls
  // on the program's thread.
  static void OnFinalizer(gc_mutator* m, void* obj, void* data);
  static void OnCleanup(gc_mutator* m, void* arg);
  // Checks the finalizer thread's calls so far, in the order they ran.
  bool DrainCalls();
  // A guardian pop of guardian g returned obj (NULL: nothing), to be stored
  // into table[slot] (kNoSlot: dropped): checked against the model, and
  // stored where the model says.
  bool HandlePop(uint32_t g, void* obj, uint32_t slot);
  // A weak read (weak handle, weak slot, ephemeron key or value) returned
  // got: it must be what e says (the object's address, or NULL where NULL
  // is allowed; an object returned must be intact). *saw_null: it was NULL
  // where the model allowed either (the caller settles the model).
  // check_target: also check the object returned (not from CheckObject's
  // own reads, which would recurse along weak references).
  bool CheckRead(const Expect& e, void* got, const std::string& what,
                 bool* saw_null, bool check_target = false);
  // The id of the object at base address p (0: unknown or NULL), and the
  // address of object id on our heap.
  uint32_t IdAt(const void* p) const;
  void* AddressOf(uint32_t id) const {
    return id < st_.size() ? st_[id].ours : nullptr;
  }
  // Finalizer and cleanup calls checked so far, in order.
  const std::vector<uint32_t>& finalizer_calls() const {
    return finalizer_calls_;
  }
  // Runs the VM op (fx: the model's effects, already applied).
  bool StepVm(const Op& op, const Effects& fx);
  // With the heap's finalizer thread: waits (bounded) until every
  // finalizer and cleanup the model has queued has run, checking each.
  bool WaitForQueuedCalls();
  // With automatic cycles: before an explicit collection, hands back
  // everything the heap has queued (see executor.cc).
  bool DrainAutoQueues();
  // Objects weak reads returned while a cycle marked are held (a root of
  // the executor's own) until that cycle has ended, then checked still
  // allocated and intact: a read during marking never returns an object
  // the cycle then frees. wait: until every hold is settled (before a
  // collection the model checks exactly; the hold must not keep anything).
  bool SettleHolds(bool wait);
  void set_hold_reads(bool h) { hold_reads_ = h; }
  // Destroys the weak handles and guardians (before the heap goes; m:
  // an attached mutator).
  void DestroyVm(gc_mutator* m);
  // Wraps a batch of finalizer runs by another executor's gc_run_finalizers
  // (multi-threaded runs): BeginRun before, EndRun after.
  void BeginRun() { model_.BeginRun(); }
  bool EndRun();
  // gc_run_finalizers between BeginRun and EndRun (every finalizer and
  // cleanup the model has queued must have run), as the runfinalizers op.
  bool RunQueued();
  // Pops every guardian until each returns NULL (each pop checked; what
  // it hands back is dropped).
  bool PopAll();

  // A heap shared by graphs whose finalization queue is the heap's
  // (multi-threaded runs): a finalizer or cleanup of this graph may run on
  // any thread (whoever calls gc_run_finalizers). Its callback takes
  // *graph_mu (which the graph's own thread holds whenever it uses this
  // executor, and lets go only around its gc_run_finalizers and while it
  // waits at a barrier), waiting in a blocking region, and checks and
  // applies the call at once with the running thread's mutator, so the
  // model learns of every run before this graph's next op. run: what
  // calls gc_run_finalizers for this graph (it must let go of *graph_mu).
  void set_shared_queue(std::mutex* graph_mu,
                        std::function<void(gc_mutator*)> run) {
    graph_mu_ = graph_mu;
    run_ = std::move(run);
  }

  Model& model() { return model_; }
  // Ready objects whose finalization a collection left open (hidden
  // entries may have kept them back), over this executor's life.
  uint64_t open_decisions() const { return model_.hidden_undetermined(); }
  uint64_t determined_decisions() const { return model_.hidden_determined(); }
  // Finalizer and cleanup calls applied on another thread than the one
  // whose mutator the executor had (set_shared_queue).
  uint64_t foreign_calls() const { return foreign_calls_; }
  const RunResult& result() const { return result_; }
  RunStats& stats() { return result_.stats; }
  bool ok() const { return result_.ok; }
  bool Fail(const std::string& category, const std::string& message);
  // Diagnosis: with GCHEAP_ORACLE_TRACE=N in the environment, the executor
  // keeps its last N ops and callbacks (with the heap's cycle count at
  // each) and Fail prints them to stderr. Off (no cost) otherwise.
  void Trace(const std::string& line);

 private:
  struct ObjState {
    void* ours = nullptr;
    void* boehm = nullptr;
    void** link = nullptr;  // Boehm long link (cleared when freed)
    uint64_t sum[2] = {0, 0};
    std::vector<std::pair<uint32_t, uint64_t>> over[2];  // payload writes
  };
  struct ScannerData {
    void** table;
    uint32_t first;
    uint32_t n;
  };
  static void ScanSlots(gc_visit_fn visit, void* ctx, void* data);

  void Init();
  ObjState& State(uint32_t id);
  void* Addr(int side, uint32_t id) {
    return side == 0 ? st_[id].ours : st_[id].boehm;
  }
  uint64_t RefValue(int side, const Ref& r);
  // Allocates and fills object id. False if a check failed (result not ok)
  // or, under a hard heap limit, if the heap refused (result still ok).
  bool NewObject(uint32_t id, Kind k, uint32_t bytes);
  void StoreField(uint32_t id, uint32_t field, uint64_t ours_v,
                  uint64_t boehm_v);
  void StoreRefInField(uint32_t id, uint32_t field, const Ref& r);
  void SetSlot(uint32_t slot, const Ref& r);
  bool Place(uint32_t id, const Effects& fx);
  void DropPlacement(const Effects& fx);
  bool Churn(Kind k, uint32_t bytes, uint32_t count);
  void WritePayload(int side, uint32_t id, uint32_t p, uint64_t v);
  void ProcessFrees();
  bool CheckObject(int side, uint32_t id);
  bool CheckBoehm();
  uint64_t ExpectedPayload(int side, uint32_t id, uint32_t w);
  bool RootCall(int rc, bool expect_fail, const char* what);
  std::string Describe(uint32_t id);
  bool HandleFinalizer(void* obj, const FinalizerTag& t, bool checked);
  bool HandleCleanup(const CleanupTag& t);

  gc_heap* heap_ = nullptr;
  gc_mutator* m_ = nullptr;
  bool owns_heap_ = false;
  bool boehm_ = false;
  TypeIds types_;
  uint32_t tag_ = 1;
  RunOptions opts_;
  Model model_;
  RunResult result_;
  size_t op_index_ = 0;
  std::vector<std::string> trace_;  // ring, GCHEAP_ORACLE_TRACE entries
  size_t trace_next_ = 0;
  bool all_rooted_ = false;
  uint64_t max_heap_ = 0;  // a hard limit: failed allocations are allowed

  std::vector<ObjState> st_;
  std::unique_ptr<void*[]> table_;  // our handle table (malloc memory)
  void** btable_ = nullptr;         // Boehm's (uncollectable)
  ScannerData scanners_[kScanners];
  std::deque<void*> links_;  // stable addresses for Boehm
  // Model-live objects of our heap by address: base -> (end, id).
  std::map<uintptr_t, std::pair<uintptr_t, uint32_t>> live_ranges_;
  bool fault_done_ = false;
  bool roots_unregistered_ = false;

  // VM side (issue 12).
  // Allocates a chain op's objects (ephchain, finchain) keeping the ones
  // built so far in scratch_ roots until the chain is placed.
  bool EphChain(const Op& op, const Effects& fx);
  bool FinChain(const Op& op, const Effects& fx);
  bool Register(uint32_t id, uint8_t mode, bool guardian, uint8_t g);
  bool Read(const Effects& fx, void* got, const char* what, bool* saw_null);
  void BoehmRegister(uint32_t id, uint8_t mode);
  void BoehmFinalized(uint32_t id);
  void BoehmLink(uint32_t w);
  bool CheckBoehmVm();
  void* Scratch(int i) const { return scratch_[i]; }
  // Holds object id (or nothing, id 0) in scratch root i of both heaps:
  // scratch_ for ours, bscratch_ for Boehm's. Boehm scans no memory of
  // this executor but its roots (st_ is malloc memory), so a chain op's
  // objects held only in scratch_ could be freed by a Boehm collection
  // that one of the chain's later allocations starts.
  void HoldScratch(int i, uint32_t id);
  void ClearScratch();
  // In chain ops: the boehm_collect_in_chains hook.
  void MaybeCollectBoehmInChain();
  static constexpr int kScratch = 4;
  void* scratch_[kScratch] = {};  // a registered root range of our heap
  void** bscratch_ = nullptr;     // Boehm's: uncollectable (boehm::AllocRoots)
  static constexpr int kHolds = 16;
  void* holds_[kHolds] = {};  // another one (SettleHolds)
  struct Hold {
    uint32_t id;
    uint64_t cycle;  // settled once the heap completed this many cycles
  };
  Hold hold_[kHolds] = {};
  int nholds_ = 0;
  bool hold_reads_ = true;
  uint64_t CompletedCycles();
  gc_weak* cells_[kWeakCells] = {};
  gc_guardian* guardians_[kGuardians] = {};
  std::unordered_map<uint64_t, gc_cleanup*> cleanup_handles_;
  // Boehm's side of the VM ops (only when boehm_vm_): short / long links
  // mirroring the weak handles, and finalizers mirroring registrations.
  bool boehm_vm_ = false;
  void* blinks_[kWeakCells] = {};  // ~target while registered
  uint32_t blink_target_[kWeakCells] = {};
  uint8_t blink_kind_[kWeakCells] = {};
  bool blink_registered_[kWeakCells] = {};
  uint32_t blink_gen_[kWeakCells] = {};
  // Links Boehm cleared that our cell had not yet: (cell, generation).
  std::vector<std::pair<uint32_t, uint32_t>> blink_pending_;
  // (id, registration serial) made ready by us / finalized by Boehm and
  // not yet matched.
  std::set<std::pair<uint32_t, uint32_t>> made_ready_;
  std::set<std::pair<uint32_t, uint32_t>> boehm_pending_;
  std::unordered_map<uint32_t, uint32_t> boehm_serial_;  // id -> serial
  std::vector<uint32_t> boehm_finalized_;
  // Matches what Boehm did with what we did (see executor.cc).
  bool MatchBoehmVm();
  bool boehm_synced_ = true;
  static constexpr uint32_t kMaxBoehmKept = 8192;
  struct BoehmTag {
    Executor* ex;
    uint32_t id;
  };
  static void OnBoehmFinalizer(void* obj, void* data);
  std::deque<BoehmTag> boehm_tags_;
  bool boehm_dying_ = false;
  void** bkeep_ = nullptr;  // Boehm objects its finalizers handed back
  std::unordered_map<uint32_t, uint32_t> bkeep_slot_;
  std::vector<uint32_t> bkeep_free_;
  uint32_t bkeep_used_ = 0;
  std::unordered_map<uintptr_t, uint32_t> by_addr_;  // allocated, not freed
  std::deque<FinalizerTag> fin_tags_;
  std::deque<CleanupTag> cleanup_tags_;
  std::vector<uint32_t> finalizer_calls_;
  // The finalizer thread's calls, logged for DrainCalls.
  struct Call {
    bool cleanup;
    bool stamp_ok;  // checked on the finalizer thread
    void* obj;
    const void* tag;
  };
  std::mutex calls_mu_;
  std::vector<Call> calls_;
  // set_shared_queue.
  std::mutex* graph_mu_ = nullptr;
  uint64_t foreign_calls_ = 0;
  std::function<void(gc_mutator*)> run_;
  void RunFinalizersCall() {
    if (run_) {
      run_(m_);
    } else {
      gc_run_finalizers(m_);
    }
  }
  // Runs fn on this executor from a callback on another (or this) thread
  // with mutator m: under graph_mu_, with m as the executor's mutator.
  template <typename Fn>
  void AsCallback(gc_mutator* m, Fn fn);
};

// Runs a whole program (Executor + Start + every op + final checks).
RunResult RunProgram(const Program& p, const RunOptions& o);

}  // namespace gcheap::oracle

#endif  // GCHEAP_TESTS_ORACLE_EXECUTOR_H_
