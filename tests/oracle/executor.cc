#include "tests/oracle/executor.h"

#include <algorithm>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "tests/oracle/boehm.h"

namespace gcheap::oracle {

namespace {

constexpr int kOurs = 0;
constexpr int kBoehm = 1;
const char* const kSideName[2] = {"ours", "boehm"};

std::string Fmt(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string Fmt(const char* fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  return buf;
}

// Traced: [stamp, sum, n, payload, kids[8], ...]; reports kids[0..n).
// n is read atomically: a concurrent marker may call this while the mutator
// changes n (it only ever exposes kids that are NULL, see kSetTraceN).
void TraceTraced(void* obj, gc_visit_fn visit, void* ctx) {
  auto** w = static_cast<void**>(obj);
  uint64_t n = __atomic_load_n(reinterpret_cast<uint64_t*>(&w[kMetaWord]),
                               __ATOMIC_RELAXED);
  if (n > kTracedKids) n = kTracedKids;
  for (uint64_t i = 0; i < n; i++) visit(&w[4 + i], ctx);
}

}  // namespace

void RunStats::Add(const RunStats& o) {
  ops += o.ops;
  skipped += o.skipped;
  collections += o.collections;
  cycles += o.cycles;
  reachable += o.reachable;
  ours += o.ours;
  boehm += o.boehm;
  boehm_reachable += o.boehm_reachable;
  objects_checked += o.objects_checked;
  allocated += o.allocated;
  churned += o.churned;
  alloc_failed += o.alloc_failed;
  max_reachable = std::max(max_reachable, o.max_reachable);
}

void Expectation::Add(const Expectation& o) {
  objects += o.objects;
  bytes += o.bytes;
  for (int c = 0; c < GC_NUM_SIZE_CLASSES; c++) by_class[c] += o.by_class[c];
}

TypeIds RegisterTypes(gc_heap* heap) {
  TypeIds t;
  static const uint64_t kSmall3Map = 0b101010;
  static const uint64_t kVecMap = 0b1000;
  static const uint64_t kVecElemMap = 0b01;
  static const uint64_t kWideMap[2] = {
      (1ull << 2) | (1ull << 40) | (1ull << 63),
      (1ull << 0) | (1ull << 1) | (1ull << (89 - 64))};
  // Field order: name, size, ptr_bitmap, elem_size, elem_ptr_bitmap, trace,
  // struct_size, ptr_bitmap_words, elem_ptr_bitmap_words, trace_ctx,
  // user_data, weak_bitmap, weak_bitmap_words, weak_kind.
  constexpr size_t kDesc = sizeof(gc_type_desc);
  const gc_type_desc descs[] = {
      {"Small3", kSmall3Bytes, &kSmall3Map, 0, nullptr, nullptr, kDesc, 1, 0,
       nullptr, nullptr, nullptr, 0, GC_WEAK_SHORT},
      {"Vec", kVecHeaderBytes, &kVecMap, kVecElemBytes, &kVecElemMap, nullptr,
       kDesc, 1, 1, nullptr, nullptr, nullptr, 0, GC_WEAK_SHORT},
      {"Traced", kTracedBytes, nullptr, 0, nullptr, &TraceTraced, kDesc, 0, 0,
       nullptr, nullptr, nullptr, 0, GC_WEAK_SHORT},
      {"Wide", kWideBytes, kWideMap, 0, nullptr, nullptr, kDesc, 2, 0, nullptr,
       nullptr, nullptr, 0, GC_WEAK_SHORT},
      {"Blob", kBlobBytes, nullptr, 8, nullptr, nullptr, kDesc, 0, 0, nullptr,
       nullptr, nullptr, 0, GC_WEAK_SHORT},
  };
  for (int k = 0; k < 5; k++) {
    t.id[k] = gc_register_type(heap, &descs[k]);
    if (t.id[k] == 0) {
      fprintf(stderr, "oracle: gc_register_type(%s): %s\n", descs[k].name,
              gc_last_error());
      abort();
    }
  }
  return t;
}

Executor::Executor(const ProgramConfig& cfg, const RunOptions& o)
    : owns_heap_(true), boehm_(o.boehm), tag_(cfg.tag), opts_(o) {
  gc_config c;
  gc_config_init(&c);
  c.gc_workers = cfg.workers;
  c.verify = cfg.verify;
  c.gc_percent = cfg.gc_percent;
  c.memory_limit_bytes = cfg.memory_limit;
  c.stop_the_world = cfg.stw;
  c.max_heap_bytes = cfg.max_heap;
  c.tag_mask = static_cast<uintptr_t>(cfg.tag_mask);
  max_heap_ = cfg.max_heap;
  heap_ = gc_heap_create(&c);
  if (heap_ == nullptr) {
    fprintf(stderr, "oracle: gc_heap_create: %s\n", gc_last_error());
    abort();
  }
  m_ = gc_thread_attach(heap_);
  types_ = RegisterTypes(heap_);
  model_.Configure(cfg);
  Init();
}

Executor::Executor(gc_heap* heap, const TypeIds& types, uint32_t tag,
                   bool all_rooted, const RunOptions& o)
    : heap_(heap),
      boehm_(false),
      types_(types),
      tag_(tag),
      opts_(o),
      all_rooted_(all_rooted) {
  opts_.boehm = false;
  Init();
}

void Executor::Init() {
  model_.set_observing(true);
  table_.reset(new void*[kSlots]());
  for (uint32_t k = 0; k < kScanners; k++) {
    scanners_[k] = {table_.get(), kScannerBegin + k * kScannerSlots,
                    kScannerSlots};
  }
  if (boehm_) {
    boehm::Init();
    btable_ = boehm::AllocRoots(kSlots);
  }
  st_.resize(1);
  if (all_rooted_) {
    model_.SetAllSlotsRooted();
    if (gc_add_root_range(heap_, table_.get(), kSlots) != 0) {
      fprintf(stderr, "oracle: gc_add_root_range: %s\n", gc_last_error());
      abort();
    }
  }
}

void Executor::UnregisterRoots() {
  if (heap_ == nullptr || roots_unregistered_) return;
  roots_unregistered_ = true;
  if (all_rooted_) {
    gc_remove_root_range(heap_, table_.get(), kSlots);
    all_rooted_ = false;
    return;
  }
  for (uint32_t s = 0; s < kSingleSlots; s++) {
    for (int i = model_.root_count(s); i > 0; i--) {
      gc_remove_root(heap_, &table_[s]);
    }
  }
  for (const auto& [start, count] : model_.ranges()) {
    gc_remove_root_range(heap_, &table_[start], count);
  }
  for (uint32_t k = 0; k < kScanners; k++) {
    for (int i = model_.scanner_count(k); i > 0; i--) {
      gc_remove_root_scanner(heap_, &ScanSlots, &scanners_[k]);
    }
  }
}

Executor::~Executor() {
  UnregisterRoots();
  if (boehm_) {
    for (void*& l : links_) {
      if (l != nullptr) boehm::UnregisterLink(&l);
    }
    for (uint32_t s = 0; s < kSlots; s++) btable_[s] = nullptr;
    boehm::FreeRoots(btable_);
  }
  if (owns_heap_) {
    gc_thread_detach(m_);
    gc_heap_destroy(heap_);
  }
}

void Executor::ScanSlots(gc_visit_fn visit, void* ctx, void* data) {
  auto* d = static_cast<ScannerData*>(data);
  for (uint32_t i = 0; i < d->n; i++) visit(&d->table[d->first + i], ctx);
}

bool Executor::Fail(const std::string& category, const std::string& message) {
  if (!result_.ok) return false;
  result_.ok = false;
  result_.category = category;
  result_.message = message;
  result_.op_index = op_index_;
  return false;
}

Executor::ObjState& Executor::State(uint32_t id) {
  if (id >= st_.size()) st_.resize(std::max<size_t>(id + 1, st_.size() * 2));
  return st_[id];
}

std::string Executor::Describe(uint32_t id) {
  const ObjModel* o = model_.Get(id);
  if (o == nullptr) return Fmt("id=%u (unknown)", id);
  return Fmt("id=%u kind=%s bytes=%u ours=%p%s", id, KindName(o->kind),
             o->bytes, st_[id].ours,
             boehm_ ? Fmt(" boehm=%p", st_[id].boehm).c_str() : "");
}

uint64_t Executor::RefValue(int side, const Ref& r) {
  if (!r.IsPtr()) return r.imm;
  return reinterpret_cast<uint64_t>(Addr(side, r.id)) + r.off;
}

void Executor::ProcessFrees() {
  for (uint32_t id : model_.TakeNewlyFreed()) {
    if (id >= st_.size()) continue;  // freed before it was allocated
    ObjState& s = st_[id];
    auto it = live_ranges_.find(reinterpret_cast<uintptr_t>(s.ours));
    if (it != live_ranges_.end() && it->second.second == id) {
      live_ranges_.erase(it);
    }
    auto a = by_addr_.find(reinterpret_cast<uintptr_t>(s.ours));
    if (a != by_addr_.end() && a->second == id) by_addr_.erase(a);
    s.over[0].clear();
    s.over[0].shrink_to_fit();
    s.over[1].clear();
    s.over[1].shrink_to_fit();
  }
}

bool Executor::NewObject(uint32_t id, Kind k, uint32_t bytes) {
  State(id);
  void* p = k == Kind::kNoscan ? gc_alloc_noscan(m_, bytes)
                               : gc_alloc(m_, types_.Of(k), bytes);
  if (p == nullptr) {
    if (max_heap_ != 0) {
      // A hard limit: allowed. The caller drops the object.
      result_.stats.alloc_failed++;
      return false;
    }
    return Fail("alloc_null", Fmt("gc_alloc of %u bytes (%s) returned NULL: %s",
                                  bytes, KindName(k), gc_last_error()));
  }
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  if (a % 8 != 0) {
    return Fail("alloc_align", Fmt("gc_alloc returned %p (not 8-aligned)", p));
  }
  // gc.h: 16-byte aligned for every size class that is a multiple of 16.
  if (SlotBytes(bytes) % 16 == 0 && a % 16 != 0) {
    return Fail(
        "alloc_align",
        Fmt("gc_alloc of %u bytes returned %p: not 16-aligned although "
            "its slot is %llu bytes",
            bytes, p, static_cast<unsigned long long>(SlotBytes(bytes))));
  }
  // Must not overlap an object the model knows to be live. (Entries of
  // objects an automatic cycle may have freed are dropped when they get in
  // the way; those of objects explicit collections freed are gone.)
  ProcessFrees();
  for (;;) {
    auto it = live_ranges_.lower_bound(a);
    if (it == live_ranges_.end() || it->first >= a + bytes) {
      if (it == live_ranges_.begin() || std::prev(it)->second.first <= a) {
        break;
      }
      it = std::prev(it);
    }
    const uint32_t hit = it->second.second;
    if (!model_.MayBeFreed(hit)) {
      return Fail("alloc_overlap",
                  Fmt("new object id=%u [%p, +%u) overlaps live %s", id, p,
                      bytes, Describe(hit).c_str()));
    }
    live_ranges_.erase(it);
  }
  // Zeroed.
  if (!IsZero(p, bytes)) {
    const unsigned char* b = static_cast<const unsigned char*>(p);
    uint32_t i = 0;
    while (b[i] == 0) i++;
    return Fail("alloc_not_zero",
                Fmt("new object id=%u (%s, %u bytes) at %p: byte %u is 0x%02x, "
                    "not zero",
                    id, KindName(k), bytes, p, i, b[i]));
  }
  // (A garbage allocation is not known to be live.)
  if (model_.Live(id)) live_ranges_[a] = {a + bytes, id};
  ObjState& s = st_[id];
  s.ours = p;
  by_addr_[a] = id;
  const uint64_t seed = PayloadSeed(tag_, id);
  const uint64_t stamp = Stamp(tag_, id);
  FillObject(p, k, bytes, stamp, seed);
  s.sum[kOurs] = LoadWord(p, bytes, ChecksumWord(k));
  if (boehm_) {
    void* q =
        IsNoscan(k) ? boehm::AllocAtomic(bytes) : boehm::AllocTyped(k, bytes);
    if (q == nullptr) return Fail("boehm_alloc", "Boehm allocation failed");
    if (!IsNoscan(k)) {
      if (!IsZero(q, bytes)) {
        return Fail("boehm_alloc", "Boehm typed object not zeroed");
      }
    } else {
      memset(q, 0, bytes);
    }
    FillObject(q, k, bytes, stamp, seed);
    s.boehm = q;
    s.sum[kBoehm] = s.sum[kOurs];
    links_.push_back(reinterpret_cast<void*>(~reinterpret_cast<uintptr_t>(q)));
    s.link = &links_.back();
    if (!boehm::RegisterLink(s.link, q)) {
      return Fail("boehm_alloc",
                  "GC_general_register_disappearing_link failed");
    }
  }
  result_.stats.allocated++;
  return true;
}

void Executor::StoreField(uint32_t id, uint32_t field, uint64_t ours_v,
                          uint64_t boehm_v) {
  const ObjModel* o = model_.Get(id);
  const uint32_t w = FieldWord(o->kind, field);
  ObjState& s = st_[id];
  auto** slot =
      reinterpret_cast<void**>(static_cast<char*>(s.ours) + 8 * size_t{w});
  gc_write_barrier(m_, s.ours, slot, reinterpret_cast<void*>(ours_v));
  if (boehm_) {
    auto** bslot =
        reinterpret_cast<void**>(static_cast<char*>(s.boehm) + 8 * size_t{w});
    *bslot = reinterpret_cast<void*>(boehm_v);
  }
}

void Executor::StoreRefInField(uint32_t id, uint32_t field, const Ref& r) {
  StoreField(id, field, RefValue(kOurs, r), boehm_ ? RefValue(kBoehm, r) : 0);
}

void Executor::SetSlot(uint32_t slot, const Ref& r) {
  table_[slot] = reinterpret_cast<void*>(RefValue(kOurs, r));
  if (boehm_) btable_[slot] = reinterpret_cast<void*>(RefValue(kBoehm, r));
}

// An allocation failed (hard limit): the place the model stored the new
// object in holds NULL instead, in the model and for real (where it still
// held the old value).
void Executor::DropPlacement(const Effects& fx) {
  model_.ClearPlacement(fx);
  if (fx.dest_parent != 0) {
    StoreField(fx.dest_parent, fx.dest_field, 0, 0);
  } else if (fx.dest_slot != kNoSlot) {
    SetSlot(fx.dest_slot, Ref{});
  }
}

// Stores the new object id where the model put it.
bool Executor::Place(uint32_t id, const Effects& fx) {
  Ref r;
  r.id = id;
  if (fx.dest_parent != 0) {
    StoreRefInField(fx.dest_parent, fx.dest_field, r);
  } else if (fx.dest_slot != kNoSlot) {
    SetSlot(fx.dest_slot, r);
  }
  return true;
}

uint64_t Executor::ExpectedPayload(int side, uint32_t id, uint32_t w) {
  for (const auto& [word, v] : st_[id].over[side]) {
    if (word == w) return v;
  }
  const ObjModel* o = model_.Get(id);
  return InitialWord(PayloadSeed(tag_, id), w, WordBytes(o->bytes, w));
}

void Executor::WritePayload(int side, uint32_t id, uint32_t p, uint64_t v) {
  const ObjModel* o = model_.Get(id);
  ObjState& s = st_[id];
  const uint32_t w = PayloadWord(o->kind, p);
  const uint32_t nb = WordBytes(o->bytes, w);
  if (nb < 8) v &= (uint64_t{1} << (8 * nb)) - 1;
  const uint64_t old = ExpectedPayload(side, id, w);
  s.sum[side] += ChecksumTerm(w, v) - ChecksumTerm(w, old);
  bool found = false;
  for (auto& [word, val] : s.over[side]) {
    if (word == w) {
      val = v;
      found = true;
    }
  }
  if (!found) s.over[side].emplace_back(w, v);
  void* base = Addr(side, id);
  StoreWord(base, o->bytes, w, v);
  StoreWord(base, o->bytes, ChecksumWord(o->kind), s.sum[side]);
}

bool Executor::RootCall(int rc, bool expect_fail, const char* what) {
  if (rc == (expect_fail ? -1 : 0)) return true;
  return Fail("root_api", Fmt("%s returned %d, expected %d (%s)", what, rc,
                              expect_fail ? -1 : 0, gc_last_error()));
}

bool Executor::Start() {
  if (all_rooted_) return true;
  for (const Op& op : Model::Prologue()) {
    if (!Step(op, 0)) return false;
  }
  result_.stats.ops = 0;
  return true;
}

bool Executor::Step(const Op& op, size_t index) {
  if (!result_.ok) return false;
  op_index_ = index;
  if (IsVmOp(op) && !kVmOpsExecutable) {
    return Fail("unsupported",
                "'" + FormatOp(op) +
                    "' needs the VM API of issue 12, which the executor does "
                    "not call yet (phase 2); the model and generator know it");
  }
  Effects fx;
  if (!model_.Apply(op, &fx)) {
    result_.stats.skipped++;
    return true;
  }
  result_.stats.ops++;
  switch (op.op) {
    case OpKind::kAlloc: {
      if (!NewObject(op.id, op.kind, static_cast<uint32_t>(op.value))) {
        if (!result_.ok) return false;
        DropPlacement(fx);  // out of memory under a hard limit
        return true;
      }
      Place(op.id, fx);
      return true;
    }
    case OpKind::kChain: {
      for (uint32_t i = 0; i < op.count; i++) {
        const uint32_t id = op.id + i;
        if (!NewObject(id, Kind::kSmall3, kSmall3Bytes)) {
          if (!result_.ok) return false;
          // Out of memory under a hard limit: the chain ends here.
          if (fx.garbage) return true;
          if (i == 0) {
            DropPlacement(fx);
          } else {
            model_.ClearField(id - 1, 0);
          }
          return true;
        }
        Ref r;
        r.id = id;
        if (fx.garbage) {
          // Nothing holds the previous node: it may already be freed (the
          // allocation is a safepoint), so it must not be written.
          continue;
        }
        if (i == 0) {
          Place(id, fx);
        } else {
          StoreRefInField(id - 1, 0, r);
        }
      }
      if ((op.value & 1) && !fx.garbage) {
        Ref r;
        r.id = op.id;
        StoreRefInField(op.id + op.count - 1, 1, r);
      }
      return true;
    }
    case OpKind::kStore:
    case OpKind::kStoreImm: {
      const Ref& r = model_.Get(op.id)->fields[op.field];
      if (opts_.fault == Fault::kSkipStore && r.IsPtr() && !fault_done_) {
        fault_done_ = true;
        if (boehm_) {
          const uint32_t w = FieldWord(model_.Get(op.id)->kind, op.field);
          reinterpret_cast<void**>(st_[op.id].boehm)[w] =
              reinterpret_cast<void*>(RefValue(kBoehm, r));
        }
        return true;
      }
      if (opts_.fault == Fault::kHidePointer && r.IsPtr() && !fault_done_ &&
          NumPayloadWords(model_.Get(op.id)->kind, model_.Get(op.id)->bytes) >
              0) {
        // The pointer goes to a word the collector does not scan (the
        // checksum is kept consistent); the field stays NULL. The model
        // believes the field holds it.
        fault_done_ = true;
        WritePayload(kOurs, op.id, 0, RefValue(kOurs, r));
        StoreField(op.id, op.field, 0, boehm_ ? RefValue(kBoehm, r) : 0);
        return true;
      }
      StoreRefInField(op.id, op.field, r);
      return true;
    }
    case OpKind::kRootSet: {
      const Ref& r = model_.slot(op.slot);
      SetSlot(op.slot, r);
      if (opts_.fault == Fault::kDropRoot && r.IsPtr() && !fault_done_) {
        fault_done_ = true;
        table_[op.slot] = nullptr;
      }
      return true;
    }
    case OpKind::kRootAdd:
      return RootCall(gc_add_root(heap_, &table_[op.slot]), false,
                      "gc_add_root");
    case OpKind::kRootRemove:
    case OpKind::kRangeRemove:
    case OpKind::kScannerRemove: {
      int rc;
      const char* what;
      if (op.op == OpKind::kRootRemove) {
        rc = gc_remove_root(heap_, &table_[op.slot]);
        what = "gc_remove_root";
      } else if (op.op == OpKind::kRangeRemove) {
        rc = gc_remove_root_range(heap_, &table_[op.slot], op.count);
        what = "gc_remove_root_range";
      } else {
        rc = gc_remove_root_scanner(heap_, &ScanSlots, &scanners_[op.slot]);
        what = "gc_remove_root_scanner";
      }
      for (uint32_t s : fx.cleared_slots) SetSlot(s, Ref{});
      return RootCall(rc, fx.expect_fail, what);
    }
    case OpKind::kRangeAdd:
      return RootCall(gc_add_root_range(heap_, &table_[op.slot], op.count),
                      false, "gc_add_root_range");
    case OpKind::kScannerAdd:
      return RootCall(
          gc_add_root_scanner(heap_, &ScanSlots, &scanners_[op.slot]), false,
          "gc_add_root_scanner");
    case OpKind::kSetTraceN: {
      for (uint32_t f = op.count; f < fx.old_trace_n; f++) {
        StoreField(op.id, f, 0, 0);
      }
      // Kids [count, old n) are NULL now; kids [old n, count) were NULL
      // already. The store is atomic (a concurrent marker reads n).
      ObjState& s = st_[op.id];
      __atomic_store_n(static_cast<uint64_t*>(s.ours) + kMetaWord,
                       uint64_t{op.count}, __ATOMIC_RELAXED);
      if (boehm_) {
        StoreWord(s.boehm, model_.Get(op.id)->bytes, kMetaWord, op.count);
      }
      return true;
    }
    case OpKind::kTouch:
      WritePayload(kOurs, op.id, op.field, Mix(op.value));
      if (boehm_) WritePayload(kBoehm, op.id, op.field, Mix(op.value));
      return true;
    case OpKind::kTouchAddr: {
      // The target may be dead (its address stale): it is only a number.
      ObjState& t = State(op.target);
      WritePayload(kOurs, op.id, op.field, reinterpret_cast<uint64_t>(t.ours));
      if (boehm_) {
        WritePayload(kBoehm, op.id, op.field,
                     reinterpret_cast<uint64_t>(t.boehm));
      }
      return true;
    }
    case OpKind::kCollect:
      gc_collect(m_);
      return CheckAfterCollect(opts_.exact_stats);
    case OpKind::kChurn:
      return Churn(op.kind, static_cast<uint32_t>(op.value), op.count);
    case OpKind::kTinyGarbage: {
      void* p = gc_alloc_noscan(m_, op.count);
      if (p == nullptr && max_heap_ != 0) return true;
      if (p == nullptr) {
        return Fail("alloc_null", Fmt("gc_alloc_noscan(%u) returned NULL: %s",
                                      op.count, gc_last_error()));
      }
      // Fill it: a tiny object that overlaps a live object shows up as a
      // broken stamp or checksum.
      memset(p, 0xa5, op.count);
      return true;
    }
    case OpKind::kReattach:
      if (owns_heap_) {
        gc_thread_detach(m_);
        m_ = gc_thread_attach(heap_);
      }
      return true;
    case OpKind::kNumOpKinds:
      break;
    default:
      // The VM ops: refused above until the executor runs them.
      break;
  }
  return true;
}

// Garbage the model does not track: each object is checked for zeroed
// memory and then scribbled on (so a slot reused without clearing shows).
bool Executor::Churn(Kind k, uint32_t bytes, uint32_t count) {
  for (uint32_t i = 0; i < count; i++) {
    void* p = k == Kind::kNoscan ? gc_alloc_noscan(m_, bytes)
                                 : gc_alloc(m_, types_.Of(k), bytes);
    if (p == nullptr) {
      if (max_heap_ != 0) {
        result_.stats.alloc_failed++;
        return true;
      }
      return Fail("alloc_null", Fmt("churn: gc_alloc of %u bytes (%s) returned "
                                    "NULL: %s",
                                    bytes, KindName(k), gc_last_error()));
    }
    if (!IsZero(p, bytes)) {
      const unsigned char* b = static_cast<const unsigned char*>(p);
      uint32_t j = 0;
      while (b[j] == 0) j++;
      return Fail(
          "alloc_not_zero",
          Fmt("churn object %u (%s, %u bytes) at %p: byte %u is 0x%02x, "
              "not zero",
              i, KindName(k), bytes, p, j, b[j]));
    }
    if (IsNoscan(k)) {
      memset(p, 0xc3, bytes);
    } else {
      static_cast<uint64_t*>(p)[0] = 0xc3c3c3c3c3c3c3c3ull;  // a payload word
    }
    result_.stats.churned++;
  }
  return true;
}

Expectation Executor::Expected() {
  Expectation e;
  for (uint32_t id : model_.live()) {
    const ObjModel* o = model_.Get(id);
    e.objects++;
    e.bytes += SlotBytes(o->bytes);
    e.by_class[SizeClassOfBytes(o->bytes)]++;
  }
  return e;
}

bool Executor::CheckObject(int side, uint32_t id) {
  const ObjModel* o = model_.Get(id);
  const void* base = Addr(side, id);
  const uint32_t bytes = o->bytes;
  const uint32_t words = Words(bytes);
  const ObjState& s = st_[id];
  result_.stats.objects_checked++;
  auto bad = [&](uint32_t w, const char* what, uint64_t want, uint64_t got) {
    return Fail(side == kOurs ? "intact" : "boehm_intact",
                Fmt("%s: reachable object %s: word %u (%s): expected 0x%" PRIx64
                    ", found 0x%" PRIx64,
                    kSideName[side], Describe(id).c_str(), w, what, want, got));
  };
  uint64_t v = LoadWord(base, bytes, 0);
  if (v != Stamp(tag_, id)) return bad(0, "identity stamp", Stamp(tag_, id), v);
  const uint32_t cw = ChecksumWord(o->kind);
  v = LoadWord(base, bytes, cw);
  if (v != s.sum[side]) return bad(cw, "stored checksum", s.sum[side], v);
  if (o->kind == Kind::kVec) {
    const uint64_t want = (bytes - kVecHeaderBytes) / kVecElemBytes;
    v = LoadWord(base, bytes, kMetaWord);
    if (v != want) return bad(kMetaWord, "vec length", want, v);
  } else if (o->kind == Kind::kTraced) {
    v = LoadWord(base, bytes, kMetaWord);
    if (v != o->trace_n) return bad(kMetaWord, "trace count", o->trace_n, v);
  }
  for (uint32_t f = 0; f < o->fields.size(); f++) {
    const uint32_t w = FieldWord(o->kind, f);
    const Ref& r = o->fields[f];
    const uint64_t want = RefValue(side, r);
    v = LoadWord(base, bytes, w);
    if (v != want) {
      std::string what =
          Fmt("pointer field %u = %s", f,
              r.IsPtr() ? Fmt("id %u + %u", r.id, r.off).c_str() : "immediate");
      return bad(w, what.c_str(), want, v);
    }
  }
  // Payload: recompute the checksum; on a mismatch find the word.
  uint64_t sum = 0;
  const uint32_t np = NumPayloadWords(o->kind, bytes);
  for (uint32_t p = 0; p < np; p++) {
    const uint32_t w = PayloadWord(o->kind, p);
    sum += ChecksumTerm(w, LoadWord(base, bytes, w));
  }
  if (sum != s.sum[side]) {
    for (uint32_t w = 0; w < words; w++) {
      if (RoleOf(o->kind, bytes, w) != Role::kPayload) continue;
      uint64_t want = ExpectedPayload(side, id, w);
      v = LoadWord(base, bytes, w);
      if (v != want) return bad(w, "payload", want, v);
    }
    return bad(cw, "recomputed checksum", s.sum[side], sum);
  }
  return true;
}

bool Executor::CheckKept() {
  for (uint32_t id : model_.live()) {
    if (!model_.InM(id) && !CheckObject(kOurs, id)) return false;
  }
  return true;
}

bool Executor::CheckGraph() {
  const std::vector<uint32_t>& r = model_.reachable();
  if (opts_.fault == Fault::kCorruptPayload && !fault_done_) {
    for (uint32_t id : r) {
      const ObjModel* o = model_.Get(id);
      if (NumPayloadWords(o->kind, o->bytes) > 0) {
        fault_done_ = true;
        const uint32_t w = PayloadWord(o->kind, 0);
        StoreWord(st_[id].ours, o->bytes, w,
                  LoadWord(st_[id].ours, o->bytes, w) ^ 0x10);
        break;
      }
    }
  }
  for (uint32_t id : r) {
    if (!CheckObject(kOurs, id)) return false;
  }
  return true;
}

bool Executor::CheckStats(const Expectation& e) {
  gc_stats st;
  st.struct_size = sizeof(st);
  gc_get_stats(heap_, &st);
  result_.stats.ours += st.live_objects;
  if (st.live_objects != e.objects) {
    return Fail("live_objects",
                Fmt("live_objects %" PRIu64 " but the oracle counts %" PRIu64
                    " reachable (%s)",
                    st.live_objects, e.objects,
                    st.live_objects > e.objects ? "excess retention"
                                                : "live objects freed"));
  }
  if (st.live_bytes != e.bytes) {
    return Fail("live_bytes",
                Fmt("live_bytes %" PRIu64 " but reachable objects "
                    "occupy %" PRIu64 " slot bytes",
                    st.live_bytes, e.bytes));
  }
  if (st.bytes_in_use != e.bytes) {
    return Fail("bytes_in_use",
                Fmt("bytes_in_use %" PRIu64 " after gc_collect but reachable "
                    "objects occupy %" PRIu64 " slot bytes",
                    st.bytes_in_use, e.bytes));
  }
  for (int c = 0; c < GC_NUM_SIZE_CLASSES; c++) {
    const uint64_t live = st.by_class[c].allocated - st.by_class[c].freed;
    if (live != e.by_class[c]) {
      return Fail(
          "class_counts",
          Fmt("size class %d (%u bytes): allocated %" PRIu64 " - freed %" PRIu64
              " = %" PRIu64 " but %" PRIu64 " reachable objects are in it",
              c, st.by_class[c].object_size, st.by_class[c].allocated,
              st.by_class[c].freed, live, e.by_class[c]));
    }
  }
  return true;
}

bool Executor::CheckBoehm() {
  boehm::Collect();
  uint64_t live = 0;
  for (void* l : links_) live += l != nullptr;
  result_.stats.boehm += live;
  result_.stats.boehm_reachable += model_.reachable().size();
  for (uint32_t id : model_.reachable()) {
    if (*st_[id].link == nullptr) {
      return Fail("boehm_lost",
                  Fmt("Boehm freed reachable object %s", Describe(id).c_str()));
    }
  }
  for (uint32_t id : model_.reachable()) {
    if (!CheckObject(kBoehm, id)) return false;
  }
  return true;
}

void Executor::Collected() {
  Op collect;
  collect.op = OpKind::kCollect;
  Effects fx;
  model_.Apply(collect, &fx);
  ProcessFrees();
}

bool Executor::CheckAfterCollect(bool exact) {
  if (!model_.live_current()) {
    return Fail("harness", "checks after a collection the model did not see");
  }
  ProcessFrees();
  const size_t live = model_.live().size();
  result_.stats.collections++;
  result_.stats.reachable += live;
  result_.stats.max_reachable =
      std::max<uint64_t>(result_.stats.max_reachable, live);
  if (exact && !CheckStats(Expected())) return false;
  if (!CheckGraph() || !CheckKept()) return false;
  if (boehm_ && !CheckBoehm()) return false;
  return true;
}

bool Executor::FinalChecks(size_t index) {
  Op collect;
  collect.op = OpKind::kCollect;
  if (!Step(collect, index)) return false;
  // Drop every root, run what is ready, collect; again while finalization
  // keeps handing objects back (an ordered chain finalizes one node per
  // collection). What stays is what the model keeps: nothing, unless
  // finalizable objects form cycles (never finalized, as designed).
  for (uint32_t round = 0;; round++) {
    for (uint32_t s = 0; s < kSlots; s++) {
      if (model_.slot(s).IsPtr()) {
        Op clear;
        clear.op = OpKind::kRootSet;
        clear.slot = s;
        if (!Step(clear, index)) return false;
      }
    }
    for (const Op& op : FinalDrainOps(model_)) {
      if (!Step(op, index)) return false;
    }
    if (!Step(collect, index)) return false;
    if (FinalDrainOps(model_).empty() && model_.Decide().ready.empty()) break;
    if (round > 4 * kMaxFinChain + 2 * model_.next_id()) {
      return Fail("harness", "finalization does not converge at the end");
    }
  }
  const bool registrations =
      std::any_of(model_.registered().begin(), model_.registered().end(),
                  [&](uint32_t id) { return model_.Get(id)->registered; });
  if (!registrations && !model_.live().empty()) {
    return Fail("harness", "objects live after every slot was cleared");
  }
  gc_stats st;
  st.struct_size = sizeof(st);
  gc_get_stats(heap_, &st);
  result_.stats.cycles = st.cycles;
  return true;
}

// ---- VM side (issue 12)
// -------------------------------------------------------
//
// What phase 2 connects to the heap's API (runtime/gc.h of the design):
// FinalizerData / CleanupData are the data arguments of
// gc_register_finalizer, gc_guardian_register (no callback) and
// gc_add_cleanup; OnFinalizer / OnCleanup the callbacks; HandlePop takes
// what gc_guardian_pop returned; CheckRead what gc_weak_get, gc_weak_load,
// gc_ephemeron_key and gc_ephemeron_value returned. The model decides;
// these only compare and mirror.

void* Executor::FinalizerData(uint32_t id) {
  fin_tags_.push_back(FinalizerTag{this, id, model_.Get(id)->reg.serial});
  return &fin_tags_.back();
}

void* Executor::CleanupData(uint64_t token) {
  cleanup_tags_.push_back(CleanupTag{this, token});
  return &cleanup_tags_.back();
}

uint32_t Executor::IdAt(const void* p) const {
  auto it = by_addr_.find(reinterpret_cast<uintptr_t>(p));
  return it == by_addr_.end() ? 0 : it->second;
}

bool Executor::StampIntact(uint32_t id) const {
  const ObjModel* o = model_.Get(id);
  if (o == nullptr || o->kind == Kind::kEphemeron) return true;
  return LoadWord(st_[id].ours, o->bytes, 0) == Stamp(tag_, id);
}

void Executor::OnFinalizer(gc_mutator* m, void* obj, void* data) {
  (void)m;
  const auto* t = static_cast<const FinalizerTag*>(data);
  Executor* ex = t->ex;
  if (ex->model_.finalizer_thread()) {
    // The program's thread owns the model: log, check in DrainCalls. The
    // object is not freed before this returns (the queue holds it).
    const bool stamp_ok = obj == ex->st_[t->id].ours && ex->StampIntact(t->id);
    std::lock_guard<std::mutex> g(ex->calls_mu_);
    ex->calls_.push_back(Call{false, stamp_ok, obj, t});
    return;
  }
  ex->HandleFinalizer(obj, *t, /*checked=*/false);
}

void Executor::OnCleanup(gc_mutator* m, void* arg) {
  (void)m;
  const auto* t = static_cast<const CleanupTag*>(arg);
  Executor* ex = t->ex;
  if (ex->model_.finalizer_thread()) {
    std::lock_guard<std::mutex> g(ex->calls_mu_);
    ex->calls_.push_back(Call{true, true, nullptr, t});
    return;
  }
  ex->HandleCleanup(*t);
}

bool Executor::HandleFinalizer(void* obj, const FinalizerTag& t, bool checked) {
  if (!result_.ok) return false;
  if (obj != st_[t.id].ours) {
    return Fail("finalizer",
                Fmt("the finalizer of object %u was called with %p, but the "
                    "object is at %p",
                    t.id, obj, st_[t.id].ours));
  }
  // It is in F: intact, every field as the model has it. (On the finalizer
  // thread only the stamp was checked: the program may be using it.)
  if (!checked && !CheckObject(kOurs, t.id)) return false;
  uint32_t slot;
  std::string why;
  if (!model_.RunFinalizer(t.id, t.serial, &slot, &why)) {
    return Fail("finalizer", why);
  }
  finalizer_calls_.push_back(t.id);
  if (slot != kNoSlot) {
    // Resurrection: a store into a root slot.
    Ref r;
    r.id = t.id;
    SetSlot(slot, r);
  }
  return true;
}

bool Executor::HandleCleanup(const CleanupTag& t) {
  if (!result_.ok) return false;
  std::string why;
  if (!model_.RunCleanup(t.token, &why)) return Fail("cleanup", why);
  ProcessFrees();  // a cleanup may tell that an automatic cycle freed it
  return true;
}

bool Executor::DrainCalls() {
  std::vector<Call> calls;
  {
    std::lock_guard<std::mutex> g(calls_mu_);
    calls.swap(calls_);
  }
  for (const Call& c : calls) {
    if (c.cleanup) {
      if (!HandleCleanup(*static_cast<const CleanupTag*>(c.tag))) return false;
      continue;
    }
    const auto& t = *static_cast<const FinalizerTag*>(c.tag);
    if (!c.stamp_ok) {
      return Fail("finalizer",
                  Fmt("the finalizer thread got object %u at %p with a "
                      "broken identity stamp (or at the wrong address; the "
                      "object is at %p)",
                      t.id, c.obj, st_[t.id].ours));
    }
    if (!HandleFinalizer(c.obj, t, /*checked=*/true)) return false;
  }
  return true;
}

bool Executor::HandlePop(uint32_t g, void* obj, uint32_t slot) {
  if (!result_.ok) return false;
  const uint32_t id = IdAt(obj);
  if (obj != nullptr && id == 0) {
    return Fail("guardian", Fmt("guardian %u handed back %p, which is no "
                                "object of this program",
                                g, obj));
  }
  if (id != 0 && !CheckObject(kOurs, id)) return false;
  uint32_t stored;
  std::string why;
  if (!model_.PopGuardian(g, id, slot, &stored, &why)) {
    return Fail("guardian", why);
  }
  if (stored != kNoSlot) {
    Ref r;
    r.id = id;
    SetSlot(stored, r);
  }
  return true;
}

bool Executor::CheckRead(const Expect& e, void* got, const std::string& what,
                         bool* saw_null) {
  *saw_null = false;
  const uint64_t want = RefValue(kOurs, e.ref);
  const uint64_t v = reinterpret_cast<uint64_t>(got);
  if (v == 0 && e.or_null) {
    *saw_null = want != 0;
    return true;
  }
  if (v != want) {
    return Fail("weak_read",
                Fmt("%s returned %p, expected %s%s", what.c_str(), got,
                    e.ref.IsPtr() ? Describe(e.ref.id).c_str()
                                  : Fmt("0x%" PRIx64, e.ref.imm).c_str(),
                    e.or_null ? " or NULL" : ""));
  }
  // An object a read hands out is one the collector did not free.
  return !e.ref.IsPtr() || CheckObject(kOurs, e.ref.id);
}

RunResult RunProgram(const Program& p, const RunOptions& o) {
  Executor ex(p.config, o);
  if (ex.Start()) {
    for (size_t i = 0; i < p.ops.size(); i++) {
      if (!ex.Step(p.ops[i], i)) break;
    }
    if (ex.ok() && o.final_checks) ex.FinalChecks(p.ops.size());
  }
  if (ex.ok()) {
    gc_stats st;
    st.struct_size = sizeof(st);
    gc_get_stats(ex.heap(), &st);
    ex.stats().cycles = st.cycles;
  }
  return ex.result();
}

}  // namespace gcheap::oracle
