#include "tests/oracle/model.h"

#include <algorithm>

namespace gcheap::oracle {

bool ValidOffset(uint32_t off, uint32_t bytes, bool tagged) {
  if (off >= bytes) return false;
  if ((off & 7) != 0 && !tagged) return false;
  for (uint32_t o : kValidOffsets) {
    if (o == (off & ~7u)) return true;
  }
  return false;
}

Model::Model() { objs_.resize(1); }

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

bool Model::Live(uint32_t id) {
  if (id >= objs_.size() || !objs_[id].exists) return false;
  if (objs_[id].dead) return false;
  EnsureReachability();
  return !objs_[id].dead;
}

bool Model::ValidTarget(uint32_t id, uint32_t off) {
  if (id == 0) return off == 0;
  if (!Live(id)) return false;
  return ValidOffset(off, objs_[id].bytes, tagged_);
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
  o.exists = true;
  o.dead = false;
  o.kind = kind;
  o.bytes = bytes;
  o.trace_n = 0;
  o.fields.assign(NumFields(kind, bytes), Ref{});
  o.ptr_fields.clear();
  next_id_ = std::max(next_id_, id + 1);
  alive_.push_back(id);
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
    // Still current unless the store dropped something.
    if (!dirty_) reachable_.push_back(id);
    return true;
  }
  fx->garbage = true;
  dirty_ = true;
  return false;
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
  *fx = Effects{};
  switch (op.op) {
    case OpKind::kAlloc: {
      if (op.id == 0 || op.id >= kMaxId) return false;
      if (op.id < objs_.size() && objs_[op.id].exists) return false;
      if (op.value > kMaxBytes || !ValidBytes(op.kind, op.value)) return false;
      // The parent must be judged before the new object exists.
      const bool parent_ok = op.target != 0 && op.target != op.id &&
                             Live(op.target) &&
                             WritableField(objs_[op.target], op.field);
      NewObject(op.id, op.kind, static_cast<uint32_t>(op.value));
      Place(op.id, parent_ok ? op.target : 0, op.field,
            op.target != 0 ? kNoSlot : op.slot, fx);
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
          Place(op.id, parent_ok ? op.target : 0, op.field,
                op.target != 0 ? kNoSlot : op.slot, fx);
        } else {
          Ref r;
          r.id = op.id + i;
          SetField(op.id + i - 1, 0, r);
          if (!dirty_) reachable_.push_back(op.id + i);
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
    case OpKind::kReattach:
      return true;
    case OpKind::kTinyGarbage:
      return op.count >= 1 && op.count < 16;
    case OpKind::kChurn:
      return op.count >= 1 && op.count <= kMaxChurn && op.value <= kMaxBytes &&
             op.count * op.value <= (uint64_t{64} << 20) &&
             ValidBytes(op.kind, static_cast<uint32_t>(op.value));
    case OpKind::kNumOpKinds:
      return false;
  }
  return false;
}

void Model::EnsureReachability() {
  if (!dirty_) return;
  dirty_ = false;
  if (visited_.size() < objs_.size()) visited_.resize(objs_.size(), 0);
  epoch_++;
  if (epoch_ == 0) {
    std::fill(visited_.begin(), visited_.end(), 0);
    epoch_ = 1;
  }
  reachable_.clear();
  auto visit = [&](const Ref& r) {
    if (!r.IsPtr()) return;
    if (visited_[r.id] == epoch_) return;
    visited_[r.id] = epoch_;
    reachable_.push_back(r.id);
  };
  for (uint32_t s = 0; s < kSlots; s++) {
    if (Covered(s)) visit(table_[s]);
  }
  for (size_t i = 0; i < reachable_.size(); i++) {
    const ObjModel& o = objs_[reachable_[i]];
    for (uint32_t f : o.ptr_fields) visit(o.fields[f]);
  }
  // Everything alive before and not reached now has died.
  size_t keep = 0;
  for (uint32_t id : alive_) {
    if (visited_[id] == epoch_) {
      alive_[keep++] = id;
    } else {
      objs_[id].dead = true;
      newly_dead_.push_back(id);
    }
  }
  alive_.resize(keep);
}

}  // namespace gcheap::oracle
