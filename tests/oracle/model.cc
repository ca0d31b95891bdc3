#include "tests/oracle/model.h"

#include <algorithm>
#include <functional>

namespace gcheap::oracle {

bool ValidOffset(uint32_t off, uint32_t bytes, bool tagged) {
  if (off >= bytes) return false;
  if ((off & 7) != 0 && !tagged) return false;
  for (uint32_t o : kValidOffsets) {
    if (o == (off & ~7u)) return true;
  }
  return false;
}

// ---- the model --------------------------------------------------------------

Model::Model() { objs_.resize(1); }

void VmCounts::Add(const VmCounts& o) {
  finalized += o.finalized;
  guardian_pops += o.guardian_pops;
  cleanups_run += o.cleanups_run;
  short_cleared += o.short_cleared;
  long_cleared += o.long_cleared;
  ephemerons_cleared += o.ephemerons_cleared;
  revived += o.revived;
}

std::vector<Op> Model::Prologue() {
  std::vector<Op> ops;
  for (uint32_t s = 0; s < 8; s++) {
    Op op;
    op.op = OpKind::kRootAdd;
    op.slot = s;
    ops.push_back(op);
  }
  Op range;
  range.op = OpKind::kRangeAdd;
  range.slot = kRangeBegin;
  range.count = 8;
  ops.push_back(range);
  for (uint32_t k = 0; k < 2; k++) {
    Op sc;
    sc.op = OpKind::kScannerAdd;
    sc.slot = k;
    ops.push_back(sc);
  }
  return ops;
}

void Model::SetAllSlotsRooted() { all_rooted_ = true; }

void Model::Configure(const ProgramConfig& c) {
  hard_limit_ = c.max_heap != 0;
  set_tagged(c.tag_mask != 0);
  set_auto_cycles(HasAutomaticCycles(c));
  set_finalizer_thread(c.finalizer_thread != 0);
}

bool Model::Covered(uint32_t s) const {
  if (s >= kSlots) return false;
  if (all_rooted_) return true;
  if (s < kSingleSlots) return slot_count_[s] > 0;
  if (s < kRangeEnd) {
    for (const auto& [start, count] : ranges_) {
      if (s >= start && s < start + count) return true;
    }
    return false;
  }
  return scanner_count_[(s - kScannerBegin) / kScannerSlots] > 0;
}

bool Model::InM(uint32_t id) {
  EnsureReachability();
  return m_is_r_ ? rf_.MarkedIn(id, Marker::kStrong) : m_.Marked(id);
}

bool Model::InR(uint32_t id) {
  EnsureReachability();
  return rf_.MarkedIn(id, Marker::kStrong);
}

bool Model::InF(uint32_t id) {
  EnsureReachability();
  return rf_.Marked(id);
}

// With a finalizer thread and automatic cycles, a queued finalizer may have
// run (and its object been freed) without the model knowing yet: reads are
// only determined for what the mutator itself reaches.
bool Model::DetR(uint32_t id) {
  return finalizer_thread_ && auto_ ? InM(id) : InR(id);
}
bool Model::DetF(uint32_t id) {
  return finalizer_thread_ && auto_ ? InM(id) : InF(id);
}

bool Model::Live(uint32_t id) {
  if (id >= objs_.size() || !objs_[id].exists || objs_[id].freed) return false;
  return InM(id);
}

bool Model::MayBeFreed(uint32_t id) {
  if (id >= objs_.size() || !objs_[id].exists) return false;
  if (objs_[id].freed) return true;
  return auto_ && !DetF(id);
}

bool Model::ValidTarget(uint32_t id, uint32_t off) {
  if (id == 0) return off == 0;
  if (!Live(id)) return false;
  return ValidOffset(off, objs_[id].bytes, tagged_);
}

uint32_t Model::WritableCount(const ObjModel& o) const {
  if (o.kind == Kind::kEphemeron) return 0;
  if (o.kind == Kind::kTraced) return o.trace_n;
  return static_cast<uint32_t>(o.fields.size());
}

void Model::SetRef(Ref* r, const Ref& v) {
  if (r->IsPtr()) dirty_ = true;  // the old target may have died
  *r = v;
}

void Model::SetField(uint32_t id, uint32_t f, const Ref& v) {
  ObjModel& o = objs_[id];
  const bool was = o.fields[f].IsPtr();
  SetRef(&o.fields[f], v);
  if (was && !v.IsPtr()) {
    auto it = std::find(o.ptr_fields.begin(), o.ptr_fields.end(), f);
    *it = o.ptr_fields.back();
    o.ptr_fields.pop_back();
  } else if (!was && v.IsPtr()) {
    o.ptr_fields.push_back(f);
  }
}

void Model::NewObject(uint32_t id, Kind kind, uint32_t bytes) {
  if (id >= objs_.size())
    objs_.resize(std::max<size_t>(id + 1, objs_.size() * 2));
  ObjModel& o = objs_[id];
  o = ObjModel{};
  o.exists = true;
  o.kind = kind;
  o.bytes = bytes;
  o.fields.assign(NumFields(kind, bytes), Ref{});
  o.weak.assign(NumWeakFields(kind), WeakCell{});
  for (WeakCell& c : o.weak) {
    c.kind = kind == Kind::kWeakL ? kWeakLong : kWeakShort;
  }
  if (IsWeakKind(kind)) weak_holders_.push_back(id);
  if (kind == Kind::kEphemeron) ephemerons_.push_back(id);
  next_id_ = std::max(next_id_, id + 1);
  alive_.push_back(id);
}

void Model::Added(uint32_t id, bool reachable) {
  if (!reachable) {
    // Nothing holds it: the next recomputation settles it (as it always
    // has, so generated programs keep their order of picks).
    dirty_ = true;
    return;
  }
  if (dirty_) return;
  // Still current: a new object in M (and R and F) that reaches nothing
  // new (it points only to M objects, or nothing).
  rf_.set_phase(Marker::kStrong);
  rf_.Visit(id);
  if (!m_is_r_) m_.Visit(id);
  mlist_.push_back(id);
}

// Stores a new object into parent.field, or a slot, or nowhere.
bool Model::Place(uint32_t id, uint32_t parent, uint32_t field, uint32_t slot,
                  Effects* fx) {
  Ref r;
  r.id = id;
  bool placed = false;
  if (parent != 0) {
    if (Live(parent) && WritableField(objs_[parent], field)) {
      SetField(parent, field, r);
      fx->dest_parent = parent;
      fx->dest_field = field;
      placed = true;
    }
  } else if (slot != kNoSlot && Covered(slot)) {
    SetRef(&table_[slot], r);
    fx->dest_slot = slot;
    placed = true;
  }
  if (placed) {
    Added(id, true);
    return true;
  }
  fx->garbage = true;
  Added(id, false);
  return false;
}

bool Model::ParentOk(const Op& op) const {
  // (Callers judge the parent before the new object exists.)
  return op.target != 0 && op.target != op.id && op.target < objs_.size() &&
         objs_[op.target].exists && WritableField(objs_[op.target], op.field);
}

void Model::PlaceNew(uint32_t id, const Op& op, bool parent_ok, Effects* fx) {
  Place(id, parent_ok ? op.target : 0, op.field,
        op.target != 0 ? kNoSlot : op.slot, fx);
}

void Model::ClearPlacement(const Effects& fx) {
  if (fx.dest_parent != 0) {
    SetField(fx.dest_parent, fx.dest_field, Ref{});
  } else if (fx.dest_slot != kNoSlot) {
    SetRef(&table_[fx.dest_slot], Ref{});
  }
  dirty_ = true;
}

void Model::Uncover(Effects* fx) {
  for (uint32_t s = 0; s < kSlots; s++) {
    if (!Covered(s) && (table_[s].IsPtr() || table_[s].imm != 0)) {
      SetRef(&table_[s], Ref{});
      fx->cleared_slots.push_back(s);
    }
  }
}

bool Model::Apply(const Op& op, Effects* fx) {
  // Observing with automatic cycles: a cycle may run during any op (a
  // concurrent one at any time), so every state between ops is analyzed
  // for what it may find ready (ObjModel::may_ready_serial).
  if (observing_ && auto_ && dirty_ && !registered_.empty()) {
    EnsureReachability();
  }
  *fx = Effects{};
  live_current_ = false;
  switch (op.op) {
    case OpKind::kAlloc: {
      if (op.id == 0 || op.id >= kMaxId) return false;
      if (op.id < objs_.size() && objs_[op.id].exists) return false;
      if (op.value > kMaxBytes || !ValidBytes(op.kind, op.value)) return false;
      if (op.kind == Kind::kEphemeron) return false;  // ephnew makes them
      // The parent must be judged before the new object exists.
      const bool parent_ok = op.target != 0 && op.target != op.id &&
                             Live(op.target) &&
                             WritableField(objs_[op.target], op.field);
      NewObject(op.id, op.kind, static_cast<uint32_t>(op.value));
      PlaceNew(op.id, op, parent_ok, fx);
      return true;
    }
    case OpKind::kAllocInit: {
      if (op.id == 0 || op.id >= kMaxId || Get(op.id) != nullptr) {
        return false;
      }
      if (!ValidTarget(op.key, 0) || !ValidTarget(op.val, 0)) return false;
      const bool parent_ok = ParentOk(op) && Live(op.target);
      NewObject(op.id, Kind::kSmall3, kSmall3Bytes);
      Ref r;
      r.id = op.key;
      if (op.key != 0) SetField(op.id, 0, r);
      r.id = op.val;
      if (op.val != 0) SetField(op.id, 1, r);
      PlaceNew(op.id, op, parent_ok, fx);
      // (What it points to was in M already: the sets stay current unless
      // it went nowhere.)
      return true;
    }
    case OpKind::kChain: {
      if (op.count == 0 || op.count > kMaxChain) return false;
      if (op.id == 0 || uint64_t{op.id} + op.count >= kMaxId) return false;
      for (uint32_t i = 0; i < op.count; i++) {
        if (Get(op.id + i) != nullptr) return false;
      }
      const bool parent_ok = op.target != 0 && Live(op.target) &&
                             WritableField(objs_[op.target], op.field);
      for (uint32_t i = 0; i < op.count; i++) {
        NewObject(op.id + i, Kind::kSmall3, kSmall3Bytes);
        if (i == 0) {
          PlaceNew(op.id, op, parent_ok, fx);
        } else {
          Ref r;
          r.id = op.id + i;
          SetField(op.id + i - 1, 0, r);
          Added(op.id + i, !fx->garbage);
        }
      }
      if (op.value & 1) {
        Ref r;
        r.id = op.id;
        SetField(op.id + op.count - 1, 1, r);
      }
      return true;
    }
    case OpKind::kStore: {
      if (!Live(op.id) || !WritableField(objs_[op.id], op.field)) return false;
      if (!ValidTarget(op.target, op.off)) return false;
      Ref r;
      r.id = op.target;
      r.off = op.target != 0 ? op.off : 0;
      SetField(op.id, op.field, r);
      return true;
    }
    case OpKind::kStoreImm: {
      if (!Live(op.id) || !WritableField(objs_[op.id], op.field)) return false;
      Ref r;
      r.imm = NormalizeImm(op.value);
      SetField(op.id, op.field, r);
      return true;
    }
    case OpKind::kRootSet: {
      if (!Covered(op.slot)) return false;
      if (!ValidTarget(op.target, op.off)) return false;
      Ref r;
      r.id = op.target;
      r.off = op.target != 0 ? op.off : 0;
      SetRef(&table_[op.slot], r);
      return true;
    }
    case OpKind::kRootAdd:
      if (all_rooted_ || op.slot >= kSingleSlots) return false;
      slot_count_[op.slot]++;
      return true;
    case OpKind::kRootRemove:
      if (all_rooted_ || op.slot >= kSingleSlots) return false;
      if (slot_count_[op.slot] == 0) {
        fx->expect_fail = true;
        return true;
      }
      slot_count_[op.slot]--;
      Uncover(fx);
      return true;
    case OpKind::kRangeAdd:
      if (all_rooted_ || op.slot < kRangeBegin || op.slot >= kRangeEnd ||
          op.count == 0 || op.count > kRangeEnd - op.slot) {
        return false;
      }
      ranges_.emplace_back(op.slot, op.count);
      return true;
    case OpKind::kRangeRemove: {
      if (all_rooted_ || op.slot < kRangeBegin || op.slot >= kRangeEnd ||
          op.count == 0 || op.count > kRangeEnd - op.slot) {
        return false;
      }
      auto it = std::find(ranges_.begin(), ranges_.end(),
                          std::make_pair(op.slot, op.count));
      if (it == ranges_.end()) {
        fx->expect_fail = true;
        return true;
      }
      ranges_.erase(it);
      Uncover(fx);
      return true;
    }
    case OpKind::kScannerAdd:
      if (all_rooted_ || op.slot >= kScanners) return false;
      scanner_count_[op.slot]++;
      return true;
    case OpKind::kScannerRemove:
      if (all_rooted_ || op.slot >= kScanners) return false;
      if (scanner_count_[op.slot] == 0) {
        fx->expect_fail = true;
        return true;
      }
      scanner_count_[op.slot]--;
      Uncover(fx);
      return true;
    case OpKind::kSetTraceN: {
      if (!Live(op.id) || objs_[op.id].kind != Kind::kTraced) return false;
      if (op.count > kTracedKids) return false;
      ObjModel& o = objs_[op.id];
      fx->old_trace_n = o.trace_n;
      for (uint32_t f = op.count; f < o.trace_n; f++) SetField(op.id, f, Ref{});
      o.trace_n = op.count;
      return true;
    }
    case OpKind::kTouch:
      return Live(op.id) &&
             op.field < NumPayloadWords(objs_[op.id].kind, objs_[op.id].bytes);
    case OpKind::kTouchAddr:
      return Live(op.id) &&
             op.field <
                 NumPayloadWords(objs_[op.id].kind, objs_[op.id].bytes) &&
             Get(op.target) != nullptr;
    case OpKind::kCollect:
      Collect();
      return true;
    case OpKind::kReattach:
      return true;
    case OpKind::kTinyGarbage:
      return op.count >= 1 && op.count < 16;
    case OpKind::kChurn:
      return op.count >= 1 && op.count <= kMaxChurn && op.value <= kMaxBytes &&
             op.count * op.value <= (uint64_t{64} << 20) &&
             !IsVmKind(op.kind) &&
             ValidBytes(op.kind, static_cast<uint32_t>(op.value));
    case OpKind::kNumOpKinds:
      return false;
    default:
      return ApplyVm(op, fx);
  }
  return false;
}

// ---- VM ops -----------------------------------------------------------------

Expect Model::ExpectCell(const WeakCell& c) {
  Expect e;
  e.ref.id = c.target;
  if (c.target == 0) return e;
  if (c.state == WeakCell::kMaybe) {
    e.or_null = true;
  } else if (auto_) {
    e.or_null = c.kind == kWeakShort ? !DetR(c.target) : !DetF(c.target);
  }
  return e;
}

Expect Model::ExpectHandle(uint32_t w) { return ExpectCell(handles_[w].cell); }

Expect Model::ExpectWeakField(uint32_t id, uint32_t f) {
  return ExpectCell(objs_[id].weak[f]);
}

Expect Model::ExpectEph(uint32_t id, uint8_t what) {
  const ObjModel& o = objs_[id];
  Expect e;
  if (what == kEphReadNext) {
    e.ref = o.fields[0];
    return e;
  }
  if (what == kEphReadKey) {
    e.ref = o.eph_key;
  } else {
    e.ref.id = o.eph_value;
  }
  // The entry is cleared when its key dies (a key that is no object never
  // does); it may have died in an automatic cycle when it is not in F.
  if (o.eph_key.IsPtr() && auto_ && !DetF(o.eph_key.id)) {
    e.or_null = e.ref.IsPtr() || e.ref.imm != 0;
  }
  return e;
}

void Model::ObserveHandleNull(uint32_t w) {
  handles_[w].cell.target = 0;
  handles_[w].cell.state = WeakCell::kSet;
}

void Model::ObserveWeakFieldNull(uint32_t id, uint32_t f) {
  objs_[id].weak[f].target = 0;
  objs_[id].weak[f].state = WeakCell::kSet;
}

void Model::ObserveEphCleared(uint32_t id) { EphClear(id); }

// The result of a read goes into table[op.slot] only when it is determined
// and the mutator reaches it already (so a read never brings an object
// back; see model.h).
void Model::ReadInto(const Op& op, Effects* fx) {
  if (op.slot == kNoSlot || !Covered(op.slot)) return;
  if (fx->expect.or_null || !fx->expect.ref.IsPtr()) return;
  if (!InM(fx->expect.ref.id)) return;
  Ref r;
  r.id = fx->expect.ref.id;
  SetRef(&table_[op.slot], r);
  fx->store_slot = op.slot;
}

void Model::KeepLateRegistration(uint32_t id) {
  ObjModel& o = objs_[id];
  if (o.registered && !o.reg.guardian && o.may_ready_serial == o.reg.serial) {
    o.late_reg = o.reg;
    o.has_late_reg = true;
  }
}

void Model::Register(uint32_t id, const Registration& r) {
  ObjModel& o = objs_[id];
  // (Once: an object unregistered and registered again is still listed.)
  if (!o.listed) registered_.push_back(id);
  o.listed = true;
  o.registered = true;
  o.reg = r;
  o.reg.serial = next_serial_++;
}

void Model::Unregister(uint32_t id) { objs_[id].registered = false; }

void Model::ForEachCell(const std::function<void(WeakCell&)>& fn) {
  for (Handle& h : handles_) {
    if (h.exists) fn(h.cell);
  }
  for (uint32_t id : weak_holders_) {
    if (objs_[id].freed) continue;
    for (WeakCell& c : objs_[id].weak) fn(c);
  }
}

void Model::ClearShortCellsOf(uint32_t id) {
  ForEachCell([id](WeakCell& c) {
    if (c.target != id || c.kind != kWeakShort) return;
    if (c.late) {
      // Set after the cycle that queued id may have cleared its cells (the
      // multi-threaded oracle: another object's finalizer, run by another
      // thread between this graph's ops, brought id back into M, and the
      // program made this cell before id's own call came): the heap may
      // have kept it.
      c.state = WeakCell::kMaybe;
      return;
    }
    c.target = 0;
    c.state = WeakCell::kSet;
  });
}

WeakCell Model::SetCell(uint32_t target, uint8_t kind) {
  WeakCell c{target, kind, WeakCell::kSet};
  if (target == 0) return c;
  const ObjModel& o = objs_[target];
  c.late = o.registered && o.may_ready_serial == o.reg.serial;
  if (c.late && kind == kWeakShort) c.state = WeakCell::kMaybe;
  return c;
}

void Model::KnownFreed(uint32_t id) {
  ObjModel& o = objs_[id];
  if (o.freed) return;
  o.freed = true;
  newly_freed_.push_back(id);
  ForEachCell([id](WeakCell& c) {
    if (c.target == id) {
      c.target = 0;
      c.state = WeakCell::kSet;
    }
  });
  for (uint32_t e : ephemerons_) {
    ObjModel& eo = objs_[e];
    if (!eo.freed && eo.eph_key.id == id) {
      eo.eph_key = Ref{};
      eo.eph_value = 0;
    }
  }
  dirty_ = true;
}

bool Model::ApplyVm(const Op& op, Effects* fx) {
  switch (op.op) {
    case OpKind::kWeakCreate: {
      if (op.field >= kWeakCells || op.mode > kWeakLong) return false;
      if (!ValidTarget(op.target, 0)) return false;
      Handle& h = handles_[op.field];
      fx->replaced_handle = h.exists;
      h.exists = true;
      h.cell = SetCell(op.target, op.mode);
      return true;
    }
    case OpKind::kWeakGet:
      if (op.field >= kWeakCells || !handles_[op.field].exists) return false;
      fx->expect = ExpectHandle(op.field);
      ReadInto(op, fx);
      return true;
    case OpKind::kWeakSet:
      if (op.field >= kWeakCells || !handles_[op.field].exists) return false;
      if (!ValidTarget(op.target, 0)) return false;
      handles_[op.field].cell =
          SetCell(op.target, handles_[op.field].cell.kind);
      return true;
    case OpKind::kWeakDestroy:
      if (op.field >= kWeakCells || !handles_[op.field].exists) return false;
      handles_[op.field].exists = false;
      return true;
    case OpKind::kWeakStore: {
      if (!Live(op.id) || !IsWeakKind(objs_[op.id].kind)) return false;
      if (op.field >= kWeakFields || !ValidTarget(op.target, 0)) return false;
      WeakCell& c = objs_[op.id].weak[op.field];
      c = SetCell(op.target, c.kind);
      return true;
    }
    case OpKind::kWeakLoad:
      if (!Live(op.id) || !IsWeakKind(objs_[op.id].kind)) return false;
      if (op.field >= kWeakFields) return false;
      fx->expect = ExpectWeakField(op.id, op.field);
      ReadInto(op, fx);
      return true;
    case OpKind::kEphNew: {
      if (op.id == 0 || op.id >= kMaxId || Get(op.id) != nullptr) return false;
      if (op.key != 0 ? !ValidTarget(op.key, 0) : false) return false;
      if (!ValidTarget(op.val, 0)) return false;
      const bool parent_ok = ParentOk(op) && Live(op.target);
      NewObject(op.id, Kind::kEphemeron, kEphemeronBytes);
      ObjModel& o = objs_[op.id];
      if (op.key != 0) {
        o.eph_key.id = op.key;
      } else {
        o.eph_key.imm = op.value != 0 ? NormalizeImm(op.value) : 0;
      }
      o.eph_value = op.val;
      PlaceNew(op.id, op, parent_ok, fx);
      return true;
    }
    case OpKind::kEphGet: {
      if (!Live(op.id) || objs_[op.id].kind != Kind::kEphemeron) return false;
      if (op.mode > kEphReadNext) return false;
      fx->expect = ExpectEph(op.id, op.mode);
      ReadInto(op, fx);
      return true;
    }
    case OpKind::kEphSetValue: {
      if (!Live(op.id) || objs_[op.id].kind != Kind::kEphemeron) return false;
      if (!ValidTarget(op.target, 0)) return false;
      // Only on an entry whose state is known: on one an automatic cycle
      // may have cleared, whether the new value is held would be unknown.
      if (ExpectEph(op.id, kEphReadKey).or_null) return false;
      ObjModel& o = objs_[op.id];
      if (o.eph_value != 0) dirty_ = true;
      o.eph_value = op.target;
      return true;
    }
    case OpKind::kEphSetNext: {
      if (!Live(op.id) || objs_[op.id].kind != Kind::kEphemeron) return false;
      if (!ValidTarget(op.target, 0)) return false;
      Ref r;
      r.id = op.target;
      SetField(op.id, 0, r);
      return true;
    }
    case OpKind::kEphClear: {
      if (!Live(op.id) || objs_[op.id].kind != Kind::kEphemeron) return false;
      EphClear(op.id);
      return true;
    }
    case OpKind::kEphChain: {
      if (hard_limit_) return false;  // (see kFinChain)
      if (op.count == 0 || op.count > kMaxChain) return false;
      if (op.id == 0 || uint64_t{op.id} + 2 * uint64_t{op.count} >= kMaxId) {
        return false;
      }
      for (uint32_t i = 0; i < 2 * op.count; i++) {
        if (Get(op.id + i) != nullptr) return false;
      }
      const bool parent_ok = ParentOk(op) && Live(op.target);
      const uint32_t n = op.count;
      auto key = [&](uint32_t i) { return op.id + 2 * i; };
      auto eph = [&](uint32_t i) { return op.id + 2 * i + 1; };
      for (uint32_t i = 0; i < n; i++) {
        NewObject(key(i), Kind::kSmall3, kSmall3Bytes);
        NewObject(eph(i), Kind::kEphemeron, kEphemeronBytes);
        objs_[eph(i)].eph_key.id = key(i);
      }
      for (uint32_t i = 0; i < n; i++) {
        ObjModel& e = objs_[eph(i)];
        if (i + 1 < n) {
          e.eph_value = key(i + 1);
        } else if (op.value & kEphChainCycle) {
          e.eph_value = key(0);
        }
        const bool reversed = (op.value & kEphChainReversed) != 0;
        const uint32_t next =
            reversed ? (i > 0 ? eph(i - 1) : 0) : (i + 1 < n ? eph(i + 1) : 0);
        if (next != 0) {
          Ref r;
          r.id = next;
          SetField(eph(i), 0, r);
        }
      }
      const uint32_t head =
          (op.value & kEphChainReversed) ? eph(n - 1) : eph(0);
      PlaceNew(head, op, parent_ok, fx);
      if (op.slot2 != kNoSlot && Covered(op.slot2)) {
        Ref r;
        r.id = key(0);
        SetRef(&table_[op.slot2], r);
      }
      // Reachability through ephemerons is a fixpoint: recompute.
      dirty_ = true;
      return true;
    }
    case OpKind::kFinReg: {
      if (!Live(op.id) || op.mode > kFinIgnoreSelf) return false;
      if (op.slot2 != kNoSlot && (op.slot2 >= kSlots || finalizer_thread_)) {
        return false;
      }
      const ObjModel& o = objs_[op.id];
      if (o.registered && o.reg.guardian) return false;
      Registration r;
      r.mode = op.mode;
      r.resurrect = op.slot2;
      KeepLateRegistration(op.id);
      Register(op.id, r);  // replaces a finalizer registration
      return true;
    }
    case OpKind::kFinUnreg: {
      if (!Live(op.id)) return false;
      const ObjModel& o = objs_[op.id];
      if (!o.registered || o.reg.guardian) return false;
      KeepLateRegistration(op.id);
      Unregister(op.id);
      return true;
    }
    case OpKind::kFinChain: {
      // Not under a hard heap limit: an allocation refused in the middle
      // would leave a partial chain the model cannot describe.
      if (hard_limit_) return false;
      if (op.count == 0 || op.count > kMaxFinChain) return false;
      if (op.id == 0 || uint64_t{op.id} + op.count >= kMaxId) return false;
      if (op.mode > kFinIgnoreSelf || op.guardian >= kGuardians) return false;
      if (op.slot2 != kNoSlot && (op.slot2 >= kSlots || finalizer_thread_)) {
        return false;
      }
      for (uint32_t i = 0; i < op.count; i++) {
        if (Get(op.id + i) != nullptr) return false;
      }
      const bool parent_ok = ParentOk(op) && Live(op.target);
      for (uint32_t i = 0; i < op.count; i++) {
        NewObject(op.id + i, Kind::kSmall3, kSmall3Bytes);
      }
      for (uint32_t i = 0; i < op.count; i++) {
        Ref r;
        if (i + 1 < op.count) {
          r.id = op.id + i + 1;
          SetField(op.id + i, 0, r);
        }
        if (op.value & kFinChainSelf) {
          r.id = op.id + i;
          SetField(op.id + i, 2, r);
        }
        Registration reg;
        reg.mode = op.mode;
        reg.guardian = (op.value & kFinChainGuardian) != 0;
        reg.guardian_index = op.guardian;
        reg.resurrect = reg.guardian ? kNoSlot : op.slot2;
        Register(op.id + i, reg);
      }
      if (op.value & kFinChainCycle) {
        Ref r;
        r.id = op.id;
        SetField(op.id + op.count - 1, 1, r);
      }
      PlaceNew(op.id, op, parent_ok, fx);
      dirty_ = true;
      return true;
    }
    case OpKind::kGuardReg: {
      if (!Live(op.id) || op.guardian >= kGuardians) return false;
      if (op.mode > kFinIgnoreSelf || objs_[op.id].registered) return false;
      Registration r;
      r.guardian = true;
      r.guardian_index = op.guardian;
      r.mode = op.mode;
      Register(op.id, r);
      return true;
    }
    case OpKind::kGuardPop: {
      if (op.guardian >= kGuardians) return false;
      if (op.slot != kNoSlot && op.slot >= kSlots) return false;
      if (observing_) return true;  // the executor reports what it got
      const uint32_t popped =
          guard_q_[op.guardian].empty() ? 0 : guard_q_[op.guardian].front();
      std::string why;
      PopGuardian(op.guardian, popped, op.slot, &fx->store_slot, &why);
      return true;
    }
    case OpKind::kCleanupAdd: {
      if (!Live(op.id) || op.value == 0 || cleanups_.count(op.value)) {
        return false;
      }
      cleanups_[op.value] = Cleanup{op.id, Cleanup::kRegistered};
      objs_[op.id].cleanups++;
      next_token_ = std::max(next_token_, op.value + 1);
      return true;
    }
    case OpKind::kCleanupCancel: {
      auto it = cleanups_.find(op.value);
      if (it == cleanups_.end() || it->second.state != Cleanup::kRegistered) {
        return false;
      }
      if (!Live(it->second.id)) return false;
      it->second.state = Cleanup::kCancelled;
      objs_[it->second.id].cleanups--;
      return true;
    }
    case OpKind::kRunFinalizers:
      if (finalizer_thread_) return false;
      if (!observing_) RunCanonical();
      return true;
    default:
      return false;
  }
}

void Model::EphClear(uint32_t id) {
  ObjModel& o = objs_[id];
  o.eph_key = Ref{};
  if (o.eph_value != 0) dirty_ = true;
  o.eph_value = 0;
}

// ---- analysis ---------------------------------------------------------------

void Model::EnsureReachability() {
  if (!dirty_) return;
  dirty_ = false;
  Analyze();
  // A short cell whose target is out of R may be cleared by an automatic
  // cycle at any time, and stays so even if the target comes back
  // (revived, then resurrected or popped): that can only happen through a
  // run or a pop, which recompute first, so every such moment passes here.
  if (!auto_) return;
  ForEachCell([this](WeakCell& c) {
    if (c.target != 0 && c.kind == kWeakShort && c.state == WeakCell::kSet &&
        !DetRNoRecompute(c.target)) {
      c.state = WeakCell::kMaybe;
    }
  });
}

bool Model::DetRNoRecompute(uint32_t id) const {
  if (finalizer_thread_ && auto_) {
    return m_is_r_ ? rf_.MarkedIn(id, Marker::kStrong) : m_.Marked(id);
  }
  return rf_.MarkedIn(id, Marker::kStrong);
}

void Model::Analyze() {
  // R: from the covered slots, the ready queue and the guardian queues.
  Marker& rf = rf_;
  rf.Begin(&objs_, nullptr);
  for (uint32_t s = 0; s < kSlots; s++) {
    if (Covered(s)) rf.Visit(table_[s].id);
  }
  bool extra_roots = false;
  for (const Pending& p : ready_) {
    rf.Visit(p.id);
    extra_roots = true;
  }
  for (const auto& q : guard_q_) {
    for (uint32_t id : q) {
      rf.Visit(id);
      extra_roots = true;
    }
  }
  rf.Drain();
  const size_t r_count = rf.order().size();
  // Candidates, pass 1, ready, revived.
  ready_now_.clear();
  if (!registered_.empty()) {
    std::vector<uint32_t> cand;
    size_t keep = 0;
    for (uint32_t id : registered_) {
      ObjModel& o = objs_[id];
      if (!o.registered || o.freed) {
        o.listed = false;
        continue;
      }
      registered_[keep++] = id;
      if (!rf.Marked(id)) cand.push_back(id);
    }
    registered_.resize(keep);
    std::sort(cand.begin(), cand.end());
    rf.set_phase(Marker::kPass1);
    for (uint32_t id : cand) {
      const uint8_t mode = objs_[id].reg.mode;
      if (mode == kFinUnordered) continue;
      rf.Scan(id, mode == kFinIgnoreSelf);
      rf.Drain();
    }
    // Boehm's rule (gc/finalize.h): a candidate still unmarked after pass
    // 1 is ready, whatever its mode; an unordered candidate that an
    // ordered one reaches waits for a later cycle.
    for (uint32_t id : cand) {
      if (!rf.Marked(id)) ready_now_.push_back(id);
    }
    // An automatic cycle may queue what is ready now; it stays queued
    // even if a later run or pop makes it reachable again.
    if (auto_) {
      for (uint32_t id : ready_now_) {
        objs_[id].may_ready_serial = objs_[id].reg.serial;
      }
    }
    rf.set_phase(Marker::kRevived);
    for (uint32_t id : ready_now_) rf.Visit(id);
    rf.Drain();
  }
  // M: from the covered slots only; an ephemeron's value counts when its
  // key is in R (with a finalizer thread and automatic cycles: in M).
  m_is_r_ = !extra_roots;
  if (m_is_r_) {
    mlist_.assign(rf.order().begin(), rf.order().begin() + r_count);
    return;
  }
  Marker& m = m_;
  m.Begin(&objs_, finalizer_thread_ && auto_ ? nullptr : &rf);
  for (uint32_t s = 0; s < kSlots; s++) {
    if (Covered(s)) m.Visit(table_[s].id);
  }
  m.Drain();
  mlist_ = m.order();
}

Decision Model::Decide() {
  EnsureReachability();
  Decision d;
  d.ready = ready_now_;
  d.live = rf_.order();
  for (uint32_t id : d.live) {
    if (!rf_.MarkedIn(id, Marker::kStrong)) d.revived.push_back(id);
  }
  std::sort(d.revived.begin(), d.revived.end());
  for (uint32_t id : alive_) {
    if (!objs_[id].freed && !rf_.Marked(id)) d.freed.push_back(id);
  }
  std::sort(d.freed.begin(), d.freed.end());
  ForEachCell([&](WeakCell& c) {
    if (c.target == 0) return;
    if (c.kind == kWeakShort && !rf_.MarkedIn(c.target, Marker::kStrong)) {
      d.short_cleared++;
    } else if (c.kind == kWeakLong && !rf_.Marked(c.target)) {
      d.long_cleared++;
    }
  });
  for (uint32_t e : ephemerons_) {
    const ObjModel& o = objs_[e];
    if (!o.freed && rf_.Marked(e) && o.eph_key.IsPtr() &&
        !rf_.Marked(o.eph_key.id)) {
      d.ephemerons_cleared++;
    }
  }
  return d;
}

// ---- collections, runs, pops
// --------------------------------------------------

void Model::CollectMaybeHidden() {
  live_current_ = false;
  Collect(/*hidden=*/true);
}

void Model::MarkWithExtraRoots(Marker* mk, const std::vector<uint32_t>& extra) {
  mk->Begin(&objs_, nullptr);
  for (uint32_t s = 0; s < kSlots; s++) {
    if (Covered(s)) mk->Visit(table_[s].id);
  }
  for (const Pending& p : ready_) mk->Visit(p.id);
  for (const auto& q : guard_q_) {
    for (uint32_t id : q) mk->Visit(id);
  }
  for (uint32_t id : extra) mk->Visit(id);
  mk->Drain();
  std::vector<uint32_t> cand;
  for (uint32_t id : registered_) {
    const ObjModel& o = objs_[id];
    if (o.registered && !o.freed && !mk->Marked(id) &&
        o.reg.mode != kFinUnordered) {
      cand.push_back(id);
    }
  }
  mk->set_phase(Marker::kPass1);
  for (uint32_t id : cand) {
    mk->Scan(id, objs_[id].reg.mode == kFinIgnoreSelf);
    mk->Drain();
  }
}

void Model::Collect(bool hidden) {
  // With a finalizer thread, a collection first waits until every queued
  // finalizer ran (the executor drains and checks them before this).
  if (finalizer_thread_ && !observing_) RunCanonical();
  // (Whether the marks were current stays as it was: the lists' order, and
  // so the generator's picks, do not depend on when a collection came.)
  const bool was_dirty = dirty_;
  EnsureReachability();
  Marker& rf = rf_;
  collections_++;
  auto in_r = [&](uint32_t id) { return rf.MarkedIn(id, Marker::kStrong); };
  auto in_f = [&](uint32_t id) { return rf.Marked(id); };
  // Entries the heap may hold that the model does not know (hidden): H,
  // the registered objects out of R that some state since their
  // registration found ready. The heap's strong marking lies between R and
  // the closure of R + H (hid_, strong phase), and its pass 1 within what
  // hid_ marks after it. An object ready by the model's count is queued
  // (or, if it is in H, possibly queued already) unless something else
  // than itself in H may reach it: then the decision is left open.
  std::vector<uint32_t> open;  // ready now, maybe kept back (ascending)
  bool use_hid = false;
  if (hidden) {
    std::vector<uint32_t> h;
    for (uint32_t id : registered_) {
      const ObjModel& o = objs_[id];
      if (o.registered && !o.freed && o.may_ready_serial == o.reg.serial &&
          !in_r(id)) {
        h.push_back(id);
      }
    }
    if (!h.empty()) {
      std::sort(h.begin(), h.end());
      // Per object of H that is ready now: could the others keep it
      // back? (At most a few; the rest are left open.)
      std::vector<uint32_t> others;
      int per_object = 16;
      for (uint32_t id : ready_now_) {
        if (!std::binary_search(h.begin(), h.end(), id)) continue;
        bool kept_back = true;
        if (per_object-- > 0) {
          others.clear();
          for (uint32_t x : h) {
            if (x != id) others.push_back(x);
          }
          MarkWithExtraRoots(&hid_, others);
          kept_back = hid_.Marked(id);
        }
        if (kept_back) open.push_back(id);
      }
      MarkWithExtraRoots(&hid_, h);
      for (uint32_t id : ready_now_) {
        if (!std::binary_search(h.begin(), h.end(), id) && hid_.Marked(id)) {
          open.push_back(id);
        }
      }
      std::sort(open.begin(), open.end());
      use_hid = true;
    }
  }
  // Weak cells: short ones out of R, long ones out of F are cleared. (A
  // cell left undetermined stays so while its target lives.)
  auto clear_cells = [&](WeakCell& c) {
    if (c.target == 0) return;
    const bool dies = c.kind == kWeakShort ? !in_r(c.target) : !in_f(c.target);
    if (!dies) return;
    if (use_hid && c.kind == kWeakShort &&
        hid_.MarkedIn(c.target, Marker::kStrong)) {
      // A hidden entry may keep its target strongly reachable.
      c.state = WeakCell::kMaybe;
      return;
    }
    (c.kind == kWeakShort ? counts_.short_cleared : counts_.long_cleared)++;
    c.target = 0;
    c.state = WeakCell::kSet;
  };
  for (Handle& h : handles_) {
    if (h.exists) clear_cells(h.cell);
  }
  for (uint32_t id : weak_holders_) {
    if (!objs_[id].freed && in_f(id)) {
      for (WeakCell& c : objs_[id].weak) clear_cells(c);
    }
  }
  // Ephemerons that live on, whose key dies.
  for (uint32_t e : ephemerons_) {
    ObjModel& o = objs_[e];
    if (o.freed || !in_f(e) || !o.eph_key.IsPtr() || in_f(o.eph_key.id)) {
      continue;
    }
    o.eph_key = Ref{};
    o.eph_value = 0;
    counts_.ephemerons_cleared++;
  }
  // Cleanups of objects that die.
  for (auto& [token, c] : cleanups_) {
    if (c.state == Cleanup::kRegistered && !in_f(c.id)) {
      c.state = Cleanup::kQueued;
      cleanup_q_.push_back(token);
      objs_[c.id].cleanups--;
    }
  }
  // Ready objects: unregistered and queued (revived).
  last_ready_.clear();
  for (uint32_t id : ready_now_) {
    ObjModel& o = objs_[id];
    if (std::binary_search(open.begin(), open.end(), id)) {
      // Maybe queued, maybe kept back: it may run later (as after an
      // automatic cycle), and stays registered until it does.
      o.may_ready_serial = o.reg.serial;
      hidden_undetermined_++;
      continue;
    }
    if (hidden) hidden_determined_++;
    last_ready_.emplace_back(id, o.reg.serial);
    Unregister(id);
    if (o.reg.guardian) {
      guard_q_[o.reg.guardian_index].push_back(id);
    } else {
      ready_.push_back(Pending{id, o.reg.serial, o.reg.resurrect});
    }
  }
  for (uint32_t id : rf.order()) {
    if (!in_r(id)) counts_.revived++;
  }
  // Everything else is freed for good.
  size_t keep = 0;
  for (uint32_t id : alive_) {
    ObjModel& o = objs_[id];
    if (o.freed) continue;
    if (in_f(id)) {
      alive_[keep++] = id;
      continue;
    }
    o.freed = true;
    o.fields.clear();
    o.fields.shrink_to_fit();
    o.ptr_fields.clear();
    o.ptr_fields.shrink_to_fit();
    o.weak.clear();
    newly_freed_.push_back(id);
  }
  alive_.resize(keep);
  auto prune = [&](std::vector<uint32_t>* v) {
    v->erase(std::remove_if(v->begin(), v->end(),
                            [&](uint32_t id) { return objs_[id].freed; }),
             v->end());
  };
  prune(&weak_holders_);
  prune(&ephemerons_);
  live_ = rf.order();
  // Newly queued objects are roots now: M and R change (F does not).
  // Otherwise the marks stay current (what was freed was in none of them).
  dirty_ = was_dirty || !ready_now_.empty();
  live_current_ = true;
}

void Model::RunCanonical() {
  BeginRun();
  std::string why;
  const std::vector<Pending> queued = ready_;
  for (const Pending& p : queued) {
    uint32_t slot;
    RunFinalizer(p.id, p.serial, &slot, &why);
  }
  const std::vector<uint64_t> tokens = cleanup_q_;
  for (uint64_t t : tokens) RunCleanup(t, &why);
  EndRun(&why);
}

void Model::BeginRun() {
  live_current_ = false;
  EnsureReachability();
  // What an automatic cycle may have queued is fixed for the run (the
  // callbacks do not allocate, so no cycle runs meanwhile), even when an
  // earlier finalizer of the run resurrects what reaches it.
  run_may_ = ready_now_;
  in_run_ = true;
}

bool Model::RunFinalizer(uint32_t id, uint32_t serial, uint32_t* resurrect,
                         std::string* why) {
  *resurrect = kNoSlot;
  live_current_ = false;
  EnsureReachability();
  uint32_t slot = kNoSlot;
  auto it = std::find_if(ready_.begin(), ready_.end(),
                         [id](const Pending& p) { return p.id == id; });
  if (it != ready_.end()) {
    if (it->serial != serial) {
      *why = "the finalizer of object " + std::to_string(id) +
             " ran with registration " + std::to_string(serial) +
             ", but the queued one is " + std::to_string(it->serial);
      return false;
    }
    slot = it->resurrect;
    ready_.erase(it);
  } else if (id < objs_.size() && objs_[id].has_late_reg &&
             objs_[id].late_reg.serial == serial && auto_ && !objs_[id].freed) {
    // A registration the program replaced or removed after a cycle may
    // have queued it (KeepLateRegistration): its queued call. The current
    // registration, if any, stays.
    slot = objs_[id].late_reg.resurrect;
    objs_[id].has_late_reg = false;
    ClearShortCellsOf(id);
  } else {
    // Not queued by an explicit collection: only an automatic cycle that
    // found it ready can have queued it, and then it is ready now.
    const ObjModel* o = id < objs_.size() ? &objs_[id] : nullptr;
    const bool may = auto_ && o != nullptr && o->exists && !o->freed &&
                     o->registered && !o->reg.guardian &&
                     o->reg.serial == serial && MayBeReady(id);
    if (!may) {
      if (o == nullptr || !o->exists) {
        *why = "a finalizer ran for unknown object " + std::to_string(id);
      } else if (o->freed) {
        *why = "the finalizer of object " + std::to_string(id) +
               " ran after the object was freed";
      } else if (!o->registered || o->reg.guardian) {
        *why = "the finalizer of object " + std::to_string(id) +
               " ran, but it has none registered (never, unregistered, or "
               "it already ran)";
      } else if (o->reg.serial != serial) {
        *why = "the finalizer of object " + std::to_string(id) +
               " ran with registration " + std::to_string(serial) +
               ", replaced by " + std::to_string(o->reg.serial);
      } else if (rf_.MarkedIn(id, Marker::kStrong)) {
        *why = "the finalizer of object " + std::to_string(id) +
               " ran while it is strongly reachable";
      } else if (!auto_) {
        *why = "the finalizer of object " + std::to_string(id) +
               " ran, but no collection found it ready (and no automatic "
               "cycle can run)";
      } else {
        *why = "the finalizer of object " + std::to_string(id) +
               " ran out of order: another finalizable object reaches it";
      }
      return false;
    }
    slot = objs_[id].reg.resurrect;
    Unregister(id);
    ClearShortCellsOf(id);
  }
  counts_.finalized++;
  run_log_.emplace_back(collections_, id);
  if (slot != kNoSlot && Covered(slot) && !finalizer_thread_) {
    Ref r;
    r.id = id;
    SetRef(&table_[slot], r);
    *resurrect = slot;
  }
  dirty_ = true;
  return true;
}

bool Model::RunCleanup(uint64_t token, std::string* why) {
  live_current_ = false;
  auto it = cleanups_.find(token);
  if (it == cleanups_.end()) {
    *why = "a cleanup ran with unknown token " + std::to_string(token);
    return false;
  }
  Cleanup& c = it->second;
  if (c.state == Cleanup::kQueued) {
    cleanup_q_.erase(std::find(cleanup_q_.begin(), cleanup_q_.end(), token));
  } else if (c.state == Cleanup::kRegistered && auto_ && !InF(c.id)) {
    // An automatic cycle freed its object.
    objs_[c.id].cleanups--;
    KnownFreed(c.id);
  } else {
    const char* state = c.state == Cleanup::kRan         ? "it already ran"
                        : c.state == Cleanup::kCancelled ? "it was cancelled"
                                                         : "its object lives";
    *why = "cleanup " + std::to_string(token) + " of object " +
           std::to_string(c.id) + " ran, but " + state;
    return false;
  }
  c.state = Cleanup::kRan;
  counts_.cleanups_run++;
  return true;
}

// Whether an automatic cycle may have found id ready: one now, or (in a
// run) one before the run began (a concurrent cycle may also end during
// the run).
bool Model::MayBeReady(uint32_t id) {
  if (in_run_ && std::binary_search(run_may_.begin(), run_may_.end(), id)) {
    return true;
  }
  EnsureReachability();
  return objs_[id].may_ready_serial == objs_[id].reg.serial;
}

bool Model::EndRun(std::string* why) {
  in_run_ = false;
  if (ready_.empty() && cleanup_q_.empty()) return true;
  *why =
      "after the run, " + std::to_string(ready_.size()) +
      " queued finalizers and " + std::to_string(cleanup_q_.size()) +
      " queued cleanups did not run (first finalizer: object " +
      (ready_.empty() ? std::string("-") : std::to_string(ready_.front().id)) +
      ")";
  return false;
}

bool Model::PopGuardian(uint32_t g, uint32_t popped, uint32_t slot,
                        uint32_t* stored, std::string* why) {
  *stored = kNoSlot;
  live_current_ = false;
  EnsureReachability();
  std::deque<uint32_t>& q = guard_q_[g];
  if (popped == 0) {
    if (q.empty()) return true;
    *why = "guardian " + std::to_string(g) + " popped NULL, but " +
           std::to_string(q.size()) +
           " objects are queued (first: " + std::to_string(q.front()) + ")";
    return false;
  }
  auto it = std::find(q.begin(), q.end(), popped);
  if (it != q.end()) {
    q.erase(it);
  } else {
    const ObjModel* o = popped < objs_.size() ? &objs_[popped] : nullptr;
    const bool may = auto_ && o != nullptr && o->exists && !o->freed &&
                     o->registered && o->reg.guardian &&
                     o->reg.guardian_index == g && MayBeReady(popped);
    if (!may) {
      *why = "guardian " + std::to_string(g) + " handed back object " +
             std::to_string(popped) +
             ", which it does not hold and no cycle can have given it";
      return false;
    }
    Unregister(popped);
    ClearShortCellsOf(popped);
  }
  counts_.guardian_pops++;
  run_log_.emplace_back(collections_, popped);
  if (slot != kNoSlot && Covered(slot)) {
    Ref r;
    r.id = popped;
    SetRef(&table_[slot], r);
    *stored = slot;
  }
  dirty_ = true;
  return true;
}

std::vector<Op> FinalDrainOps(const Model& m) {
  std::vector<Op> ops;
  if (!m.finalizer_thread() &&
      (!m.ready_queue().empty() || !m.cleanup_queue().empty())) {
    Op run;
    run.op = OpKind::kRunFinalizers;
    ops.push_back(run);
  }
  for (uint32_t g = 0; g < kGuardians; g++) {
    for (size_t i = 0; i < m.guardian_queue(g).size(); i++) {
      Op pop;
      pop.op = OpKind::kGuardPop;
      pop.guardian = static_cast<uint8_t>(g);
      ops.push_back(pop);
    }
  }
  return ops;
}

}  // namespace gcheap::oracle
