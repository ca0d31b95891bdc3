// model.h: the shadow graph of a program: objects (id -> kind, size, pointer
// fields, weak slots, ephemeron entries), the handle table, which table
// slots are roots, the weak-cell table, finalization registrations, the
// ready and guardian queues, cleanups; and, for every explicit collection,
// exactly what the heap must do.
//
// The model decides whether an op is valid in the current state (an op on
// an object the mutator cannot reach, or on a slot that is not a root, is
// skipped) and what it does, without touching any heap: the generator runs
// it alone to choose ops, the executor runs it next to the heaps to know
// what every object must contain, which objects must be live, and what
// every weak read, finalizer call and guardian pop may return.
//
// Sets (recomputed lazily when the graph changed; design: issue 12,
// docs/collector.md "Weak references, ephemerons and finalization"):
//   M  mutator-reachable: the closure from the covered table slots, where
//      an ephemeron's value edge counts when its key is in R. Only M
//      objects can be named by ops (the program holds nothing else).
//   R  strongly reachable: the closure from the roots, which are the
//      covered slots, the ready queue (finalizers not yet run) and the
//      guardian queues (objects not yet popped); an ephemeron's value edge
//      counts only if its key is in R (a fixpoint). M is a subset of R.
//   F  what a full collection would keep (Boehm's finalization order,
//      decided after strong marking): candidates are the objects with a
//      finalizer or guardian registration that are not in R; pass 1 marks,
//      from every ordered (and ignore-self) candidate, the closure of what
//      it points to (not the candidate itself; ignore-self skips its
//      direct pointers to itself, but an ephemeron's pointers to itself
//      count, as in gc/mark.cc's ScanCandidate), ephemeron rule included;
//      unordered candidates mark nothing. Ready = the candidates still
//      unmarked after pass 1, whatever their mode (Boehm's rule, as
//      gc/finalize.cc decides: an unordered candidate that an ordered one
//      reaches waits for a later cycle); they and what they reach are
//      marked (revived).
//      F = R + pass-1 closure + ready closure.
//
// An explicit collection (kCollect: gc_collect, full and blocking) applies
// the decision: short weak cells (handles and weak slots) whose target is
// not in R are cleared, long ones whose target is not in F; live
// ephemerons whose key is not in F are cleared (key and value NULL); ready
// objects are unregistered and queued (finalizer queue or their
// guardian's); cleanups of objects not in F are queued; everything not in
// F is freed for good. live() is then exactly F: the heap's live_objects.
//
// Between explicit collections, automatic cycles (a GC percent, limits,
// other threads' collections) may run at any time unless the
// configuration rules them out (set_auto_cycles(false)); the model knows
// which outcomes are determined and which are not:
//   - a short weak read of a target in R, or a long one of a target in F,
//     returns it; a cleared cell returns NULL;
//   - a short cell whose target left R, or a long one whose target is not
//     in F, reads as "the target or NULL" (an automatic cycle may have
//     cleared it); a short cell stays undetermined even if its target is
//     revived and resurrected (kMaybe), until a collection finds it out of
//     R or a read sees NULL; a short cell set to an object a cycle may have
//     queued already (back in M through another object's finalizer or pop
//     before its own call) is "late": "target or NULL" from the start, and
//     that call does not settle it (WeakCell::late);
//   - an object not in F may have been freed; a registered object not in R
//     may have been finalized by an automatic cycle (its finalizer may run,
//     in Boehm's order: only if it is ready now), a cleanup may run once
//     its object is not in F.
// F only ever gains new objects (allocation): the mutator stores only M
// objects, and a revived object is in F already. So an object in F now
// was never freed, and one not in F now will never be in F again.
//
// Observations: in the executor the model is "observing": a guardian pop
// and gc_run_finalizers are validated and applied call by call as the
// heap reports them (PopGuardian, RunFinalizer, RunCleanup, EndRun); a
// weak read that returned NULL where NULL was allowed settles the cell.
// The generator's model (not observing) applies the canonical outcome
// (every queued finalizer runs, in queue order; a pop takes the front).
// The two may then differ (an automatic cycle's decision, a queue order
// of the heap's own); later ops that became invalid are skipped, as
// always.
#ifndef GCHEAP_TESTS_ORACLE_MODEL_H_
#define GCHEAP_TESTS_ORACLE_MODEL_H_

