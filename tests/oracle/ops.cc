#include "tests/oracle/ops.h"

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace gcheap::oracle {

namespace {

constexpr const char* kOpNames[] = {
    "alloc",         "store",         "storeimm",    "rootset",
    "rootadd",       "rootremove",    "rangeadd",    "rangeremove",
    "scanneradd",    "scannerremove", "settracen",   "touch",
    "touchaddr",     "chain",         "collect",     "tinygarbage",
    "reattach",      "churn",         "weakcreate",  "weakget",
    "weakset",       "weakdestroy",   "weakstore",   "weakload",
    "ephnew",        "ephget",        "ephsetvalue", "ephsetnext",
    "ephclear",      "ephchain",      "finreg",      "finunreg",
    "finchain",      "guardreg",      "guardpop",    "cleanupadd",
    "cleanupcancel", "runfinalizers", "allocinit",
};
static_assert(sizeof(kOpNames) / sizeof(kOpNames[0]) ==
              static_cast<size_t>(OpKind::kNumOpKinds));

// Mode names, by what the mode means for the op.
constexpr const char* kWeakModeNames[] = {"short", "long"};
constexpr const char* kFinModeNames[] = {"ordered", "unordered", "ignoreself"};
constexpr const char* kEphModeNames[] = {"key", "value", "next"};

// Which fields an op kind uses (for the text form). They are printed in
// the order of the bits.
enum : uint32_t {
  kFId = 1,
  kFKind = 2,
  kFField = 4,
  kFTarget = 8,
  kFSlot = 16,
  kFCount = 32,
  kFOff = 64,
  kFValue = 128,
  kFBytes = 256,  // value printed as bytes=
  // VM ops:
  kFWeakMode = 1 << 9,    // mode= short / long
  kFFinMode = 1 << 10,    // mode= ordered / unordered / ignoreself
  kFEphMode = 1 << 11,    // mode= key / value / next
  kFWslot = 1 << 12,      // field printed as wslot=
  kFGuardian = 1 << 13,   // guardian=
  kFKey = 1 << 14,        // key=, val=
  kFResurrect = 1 << 15,  // slot2 printed as resurrect= (if set)
  kFKslot = 1 << 16,      // slot2 printed as kslot= (if set)
  kFToken = 1 << 17,      // value printed as token=
  kFFlags = 1 << 18,      // value printed as flags=
  kFImm = 1 << 19,        // value printed as value= only if nonzero
};

uint32_t FieldsOf(OpKind k) {
  switch (k) {
    case OpKind::kAlloc:
      return kFId | kFKind | kFBytes | kFTarget | kFField | kFSlot;
    case OpKind::kStore:
      return kFId | kFField | kFTarget | kFOff;
    case OpKind::kStoreImm:
      return kFId | kFField | kFValue;
    case OpKind::kRootSet:
      return kFSlot | kFTarget | kFOff;
    case OpKind::kRootAdd:
    case OpKind::kRootRemove:
    case OpKind::kScannerAdd:
    case OpKind::kScannerRemove:
      return kFSlot;
    case OpKind::kRangeAdd:
    case OpKind::kRangeRemove:
      return kFSlot | kFCount;
    case OpKind::kSetTraceN:
      return kFId | kFCount;
    case OpKind::kTouch:
      return kFId | kFField | kFValue;
    case OpKind::kTouchAddr:
      return kFId | kFField | kFTarget;
    case OpKind::kChain:
      return kFId | kFCount | kFTarget | kFField | kFSlot | kFValue;
    case OpKind::kTinyGarbage:
      return kFCount;
    case OpKind::kChurn:
      return kFKind | kFCount | kFBytes;
    case OpKind::kWeakCreate:
      return kFWslot | kFTarget | kFWeakMode;
    case OpKind::kWeakGet:
      return kFWslot | kFSlot;
    case OpKind::kWeakSet:
      return kFWslot | kFTarget;
    case OpKind::kWeakDestroy:
      return kFWslot;
    case OpKind::kWeakStore:
      return kFId | kFField | kFTarget;
    case OpKind::kWeakLoad:
      return kFId | kFField | kFSlot;
    case OpKind::kEphNew:
      return kFId | kFKey | kFImm | kFTarget | kFField | kFSlot;
    case OpKind::kAllocInit:
      return kFId | kFKey | kFTarget | kFField | kFSlot;
    case OpKind::kEphGet:
      return kFId | kFEphMode | kFSlot;
    case OpKind::kEphSetValue:
    case OpKind::kEphSetNext:
      return kFId | kFTarget;
    case OpKind::kEphClear:
    case OpKind::kFinUnreg:
      return kFId;
    case OpKind::kEphChain:
      return kFId | kFCount | kFFlags | kFKslot | kFTarget | kFField | kFSlot;
    case OpKind::kFinReg:
      return kFId | kFFinMode | kFResurrect;
    case OpKind::kFinChain:
      return kFId | kFCount | kFFinMode | kFFlags | kFGuardian | kFResurrect |
             kFTarget | kFField | kFSlot;
    case OpKind::kGuardReg:
      return kFId | kFGuardian | kFFinMode;
    case OpKind::kGuardPop:
      return kFGuardian | kFSlot;
    case OpKind::kCleanupAdd:
      return kFId | kFToken;
    case OpKind::kCleanupCancel:
      return kFToken;
    case OpKind::kCollect:
    case OpKind::kReattach:
    case OpKind::kRunFinalizers:
    case OpKind::kNumOpKinds:
      return 0;
  }
  return 0;
}

// Ops whose target is a parent (printed as parent=, with field=, only when
// set): the new object goes into parent.field, or a slot, or nowhere.
bool Parented(OpKind k) {
  return k == OpKind::kAlloc || k == OpKind::kChain || k == OpKind::kEphNew ||
         k == OpKind::kAllocInit ||
         k == OpKind::kEphChain || k == OpKind::kFinChain;
}

bool ParseU64(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 24) return false;
  char buf[32];
  memcpy(buf, s.data(), s.size());
  buf[s.size()] = '\0';
  char* end = nullptr;
  unsigned long long v = strtoull(buf, &end, 0);
  if (end != buf + s.size()) return false;
  *out = v;
  return true;
}

// A mode given by name (any of the three name sets: they are distinct).
bool ParseModeName(std::string_view s, uint8_t* out) {
  auto find = [&](const char* const* names, size_t n) {
    for (size_t i = 0; i < n; i++) {
      if (s == names[i]) {
        *out = static_cast<uint8_t>(i);
        return true;
      }
    }
    return false;
  };
  return find(kWeakModeNames, std::size(kWeakModeNames)) ||
         find(kFinModeNames, std::size(kFinModeNames)) ||
         find(kEphModeNames, std::size(kEphModeNames));
}

}  // namespace

