#include "tests/oracle/generator.h"

#include <algorithm>
#include <iterator>

#include "heap/sizeclasses.h"

namespace gcheap::oracle {

namespace {

uint64_t SplitMix(uint64_t* x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

// Large objects: Vec sizes cross the 128 KiB oblet boundary; a fixed set,
// so Boehm's typed descriptors stay few.
// (32760 and 32768 are the largest small sizes.)
constexpr uint32_t kLargeVecBytes[] = {32760,  32768,  32784,  40968,
                                       65536,  65544,  131064, 131080,
                                       139264, 196616, 262152, 300000};
constexpr uint32_t kLargeNoscanBytes[] = {32769,  40961,  65536,
                                          131073, 200003, 270001};

enum Choice {
  kCAlloc,
  kCStore,
  kCStoreNull,
  kCStoreImm,
  kCRootSet,
  kCRootAdd,
  kCRootRemove,
  kCRangeAdd,
  kCRangeRemove,
  kCScannerAdd,
  kCScannerRemove,
  kCSetTraceN,
  kCTouch,
  kCTouchAddr,
  kCChain,
  kCCollect,
  kCTinyGarbage,
  kCReattach,
  kCChurn,
  // VM ops (issue 12): weight 0 unless GenOptions::vm_ops.
  kCWeakCreate,
  kCWeakGet,
  kCWeakSet,
  kCWeakDestroy,
  kCWeakStore,
  kCWeakLoad,
  kCEphNew,
  kCEphGet,
  kCEphSetValue,
  kCEphSetNext,
  kCEphClear,
  kCEphChain,
  kCFinReg,
  kCFinUnreg,
  kCFinChain,
  kCGuardReg,
  kCGuardPop,
  kCCleanupAdd,
  kCCleanupCancel,
  kCRunFinalizers,
  kCAllocInit,  // (issue 12, item 8; with the VM ops)
  kCNum,
};
constexpr int kFirstVmChoice = kCWeakCreate;

// Weights per choice (the collect weight comes from the options).
constexpr int kWeights[kCNum] = {
    300,  // alloc
    200,  // store
    40,   // store null
    10,   // storeimm
    50,   // rootset
    12,   // rootadd
    8,    // rootremove
    8,    // rangeadd
    6,    // rangeremove
    6,    // scanneradd
    5,    // scannerremove
    20,   // settracen
    30,   // touch
    12,   // touchaddr
    25,   // chain
    0,    // collect (options)
    10,   // tinygarbage
    4,    // reattach
    6,    // churn
    25,   // weakcreate
    30,   // weakget
    10,   // weakset
    6,    // weakdestroy
    20,   // weakstore
    20,   // weakload
    25,   // ephnew
    25,   // ephget
    10,   // ephsetvalue
    6,    // ephsetnext
    3,    // ephclear
    4,    // ephchain
    20,   // finreg
    4,    // finunreg
    8,    // finchain
    10,   // guardreg
    12,   // guardpop
    12,   // cleanupadd
    3,    // cleanupcancel
    15,   // runfinalizers
    30,   // allocinit
};

// A random reachable object that has a writable field, or 0.
uint32_t PickWithField(Model& m, Source& src) {
  const std::vector<uint32_t>& r = m.reachable();
  if (r.empty()) return 0;
  for (int i = 0; i < 8; i++) {
    uint32_t id = r[src.Below(r.size())];
    if (m.WritableCount(*m.Get(id)) > 0) return id;
  }
  return 0;
}

uint32_t PickReachable(Model& m, Source& src) {
  const std::vector<uint32_t>& r = m.reachable();
  return r.empty() ? 0 : r[src.Below(r.size())];
}

// A writable field of o; for long vectors, often one at either end or next
// to a 128 KiB oblet boundary.
uint32_t PickField(const Model& m, const ObjModel& o, Source& src) {
  const uint32_t n = m.WritableCount(o);
  if (n == 0) return 0;
  if (o.kind == Kind::kVec && n > 16 && src.OneIn(2)) {
    uint32_t cand[16];
    int k = 0;
    cand[k++] = 0;
    cand[k++] = 1;
    cand[k++] = n - 1;
    for (uint32_t b = 131072; b < o.bytes && k + 3 <= 16; b += 131072) {
      // Field f >= 1 lives at byte 32 + 16 (f - 1).
      uint32_t f = (b - 32) / 16 + 1;
      for (uint32_t d : {f - 1, f, f + 1}) {
        if (d < n) cand[k++] = d;
      }
    }
    return cand[src.Below(k)];
  }
  return static_cast<uint32_t>(src.Below(n));
}

// An interior offset (mostly 0) and, with a tag mask, sometimes a tag.
uint32_t PickOff(Model& m, Source& src, uint32_t bytes) {
  uint64_t r = src.Below(20);
  uint32_t off = r == 0 ? 8 : r == 1 ? 24 : 0;
  if (m.tagged() && src.OneIn(3)) off |= static_cast<uint32_t>(src.Below(8));
  return off < bytes ? off : 0;
}

// A covered slot, or kNoSlot.
uint32_t PickCoveredSlot(Model& m, Source& src) {
  uint32_t cand[kSlots];
  uint32_t n = 0;
  for (uint32_t s = 0; s < kSlots; s++) {
    if (m.Covered(s)) cand[n++] = s;
  }
  return n == 0 ? kNoSlot : cand[src.Below(n)];
}

uint32_t AllocBytes(Kind k, Source& src) {
  switch (k) {
    case Kind::kSmall3:
      return kSmall3Bytes + 8 * (src.OneIn(4) ? src.Below(12) : 0);
    case Kind::kVec: {
      uint64_t elems = src.OneIn(4) ? src.Below(200) : src.Below(12);
      return kVecHeaderBytes + kVecElemBytes * elems + (src.OneIn(5) ? 8 : 0);
    }
    case Kind::kTraced:
      return kTracedBytes + 8 * (src.OneIn(4) ? src.Below(8) : 0);
    case Kind::kWide:
      return kWideBytes + 8 * (src.OneIn(4) ? src.Below(30) : 0);
    case Kind::kBlob:
      return kBlobBytes + 8 * (src.OneIn(8) ? src.Below(1000) : src.Below(40));
    case Kind::kNoscan: {
      if (src.OneIn(4)) {
        // Either side of a size-class boundary.
        int c = 2 + static_cast<int>(src.Below(kNumSizeClasses - 2));
        uint32_t b = kClassToSize[c] + static_cast<uint32_t>(src.Below(3)) - 1;
        return b < kMinNoscanBytes ? kMinNoscanBytes : b;
      }
      return kMinNoscanBytes +
             static_cast<uint32_t>(src.Below(src.OneIn(3) ? 2048 : 200));
    }
    case Kind::kWeakS:
    case Kind::kWeakL:
      return kWeakBytes + 8 * (src.OneIn(4) ? src.Below(8) : 0);
    case Kind::kEphemeron:
      return kEphemeronBytes;
  }
  return kSmall3Bytes;
}

// Where a new object goes: a parent's field (55%), a root slot (30%) or
// nowhere (garbage).
void PickDest(Model& m, Source& src, Op* op, bool allow_garbage) {
  op->target = 0;
  op->field = 0;
  op->slot = kNoSlot;
  uint64_t r = src.Below(100);
  if (r < 60) {
    if (uint32_t p = PickWithField(m, src)) {
      op->target = p;
      op->field = PickField(m, *m.Get(p), src);
      return;
    }
  }
  if (r < 90 || !allow_garbage) op->slot = PickCoveredSlot(m, src);
}

// ---- VM ops (issue 12) ------------------------------------------------------

// A reachable object with a finalizer or guardian registration, or 0.
uint32_t PickRegistered(Model& m, Source& src) {
  const std::vector<uint32_t>& r = m.registered();
  if (r.empty()) return 0;
  for (int i = 0; i < 4; i++) {
    const uint32_t id = r[src.Below(r.size())];
    if (m.Get(id)->registered && m.Live(id)) return id;
  }
  return 0;
}

// A target for a weak reference, an ephemeron key or a cleanup: half the
// time a registered object (whose revival is the interesting case).
uint32_t PickWeakTarget(Model& m, Source& src) {
  if (src.OneIn(2)) {
    if (uint32_t id = PickRegistered(m, src)) return id;
  }
  return PickReachable(m, src);
}

// A reachable object of a kind that pred accepts, or 0.
template <typename Pred>
uint32_t PickKind(Model& m, Source& src, Pred pred) {
  const std::vector<uint32_t>& r = m.reachable();
  if (r.empty()) return 0;
  for (int i = 0; i < 12; i++) {
    const uint32_t id = r[src.Below(r.size())];
    if (pred(m.Get(id)->kind)) return id;
  }
  return 0;
}

uint32_t PickEphemeron(Model& m, Source& src) {
  return PickKind(m, src, [](Kind k) { return k == Kind::kEphemeron; });
}

// A weak cell holding a handle (kWeakCells if none).
uint32_t PickHandle(Model& m, Source& src) {
  const uint32_t w = static_cast<uint32_t>(src.Below(kWeakCells));
  for (uint32_t i = 0; i < kWeakCells; i++) {
    if (m.HasHandle((w + i) % kWeakCells)) return (w + i) % kWeakCells;
  }
  return kWeakCells;
}

// Where a read's result goes: a quarter of the time a covered slot.
uint32_t PickReadSlot(Model& m, Source& src) {
  return src.OneIn(4) ? PickCoveredSlot(m, src) : kNoSlot;
}

// A resurrection slot (a third of the finalizers; not with a finalizer
// thread): usually a covered slot, now and then any slot.
uint32_t PickResurrect(Model& m, Source& src) {
  if (m.finalizer_thread() || !src.OneIn(3)) return kNoSlot;
  if (src.OneIn(5)) return static_cast<uint32_t>(src.Below(kSlots));
  return PickCoveredSlot(m, src);
}

bool ChooseVm(Model& m, Source& src, const GenOptions& o, int c, Op* op) {
  switch (c) {
    case kCWeakCreate:
      op->op = OpKind::kWeakCreate;
      op->field = static_cast<uint32_t>(src.Below(kWeakCells));
      op->mode = static_cast<uint8_t>(src.Below(2));
      op->target = src.OneIn(8) ? 0 : PickWeakTarget(m, src);
      return true;
    case kCWeakGet:
    case kCWeakSet:
    case kCWeakDestroy:
      op->field = PickHandle(m, src);
      if (op->field == kWeakCells) return false;
      if (c == kCWeakGet) {
        op->op = OpKind::kWeakGet;
        op->slot = PickReadSlot(m, src);
      } else if (c == kCWeakSet) {
        op->op = OpKind::kWeakSet;
        op->target = src.OneIn(6) ? 0 : PickWeakTarget(m, src);
      } else {
        op->op = OpKind::kWeakDestroy;
      }
      return true;
    case kCWeakStore:
    case kCWeakLoad:
      op->id = PickKind(m, src, IsWeakKind);
      if (op->id == 0) return false;
      op->field = static_cast<uint32_t>(src.Below(kWeakFields));
      if (c == kCWeakStore) {
        op->op = OpKind::kWeakStore;
        op->target = src.OneIn(6) ? 0 : PickWeakTarget(m, src);
      } else {
        op->op = OpKind::kWeakLoad;
        op->slot = PickReadSlot(m, src);
      }
      return true;
    case kCEphNew: {
      op->op = OpKind::kEphNew;
      op->id = m.next_id();
      const uint64_t r = src.Below(10);
      if (r == 1) {
        op->value = 1 + src.Below(4000);  // an immediate key
      } else if (r > 1) {
        op->key = PickWeakTarget(m, src);
      }
      op->val = src.OneIn(6) ? 0 : PickReachable(m, src);
      PickDest(m, src, op, /*allow_garbage=*/true);
      return true;
    }
    case kCEphGet:
    case kCEphSetValue:
    case kCEphSetNext:
    case kCEphClear:
      op->id = PickEphemeron(m, src);
      if (op->id == 0) return false;
      if (c == kCEphGet) {
        op->op = OpKind::kEphGet;
        op->mode = static_cast<uint8_t>(src.Below(3));
        op->slot = PickReadSlot(m, src);
      } else if (c == kCEphSetValue) {
        op->op = OpKind::kEphSetValue;
        op->target = src.OneIn(6) ? 0 : PickReachable(m, src);
      } else if (c == kCEphSetNext) {
        op->op = OpKind::kEphSetNext;
        op->target = src.OneIn(4)   ? 0
                     : src.OneIn(2) ? PickEphemeron(m, src)
                                    : PickReachable(m, src);
      } else {
        op->op = OpKind::kEphClear;
      }
      return true;
    case kCEphChain: {
      op->op = OpKind::kEphChain;
      op->id = m.next_id();
      op->count = src.OneIn(10)
                      ? 100 + static_cast<uint32_t>(src.Below(
                                  std::min<uint32_t>(o.max_chain, 900)))
                      : 2 + static_cast<uint32_t>(src.Below(30));
      op->value = src.Below(4);  // reversed next links, a key cycle
      op->slot2 = src.OneIn(4) ? kNoSlot : PickCoveredSlot(m, src);
      PickDest(m, src, op, /*allow_garbage=*/src.OneIn(10));
      return true;
    }
    case kCFinReg:
      op->op = OpKind::kFinReg;
      op->id = PickReachable(m, src);
      if (op->id == 0) return false;
      op->mode = static_cast<uint8_t>(src.Below(3));
      op->slot2 = PickResurrect(m, src);
      return true;
    case kCFinUnreg:
      op->op = OpKind::kFinUnreg;
      op->id = PickRegistered(m, src);
      return op->id != 0;
    case kCFinChain: {
      op->op = OpKind::kFinChain;
      op->id = m.next_id();
      op->count = src.OneIn(8)
                      ? 1 + static_cast<uint32_t>(src.Below(kMaxFinChain))
                      : 1 + static_cast<uint32_t>(src.Below(6));
      op->mode = static_cast<uint8_t>(src.Below(3));
      if (src.OneIn(4)) op->value |= kFinChainCycle;
      if (src.OneIn(4)) op->value |= kFinChainSelf;
      if (src.OneIn(4)) op->value |= kFinChainGuardian;
      op->guardian = static_cast<uint8_t>(src.Below(kGuardians));
      op->slot2 = PickResurrect(m, src);
      // A third are garbage at once: finalized at the next collection.
      PickDest(m, src, op, /*allow_garbage=*/true);
      if (src.OneIn(3)) {
        op->target = 0;
        op->field = 0;
        op->slot = kNoSlot;
      }
      return true;
    }
    case kCGuardReg:
      op->op = OpKind::kGuardReg;
      op->id = PickReachable(m, src);
      if (op->id == 0) return false;
      op->guardian = static_cast<uint8_t>(src.Below(kGuardians));
      op->mode = static_cast<uint8_t>(src.Below(3));
      return true;
    case kCGuardPop: {
      op->op = OpKind::kGuardPop;
      op->guardian = static_cast<uint8_t>(src.Below(kGuardians));
      if (m.guardian_queue(op->guardian).empty() && !src.OneIn(4)) {
        op->guardian = static_cast<uint8_t>((op->guardian + 1) % kGuardians);
      }
      op->slot = src.OneIn(4) ? kNoSlot : PickCoveredSlot(m, src);
      return true;
    }
    case kCCleanupAdd:
      op->op = OpKind::kCleanupAdd;
      op->id = PickWeakTarget(m, src);
      op->value = m.next_token();
      return op->id != 0;
    case kCCleanupCancel: {
      op->op = OpKind::kCleanupCancel;
      const auto& cl = m.cleanups();
      if (cl.empty()) return false;
      auto it = cl.begin();
      std::advance(it, src.Below(cl.size()));
      for (size_t i = 0; i < cl.size(); i++, ++it) {
        if (it == cl.end()) it = cl.begin();
        if (it->second.state == Model::Cleanup::kRegistered &&
            m.Live(it->second.id)) {
          op->value = it->first;
          return true;
        }
      }
      return false;
    }
    case kCRunFinalizers:
      op->op = OpKind::kRunFinalizers;
      return true;
    case kCAllocInit:
      op->op = OpKind::kAllocInit;
      op->id = m.next_id();
      op->key = src.OneIn(5) ? 0 : PickReachable(m, src);
      op->val = src.OneIn(5) ? 0 : PickReachable(m, src);
      PickDest(m, src, op, /*allow_garbage=*/true);
      return true;
  }
  return false;
}

bool Choose(Model& m, Source& src, const GenOptions& o, Op* op) {
  int weights[kCNum];
  int total = 0;
  for (int i = 0; i < kCNum; i++) {
    weights[i] = kWeights[i];
    if (i == kCCollect) weights[i] = o.collect ? o.collect_weight : 0;
    if (!o.root_ops &&
        (i == kCRootAdd || i == kCRootRemove || i == kCRangeAdd ||
         i == kCRangeRemove || i == kCScannerAdd || i == kCScannerRemove)) {
      weights[i] = 0;
    }
    if (!o.reattach && i == kCReattach) weights[i] = 0;
    if (i >= kFirstVmChoice && !o.vm_ops) weights[i] = 0;
    if (i >= kCFinReg && i <= kCRunFinalizers && !o.finalization) {
      weights[i] = 0;
    }
    if (i == kCRunFinalizers && (!o.run_finalizers || m.finalizer_thread())) {
      weights[i] = 0;
    }
    total += weights[i];
  }
  int r = static_cast<int>(src.Below(total));
  int c = 0;
  while (r >= weights[c]) r -= weights[c++];
  *op = Op{};
  switch (c) {
    case kCAlloc: {
      op->op = OpKind::kAlloc;
      op->id = m.next_id();
      if (o.large && src.OneIn(40)) {
        if (src.OneIn(3)) {
          op->kind = Kind::kNoscan;
          op->value =
              kLargeNoscanBytes[src.Below(std::size(kLargeNoscanBytes))];
        } else {
          op->kind = Kind::kVec;
          op->value = kLargeVecBytes[src.Below(std::size(kLargeVecBytes))];
        }
      } else {
        static constexpr Kind kMix[22] = {
            Kind::kSmall3, Kind::kSmall3, Kind::kSmall3, Kind::kSmall3,
            Kind::kSmall3, Kind::kSmall3, Kind::kVec,    Kind::kVec,
            Kind::kVec,    Kind::kVec,    Kind::kTraced, Kind::kTraced,
            Kind::kWide,   Kind::kBlob,   Kind::kBlob,   Kind::kNoscan,
            Kind::kNoscan, Kind::kNoscan, Kind::kNoscan, Kind::kVec,
            Kind::kWeakS,  Kind::kWeakL};
        op->kind = kMix[src.Below(o.vm_ops ? 22 : 20)];
        op->value = AllocBytes(op->kind, src);
      }
      PickDest(m, src, op, /*allow_garbage=*/true);
      return true;
    }
    case kCStore:
    case kCStoreNull:
    case kCStoreImm: {
      uint32_t id = PickWithField(m, src);
      if (id == 0) return false;
      op->id = id;
      op->field = PickField(m, *m.Get(id), src);
      if (c == kCStoreImm) {
        op->op = OpKind::kStoreImm;
        op->value = src.OneIn(2) ? src.Below(4096) : src.Bits64();
      } else {
        op->op = OpKind::kStore;
        if (c == kCStore) {
          op->target = src.OneIn(12) ? id : PickReachable(m, src);
          op->off = PickOff(m, src, m.Get(op->target)->bytes);
        }
      }
      return true;
    }
    case kCRootSet: {
      op->op = OpKind::kRootSet;
      op->slot = PickCoveredSlot(m, src);
      if (op->slot == kNoSlot) return false;
      if (src.Below(4) != 0) {
        op->target = PickReachable(m, src);
        if (op->target != 0) {
          op->off = PickOff(m, src, m.Get(op->target)->bytes);
        }
      }
      return true;
    }
    case kCRootAdd:
      op->op = OpKind::kRootAdd;
      op->slot = static_cast<uint32_t>(src.Below(kSingleSlots));
      return true;
    case kCRootRemove: {
      op->op = OpKind::kRootRemove;
      op->slot = static_cast<uint32_t>(src.Below(kSingleSlots));
      if (!src.OneIn(10)) {  // mostly a registered one
        for (uint32_t i = 0; i < kSingleSlots; i++) {
          uint32_t s = (op->slot + i) % kSingleSlots;
          if (m.root_count(s) > 0) {
            op->slot = s;
            break;
          }
        }
      }
      return true;
    }
    case kCRangeAdd:
    case kCRangeRemove: {
      op->op = c == kCRangeAdd ? OpKind::kRangeAdd : OpKind::kRangeRemove;
      if (c == kCRangeRemove && !m.ranges().empty() && !src.OneIn(8)) {
        const auto& rg = m.ranges()[src.Below(m.ranges().size())];
        op->slot = rg.first;
        op->count = rg.second;
        return true;
      }
      op->slot = kRangeBegin +
                 static_cast<uint32_t>(src.Below(kRangeEnd - kRangeBegin));
      op->count = 1 + static_cast<uint32_t>(src.Below(kRangeEnd - op->slot));
      return true;
    }
    case kCScannerAdd:
    case kCScannerRemove: {
      op->op = c == kCScannerAdd ? OpKind::kScannerAdd : OpKind::kScannerRemove;
      op->slot = static_cast<uint32_t>(src.Below(kScanners));
      if (c == kCScannerRemove && !src.OneIn(8)) {
        for (uint32_t i = 0; i < kScanners; i++) {
          uint32_t k = (op->slot + i) % kScanners;
          if (m.scanner_count(k) > 0) {
            op->slot = k;
            break;
          }
        }
      }
      return true;
    }
    case kCSetTraceN: {
      const std::vector<uint32_t>& r = m.reachable();
      if (r.empty()) return false;
      for (int i = 0; i < 8; i++) {
        uint32_t id = r[src.Below(r.size())];
        if (m.Get(id)->kind == Kind::kTraced) {
          op->op = OpKind::kSetTraceN;
          op->id = id;
          op->count = static_cast<uint32_t>(src.Below(kTracedKids + 1));
          return true;
        }
      }
      return false;
    }
    case kCTouch:
    case kCTouchAddr: {
      uint32_t id = PickReachable(m, src);
      if (id == 0) return false;
      const ObjModel* ob = m.Get(id);
      uint32_t np = NumPayloadWords(ob->kind, ob->bytes);
      if (np == 0) return false;
      op->id = id;
      op->field = static_cast<uint32_t>(src.Below(np));
      if (c == kCTouch) {
        op->op = OpKind::kTouch;
        op->value = src.Bits64();
      } else {
        op->op = OpKind::kTouchAddr;
        op->target = 1 + static_cast<uint32_t>(src.Below(m.next_id() - 1));
        if (m.Get(op->target) == nullptr) return false;
      }
      return true;
    }
    case kCChain: {
      op->op = OpKind::kChain;
      op->id = m.next_id();
      op->count = src.OneIn(8)
                      ? 100 + static_cast<uint32_t>(src.Below(o.max_chain))
                      : 2 + static_cast<uint32_t>(src.Below(30));
      op->value = src.OneIn(3) ? 1 : 0;
      PickDest(m, src, op, /*allow_garbage=*/src.OneIn(10));
      return true;
    }
    case kCCollect:
      op->op = OpKind::kCollect;
      return true;
    case kCTinyGarbage:
      op->op = OpKind::kTinyGarbage;
      op->count = 1 + static_cast<uint32_t>(src.Below(15));
      return true;
    case kCReattach:
      op->op = OpKind::kReattach;
      return true;
    case kCChurn: {
      // About 64 KiB to 1 MiB of garbage: enough to cross the trigger of a
      // heap with a soft limit now and then (then a concurrent cycle marks
      // while the next ops run).
      op->op = OpKind::kChurn;
      const uint64_t r = src.Below(10);
      if (r == 0 && o.large) {
        op->kind = src.OneIn(2) ? Kind::kNoscan : Kind::kVec;
        op->value =
            op->kind == Kind::kVec
                ? kLargeVecBytes[src.Below(std::size(kLargeVecBytes))]
                : kLargeNoscanBytes[src.Below(std::size(kLargeNoscanBytes))];
        op->count = 2 + static_cast<uint32_t>(src.Below(8));
      } else {
        static constexpr Kind kChurnKinds[] = {Kind::kNoscan, Kind::kSmall3,
                                               Kind::kVec, Kind::kBlob};
        op->kind = kChurnKinds[src.Below(4)];
        op->value = AllocBytes(op->kind, src);
        op->count = static_cast<uint32_t>(
            (64 * 1024 + src.Below(1024 * 1024)) / op->value + 1);
      }
      return true;
    }
    default:
      return ChooseVm(m, src, o, c, op);
  }
  return false;
}

}  // namespace

RngSource::RngSource(uint64_t seed) {
  uint64_t x = seed;
  for (auto& s : s_) s = SplitMix(&x);
}

uint64_t RngSource::Next() {
  const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = Rotl(s_[3], 45);
  return result;
}

uint64_t RngSource::Below(uint64_t n) {
  if (n == 0) return 0;
  return Next() % n;
}

uint64_t ByteSource::Below(uint64_t n) {
  if (n <= 1) return 0;
  uint64_t v = 0;
  int shift = 0;
  for (uint64_t m = n - 1; m != 0; m >>= 8, shift += 8) {
    uint64_t b = pos_ < size_ ? data_[pos_] : 0;
    pos_++;
    v |= b << shift;
  }
  return v % n;
}

Op NextOp(Model& m, Source& src, const GenOptions& o) {
  for (int attempt = 0; attempt < 16; attempt++) {
    Op op;
    Effects fx;
    if (Choose(m, src, o, &op) && m.Apply(op, &fx)) return op;
  }
  // Nothing applicable (an empty graph, no roots): a small object into the
  // first rooted slot, or garbage.
  Op op;
  op.op = OpKind::kAlloc;
  op.id = m.next_id();
  op.kind = Kind::kSmall3;
  op.value = kSmall3Bytes;
  op.slot = PickCoveredSlot(m, src);
  Effects fx;
  m.Apply(op, &fx);
  return op;
}

ProgramConfig GenConfig(Source& src, const GenOptions& o) {
  ProgramConfig c;
  static constexpr int kWorkers[] = {1, 1, 2, 2, 3};
  c.workers = kWorkers[src.Below(5)];
  c.verify = src.OneIn(3) ? 1 : 0;
  uint64_t r = src.Below(20);
  c.gc_percent = r < 11 ? -1 : r < 18 ? 100 : 0;
  // Concurrent marking in 2 programs of 5; those mostly with frequent
  // automatic cycles, which run while the program keeps mutating.
  c.stw = src.Below(5) < 3 ? 1 : 0;
  if (o.force_stw >= 0) c.stw = o.force_stw;
  c.memory_limit = src.OneIn(c.stw ? 4 : 2) ? 1 : 0;
  // A hard limit (allocations may fail after a collection) in 1 of 8; tagged
  // pointers in 1 of 5.
  c.max_heap = src.OneIn(8) ? (src.OneIn(2) ? 2u : 4u) << 20 : 0;
  c.tag_mask = src.OneIn(5) ? 7 : 0;
  // (Drawn last and only with VM ops, so other programs stay as they were.)
  if (o.vm_ops) c.finalizer_thread = src.OneIn(5) ? 1 : 0;
  if (o.force_finalizer_thread >= 0) {
    c.finalizer_thread = o.force_finalizer_thread;
  }
  if (c.finalizer_thread) {
    // The heap's finalizer thread runs what explicit collections queued;
    // with no automatic cycles every queued entry is one the model knows,
    // so the executor can wait for all of them before a collection and
    // the collection stays exact (docs/decisions.md).
    c.gc_percent = -1;
    c.memory_limit = 0;
    c.max_heap = 0;
  }
  return c;
}

Program GenerateFromSource(Source& src, uint64_t seed, const GenOptions& o) {
  Program p;
  p.seed = seed;
  p.config = GenConfig(src, o);
  Model m;
  m.Configure(p.config);
  Effects fx;
  for (const Op& op : Model::Prologue()) m.Apply(op, &fx);
  for (int i = 0; i < o.ops && !src.Exhausted(); i++) {
    p.ops.push_back(NextOp(m, src, o));
  }
  return p;
}

GenOptions FuzzGenOptions() {
  GenOptions g;
  g.ops = 1000;
  g.max_chain = 300;
  g.collect_weight = 30;
  return g;
}

Program ProgramFromBytes(const uint8_t* data, size_t size) {
  return ProgramFromBytes(data, size, FuzzGenOptions());
}

Program ProgramFromBytes(const uint8_t* data, size_t size,
                         const GenOptions& o) {
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a
  for (size_t i = 0; i < size; i++) h = (h ^ data[i]) * 0x100000001b3ull;
  ByteSource src(data, size);
  return GenerateFromSource(src, h, o);
}

Program GenerateProgram(uint64_t seed, const GenOptions& o) {
  RngSource src(seed);
  return GenerateFromSource(src, seed, o);
}

}  // namespace gcheap::oracle