#include <algorithm>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "tests/oracle/layout.h"
#include "tests/oracle/ops.h"

namespace gcheap::oracle {

// A pointer-slot value: an object (id != 0) at byte offset off, or a
// non-pointer immediate (id == 0; imm == 0 is NULL).
struct Ref {
  uint32_t id = 0;
  uint32_t off = 0;
  uint64_t imm = 0;
  bool IsPtr() const { return id != 0; }
};

// Interior offsets a stored pointer may carry (Boehm has them registered as
// valid displacements). With a tag mask, off's low 3 bits are a tag.
inline constexpr uint32_t kValidOffsets[] = {0, 8, 24};
bool ValidOffset(uint32_t off, uint32_t bytes, bool tagged);

// The word a storeimm op writes: small values as they are, anything else
// with the top 16 bits set (a non-canonical address: never a heap object).
inline uint64_t NormalizeImm(uint64_t v) {
  return v < 4096 ? v : (v | 0xffff000000000000ull);
}

inline constexpr uint32_t kMaxId = 1u << 22;
inline constexpr uint32_t kMaxBytes = 1u << 27;  // 128 MiB
inline constexpr uint32_t kMaxChain = 20000;
inline constexpr uint32_t kMaxChurn = 100000;
inline constexpr uint32_t kMaxFinChain = 64;

// A weak reference (a weak handle's cell, or a weak slot): its target
// (object id, always a base pointer; 0: NULL) and whether the heap's cell
// may already have been cleared.
struct WeakCell {
  enum State : uint8_t {
    kSet,    // holds target (NULL if target == 0), as far as anyone knows
    kMaybe,  // target or NULL: an automatic cycle may have cleared it
  };
  uint32_t target = 0;
  uint8_t kind = kWeakShort;
  uint8_t state = kSet;
  // Set (created, gc_weak_set, gc_weak_store) while its target may already
  // have been queued by a cycle (ObjModel::may_ready_serial: it is back in
  // M through another object's finalizer or guardian pop, its own call not
  // applied yet). That cycle cleared the short cells to it that existed
  // then; this one its sweep may or may not reach (the cell can be set
  // before the target's span is swept). So a short late cell starts as
  // kMaybe, and the target's finalizer call or pop does not settle it
  // (Model::ClearShortCellsOf).
  bool late = false;
};

// A finalizer or guardian registration (at most one per object).
struct Registration {
  bool guardian = false;
  uint8_t mode = kFinOrdered;
  uint8_t guardian_index = 0;
  uint32_t resurrect = kNoSlot;  // finalizer: store the object here when it
                                 // runs (if the slot is a root then)
  uint32_t serial = 0;           // distinct per registration
};

struct ObjModel {
  bool exists = false;  // allocated (ever)
  bool freed = false;   // freed by an explicit collection, or known freed
  Kind kind = Kind::kSmall3;
  uint32_t bytes = 0;
  uint32_t trace_n = 0;     // Traced: kids reported by the trace callback
  std::vector<Ref> fields;  // pointer fields (an ephemeron's: next)
  std::vector<uint32_t> ptr_fields;  // indices of fields holding pointers
  std::vector<WeakCell> weak;        // weak slots (WeakS / WeakL)
  // Ephemerons: the key (an object, an immediate, or NULL) and the value
  // (an object or NULL); both NULL once cleared.
  Ref eph_key;
  uint32_t eph_value = 0;
  bool registered = false;
  bool listed = false;  // in Model::registered_ (registered or not)
  // The registration serial that was ready at some state since it was made
  // (automatic cycles: the heap may have queued it then).
  uint32_t may_ready_serial = 0;
  Registration reg;
  // A registration replaced or removed (gc_register_finalizer again,
  // gc_unregister_finalizer) while a cycle may already have queued it
  // (may_ready_serial == its serial: the object is back in M through
  // another object's finalizer, its own call not applied yet): the queued
  // call may still come, with this registration's serial (RunFinalizer).
  bool has_late_reg = false;
  Registration late_reg;
  uint32_t cleanups = 0;  // registered (not yet queued) cleanups
};

// One marking over the model's objects: epoch-stamped marks (so a new
// marking costs nothing to clear), the phase that marked each object, a
// FIFO work list (breadth first, so the mutator-reachable list comes out in
// the order the generator has always seen), and per-key wait lists for
// ephemerons whose key is not marked yet (taken when the key gets marked:
// each ephemeron is appended and taken at most once per scan, so the cost
// is linear in the number of ephemerons, whatever the chains' shape).
class Marker {
 public:
  enum Phase : uint8_t { kStrong = 0, kPass1 = 1, kRevived = 2 };

