#!/usr/bin/env bash
# runtime/gc.h's fast paths (gc_write_barrier, gc_safepoint, the inline
# allocation paths, the handle stack) are inlined into their callers in an
# optimized build: no binary keeps an out-of-line copy of one (a local text
# symbol of that name, which a call would go to). Without GC_FAST_PATH_'s
# always_inline, GCC at -O2 left gc_alloc_inline_ and gc_write_barrier out
# of line in tools/bench/tree_bench (the first argument). The other
# arguments are probes (tests/symbols/fast_paths_probe.c): they are run as
# well, and their trees must check out across collections.
# Usage: fast_paths_inlined_test.sh TREE_BENCH PROBE...
set -uo pipefail
fast='gc_write_barrier|gc_safepoint|gc_alloc_window_take_|gc_alloc_inline_|gc_alloc_noscan_inline_|gc_handle_scope_open|gc_handle_scope_close|gc_handle_new'
status=0
for probe in "$@"; do
  syms=$(nm "$probe") || { echo "FAIL: nm $probe"; exit 1; }
  out=$(grep -E " [tT] ($fast)\$" <<<"$syms")
  if [[ -n "$out" ]]; then
    echo "FAIL: $probe keeps out-of-line fast paths:"
    echo "$out"
    status=1
  fi
  # The probe must reach the out-of-line parts (a full barrier buffer, a new
  # window, a poll): proof that the fast paths were compiled in, not dropped.
  for slow in gc_alloc gc_write_barrier_slow gc_safepoint_slow; do
    if ! grep -qE " $slow\$" <<<"$syms"; then
      echo "FAIL: $probe does not refer to $slow"
      status=1
    fi
  done
  [[ "$probe" == "$1" ]] && continue  # tree_bench: not run here
  "$probe" || { echo "FAIL: $probe exited $?"; status=1; }
done
((status == 0)) && echo "PASS: no out-of-line fast path in $# binaries"
exit $status
