#!/usr/bin/env bash
# A real Debian program linking libgc.so.1, run by
# tools/boehm_clients/run_client.sh once on Debian's libgc.so.1 and once with
# --libgc-dir (libgc_dir.sh): the outputs must be byte-identical, and must
# look like the client's real output (so two empty or failed runs cannot
# pass). Each client process runs under procstat, whose reading of
# /proc/PID/maps at exit must show the intended library; run_client.sh
# checks the loader's own log (LD_DEBUG) as well.
#   client_compare_test.sh CLIENT RUN_CLIENT PROCSTAT [--negative-control]
# With --negative-control (w3m), it also shows that the library check can
# fail: a directory whose libgc.so.1 is not loadable on this machine (an
# aarch64 ELF header on Debian's library) makes the loader fall back to
# Debian's library silently, and run_client.sh must refuse the run.
set -euo pipefail
source "$(dirname "$0")/libgc_dir.sh"
client=$1 run_client=$2 procstat=$3 negative=${4:-}
tmp=${TEST_TMPDIR:-$(mktemp -d)}
dir=$(second_libgc_dir "$tmp")
work="$tmp/work"

for side in debian libgc-dir; do
  args=()
  [[ "$side" == libgc-dir ]] && args=(--libgc-dir="$dir")
  rm -f "$tmp/$side.stats"
  "$run_client" "$client" "${args[@]}" --out="$tmp/$side.out" --work="$work" \
    --logs="$tmp/$side.logs" --procstat="$procstat" --stats="$tmp/$side.stats" ||
    fail "run_client.sh $client on $side failed"
done
expect_libgc "$tmp/debian.stats" "$DEBIAN_LIBGC"
expect_libgc "$tmp/libgc-dir.stats" "$dir/libgc.so.1"

cmp "$tmp/debian.out" "$tmp/libgc-dir.out" ||
  fail "$client: the output with --libgc-dir=$dir differs from Debian's"
echo "ok: $client output identical on both libraries ($(wc -c < "$tmp/debian.out") bytes)"

# The output is the client's real work.
out="$tmp/debian.out"
case "$client" in
  w3m)
    grep -q '^End of page: [0-9]* sections\.$' "$out" || fail "w3m: no end of page"
    (( $(grep -c '^\[[0-9]*\] http://example.org/' "$out") > 1000 )) ||
      fail "w3m: the link list is missing"
    grep -q '┌' "$out" || fail "w3m: no table was drawn"
    (( $(wc -c < "$out") > 5000000 )) || fail "w3m: the dump is too small"
    ;;
  stalin-earley)
    grep -qx '\*\*\* right result \*\*\*' "$out" || fail "earley: wrong result"
    grep -q 'GC_malloc' "$out" || fail "earley: the C code does not allocate"
    ;;
  stalin-boyer)
    (( $(grep -cx '#T' "$out") == 1000 )) || fail "boyer: expected 1000 #T lines"
    grep -q '^int main' "$out" || fail "boyer: no C code"
    ;;
esac
echo "ok: $client output is the real thing"

if [[ "$negative" == --negative-control ]]; then
  bad="$tmp/libgc-wrong-machine"
  mkdir -p "$bad"
  cp "$DEBIAN_LIBGC" "$bad/libgc.so.1"
  printf '\xb7\x00' | dd of="$bad/libgc.so.1" bs=1 seek=18 conv=notrunc 2>/dev/null
  if "$run_client" "$client" --libgc-dir="$bad" --out="$tmp/bad.out" \
      --work="$work" 2> "$tmp/bad.err"; then
    fail "run_client.sh accepted a run that fell back to Debian's library"
  fi
  grep -q "loaded libgc.so.1 from '.*', expected $bad/libgc.so.1" "$tmp/bad.err" ||
    { cat "$tmp/bad.err" >&2; fail "run_client.sh failed for another reason"; }
  echo "ok: a --libgc-dir the loader skips is detected"
fi
