#!/usr/bin/env bash
# gccpp_new_check (a program whose global operator new is
# GC_malloc_uncollectable, as libgccpp's) on Debian's libgc.so.1 and on the
# one in a second directory (libgc_dir.sh): each must finish within 30 s
# (timeout: a deadlock in initialization fails the test) with the same
# output, and /proc/PID/maps must show the library each run mapped. The
# second library must export no C++ allocation function and no std::
# symbol (they would bind a program's calls to the library's malloc-based
# ones).
#   gccpp_new_test.sh GCCPP_NEW_CHECK PROCSTAT
set -euo pipefail
source "$(dirname "$0")/libgc_dir.sh"
bin=$1 procstat=$2
tmp=${TEST_TMPDIR:-$(mktemp -d)}
dir=$(second_libgc_dir "$tmp")

run() {  # run NAME [LD_LIBRARY_PATH]
  local name=$1 env=(env -u LD_LIBRARY_PATH) rc=0
  [[ -n "${2:-}" ]] && env=(env "LD_LIBRARY_PATH=$2")
  rm -f "$tmp/$name.stats"
  timeout 30 "${env[@]}" "$procstat" --out="$tmp/$name.stats" \
    --label="$name" -- "$bin" > "$tmp/$name.out" 2> "$tmp/$name.err" || rc=$?
  [[ $rc -ne 124 ]] || fail "gccpp_new_check on $name hung (killed after 30 s)"
  [[ $rc -eq 0 ]] || { tail -n 20 "$tmp/$name.err" >&2; fail "exit $rc on $name"; }
  cat "$tmp/$name.out"
}

cxx=$(nm -D --defined-only "$dir/libgc.so.1" |
  awk '$3 ~ /^_Z(n[wa]|d[la]|NSt|NKSt)/ {print $3}')
[[ -z "$cxx" ]] || fail "$dir/libgc.so.1 exports C++ symbols: $cxx"
# Boehm's own exports GC_* and the linker's _end; ours must add nothing
# (global symbols: nm's type letter in upper case; gold leaves a few
# thread-locals in the dynamic table with local binding, which nothing can
# bind to).
other=$(nm -D --defined-only "$dir/libgc.so.1" |
  awk '$2 ~ /^[A-Z]$/ && $3 !~ /^GC_/ && $3 != "_end" {print $3}')
[[ -z "$other" ]] || fail "$dir/libgc.so.1 exports symbols other than GC_*: $other"

run debian
expect_libgc "$tmp/debian.stats" "$DEBIAN_LIBGC"
run libgc-dir "$dir"
expect_libgc "$tmp/libgc-dir.stats" "$dir/libgc.so.1"
diff -u "$tmp/debian.out" "$tmp/libgc-dir.out" || fail "outputs differ"
echo "ok: same output on both libraries"
