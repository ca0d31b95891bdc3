# test_counts.sh: how tools/run_tests.sh turns one Bazel test target's
# result and test.xml into test-case counts. Sourced, not run.
#
# count_target RESULT XML prints "PASSED FAILED" (test cases):
#  - GoogleTest targets: the totals of the first <testsuites ...> element
#    (tests, failures, errors);
#  - targets whose test.xml has a bare <testsuites> (sh_test and other
#    non-GoogleTest tests, for which Bazel writes one <testsuite> with a
#    tests attribute): the totals of the first <testsuite ...> element;
#  - a FAILED target with no failing case (a crash, a non-zero exit outside
#    a case) counts one failure;
#  - anything else (FAILED TO BUILD, TIMEOUT, NO STATUS, no test.xml) is
#    one failure.
count_target() {
  local result=$1 xml=$2 line t f e
  if [[ "$result" == PASSED* || "$result" == FAILED* ]] && [[ -f "$xml" ]] &&
     [[ "$result" != "FAILED TO BUILD"* ]]; then
    line=$(grep -m1 -o '<testsuites [^>]*>' "$xml")
    [[ "$line" == *' tests="'* ]] || line=$(grep -m1 -o '<testsuite [^>]*>' "$xml")
    t=$(sed -n 's/.* tests="\([0-9]*\)".*/\1/p' <<<"$line")
    f=$(sed -n 's/.* failures="\([0-9]*\)".*/\1/p' <<<"$line")
    e=$(sed -n 's/.* errors="\([0-9]*\)".*/\1/p' <<<"$line")
    t=${t:-0}; f=${f:-0}; e=${e:-0}
    if [[ "$result" == FAILED* ]] && ((f + e == 0)); then
      # Crashed or exited non-zero outside a test case.
      f=1
      ((t == 0)) && t=1
    fi
    echo "$((t - f - e)) $((f + e))"
  else
    echo "0 1"
  fi
}
