#include "tests/oracle/minimize.h"

#include <algorithm>
#include <cstdio>
#include <unordered_map>

namespace gcheap::oracle {

namespace {

// How many ids an op allocates (from op.id on), or 0.
uint32_t IdsAllocated(const Op& op) {
  switch (op.op) {
    case OpKind::kAlloc:
    case OpKind::kEphNew:
    case OpKind::kAllocInit:
      return op.id != 0 ? 1 : 0;
    case OpKind::kChain:
    case OpKind::kFinChain:
      return op.count <= kMaxChain ? op.count : 0;
    case OpKind::kEphChain:
      return op.count <= kMaxChain ? 2 * op.count : 0;
    default:
      return 0;
  }
}

// Ops whose count can be halved (a shorter chain of the same shape).
bool Shrinkable(OpKind k) {
  return k == OpKind::kChain || k == OpKind::kFinChain ||
         k == OpKind::kEphChain;
}

}  // namespace

Program RenumberIds(const Program& p) {
  std::unordered_map<uint32_t, uint32_t> map;
  uint32_t next = 1;
  for (const Op& op : p.ops) {
    const uint32_t n = IdsAllocated(op);
    if (n == 0) continue;
    bool fresh = true;
    for (uint32_t i = 0; i < n; i++) fresh &= !map.count(op.id + i);
    if (!fresh) continue;
    for (uint32_t i = 0; i < n; i++) map[op.id + i] = next + i;
    next += n;
  }
  auto remap = [&](uint32_t id) -> uint32_t {
    if (id == 0) return 0;
    auto it = map.find(id);
    return it == map.end() ? kMaxId - 1 : it->second;  // never allocated
  };
  Program out = p;
  for (Op& op : out.ops) {
    switch (op.op) {
      case OpKind::kAlloc:
      case OpKind::kChain:
      case OpKind::kStore:
      case OpKind::kTouchAddr:
      case OpKind::kWeakStore:
      case OpKind::kEphSetValue:
      case OpKind::kEphSetNext:
      case OpKind::kEphChain:
      case OpKind::kFinChain:
        op.id = remap(op.id);
        op.target = remap(op.target);
        break;
      case OpKind::kEphNew:
      case OpKind::kAllocInit:
        op.id = remap(op.id);
        op.target = remap(op.target);
        op.key = remap(op.key);
        op.val = remap(op.val);
        break;
      case OpKind::kStoreImm:
      case OpKind::kSetTraceN:
      case OpKind::kTouch:
      case OpKind::kWeakLoad:
      case OpKind::kEphGet:
      case OpKind::kEphClear:
      case OpKind::kFinReg:
      case OpKind::kFinUnreg:
      case OpKind::kGuardReg:
      case OpKind::kCleanupAdd:
        op.id = remap(op.id);
        break;
      case OpKind::kRootSet:
      case OpKind::kWeakCreate:
      case OpKind::kWeakSet:
        op.target = remap(op.target);
        break;
      default:
        break;
    }
  }
  return out;
}

Program Minimize(const Program& p, const FailsFn& fails, int max_runs,
                 int* runs_out) {
  int runs = 0;
  Program cur = p;
  auto try_ops = [&](std::vector<Op> ops) {
    Program cand = cur;
    cand.ops = std::move(ops);
    runs++;
    if (fails(cand)) {
      cur = std::move(cand);
      return true;
    }
    return false;
  };
  // ddmin: remove chunks of size len / n.
  size_t n = 2;
  while (cur.ops.size() >= 2 && runs < max_runs) {
    const size_t len = cur.ops.size();
    const size_t chunk = (len + n - 1) / n;
    bool reduced = false;
    for (size_t start = 0; start < len && runs < max_runs; start += chunk) {
      std::vector<Op> cand;
      cand.reserve(len);
      cand.insert(cand.end(), cur.ops.begin(), cur.ops.begin() + start);
      cand.insert(cand.end(), cur.ops.begin() + std::min(len, start + chunk),
                  cur.ops.end());
      if (try_ops(std::move(cand))) {
        reduced = true;
        n = std::max<size_t>(n - 1, 2);
        break;
      }
    }
    if (!reduced) {
      if (n >= len) break;
      n = std::min(n * 2, len);
    }
  }
  if (cur.ops.size() == 1 && runs < max_runs) try_ops({});
  // Shorter chains.
  for (size_t i = 0; i < cur.ops.size() && runs < max_runs; i++) {
    if (!Shrinkable(cur.ops[i].op)) continue;
    while (cur.ops[i].count > 1 && runs < max_runs) {
      std::vector<Op> cand = cur.ops;
      cand[i].count = cur.ops[i].count / 2;
      if (!try_ops(std::move(cand))) break;
    }
  }
  // A simpler heap configuration.
  for (int step = 0; step < 4 && runs < max_runs; step++) {
    Program cand = cur;
    ProgramConfig& c = cand.config;
    switch (step) {
      case 0:
        c.workers = 1;
        break;
      case 1:
        c.verify = 0;
        break;
      case 2:
        c.gc_percent = -1;
        c.memory_limit = 0;
        break;
      case 3:
        c.stw = 1;
        break;
    }
    if (c.workers == cur.config.workers && c.verify == cur.config.verify &&
        c.gc_percent == cur.config.gc_percent &&
        c.memory_limit == cur.config.memory_limit && c.stw == cur.config.stw) {
      continue;
    }
    runs++;
    if (fails(cand)) cur = cand;
  }
  // Small ids in allocation order, if it still fails that way.
  if (runs < max_runs) {
    Program renumbered = RenumberIds(cur);
    runs++;
    if (fails(renumbered)) cur = renumbered;
  }
  if (runs_out != nullptr) *runs_out = runs;
  return cur;
}

Program MinimizeFailure(const Program& p, const RunOptions& o,
                        const RunResult& r, int max_runs) {
  const std::string category = r.category;
  return Minimize(
      p,
      [&](const Program& cand) {
        RunResult rr = RunProgram(cand, o);
        return !rr.ok && rr.category == category;
      },
      max_runs);
}

std::string FailureReport(const Program& p, const RunResult& r,
                          const Program* minimized,
                          const RunResult* minimized_result) {
  std::string s;
  char buf[512];
  snprintf(buf, sizeof(buf),
           "ORACLE FAILURE: seed=%llu (%zu ops), at op %zu: [%s] ",
           static_cast<unsigned long long>(p.seed), p.ops.size(), r.op_index,
           r.category.c_str());
  s += buf;
  s += r.message;
  s += "\n";
  if (r.op_index < p.ops.size()) {
    s += "  failing op: " + FormatOp(p.ops[r.op_index]) + "\n";
  } else {
    s += "  failing op: (final checks)\n";
  }
  if (minimized != nullptr) {
    snprintf(buf, sizeof(buf), "minimized to %zu ops", minimized->ops.size());
    s += buf;
    if (minimized_result != nullptr) {
      s += " (fails with: [" + minimized_result->category + "] " +
           minimized_result->message + ")";
    }
    s += "; replay with: bazel run //tools:oracle_diff -- --replay=FILE\n";
    s += "----- 8< -----\n";
    s += FormatProgram(*minimized);
    s += "----- 8< -----\n";
  }
  return s;
}

}  // namespace gcheap::oracle