  // key_in: which keys count as marked for the ephemeron rule; nullptr:
  // this marking's own marks (a fixpoint, with wait lists).
  void Begin(std::vector<ObjModel>* objs, const Marker* key_in) {
    objs_ = objs;
    key_in_ = key_in;
    if (++epoch_ == 0) {
      std::fill(mark_.begin(), mark_.end(), 0);
      std::fill(wait_epoch_.begin(), wait_epoch_.end(), 0);
      epoch_ = 1;
    }
    if (mark_.size() < objs->size()) {
      mark_.resize(objs->size(), 0);
      phase_.resize(objs->size(), 0);
      wait_epoch_.resize(objs->size(), 0);
      wait_head_.resize(objs->size(), 0);
    }
    entries_.clear();
    entries_.push_back({0, 0, false});  // index 0: end of a list
    order_.clear();
    head_ = 0;
    phase_now_ = kStrong;
  }
  bool Marked(uint32_t id) const {
    return id < mark_.size() && mark_[id] == epoch_;
  }
  bool MarkedIn(uint32_t id, Phase p) const {
    return Marked(id) && phase_[id] == p;
  }
  void set_phase(Phase p) { phase_now_ = p; }
  // Marks id (if it is an object and unmarked) and queues it for scanning.
  void Visit(uint32_t id) {
    if (id == 0 || Marked(id)) return;
    if (id >= mark_.size()) Grow(id);
    mark_[id] = epoch_;
    phase_[id] = phase_now_;
    order_.push_back(id);
  }
  // Visits what id points to; skip_self: not id itself (ignore-self).
  void Scan(uint32_t id, bool skip_self) {
    const ObjModel& o = (*objs_)[id];
    // An ephemeron's pointers to itself count even for ignore-self (the
    // heap scans a candidate ephemeron as any ephemeron).
    if (o.kind == Kind::kEphemeron) skip_self = false;
    for (uint32_t f : o.ptr_fields) {
      const uint32_t t = o.fields[f].id;
      if (!(skip_self && t == id)) Visit(t);
    }
    if (o.kind != Kind::kEphemeron || o.eph_value == 0) return;
    if (skip_self && o.eph_value == id) return;
    const uint32_t k = o.eph_key.id;
    if (k == 0 || KeyMarked(k)) {
      Visit(o.eph_value);
    } else if (key_in_ == nullptr) {
      if (k >= mark_.size()) Grow(k);
      if (wait_epoch_[k] != epoch_) {
        wait_epoch_[k] = epoch_;
        wait_head_[k] = 0;
      }
      entries_.push_back({id, wait_head_[k], skip_self});
      wait_head_[k] = static_cast<uint32_t>(entries_.size() - 1);
    }
  }
  // Scans every queued object (and wakes its waiters) until none is left.
  void Drain() {
    while (head_ < order_.size()) {
      const uint32_t id = order_[head_++];
      if (key_in_ == nullptr && id < wait_epoch_.size() &&
          wait_epoch_[id] == epoch_) {
        uint32_t e = wait_head_[id];
        wait_head_[id] = 0;
        while (e != 0) {
          const Entry en = entries_[e];
          const uint32_t v = (*objs_)[en.eph].eph_value;
          if (!(en.skip_self && v == en.eph)) Visit(v);
          e = en.next;
        }
      }
      Scan(id, false);
    }
  }
  const std::vector<uint32_t>& order() const { return order_; }