const char* OpName(OpKind k) { return kOpNames[static_cast<int>(k)]; }

bool Op::operator==(const Op& o) const {
  return op == o.op && kind == o.kind && mode == o.mode &&
         guardian == o.guardian && id == o.id && field == o.field &&
         target == o.target && slot == o.slot && count == o.count &&
         off == o.off && value == o.value && key == o.key && val == o.val &&
         slot2 == o.slot2;
}

bool IsVmOp(const Op& op) {
  if (op.op >= OpKind::kWeakCreate && op.op < OpKind::kNumOpKinds) return true;
  return (op.op == OpKind::kAlloc || op.op == OpKind::kChurn) &&
         IsVmKind(op.kind);
}

std::string FormatOp(const Op& op) {
  std::string s = OpName(op.op);
  const uint32_t f = FieldsOf(op.op);
  char buf[64];
  auto add = [&](const char* name, uint64_t v) {
    snprintf(buf, sizeof(buf), " %s=%" PRIu64, name, v);
    s += buf;
  };
  auto add_hex = [&](const char* name, uint64_t v) {
    snprintf(buf, sizeof(buf), " %s=0x%" PRIx64, name, v);
    s += buf;
  };
  auto add_mode = [&](const char* const* names, size_t n) {
    s += " mode=";
    if (op.mode < n) {
      s += names[op.mode];
    } else {
      s += std::to_string(op.mode);
    }
  };
  if (f & kFWslot) add("wslot", op.field);
  if (f & kFId) add("id", op.id);
  if (f & kFKind) {
    s += " kind=";
    s += KindName(op.kind);
  }
  if (f & kFWeakMode) add_mode(kWeakModeNames, std::size(kWeakModeNames));
  if (f & kFFinMode) add_mode(kFinModeNames, std::size(kFinModeNames));
  if (f & kFEphMode) add_mode(kEphModeNames, std::size(kEphModeNames));
  if (f & kFGuardian) add("guardian", op.guardian);
  if (f & kFKey) {
    add("key", op.key);
    add("val", op.val);
  }
  if ((f & kFImm) && op.value != 0) add_hex("value", op.value);
  if (f & kFBytes) add("bytes", op.value);
  const bool parented = Parented(op.op);
  if (f & kFTarget) {
    if (!parented)
      add("target", op.target);
    else if (op.target != 0)
      add("parent", op.target);
  }
  if ((f & kFField) && (!parented || op.target != 0)) add("field", op.field);
  if ((f & kFSlot) && op.slot != kNoSlot) add("slot", op.slot);
  if ((f & kFResurrect) && op.slot2 != kNoSlot) add("resurrect", op.slot2);
  if ((f & kFKslot) && op.slot2 != kNoSlot) add("kslot", op.slot2);
  if (f & kFCount) add("count", op.count);
  if ((f & kFOff) && op.off != 0) add("off", op.off);
  if (f & kFValue) add_hex("value", op.value);
  if (f & kFFlags) add_hex("flags", op.value);
  if (f & kFToken) add("token", op.value);
  return s;
}

