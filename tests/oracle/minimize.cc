#include "tests/oracle/minimize.h"

#include <algorithm>
#include <cstdio>
#include <unordered_map>

namespace gcheap::oracle {

Program RenumberIds(const Program& p) {
  std::unordered_map<uint32_t, uint32_t> map;
  uint32_t next = 1;
  for (const Op& op : p.ops) {
    if (op.op == OpKind::kAlloc && op.id != 0 && !map.count(op.id)) {
      map[op.id] = next++;
    } else if (op.op == OpKind::kChain && op.count <= kMaxChain) {
      bool fresh = true;
      for (uint32_t i = 0; i < op.count; i++) fresh &= !map.count(op.id + i);
      if (!fresh) continue;
      for (uint32_t i = 0; i < op.count; i++) map[op.id + i] = next + i;
      next += op.count;
    }
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
        op.id = remap(op.id);
        op.target = remap(op.target);
        break;
      case OpKind::kStoreImm:
      case OpKind::kSetTraceN:
      case OpKind::kTouch:
        op.id = remap(op.id);
        break;
      case OpKind::kRootSet:
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
    if (cur.ops[i].op != OpKind::kChain) continue;
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