 private:
  struct Entry {
    uint32_t eph;
    uint32_t next;
    bool skip_self;
  };
  bool KeyMarked(uint32_t k) const {
    return key_in_ != nullptr ? key_in_->MarkedIn(k, kStrong) : Marked(k);
  }
  void Grow(uint32_t id) {
    const size_t n = std::max<size_t>(id + 1, 2 * mark_.size());
    mark_.resize(n, 0);
    phase_.resize(n, 0);
    wait_epoch_.resize(n, 0);
    wait_head_.resize(n, 0);
  }

  std::vector<ObjModel>* objs_ = nullptr;
  const Marker* key_in_ = nullptr;
  uint32_t epoch_ = 1;  // (mark_ starts at 0: nothing marked)
  std::vector<uint32_t> mark_;
  std::vector<uint8_t> phase_;
  std::vector<uint32_t> wait_epoch_;
  std::vector<uint32_t> wait_head_;
  std::vector<Entry> entries_;
  std::vector<uint32_t> order_;
  size_t head_ = 0;
  Phase phase_now_ = kStrong;
};

// A read the heap answers: the model's value, or (or_null) that value or
// NULL.
struct Expect {
  Ref ref;
  bool or_null = false;
};

// What an op did besides its main effect, for the executor to mirror.
struct Effects {
  std::vector<uint32_t> cleared_slots;  // lost root coverage: set to NULL
  uint32_t old_trace_n = 0;             // settracen: kids [count, old) cleared
  bool expect_fail = false;             // a removal of what is not registered
  bool garbage = false;                 // alloc/chain: the new object(s) are
                                        // not stored anywhere
  uint32_t dest_parent = 0;             // alloc/chain: stored into
  uint32_t dest_field = 0;              //   dest_parent.dest_field, or
  uint32_t dest_slot = kNoSlot;         //   table[dest_slot]
  // Reads (weakget, weakload, ephget): what the heap must return, and
  // whether the result goes into table[store_slot] (only when it is
  // determined and in M).
  Expect expect;
  uint32_t store_slot = kNoSlot;
  // weakcreate: a handle was in the cell and is destroyed first.
  bool replaced_handle = false;
};

// A collection's decision (Model::Decide): who is in R and F, who is ready.
struct Decision {
  std::vector<uint32_t> ready;    // ascending ids
  std::vector<uint32_t> revived;  // in F, not in R (ascending)
  std::vector<uint32_t> freed;    // exist, not freed, not in F (ascending)
  std::vector<uint32_t> live;     // F, in marking order
  uint64_t short_cleared = 0;     // cells a collection now would clear
  uint64_t long_cleared = 0;
  uint64_t ephemerons_cleared = 0;
};

// Totals over the model's life (for reports and the oracle's volume).
struct VmCounts {
  uint64_t finalized = 0;      // finalizer calls (run)
  uint64_t guardian_pops = 0;  // objects popped
  uint64_t cleanups_run = 0;
  uint64_t short_cleared = 0;  // cells cleared at explicit collections
  uint64_t long_cleared = 0;
  uint64_t ephemerons_cleared = 0;
  uint64_t revived = 0;  // objects kept by finalization at collections
  void Add(const VmCounts& o);
};

class Model {
 public:
  Model();

  // The root registrations every program starts with: slots 0..7, the
  // range [16, 24), scanners 0 and 1.
  static std::vector<Op> Prologue();
  // Like Prologue, but for a table whose every slot is a root from the
  // start (the executor registers it as one range): no root ops allowed.
  void SetAllSlotsRooted();
  bool all_rooted() const { return all_rooted_; }
  // Pointers may carry a tag in their low 3 bits (gc_config.tag_mask 7).
  void set_tagged(bool t) { tagged_ = t; }
  bool tagged() const { return tagged_; }
  // Whether cycles nobody asked for may run between explicit collections
  // (default true; false makes every read between collections
  // determined).
  void set_auto_cycles(bool a) { auto_ = a; }
  bool auto_cycles() const { return auto_; }
  // Finalizers run on a heap-owned thread: no run op, no resurrection;
  // queued finalizers may run at any time (an explicit collection first
  // waits for them: the executor drains them, the generator's model runs
  // them).
  void set_finalizer_thread(bool t) { finalizer_thread_ = t; }
  bool finalizer_thread() const { return finalizer_thread_; }
  // Observing: runs and pops are applied as the heap reports them.
  void set_observing(bool o) { observing_ = o; }
  // Configures tags, auto cycles and the finalizer mode from c (before the
  // first op, as the setters above).
  void Configure(const ProgramConfig& c);

