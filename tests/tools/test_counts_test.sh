#!/usr/bin/env bash
# Tests tools/test_counts.sh, the counting behind run_tests.sh's
# "N passed, N failed": GoogleTest reports, Bazel's reports of sh_tests
# (a bare <testsuites>; they once counted as 0 passed cases), crashes and
# targets without a report.
set -euo pipefail
source "$1"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fails=0
expect() {  # expect NAME RESULT XML "PASS FAIL"
  local got
  got=$(count_target "$2" "$3")
  if [[ "$got" != "$4" ]]; then
    echo "FAIL: $1: got '$got', want '$4'"
    fails=$((fails + 1))
  else
    echo "ok: $1"
  fi
}
cat >"$dir/gtest.xml" <<'X'
<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="7" failures="2" disabled="0" errors="0" time="0.1" name="AllTests">
  <testsuite name="A" tests="7" failures="2" errors="0">
X
cat >"$dir/gtest_ok.xml" <<'X'
<testsuites tests="5" failures="0" disabled="0" errors="0" name="AllTests">
X
cat >"$dir/sh_pass.xml" <<'X'
<?xml version="1.0" encoding="UTF-8"?>
<testsuites>
  <testsuite name="tests/symbols/exported_symbols_test" tests="1" failures="0" errors="0">
    <testcase name="tests/symbols/exported_symbols_test" status="run"></testcase>
X
cat >"$dir/sh_fail.xml" <<'X'
<testsuites>
  <testsuite name="t" tests="1" failures="1" errors="0">
X
cat >"$dir/crash.xml" <<'X'
<testsuites tests="3" failures="0" disabled="0" errors="0" name="AllTests">
X
expect "gtest with failures" FAILED "$dir/gtest.xml" "5 2"
expect "gtest all passed" PASSED "$dir/gtest_ok.xml" "5 0"
expect "sh_test passed counts one case" PASSED "$dir/sh_pass.xml" "1 0"
expect "sh_test failed" FAILED "$dir/sh_fail.xml" "0 1"
expect "crash outside a case" FAILED "$dir/crash.xml" "2 1"
expect "no report" PASSED "$dir/missing.xml" "0 1"
expect "failed to build" "FAILED TO BUILD" "$dir/gtest_ok.xml" "0 1"
expect "timeout" TIMEOUT "$dir/gtest_ok.xml" "0 1"
exit $((fails != 0))
