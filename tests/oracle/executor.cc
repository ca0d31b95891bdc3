#include "tests/oracle/executor.h"

#include <unistd.h>

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
  weak_ops += o.weak_ops;
  eph_ops += o.eph_ops;
  fin_ops += o.fin_ops;
  weak_reads += o.weak_reads;
  reads_marking += o.reads_marking;
  drains += o.drains;
  holds_checked += o.holds_checked;
  init_stores += o.init_stores;
  vm.Add(o.vm);
  boehm_fin_agree += o.boehm_fin_agree;
  boehm_link_agree += o.boehm_link_agree;
  boehm_diverged += o.boehm_diverged;
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
  // WeakS / WeakL: strong pointers at words 2 and 6, weak slots at 3, 5, 7
  // (layout.h), short or long.
  static const uint64_t kWeakPtrMap = (1ull << 2) | (1ull << 6);
  static const uint64_t kWeakSlotMap = (1ull << 3) | (1ull << 5) | (1ull << 7);
  for (Kind k : {Kind::kWeakS, Kind::kWeakL}) {
    gc_type_desc d;
    gc_type_desc_init(&d);
    d.name = KindName(k);
    d.size = kWeakBytes;
    d.ptr_bitmap = &kWeakPtrMap;
    d.ptr_bitmap_words = 1;
    d.weak_bitmap = &kWeakSlotMap;
    d.weak_bitmap_words = 1;
    d.weak_kind = k == Kind::kWeakL ? GC_WEAK_LONG : GC_WEAK_SHORT;
    const int i = static_cast<int>(k);
    t.id[i] = gc_register_type(heap, &d);
    if (t.id[i] == 0) {
      fprintf(stderr, "oracle: gc_register_type(%s): %s\n", d.name,
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
  c.finalizer_thread = cfg.finalizer_thread;
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
  if (const char* t = getenv("GCHEAP_ORACLE_TRACE")) {
    trace_.resize(std::strtoul(t, nullptr, 10));
  }
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
  if (gc_add_root_range(heap_, scratch_, kScratch) != 0 ||
      gc_add_root_range(heap_, holds_, kHolds) != 0) {
    fprintf(stderr, "oracle: gc_add_root_range: %s\n", gc_last_error());
    abort();
  }
  for (gc_guardian*& g : guardians_) {
    g = gc_guardian_create(heap_);
    if (g == nullptr) {
      fprintf(stderr, "oracle: gc_guardian_create: %s\n", gc_last_error());
      abort();
    }
  }
  if (boehm_) {
    bkeep_ = boehm::AllocRoots(kMaxBoehmKept);
    bscratch_ = boehm::AllocRoots(kScratch);
  }
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
  if (owns_heap_) DestroyVm(m_);
  if (heap_ != nullptr) {
    gc_remove_root_range(heap_, scratch_, kScratch);
    gc_remove_root_range(heap_, holds_, kHolds);
  }
  if (boehm_) {
    // Boehm's queued finalizers name this executor: run them as no-ops.
    boehm_dying_ = true;
    boehm::InvokeFinalizers();
    for (void*& l : links_) {
      if (l != nullptr) boehm::UnregisterLongLink(&l);
    }
    for (uint32_t w = 0; w < kWeakCells; w++) {
      if (!blink_registered_[w]) continue;
      if (blink_kind_[w] == kWeakLong) {
        boehm::UnregisterLongLink(&blinks_[w]);
      } else {
        boehm::UnregisterLink(&blinks_[w]);
      }
    }
    // Boehm's finalizers refer to this executor: remove them.
    for (const auto& [id, serial] : boehm_serial_) {
      if (st_[id].boehm != nullptr) {
        boehm::RegisterFinalizer(st_[id].boehm, kFinOrdered, nullptr, nullptr);
      }
    }
    for (uint32_t i = 0; i < kMaxBoehmKept; i++) bkeep_[i] = nullptr;
    boehm::FreeRoots(bkeep_);
    for (int i = 0; i < kScratch; i++) bscratch_[i] = nullptr;
    boehm::FreeRoots(bscratch_);
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

void Executor::Trace(const std::string& line) {
  if (trace_.empty()) return;
  gc_stats st;
  st.struct_size = sizeof(st);
  gc_get_stats(heap_, &st);
  const bool marking =
      m_ != nullptr &&
      __atomic_load_n(&reinterpret_cast<gc_mutator_head_*>(m_)->wb_enabled,
                      __ATOMIC_RELAXED) != 0;
  trace_[trace_next_] =
      Fmt("[cycles %" PRIu64 "%s] ", st.cycles, marking ? " marking" : "") +
      line;
  trace_next_ = (trace_next_ + 1) % trace_.size();
}

bool Executor::Fail(const std::string& category, const std::string& message) {
  if (!result_.ok) return false;
  if (!trace_.empty()) {
    fprintf(stderr, "oracle trace (executor %u, oldest first):\n", tag_);
    for (size_t i = 0; i < trace_.size(); i++) {
      const std::string& t = trace_[(trace_next_ + i) % trace_.size()];
      if (!t.empty()) fprintf(stderr, "  %s\n", t.c_str());
    }
    fprintf(stderr, "  FAIL [%s] %s\n", category.c_str(), message.c_str());
  }
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
    auto k = bkeep_slot_.find(id);
    if (k != bkeep_slot_.end()) {
      bkeep_[k->second] = nullptr;
      bkeep_free_.push_back(k->second);
      bkeep_slot_.erase(k);
    }
    s.over[0].clear();
    s.over[0].shrink_to_fit();
    s.over[1].clear();
    s.over[1].shrink_to_fit();
  }
}

bool Executor::NewObject(uint32_t id, Kind k, uint32_t bytes) {
  State(id);
  const bool eph = k == Kind::kEphemeron;
  void* p;
  if (eph) {
    // Key and value come from the model (already applied); both are held
    // by the program (or by scratch_ roots while a chain is built).
    const ObjModel* o = model_.Get(id);
    p = gc_ephemeron_new(m_,
                         reinterpret_cast<void*>(RefValue(kOurs, o->eph_key)),
                         o->eph_value != 0 ? st_[o->eph_value].ours : nullptr);
  } else {
    p = k == Kind::kNoscan ? gc_alloc_noscan(m_, bytes)
                           : gc_alloc(m_, types_.Of(k), bytes);
  }
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
  if (eph) {
    // The built-in object, recognized as one. (Its 24 bytes are counted
    // in the exact byte checks after every collection.)
    if (!gc_is_ephemeron(heap_, p)) {
      return Fail("ephemeron",
                  Fmt("gc_ephemeron_new returned %p, which gc_is_ephemeron "
                      "does not recognize",
                      p));
    }
  } else if (!IsZero(p, bytes)) {
    // Not zeroed.
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
  if (eph) {
    if (boehm_) {
      void* q = boehm::AllocTyped(k, bytes);
      if (q == nullptr) return Fail("boehm_alloc", "Boehm allocation failed");
      const ObjModel* o = model_.Get(id);
      if (o->eph_value != 0) {
        static_cast<void**>(q)[1] = st_[o->eph_value].boehm;
      }
      s.boehm = q;
      links_.push_back(
          reinterpret_cast<void*>(~reinterpret_cast<uintptr_t>(q)));
      s.link = &links_.back();
      if (!boehm::RegisterLongLink(s.link, q)) {
        return Fail("boehm_alloc", "GC_register_long_link failed");
      }
    }
    result_.stats.allocated++;
    return true;
  }
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
    if (!boehm::RegisterLongLink(s.link, q)) {
      return Fail("boehm_alloc", "GC_register_long_link failed");
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
  if (nholds_ > 0 && !SettleHolds(/*wait=*/op.op == OpKind::kCollect)) {
    return false;
  }
  if (model_.finalizer_thread()) {
    // The heap's finalizer thread: check what it ran so far; before a
    // collection, wait until everything queued has run.
    if (op.op == OpKind::kCollect ? !WaitForQueuedCalls() : !DrainCalls()) {
      return false;
    }
  } else if (op.op == OpKind::kCollect && model_.auto_cycles() &&
             !DrainAutoQueues()) {
    return false;
  }
  Effects fx;
  if (!model_.Apply(op, &fx)) {
    result_.stats.skipped++;
    return true;
  }
  if (!trace_.empty()) {
    Trace(Fmt("op %zu: %s%s", index, FormatOp(op).c_str(),
              fx.expect.or_null ? " (expect: or NULL)" : ""));
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
      return StepVm(op, fx);
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
  if (o->kind == Kind::kEphemeron) {
    // No stamp or payload; Boehm's copy holds nothing we check. Ours is
    // read through the API: next exactly, key and value as the model says.
    if (side == kBoehm) return true;
    void* e = s.ours;
    const void* next = gc_ephemeron_next(m_, e);
    if (reinterpret_cast<uint64_t>(next) != RefValue(kOurs, o->fields[0])) {
      return Fail("intact", Fmt("ephemeron %s: next is %p, expected %s",
                                Describe(id).c_str(), next,
                                Describe(o->fields[0].id).c_str()));
    }
    bool saw_null = false;
    if (!CheckRead(model_.ExpectEph(id, kEphReadKey), gc_ephemeron_key(m_, e),
                   Fmt("gc_ephemeron_key(%u)", id), &saw_null)) {
      return false;
    }
    if (saw_null) model_.ObserveEphCleared(id);
    if (!CheckRead(model_.ExpectEph(id, kEphReadValue),
                   gc_ephemeron_value(m_, e), Fmt("gc_ephemeron_value(%u)", id),
                   &saw_null)) {
      return false;
    }
    if (saw_null) model_.ObserveEphCleared(id);
    return true;
  }
  if (side == kOurs && IsWeakKind(o->kind)) {
    for (uint32_t f = 0; f < kWeakFields; f++) {
      void** slot = reinterpret_cast<void**>(static_cast<char*>(s.ours) +
                                             8 * WeakFieldWord(f));
      bool saw_null = false;
      if (!CheckRead(model_.ExpectWeakField(id, f),
                     gc_weak_load(m_, s.ours, slot),
                     Fmt("gc_weak_load(%u, slot %u)", id, f), &saw_null)) {
        return false;
      }
      if (saw_null) model_.ObserveWeakFieldNull(id, f);
    }
  }
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
  // (Copies: a check's weak read may settle the model, which recomputes.)
  const std::vector<uint32_t> live = model_.live();
  for (uint32_t id : live) {
    if (!model_.InM(id) && !CheckObject(kOurs, id)) return false;
  }
  return true;
}

bool Executor::CheckGraph() {
  const std::vector<uint32_t> r = model_.reachable();
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
  return CheckBoehmVm();
}

void Executor::Collected(bool maybe_hidden) {
  if (!trace_.empty()) {
    Trace(Fmt("collected (explicit%s)", maybe_hidden ? ", maybe hidden" : ""));
  }
  if (maybe_hidden) {
    model_.CollectMaybeHidden();
  } else {
    Op collect;
    collect.op = OpKind::kCollect;
    Effects fx;
    model_.Apply(collect, &fx);
  }
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
    // (A finalizer or a pop may have stored an object into a slot.)
    bool slots_clear = true;
    for (uint32_t s = 0; s < kSlots; s++) {
      if (model_.slot(s).IsPtr()) slots_clear = false;
    }
    // (With the finalizer thread, what is queued runs there: the next
    // collection waits for it.)
    if (slots_clear && FinalDrainOps(model_).empty() &&
        model_.ready_queue().empty() && model_.cleanup_queue().empty() &&
        model_.Decide().ready.empty()) {
      break;
    }
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
// How the executor meets the heap's API (runtime/gc.h): FinalizerData /
// CleanupData are the data arguments of gc_register_finalizer,
// gc_guardian_register (no callback) and gc_add_cleanup; OnFinalizer /
// OnCleanup the callbacks; HandlePop takes what gc_guardian_pop returned;
// CheckRead what gc_weak_get, gc_weak_load, gc_ephemeron_key and
// gc_ephemeron_value returned. The model decides; these only compare and
// mirror.

void* Executor::FinalizerData(uint32_t id) {
  const ObjModel* o = model_.Get(id);
  fin_tags_.push_back(FinalizerTag{this, id, o->reg.serial, st_[id].ours,
                                   Stamp(tag_, id),
                                   o->kind != Kind::kEphemeron});
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

template <typename Fn>
void Executor::AsCallback(gc_mutator* m, Fn fn) {
  gc_enter_blocking(m);
  graph_mu_->lock();
  gc_leave_blocking(m);
  gc_mutator* const owner = m_;
  if (m != owner) foreign_calls_++;
  m_ = m;
  fn();
  m_ = owner;
  graph_mu_->unlock();
}

void Executor::OnFinalizer(gc_mutator* m, void* obj, void* data) {
  const auto* t = static_cast<const FinalizerTag*>(data);
  Executor* ex = t->ex;
  if (ex->graph_mu_ != nullptr) {
    // (The entry stays a root until this returns: the object is intact.)
    ex->AsCallback(m, [&] { ex->HandleFinalizer(obj, *t, false); });
    return;
  }
  if (ex->model_.finalizer_thread()) {
    // The program's thread owns the model: log, check in DrainCalls. The
    // object is not freed before this returns (the queue holds it).
    const bool stamp_ok =
        obj == t->obj &&
        (!t->has_stamp || *static_cast<const uint64_t*>(obj) == t->stamp);
    std::lock_guard<std::mutex> g(ex->calls_mu_);
    ex->calls_.push_back(Call{false, stamp_ok, obj, t});
    return;
  }
  ex->HandleFinalizer(obj, *t, /*checked=*/false);
}

void Executor::OnCleanup(gc_mutator* m, void* arg) {
  const auto* t = static_cast<const CleanupTag*>(arg);
  Executor* ex = t->ex;
  if (ex->graph_mu_ != nullptr) {
    ex->AsCallback(m, [&] { ex->HandleCleanup(*t); });
    return;
  }
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
  if (!trace_.empty()) {
    Trace(Fmt("finalizer call: object %u registration %u", t.id, t.serial));
  }
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
  if (!trace_.empty()) Trace(Fmt("cleanup call: token %" PRIu64, t.token));
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
  if (!trace_.empty()) Trace(Fmt("guardian %u pop: object %u", g, id));
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
                         bool* saw_null, bool check_target) {
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
  return !check_target || !e.ref.IsPtr() || CheckObject(kOurs, e.ref.id);
}

// ---- the VM ops on the heap (issue 12, phase 2)
// ----------------------------------------

bool Executor::Read(const Effects& fx, void* got, const char* what,
                    bool* saw_null) {
  result_.stats.weak_reads++;
  // (The mutator's barrier flag: on while a concurrent cycle marks.)
  const bool marking =
      __atomic_load_n(&reinterpret_cast<gc_mutator_head_*>(m_)->wb_enabled,
                      __ATOMIC_RELAXED) != 0;
  if (marking) result_.stats.reads_marking++;
  if (!CheckRead(fx.expect, got, what, saw_null, /*check_target=*/true)) {
    return false;
  }
  const uint32_t id = IdAt(got);
  if (marking && hold_reads_ && id != 0 && nholds_ < kHolds) {
    // The cycle now marking is the next to complete (or, if it has ended
    // since, an earlier one: then the hold is settled at once).
    hold_[nholds_] = Hold{id, CompletedCycles() + 1};
    holds_[nholds_++] = got;
  }
  return true;
}

uint64_t Executor::CompletedCycles() {
  gc_stats st;
  st.struct_size = sizeof(st);
  gc_get_stats(heap_, &st);
  return st.cycles;
}

bool Executor::SettleHolds(bool wait) {
  for (int spins = 0; nholds_ > 0; spins++) {
    const uint64_t done = CompletedCycles();
    int keep = 0;
    for (int i = 0; i < nholds_; i++) {
      const Hold h = hold_[i];
      void* obj = holds_[i];
      if (done < h.cycle) {
        hold_[keep] = h;
        holds_[keep++] = obj;
        continue;
      }
      // Still an object of this heap (a freed slot is refused), and its
      // identity stamp is intact.
      gc_weak* w = gc_weak_create(m_, obj, GC_WEAK_SHORT);
      const ObjModel* o = model_.Get(h.id);
      const bool stamp_ok = o->kind == Kind::kEphemeron ||
                            LoadWord(obj, o->bytes, 0) == Stamp(tag_, h.id);
      if (w != nullptr) gc_weak_destroy(m_, w);
      if (w == nullptr || !stamp_ok) {
        return Fail("weak_read",
                    Fmt("a weak read during marking returned %s, which the "
                        "cycle then freed (%s)",
                        Describe(h.id).c_str(),
                        w == nullptr ? gc_last_error() : "stamp overwritten"));
      }
      result_.stats.holds_checked++;
    }
    for (int i = keep; i < nholds_; i++) holds_[i] = nullptr;
    nholds_ = keep;
    if (!wait || nholds_ == 0) return true;
    if (spins > 30000) {
      return Fail("harness", "the cycle a weak read met did not end in 30 s");
    }
    gc_enter_blocking(m_);
    usleep(1000);
    gc_leave_blocking(m_);
  }
  return true;
}

bool Executor::Register(uint32_t id, uint8_t mode, bool guardian, uint8_t g) {
  void* obj = st_[id].ours;
  const int rc = guardian ? gc_guardian_register(m_, guardians_[g], obj, mode)
                          : gc_register_finalizer(m_, obj, &OnFinalizer,
                                                  FinalizerData(id), mode);
  if (rc != 0) {
    return Fail("finalizer",
                Fmt("%s(%s) returned %d: %s",
                    guardian ? "gc_guardian_register" : "gc_register_finalizer",
                    Describe(id).c_str(), rc, gc_last_error()));
  }
  if (boehm_) BoehmRegister(id, mode);
  return true;
}

bool Executor::StepVm(const Op& op, const Effects& fx) {
  auto addr = [&](uint32_t id) { return id != 0 ? st_[id].ours : nullptr; };
  bool saw_null = false;
  switch (op.op) {
    case OpKind::kWeakCreate: {
      result_.stats.weak_ops++;
      gc_weak*& w = cells_[op.field];
      if (fx.replaced_handle) gc_weak_destroy(m_, w);
      w = gc_weak_create(m_, addr(op.target), op.mode);
      if (w == nullptr) {
        return Fail("weak", Fmt("gc_weak_create(%s) returned NULL: %s",
                                Describe(op.target).c_str(), gc_last_error()));
      }
      if (boehm_) BoehmLink(op.field);
      return true;
    }
    case OpKind::kWeakGet:
      result_.stats.weak_ops++;
      if (!Read(fx, gc_weak_get(m_, cells_[op.field]),
                Fmt("gc_weak_get(wslot %u)", op.field).c_str(), &saw_null)) {
        return false;
      }
      if (saw_null) model_.ObserveHandleNull(op.field);
      break;
    case OpKind::kWeakSet:
      result_.stats.weak_ops++;
      gc_weak_set(m_, cells_[op.field], addr(op.target));
      if (boehm_) BoehmLink(op.field);
      return true;
    case OpKind::kWeakDestroy:
      result_.stats.weak_ops++;
      gc_weak_destroy(m_, cells_[op.field]);
      cells_[op.field] = nullptr;
      if (boehm_) BoehmLink(op.field);
      return true;
    case OpKind::kWeakStore:
    case OpKind::kWeakLoad: {
      result_.stats.weak_ops++;
      void* obj = st_[op.id].ours;
      void** slot = reinterpret_cast<void**>(static_cast<char*>(obj) +
                                             8 * WeakFieldWord(op.field));
      if (op.op == OpKind::kWeakStore) {
        gc_weak_store(m_, obj, slot, addr(op.target));
        return true;
      }
      if (!Read(fx, gc_weak_load(m_, obj, slot),
                Fmt("gc_weak_load(%u, slot %u)", op.id, op.field).c_str(),
                &saw_null)) {
        return false;
      }
      if (saw_null) model_.ObserveWeakFieldNull(op.id, op.field);
      break;
    }
    case OpKind::kEphNew:
      result_.stats.eph_ops++;
      if (!NewObject(op.id, Kind::kEphemeron, kEphemeronBytes)) {
        if (!result_.ok) return false;
        DropPlacement(fx);
        return true;
      }
      return Place(op.id, fx);
    case OpKind::kEphGet: {
      result_.stats.eph_ops++;
      void* e = st_[op.id].ours;
      void* got = op.mode == kEphReadKey     ? gc_ephemeron_key(m_, e)
                  : op.mode == kEphReadValue ? gc_ephemeron_value(m_, e)
                                             : gc_ephemeron_next(m_, e);
      static const char* const kWhat[] = {
          "gc_ephemeron_key", "gc_ephemeron_value", "gc_ephemeron_next"};
      if (!Read(fx, got, Fmt("%s(%u)", kWhat[op.mode], op.id).c_str(),
                &saw_null)) {
        return false;
      }
      if (saw_null) model_.ObserveEphCleared(op.id);
      break;
    }
    case OpKind::kEphSetValue:
    case OpKind::kEphSetNext:
    case OpKind::kEphClear: {
      result_.stats.eph_ops++;
      void* e = st_[op.id].ours;
      void** b = boehm_ ? static_cast<void**>(st_[op.id].boehm) : nullptr;
      if (op.op == OpKind::kEphSetValue) {
        gc_ephemeron_set_value(m_, e, addr(op.target));
        if (b != nullptr) b[1] = op.target ? st_[op.target].boehm : nullptr;
      } else if (op.op == OpKind::kEphSetNext) {
        gc_ephemeron_set_next(m_, e, addr(op.target));
        if (b != nullptr) b[2] = op.target ? st_[op.target].boehm : nullptr;
      } else {
        gc_ephemeron_clear(m_, e);
        if (b != nullptr) b[1] = nullptr;
      }
      return true;
    }
    case OpKind::kEphChain:
      result_.stats.eph_ops++;
      return EphChain(op, fx);
    case OpKind::kFinReg:
      result_.stats.fin_ops++;
      return Register(op.id, op.mode, false, 0);
    case OpKind::kFinUnreg:
      result_.stats.fin_ops++;
      if (gc_register_finalizer(m_, st_[op.id].ours, nullptr, nullptr, 0) !=
          0) {
        return Fail("finalizer", Fmt("gc_register_finalizer(%s, NULL): %s",
                                     Describe(op.id).c_str(), gc_last_error()));
      }
      if (boehm_) {
        boehm::RegisterFinalizer(st_[op.id].boehm, 0, nullptr, nullptr);
        boehm_serial_.erase(op.id);
      }
      return true;
    case OpKind::kFinChain:
      result_.stats.fin_ops++;
      return FinChain(op, fx);
    case OpKind::kGuardReg:
      result_.stats.fin_ops++;
      return Register(op.id, op.mode, true, op.guardian);
    case OpKind::kGuardPop:
      result_.stats.fin_ops++;
      return HandlePop(op.guardian,
                       gc_guardian_pop(m_, guardians_[op.guardian]), op.slot);
    case OpKind::kCleanupAdd: {
      result_.stats.fin_ops++;
      gc_cleanup* c = gc_add_cleanup(m_, st_[op.id].ours, &OnCleanup,
                                     CleanupData(op.value));
      if (c == nullptr) {
        return Fail("cleanup", Fmt("gc_add_cleanup(%s): %s",
                                   Describe(op.id).c_str(), gc_last_error()));
      }
      cleanup_handles_[op.value] = c;
      return true;
    }
    case OpKind::kCleanupCancel: {
      result_.stats.fin_ops++;
      auto it = cleanup_handles_.find(op.value);
      gc_cancel_cleanup(m_, it->second);
      cleanup_handles_.erase(it);
      return true;
    }
    case OpKind::kAllocInit: {
      // The initializing stores of issue 12's rule: the object was
      // allocated since this thread's last safepoint (NewObject makes no
      // heap call after gc_alloc), so its pointer fields are written with
      // plain stores, no barrier, before anything else happens.
      result_.stats.init_stores++;
      if (!NewObject(op.id, Kind::kSmall3, kSmall3Bytes)) {
        if (!result_.ok) return false;
        DropPlacement(fx);
        return true;
      }
      const ObjModel* o = model_.Get(op.id);
      for (uint32_t f = 0; f < 2; f++) {
        const uint32_t w = FieldWord(Kind::kSmall3, f);
        static_cast<void**>(st_[op.id].ours)[w] =
            reinterpret_cast<void*>(RefValue(kOurs, o->fields[f]));
        if (boehm_) {
          static_cast<void**>(st_[op.id].boehm)[w] =
              reinterpret_cast<void*>(RefValue(kBoehm, o->fields[f]));
        }
      }
      return Place(op.id, fx);
    }
    case OpKind::kRunFinalizers:
      result_.stats.fin_ops++;
      return RunQueued();
    default:
      return Fail("harness", "unknown op " + FormatOp(op));
  }
  // A read: its result goes into a slot where the model put it.
  if (fx.store_slot != kNoSlot)
    SetSlot(fx.store_slot, model_.slot(fx.store_slot));
  return true;
}

bool Executor::RunQueued() {
  model_.BeginRun();
  RunFinalizersCall();
  if (!result_.ok) return false;
  return EndRun();
}

bool Executor::PopAll() {
  for (uint32_t g = 0; g < kGuardians; g++) {
    for (;;) {
      void* obj = gc_guardian_pop(m_, guardians_[g]);
      if (!HandlePop(g, obj, kNoSlot)) return false;
      if (obj == nullptr) break;
    }
  }
  return true;
}

bool Executor::EndRun() {
  std::string why;
  if (!model_.EndRun(&why)) return Fail("finalizer", why);
  for (auto it = cleanup_handles_.begin(); it != cleanup_handles_.end();) {
    const auto c = model_.cleanups().find(it->first);
    if (c != model_.cleanups().end() &&
        c->second.state == Model::Cleanup::kRan) {
      it = cleanup_handles_.erase(it);
    } else {
      ++it;
    }
  }
  return true;
}

// An ephemeron chain: keys K_i (Small3) and E_i = (K_i, K_i+1), linked by
// next. Every object built so far stays held until the head is placed: K_0
// in scratch root 0 (each K_i after it is E_i-1's value, kept through the
// ephemeron rule), K_i+1 in scratch root 1 while E_i is made, the first and
// the last ephemeron in scratch roots 2 and 3 (the rest through next).
void Executor::HoldScratch(int i, uint32_t id) {
  scratch_[i] = id != 0 ? st_[id].ours : nullptr;
  if (bscratch_ != nullptr) bscratch_[i] = id != 0 ? st_[id].boehm : nullptr;
}

void Executor::ClearScratch() {
  for (int i = 0; i < kScratch; i++) HoldScratch(i, 0);
}

void Executor::MaybeCollectBoehmInChain() {
  if (boehm_ && opts_.boehm_collect_in_chains) boehm::Collect();
}

bool Executor::EphChain(const Op& op, const Effects& fx) {
  const uint32_t n = op.count;
  const bool reversed = (op.value & kEphChainReversed) != 0;
  auto key = [&](uint32_t i) { return op.id + 2 * i; };
  auto eph = [&](uint32_t i) { return op.id + 2 * i + 1; };
  bool ok = NewObject(key(0), Kind::kSmall3, kSmall3Bytes);
  if (ok) HoldScratch(0, key(0));
  for (uint32_t i = 0; ok && i < n; i++) {
    MaybeCollectBoehmInChain();
    if (i + 1 < n) {
      ok = NewObject(key(i + 1), Kind::kSmall3, kSmall3Bytes);
      if (!ok) break;
      HoldScratch(1, key(i + 1));
      MaybeCollectBoehmInChain();
    }
    ok = NewObject(eph(i), Kind::kEphemeron, kEphemeronBytes);
    if (!ok) break;
    if (i > 0) {
      // Link with the previous one (forward: prev.next = this).
      const uint32_t from = reversed ? eph(i) : eph(i - 1);
      const uint32_t to = reversed ? eph(i - 1) : eph(i);
      gc_ephemeron_set_next(m_, st_[from].ours, st_[to].ours);
      if (boehm_) static_cast<void**>(st_[from].boehm)[2] = st_[to].boehm;
    } else {
      HoldScratch(2, eph(0));
    }
    HoldScratch(3, eph(i));
    HoldScratch(1, 0);  // K_i+1 is E_i's value now
  }
  if (ok) {
    const uint32_t head = reversed ? eph(n - 1) : eph(0);
    Place(head, fx);
    if (op.slot2 != kNoSlot && model_.slot(op.slot2).id == key(0)) {
      Ref r;
      r.id = key(0);
      SetSlot(op.slot2, r);
    }
  }
  ClearScratch();
  if (!ok && result_.ok) {
    return Fail("harness", "an allocation failed in an ephemeron chain");
  }
  return ok;
}

// A chain of finalizable Small3 nodes, linked by field 0 (field 1 of the
// last to the first for a cycle, field 2 to itself for self-pointers), each
// registered; the first and the last node are held in scratch roots until
// the first is placed.
bool Executor::FinChain(const Op& op, const Effects& fx) {
  const bool guardian = (op.value & kFinChainGuardian) != 0;
  bool ok = true;
  for (uint32_t i = 0; ok && i < op.count; i++) {
    const uint32_t id = op.id + i;
    MaybeCollectBoehmInChain();
    ok = NewObject(id, Kind::kSmall3, kSmall3Bytes);
    if (!ok) break;
    Ref r;
    r.id = id;
    if (i == 0) {
      HoldScratch(0, id);
    } else {
      StoreRefInField(id - 1, 0, r);
    }
    HoldScratch(1, id);
    if (op.value & kFinChainSelf) StoreRefInField(id, 2, r);
  }
  if (ok && (op.value & kFinChainCycle)) {
    Ref r;
    r.id = op.id;
    StoreRefInField(op.id + op.count - 1, 1, r);
  }
  for (uint32_t i = 0; ok && i < op.count; i++) {
    const ObjModel* o = model_.Get(op.id + i);
    ok = Register(op.id + i, o->reg.mode, guardian, o->reg.guardian_index);
  }
  if (ok) Place(op.id, fx);
  ClearScratch();
  if (!ok && result_.ok) {
    return Fail("harness", "an allocation failed in a finalizable chain");
  }
  return ok;
}

// An automatic cycle may have queued objects the model still counts as
// registered: in the heap they are roots, so what only they reach is
// strongly reachable at the next collection, which the model cannot know.
// Before an explicit collection the executor therefore runs one full
// collection the model sees as automatic (it also waits for a cycle in
// progress), then runs every queued finalizer and cleanup and pops every
// guardian (each checked by the model's rules for automatic cycles:
// ready now, in Boehm's order), so the collection starts with no queue the
// model does not know. Nothing allocates in between, so no cycle can
// start meanwhile.
bool Executor::DrainAutoQueues() {
  bool any = !model_.cleanups().empty() || !model_.ready_queue().empty();
  for (uint32_t id : model_.registered()) {
    if (model_.Get(id)->registered) any = true;
  }
  for (uint32_t g = 0; g < kGuardians; g++) {
    if (!model_.guardian_queue(g).empty()) any = true;
  }
  if (!any) return true;
  gc_collect(m_);
  result_.stats.drains++;
  // (One run for the model: what the flush queued is judged by the state
  // before any of it ran.)
  model_.BeginRun();
  RunFinalizersCall();
  if (!result_.ok) return false;
  return PopAll() && EndRun();
}

bool Executor::WaitForQueuedCalls() {
  for (int i = 0;; i++) {
    if (!DrainCalls()) return false;
    if (model_.ready_queue().empty() && model_.cleanup_queue().empty()) {
      return true;
    }
    if (i > 30000) {
      return Fail(
          "finalizer",
          Fmt("the finalizer thread did not run %zu queued "
              "finalizers and %zu cleanups within 30 s",
              model_.ready_queue().size(), model_.cleanup_queue().size()));
    }
    gc_enter_blocking(m_);
    usleep(1000);
    gc_leave_blocking(m_);
  }
}

void Executor::DestroyVm(gc_mutator* m) {
  if (heap_ == nullptr || m == nullptr) return;
  for (gc_weak*& w : cells_) {
    if (w != nullptr) gc_weak_destroy(m, w);
    w = nullptr;
  }
  for (gc_guardian*& g : guardians_) {
    if (g != nullptr) gc_guardian_destroy(g);
    g = nullptr;
  }
}

// ---- Boehm's side of finalization and weak handles --------------------------
//
// Boehm gets the same registrations (its ordered, _no_order and
// _ignore_self finalizers, in Java mode, run on demand) and a short or long
// disappearing link per weak handle. Its finalizer keeps the object (an
// uncollectable array) until our model frees it, so Boehm never keeps less
// than we do. Without automatic cycles of ours (every decision of ours is
// an explicit collection the model knows), CheckBoehmVm then checks after
// each collection that whatever Boehm finalized we made ready (with the
// same registration), and whatever link Boehm cleared we cleared; Boehm
// doing less is its conservative retention, counted.

void Executor::BoehmRegister(uint32_t id, uint8_t mode) {
  // An ephemeron's pointers to itself count for ignore-self too (ours,
  // runtime/gc.h): Boehm's plain ordered finalizer does the same.
  if (model_.Get(id)->kind == Kind::kEphemeron && mode == kFinIgnoreSelf) {
    mode = kFinOrdered;
  }
  boehm_tags_.push_back(BoehmTag{this, id});
  boehm::RegisterFinalizer(st_[id].boehm, mode, &OnBoehmFinalizer,
                           &boehm_tags_.back());
  boehm_serial_[id] = model_.Get(id)->reg.serial;
}

void Executor::OnBoehmFinalizer(void* obj, void* data) {
  const auto* t = static_cast<const BoehmTag*>(data);
  Executor* ex = t->ex;
  if (ex->boehm_dying_) return;
  ex->boehm_finalized_.push_back(t->id);
  // Keep it while our model may: released in ProcessFrees.
  uint32_t slot;
  if (!ex->bkeep_free_.empty()) {
    slot = ex->bkeep_free_.back();
    ex->bkeep_free_.pop_back();
  } else if (ex->bkeep_used_ < kMaxBoehmKept) {
    slot = ex->bkeep_used_++;
  } else {
    ex->Fail("harness", "more Boehm-finalized objects than kMaxBoehmKept");
    return;
  }
  ex->bkeep_[slot] = obj;
  ex->bkeep_slot_[t->id] = slot;
}

void Executor::BoehmLink(uint32_t w) {
  if (blink_registered_[w]) {
    if (blink_kind_[w] == kWeakLong) {
      boehm::UnregisterLongLink(&blinks_[w]);
    } else {
      boehm::UnregisterLink(&blinks_[w]);
    }
    blink_registered_[w] = false;
  }
  blinks_[w] = nullptr;
  blink_gen_[w]++;
  if (!model_.HasHandle(w)) return;
  const WeakCell& c = model_.handle(w);
  if (c.target == 0) return;
  void* q = st_[c.target].boehm;
  blinks_[w] = reinterpret_cast<void*>(~reinterpret_cast<uintptr_t>(q));
  blink_target_[w] = c.target;
  blink_kind_[w] = c.kind;
  blink_registered_[w] = c.kind == kWeakLong
                             ? boehm::RegisterLongLink(&blinks_[w], q)
                             : boehm::RegisterLink(&blinks_[w], q);
}

bool Executor::CheckBoehmVm() {
  for (const auto& r : model_.last_ready()) made_ready_.insert(r);
  boehm::InvokeFinalizers();
  if (!result_.ok) return false;
  for (uint32_t id : boehm_finalized_) {
    auto b = boehm_serial_.find(id);
    if (b == boehm_serial_.end()) continue;
    boehm_pending_.insert({id, b->second});
    boehm_serial_.erase(b);
  }
  boehm_finalized_.clear();
  for (uint32_t w = 0; w < kWeakCells; w++) {
    if (!blink_registered_[w] || blinks_[w] != nullptr) continue;
    blink_registered_[w] = false;
    blink_pending_.emplace_back(w, blink_gen_[w]);
  }
  return MatchBoehmVm();
}

// While Boehm's finalization history is ours (it finalized everything we
// made ready), its marking keeps at least what ours does, so whatever it
// finalizes (at this collection or an automatic one of its own since) we
// must have made ready, and whatever link it clears we must have cleared.
// Once its conservative scan keeps back something we finalized or cleared,
// its queues differ from ours (an object we queued is a root here, not
// there) and later decisions may legitimately differ: the comparison stops
// for the rest of the program (counted). Only for programs without
// automatic cycles of ours (then every decision of ours is one the model
// knows).
bool Executor::MatchBoehmVm() {
  if (model_.auto_cycles() || !boehm_synced_) {
    boehm_pending_.clear();
    blink_pending_.clear();
    return true;
  }
  for (const auto& f : boehm_pending_) {
    auto r = made_ready_.find(f);
    if (r == made_ready_.end()) {
      return Fail("boehm_finalizer",
                  Fmt("Boehm finalized %s (registration %u), which no "
                      "collection of ours found ready",
                      Describe(f.first).c_str(), f.second));
    }
    made_ready_.erase(r);
    result_.stats.boehm_fin_agree++;
  }
  boehm_pending_.clear();
  for (const auto& [w, gen] : blink_pending_) {
    if (gen != blink_gen_[w]) continue;  // retargeted since
    if (model_.HasHandle(w) && model_.handle(w).target != 0) {
      return Fail("boehm_link",
                  Fmt("Boehm cleared its %s link to %s (weak handle %u), but "
                      "ours still holds it",
                      blink_kind_[w] == kWeakLong ? "long" : "short",
                      Describe(blink_target_[w]).c_str(), w));
    }
    result_.stats.boehm_link_agree++;
  }
  blink_pending_.clear();
  bool lag = !made_ready_.empty();
  for (uint32_t w = 0; w < kWeakCells; w++) {
    if (blink_registered_[w] &&
        (!model_.HasHandle(w) || model_.handle(w).target == 0)) {
      lag = true;
    }
  }
  if (lag) {
    boehm_synced_ = false;
    result_.stats.boehm_diverged++;
  }
  return true;
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
  ex.stats().vm = ex.model().vm_counts();
  return ex.result();
}

}  // namespace gcheap::oracle