  // After a failed allocation (a hard heap limit): the new object was
  // never stored where Apply put it; that place holds NULL instead.
  void ClearPlacement(const Effects& fx);
  void ClearField(uint32_t id, uint32_t f) { SetField(id, f, Ref{}); }

  // Applies op if it is valid (returns false and changes nothing if not).
  bool Apply(const Op& op, Effects* fx);

  // Recomputes M, R and F if something changed since.
  void EnsureReachability();
  // M, in BFS order (after EnsureReachability).
  const std::vector<uint32_t>& reachable() {
    EnsureReachability();
    return mlist_;
  }
  // F as of the last explicit collection (the heap's live objects then).
  const std::vector<uint32_t>& live() const { return live_; }
  // Whether live() is still current (nothing changed since the collection).
  bool live_current() const { return live_current_; }
  // Objects freed (explicit collections, or known freed) since the last
  // call.
  std::vector<uint32_t> TakeNewlyFreed() { return std::move(newly_freed_); }

  const ObjModel* Get(uint32_t id) const {
    return id < objs_.size() && objs_[id].exists ? &objs_[id] : nullptr;
  }
  // Exists and in M (recomputes if needed): ops may use it.
  bool Live(uint32_t id);
  bool InM(uint32_t id);
  bool InR(uint32_t id);
  bool InF(uint32_t id);
  // Whether the heap may have freed id (it is not in F and automatic
  // cycles may have run), or has (freed at an explicit collection).
  bool MayBeFreed(uint32_t id);
  bool Covered(uint32_t slot) const;
  const Ref& slot(uint32_t s) const { return table_[s]; }
  uint32_t next_id() const { return next_id_; }
  uint64_t next_token() const { return next_token_; }
  int root_count(uint32_t slot) const { return slot_count_[slot]; }
  int scanner_count(uint32_t k) const { return scanner_count_[k]; }
  const std::vector<std::pair<uint32_t, uint32_t>>& ranges() const {
    return ranges_;
  }
  // Whether field f of a live object may be written by store ops
  // (ephemerons are written through their own ops).
  bool WritableField(const ObjModel& o, uint32_t f) const {
    return f < o.fields.size() && o.kind != Kind::kEphemeron &&
           (o.kind != Kind::kTraced || f < o.trace_n);
  }
  // Number of store-writable fields of o.
  uint32_t WritableCount(const ObjModel& o) const;
  bool ValidTarget(uint32_t id, uint32_t off);

  // ---- VM state (issue 12) ----
  // The weak-cell table: whether cell w holds a handle, and its cell.
  bool HasHandle(uint32_t w) const { return handles_[w].exists; }
  const WeakCell& handle(uint32_t w) const { return handles_[w].cell; }
  // Registered objects (finalizer or guardian), some maybe unregistered
  // since (check ObjModel::registered).
  const std::vector<uint32_t>& registered() const { return registered_; }
  // Finalizers queued by explicit collections, not yet run.
  struct Pending {
    uint32_t id;
    uint32_t serial;
    uint32_t resurrect;
  };
  const std::vector<Pending>& ready_queue() const { return ready_; }
  const std::deque<uint32_t>& guardian_queue(uint32_t g) const {
    return guard_q_[g];
  }
  // Cleanups: token -> (object, state).
  struct Cleanup {
    uint32_t id = 0;
    enum State : uint8_t { kRegistered, kQueued, kRan, kCancelled };
    State state = kRegistered;
  };
  const std::map<uint64_t, Cleanup>& cleanups() const { return cleanups_; }
  const std::vector<uint64_t>& cleanup_queue() const { return cleanup_q_; }
  uint64_t collections() const { return collections_; }
  // The (id, registration serial) pairs the last explicit collection made
  // ready (queued for a finalizer or a guardian).
  const std::vector<std::pair<uint32_t, uint32_t>>& last_ready() const {
    return last_ready_;
  }
  const VmCounts& vm_counts() const { return counts_; }
  // Order of finalizer calls and guardian pops: (collection count when it
  // ran, id).
  const std::vector<std::pair<uint64_t, uint32_t>>& run_log() const {
    return run_log_;
  }

