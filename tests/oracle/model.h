// model.h: the shadow graph of a program: objects (id -> kind, size, pointer
// fields), the handle table, which table slots are roots, and the exact
// reachable set.
//
// The model decides whether an op is valid in the current state (an op on
// an object that is not reachable, or on a slot that is not a root, is
// skipped) and what it does, without touching any heap: the generator runs
// it alone to choose ops, the executor runs it next to the heaps to know
// what every object must contain and which objects must be live.
//
// Reachability is monotone in one direction: an object that is unreachable
// at any point can never become reachable again (ops only store pointers to
// reachable objects), so the model marks it dead for good.
#ifndef GCHEAP_TESTS_ORACLE_MODEL_H_
#define GCHEAP_TESTS_ORACLE_MODEL_H_

#include <cstdint>
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

struct ObjModel {
  bool exists = false;
  bool dead = false;
  Kind kind = Kind::kSmall3;
  uint32_t bytes = 0;
  uint32_t trace_n = 0;  // Traced: kids reported by the trace callback
  std::vector<Ref> fields;
  std::vector<uint32_t> ptr_fields;  // indices of fields holding pointers
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
  // After a failed allocation (a hard heap limit): the new object was
  // never stored where Apply put it; that place holds NULL instead.
  void ClearPlacement(const Effects& fx);
  void ClearField(uint32_t id, uint32_t f) { SetField(id, f, Ref{}); }

  // Applies op if it is valid (returns false and changes nothing if not).
  bool Apply(const Op& op, Effects* fx);

  // Recomputes reachability if something may have died since.
  void EnsureReachability();
  // Reachable object ids (after EnsureReachability), in BFS order.
  const std::vector<uint32_t>& reachable() {
    EnsureReachability();
    return reachable_;
  }
  // Objects found dead since the last call.
  std::vector<uint32_t> TakeNewlyDead() { return std::move(newly_dead_); }

  const ObjModel* Get(uint32_t id) const {
    return id < objs_.size() && objs_[id].exists ? &objs_[id] : nullptr;
  }
  // Exists and reachable (recomputes reachability if needed).
  bool Live(uint32_t id);
  bool Covered(uint32_t slot) const;
  const Ref& slot(uint32_t s) const { return table_[s]; }
  uint32_t next_id() const { return next_id_; }
  int root_count(uint32_t slot) const { return slot_count_[slot]; }
  int scanner_count(uint32_t k) const { return scanner_count_[k]; }
  const std::vector<std::pair<uint32_t, uint32_t>>& ranges() const {
    return ranges_;
  }
  // Whether field f of a live object may be written.
  bool WritableField(const ObjModel& o, uint32_t f) const {
    return f < o.fields.size() && (o.kind != Kind::kTraced || f < o.trace_n);
  }
  bool ValidTarget(uint32_t id, uint32_t off);

 private:
  bool Place(uint32_t id, uint32_t parent, uint32_t field, uint32_t slot,
             Effects* fx);
  void NewObject(uint32_t id, Kind kind, uint32_t bytes);
  void SetRef(Ref* r, const Ref& v);
  // Sets field f of object id, keeping ptr_fields current.
  void SetField(uint32_t id, uint32_t f, const Ref& v);
  void Uncover(Effects* fx);

  std::vector<ObjModel> objs_;
  Ref table_[kSlots];
  int slot_count_[kSingleSlots] = {};
  std::vector<std::pair<uint32_t, uint32_t>> ranges_;  // (start, count)
  int scanner_count_[kScanners] = {};
  bool all_rooted_ = false;
  bool tagged_ = false;
  uint32_t next_id_ = 1;
  bool dirty_ = false;
  std::vector<uint32_t> reachable_;
  std::vector<uint32_t> alive_;  // exist and not dead (maybe unreachable)
  std::vector<uint32_t> newly_dead_;
  std::vector<uint32_t> visited_;  // epoch per id
  uint32_t epoch_ = 0;
};

}  // namespace gcheap::oracle

#endif  // GCHEAP_TESTS_ORACLE_MODEL_H_
