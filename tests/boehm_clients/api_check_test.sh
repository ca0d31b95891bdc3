#!/usr/bin/env bash
# The Boehm API program (boehm_api_check.cc) on Debian's libgc.so.1 and on
# the one in a second directory (libgc_dir.sh): both transcripts must equal
# the golden file, and /proc/PID/maps (read by procstat when the program
# exits) must show that each run mapped the library it was meant to.
#   api_check_test.sh BOEHM_API_CHECK GOLDEN PROCSTAT
set -euo pipefail
source "$(dirname "$0")/libgc_dir.sh"
bin=$1 golden=$2 procstat=$3
tmp=${TEST_TMPDIR:-$(mktemp -d)}
dir=$(second_libgc_dir "$tmp")

run() {  # run NAME [LD_LIBRARY_PATH]
  local name=$1 env=(env -u LD_LIBRARY_PATH)
  [[ -n "${2:-}" ]] && env=(env "LD_LIBRARY_PATH=$2")
  rm -f "$tmp/$name.stats"
  if ! "${env[@]}" "$procstat" --out="$tmp/$name.stats" --label="$name" -- \
      "$bin" > "$tmp/$name.out" 2> "$tmp/$name.err"; then
    grep -v 'Finalization cycle' "$tmp/$name.err" | tail -n 30 >&2
    fail "boehm_api_check on $name exited non-zero"
  fi
  if ! diff -u "$golden" "$tmp/$name.out"; then
    grep -E '^FAIL' "$tmp/$name.err" >&2 || true
    fail "the transcript on $name differs from the golden file"
  fi
  echo "ok: transcript on $name matches the golden file"
}

run debian
expect_libgc "$tmp/debian.stats" "$DEBIAN_LIBGC"
run libgc-dir "$dir"
expect_libgc "$tmp/libgc-dir.stats" "$dir/libgc.so.1"
grep -E '^info' "$tmp/libgc-dir.err" || true