  // The decision a full collection would take now (changes nothing).
  Decision Decide();

  // An explicit collection whose heap may hold, at its start, finalizer or
  // guardian entries queued by cycles the model did not see and not yet
  // run (another thread's cycle, in the multi-threaded oracle): the
  // registered objects that may have been found ready since their
  // registration (ObjModel::may_ready_serial) may be such roots. What they
  // may keep strongly reachable leaves the decision undetermined: a short
  // cell whose target they reach becomes "target or NULL", and an object
  // ready by the model's count that they may reach stays registered (its
  // finalizer may run later, as after an automatic cycle). Everything else
  // is as in Apply(kCollect): F, frees, long cells, ephemerons and
  // cleanups do not depend on those entries (model.cc, CollectMaybeHidden).
  void CollectMaybeHidden();
  // Before a registration of id is replaced or removed: keeps it as
  // ObjModel::late_reg if a cycle may already have queued it.
  void KeepLateRegistration(uint32_t id);
  // Ready objects CollectMaybeHidden left undetermined, over the model's
  // life.
  uint64_t hidden_undetermined() const { return hidden_undetermined_; }
  // Ready objects CollectMaybeHidden found determined (queued, so their
  // finalizer must run in the next run), over the model's life.
  uint64_t hidden_determined() const { return hidden_determined_; }

  // Reads: what the heap must return for weak cell w / weak slot f of id /
  // an ephemeron's key or value (next is an ordinary field).
  Expect ExpectHandle(uint32_t w);
  Expect ExpectWeakField(uint32_t id, uint32_t f);
  Expect ExpectEph(uint32_t id, uint8_t what);
  // A read returned NULL where NULL was allowed: the cell is cleared (for
  // an ephemeron: the entry is, key and value).
  void ObserveHandleNull(uint32_t w);
  void ObserveWeakFieldNull(uint32_t id, uint32_t f);
  void ObserveEphCleared(uint32_t id);

  // Observed runs (gc_run_finalizers, or the finalizer thread's calls in
  // order): BeginRun, one call per finalizer / cleanup the heap ran, then
  // EndRun (every queued one must have run). Each returns false with *why
  // if the heap must not have done it. RunFinalizer applies the behaviour:
  // *resurrect is the slot the callback must store the object into
  // (kNoSlot: none).
  void BeginRun();
  bool RunFinalizer(uint32_t id, uint32_t serial, uint32_t* resurrect,
                    std::string* why);
  bool RunCleanup(uint64_t token, std::string* why);
  bool EndRun(std::string* why);
  // An observed guardian pop of guardian g that returned popped (0: NULL),
  // stored into slot (kNoSlot or not a root: dropped).
  // *stored: the slot the executor stores it into (kNoSlot: none).
  bool PopGuardian(uint32_t g, uint32_t popped, uint32_t slot, uint32_t* stored,
                   std::string* why);

