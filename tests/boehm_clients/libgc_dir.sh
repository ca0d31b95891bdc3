# Helpers for the Boehm client tests (sourced): the second library
# directory, and the proof from procstat's /proc/PID/maps reading of which
# libgc.so.1 a process really ran on.
#
# The second directory is $BOEHM_LIBGC_DIR when set (tomorrow: the directory
# of gcheap's libgc.so.1, passed with --test_env=BOEHM_LIBGC_DIR=...), else
# a temporary directory holding a copy of Debian's libgc.so.1. A copy, not a
# symlink: /proc/PID/maps shows a symlink's target, so only a copy shows that
# the loader took the library from the directory.

DEBIAN_LIBGC=$(readlink -f "/usr/lib/$(gcc -print-multiarch 2>/dev/null ||
  echo x86_64-linux-gnu)/libgc.so.1")

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# second_libgc_dir TMP: prints the directory to test against.
second_libgc_dir() {
  if [[ -n "${BOEHM_LIBGC_DIR:-}" ]]; then
    [[ -e "$BOEHM_LIBGC_DIR/libgc.so.1" ]] ||
      fail "BOEHM_LIBGC_DIR=$BOEHM_LIBGC_DIR holds no libgc.so.1"
    (cd "$BOEHM_LIBGC_DIR" && pwd)
    return
  fi
  [[ -f "$DEBIAN_LIBGC" ]] || fail "Debian's libgc.so.1 is not installed"
  mkdir -p "$1/libgc-copy"
  cp "$DEBIAN_LIBGC" "$1/libgc-copy/libgc.so.1"
  echo "$1/libgc-copy"
}

# expect_libgc STATS EXPECTED: every process in procstat's STATS file ran
# and mapped EXPECTED (compared resolved).
expect_libgc() {
  local stats="$1" expected
  expected=$(readlink -f "$2")
  [[ -s "$stats" ]] || fail "no process was measured ($stats is empty)"
  while read -r line; do
    local label=${line%% *} lib=${line##* libgc=}
    [[ "$line" == *" exit=0 "* ]] || fail "$label failed: $line"
    [[ "$(readlink -f "$lib")" == "$expected" ]] ||
      fail "$label mapped libgc '$lib', expected $expected"
    echo "ok: ${label#label=} ran on $lib"
  done < "$stats"
}
