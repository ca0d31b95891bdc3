#include "tests/oracle/ops.h"

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace gcheap::oracle {

namespace {

constexpr const char* kOpNames[] = {
    "alloc",       "store",    "storeimm",    "rootset",    "rootadd",
    "rootremove",  "rangeadd", "rangeremove", "scanneradd", "scannerremove",
    "settracen",   "touch",    "touchaddr",   "chain",      "collect",
    "tinygarbage", "reattach", "churn",
};
static_assert(sizeof(kOpNames) / sizeof(kOpNames[0]) ==
              static_cast<size_t>(OpKind::kNumOpKinds));

// Which fields an op kind uses (for the text form).
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
    case OpKind::kCollect:
    case OpKind::kReattach:
    case OpKind::kNumOpKinds:
      return 0;
  }
  return 0;
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

}  // namespace

const char* OpName(OpKind k) { return kOpNames[static_cast<int>(k)]; }

bool Op::operator==(const Op& o) const {
  return op == o.op && kind == o.kind && id == o.id && field == o.field &&
         target == o.target && slot == o.slot && count == o.count &&
         off == o.off && value == o.value;
}

std::string FormatOp(const Op& op) {
  std::string s = OpName(op.op);
  const uint32_t f = FieldsOf(op.op);
  char buf[64];
  auto add = [&](const char* name, uint64_t v) {
    snprintf(buf, sizeof(buf), " %s=%" PRIu64, name, v);
    s += buf;
  };
  if (f & kFId) add("id", op.id);
  if (f & kFKind) {
    s += " kind=";
    s += KindName(op.kind);
  }
  if (f & kFBytes) add("bytes", op.value);
  const bool parented = op.op == OpKind::kAlloc || op.op == OpKind::kChain;
  if (f & kFTarget) {
    if (!parented)
      add("target", op.target);
    else if (op.target != 0)
      add("parent", op.target);
  }
  if ((f & kFField) && (!parented || op.target != 0)) add("field", op.field);
  if ((f & kFSlot) && op.slot != kNoSlot) add("slot", op.slot);
  if (f & kFCount) add("count", op.count);
  if ((f & kFOff) && op.off != 0) add("off", op.off);
  if (f & kFValue) {
    snprintf(buf, sizeof(buf), " value=0x%" PRIx64, op.value);
    s += buf;
  }
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
    uint64_t v;
    if (!ParseU64(val, &v)) {
      *error = "bad number '" + std::string(val) + "'";
      return false;
    }
    if (key == "id")
      op.id = static_cast<uint32_t>(v);
    else if (key == "field")
      op.field = static_cast<uint32_t>(v);
    else if (key == "target" || key == "parent")
      op.target = static_cast<uint32_t>(v);
    else if (key == "slot")
      op.slot = static_cast<uint32_t>(v);
    else if (key == "count")
      op.count = static_cast<uint32_t>(v);
    else if (key == "off")
      op.off = static_cast<uint32_t>(v);
    else if (key == "value" || key == "bytes")
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
           " stw=%d max_heap=%" PRIu64 " tag_mask=%d tag=%u ops=%zu\n",
           p.seed, p.config.workers, p.config.verify, p.config.gc_percent,
           p.config.memory_limit, p.config.stw, p.config.max_heap,
           p.config.tag_mask, p.config.tag, p.ops.size());
  std::string s = buf;
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