 private:
  bool Place(uint32_t id, uint32_t parent, uint32_t field, uint32_t slot,
             Effects* fx);
  void NewObject(uint32_t id, Kind kind, uint32_t bytes);
  // A new object went into M (or nowhere): keeps the cached sets current.
  void Added(uint32_t id, bool reachable);
  void SetRef(Ref* r, const Ref& v);
  // Sets field f of object id, keeping ptr_fields current.
  void SetField(uint32_t id, uint32_t f, const Ref& v);
  void Uncover(Effects* fx);
  void EphClear(uint32_t id);
  // Membership for reads between collections (see DetR in model.cc).
  bool DetR(uint32_t id);
  bool DetF(uint32_t id);
  bool DetRNoRecompute(uint32_t id) const;
  bool ApplyVm(const Op& op, Effects* fx);
  // The placement ops share: parent.field, a slot, or garbage.
  bool ParentOk(const Op& op) const;
  void PlaceNew(uint32_t id, const Op& op, bool parent_ok, Effects* fx);
  Expect ExpectCell(const WeakCell& c);
  void ReadInto(const Op& op, Effects* fx);
  void Register(uint32_t id, const Registration& r);
  void Unregister(uint32_t id);
  // hidden: CollectMaybeHidden.
  void Collect(bool hidden = false);
  // Marks mk from the roots plus roots_extra (strong phase), then pass 1
  // from every ordered or ignore-self candidate it left unmarked.
  void MarkWithExtraRoots(Marker* mk, const std::vector<uint32_t>& extra);
  void RunCanonical();
  // Settles what the heap must already have done to id if an automatic
  // cycle finalized it: its short cells are cleared, but for late ones
  // (WeakCell::late), which stay "target or NULL".
  void ClearShortCellsOf(uint32_t id);
  // A cell set to target now (late if target may have been queued).
  WeakCell SetCell(uint32_t target, uint8_t kind);
  // id is known freed (a cleanup ran for it): its cells and entries.
  void KnownFreed(uint32_t id);
  void ForEachCell(const std::function<void(WeakCell&)>& fn);
  bool MayBeReady(uint32_t id);
  // Recomputes the marks (M, R, F and the ready set) from scratch.
  void Analyze();

  std::vector<ObjModel> objs_;
  Ref table_[kSlots];
  int slot_count_[kSingleSlots] = {};
  std::vector<std::pair<uint32_t, uint32_t>> ranges_;  // (start, count)
  int scanner_count_[kScanners] = {};
  bool all_rooted_ = false;
  bool tagged_ = false;
  bool auto_ = true;
  bool finalizer_thread_ = false;
  bool hard_limit_ = false;  // gc_config.max_heap_bytes: no VM chains
  bool observing_ = false;
  uint32_t next_id_ = 1;
  uint64_t next_token_ = 1;
  uint32_t next_serial_ = 1;
  uint64_t collections_ = 0;

  struct Handle {
    bool exists = false;
    WeakCell cell;
  };
  Handle handles_[kWeakCells];
  std::vector<uint32_t> weak_holders_;  // WeakS/L objects (some freed)
  std::vector<uint32_t> ephemerons_;    // ephemerons (some freed)
  std::vector<uint32_t> registered_;
  std::vector<Pending> ready_;
  std::deque<uint32_t> guard_q_[kGuardians];
  std::map<uint64_t, Cleanup> cleanups_;
  std::vector<uint64_t> cleanup_q_;
  std::vector<uint32_t> alive_;  // exist and not freed (pruned at collects)

  // Cached analysis (valid unless dirty_).
  bool dirty_ = false;
  std::vector<uint32_t> mlist_;      // M in marking order
  std::vector<uint32_t> ready_now_;  // ready if a collection ran now
  std::vector<uint32_t> run_may_;    // ready_now_ when the run began
  bool in_run_ = false;
  Marker rf_;   // R, then pass 1 and revived: F
  Marker hid_;  // CollectMaybeHidden's markings
  uint64_t hidden_undetermined_ = 0;
  uint64_t hidden_determined_ = 0;
  Marker m_;            // M, when it is not R
  bool m_is_r_ = true;  // no queue roots: M == R

  std::vector<uint32_t> live_;
  std::vector<std::pair<uint32_t, uint32_t>> last_ready_;
  bool live_current_ = false;
  std::vector<uint32_t> newly_freed_;
  VmCounts counts_;
  std::vector<std::pair<uint64_t, uint32_t>> run_log_;
};

// The ops that hand back what finalization queued, at the end of a
// program: run the queued finalizers and cleanups (on-demand mode), pop
// every guardian entry (dropping what it gives). Empty when nothing is
// queued.
std::vector<Op> FinalDrainOps(const Model& m);

}  // namespace gcheap::oracle

#endif  // GCHEAP_TESTS_ORACLE_MODEL_H_