bool ParseOp(std::string_view line, Op* out, std::string* error) {
  Op op;
  while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) {
    line.remove_suffix(1);
  }
  size_t sp = line.find(' ');
  std::string_view name = line.substr(0, sp);
  bool found = false;
  for (int i = 0; i < static_cast<int>(OpKind::kNumOpKinds); i++) {
    if (name == kOpNames[i]) {
      op.op = static_cast<OpKind>(i);
      found = true;
    }
  }
  if (!found) {
    *error = "unknown op '" + std::string(name) + "'";
    return false;
  }
  std::string_view rest = sp == std::string_view::npos ? "" : line.substr(sp);
  while (!rest.empty()) {
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    if (rest.empty()) break;
    size_t end = rest.find(' ');
    std::string_view kv = rest.substr(0, end);
    rest = end == std::string_view::npos ? "" : rest.substr(end);
    size_t eq = kv.find('=');
    if (eq == std::string_view::npos) {
      *error = "expected key=value, got '" + std::string(kv) + "'";
      return false;
    }
    std::string_view key = kv.substr(0, eq), val = kv.substr(eq + 1);
    if (key == "kind") {
      if (!ParseKind(val, &op.kind)) {
        *error = "unknown kind '" + std::string(val) + "'";
        return false;
      }
      continue;
    }
    if (key == "mode" && ParseModeName(val, &op.mode)) continue;
    uint64_t v;
    if (!ParseU64(val, &v)) {
      *error = "bad number '" + std::string(val) + "'";
      return false;
    }
    if (key == "id")
      op.id = static_cast<uint32_t>(v);
    else if (key == "field" || key == "wslot")
      op.field = static_cast<uint32_t>(v);
    else if (key == "mode" && v < 256)
      op.mode = static_cast<uint8_t>(v);
    else if (key == "guardian" && v < 256)
      op.guardian = static_cast<uint8_t>(v);
    else if (key == "key")
      op.key = static_cast<uint32_t>(v);
    else if (key == "val")
      op.val = static_cast<uint32_t>(v);
    else if (key == "resurrect" || key == "kslot")
      op.slot2 = static_cast<uint32_t>(v);
    else if (key == "target" || key == "parent")
      op.target = static_cast<uint32_t>(v);
    else if (key == "slot")
      op.slot = static_cast<uint32_t>(v);
    else if (key == "count")
      op.count = static_cast<uint32_t>(v);
    else if (key == "off")
      op.off = static_cast<uint32_t>(v);
    else if (key == "value" || key == "bytes" || key == "flags" ||
             key == "token")
      op.value = v;
    else {
      *error = "unknown key '" + std::string(key) + "'";
      return false;
    }
  }
  *out = op;
  return true;
}

std::string FormatProgram(const Program& p) {
  char buf[256];
  snprintf(buf, sizeof(buf),
           "program seed=%" PRIu64
           " workers=%d verify=%d gc_percent=%d memory_limit=%" PRIu64
           " stw=%d max_heap=%" PRIu64 " tag_mask=%d tag=%u",
           p.seed, p.config.workers, p.config.verify, p.config.gc_percent,
           p.config.memory_limit, p.config.stw, p.config.max_heap,
           p.config.tag_mask, p.config.tag);
  std::string s = buf;
  // Only when set, so that programs without VM ops read as before.
  if (p.config.finalizer_thread != 0) {
    s += " finalizer_thread=" + std::to_string(p.config.finalizer_thread);
  }
  s += " ops=" + std::to_string(p.ops.size()) + "\n";
  for (const Op& op : p.ops) {
    s += FormatOp(op);
    s += '\n';
  }
  return s;
}

bool ParseProgram(std::string_view text, Program* p, std::string* error) {
  Program out;
  int lineno = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? "" : text.substr(nl + 1);
    lineno++;
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) {
      line.remove_prefix(1);
    }
    // Comments, and the cut marks of a failure report.
    if (line.empty() || line.front() == '#' || line.substr(0, 5) == "-----") {
      continue;
    }
    if (line.substr(0, 8) == "program ") {
      std::string_view rest = line.substr(8);
      while (!rest.empty()) {
        while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
        size_t end = rest.find(' ');
        std::string_view kv = rest.substr(0, end);
        rest = end == std::string_view::npos ? "" : rest.substr(end);
        size_t eq = kv.find('=');
        if (eq == std::string_view::npos) continue;
        std::string_view key = kv.substr(0, eq), val = kv.substr(eq + 1);
        uint64_t v = 0;
        bool neg = !val.empty() && val.front() == '-';
        if (!ParseU64(neg ? val.substr(1) : val, &v)) {
          *error = "line " + std::to_string(lineno) + ": bad number";
          return false;
        }
        int64_t sv = neg ? -static_cast<int64_t>(v) : static_cast<int64_t>(v);
        if (key == "seed")
          out.seed = v;
        else if (key == "workers")
          out.config.workers = static_cast<int>(sv);
        else if (key == "verify")
          out.config.verify = static_cast<int>(sv);
        else if (key == "gc_percent")
          out.config.gc_percent = static_cast<int>(sv);
        else if (key == "memory_limit")
          out.config.memory_limit = v;
        else if (key == "stw")
          out.config.stw = static_cast<int>(sv);
        else if (key == "max_heap")
          out.config.max_heap = v;
        else if (key == "tag_mask")
          out.config.tag_mask = static_cast<int>(sv);
        else if (key == "tag")
          out.config.tag = static_cast<uint32_t>(v);
        else if (key == "finalizer_thread")
          out.config.finalizer_thread = static_cast<int>(sv);
      }
      continue;
    }
    Op op;
    std::string e;
    if (!ParseOp(line, &op, &e)) {
      *error = "line " + std::to_string(lineno) + ": " + e;
      return false;
    }
    out.ops.push_back(op);
  }
  *p = std::move(out);
  return true;
}

}  // namespace gcheap::oracle
