#!/usr/bin/env bash
# Runs the whole test suite: installs missing Debian packages, then runs
# every test under the optimized build and, in CI mode (CI=true, or --full),
# under AddressSanitizer+UBSan and ThreadSanitizer as well.
#
# Prints one line per configuration and, last, "N passed, N failed" counting
# individual test cases (GoogleTest cases from each target's test.xml; a
# target that fails to build or crashes without a report counts as one
# failure). Exits non-zero if anything failed or did not build.
#
# In CI mode it also fuzzes for FUZZ_SECONDS (default 30) seconds with
# tools/fuzz.sh.
#
# Usage: tools/run_tests.sh [--full] [extra bazel test args...]
set -uo pipefail
cd "$(dirname "$0")/.."

full=0
if [[ "${CI:-}" == "true" ]]; then full=1; fi
if [[ "${1:-}" == "--full" ]]; then full=1; shift; fi

source tools/test_counts.sh
tools/install_deps.sh || { echo "0 passed, 1 failed"; exit 1; }

configs=("opt")
if ((full)); then configs+=("asan-ubsan" "tsan"); fi
# Under asan-ubsan and tsan, .bazelrc's test:asan/test:tsan lines skip the
# tests tagged no_sanitizer (tests/install/: programs built with the
# system's plain cc against the installed libraries, which cannot link an
# instrumented build); they run in the opt configuration.

total_pass=0
total_fail=0
status=0
for cfg in "${configs[@]}"; do
  flags=()
  # The sanitizer configurations build only what the tests need: the opt
  # configuration has built every target (tools, benchmarks, examples)
  # already, and CI's time goes mostly to compiling.
  [[ "$cfg" != "opt" ]] && flags+=("--config=$cfg" "--build_tests_only")
  log=$(mktemp)
  bazel test "${flags[@]}" --test_output=errors --keep_going //... "$@" \
    </dev/null 2>&1 | tee "$log" | grep -E '^(//|FAIL|ERROR|Executed)' || true
  rc=${PIPESTATUS[0]}
  testlogs=$(bazel info "${flags[@]}" bazel-testlogs 2>/dev/null)
  pass=0
  fail=0
  # Targets bazel reports: PASSED/FAILED/TIMEOUT/NO STATUS/FAILED TO BUILD.
  while read -r target result; do
    xml="$testlogs/${target#//}"
    xml="${xml/://}/test.xml"
    read -r p f < <(count_target "$result" "$xml")
    pass=$((pass + p))
    fail=$((fail + f))
  done < <(grep -E '^//[^ ]+ +(\(cached\) )?(PASSED|FAILED|TIMEOUT|NO STATUS|FLAKY)' "$log" |
             sed -E 's/^(\/\/[^ ]+) +(\(cached\) )?([A-Z]+( TO BUILD| STATUS)?).*/\1 \3/')
  # Targets that could not be built at all never reach the summary above.
  if ((rc != 0)) && ((fail == 0)); then fail=1; fi
  echo "[$cfg] $pass passed, $fail failed"
  total_pass=$((total_pass + pass))
  total_fail=$((total_fail + fail))
  ((rc != 0 || fail != 0)) && status=1
  rm -f "$log"
done

# CI mode: a bounded libFuzzer run of the collector against the exact oracle
# (tests/fuzz/oracle_fuzzer.cc; clang, asan+ubsan). --quick reuses the
# asan-ubsan build above. Counts as one test case.
if ((full)); then
  if tools/fuzz.sh --seconds "${FUZZ_SECONDS:-30}" --quick </dev/null; then
    echo "[fuzz] 1 passed, 0 failed"
    total_pass=$((total_pass + 1))
  else
    echo "[fuzz] 0 passed, 1 failed"
    total_fail=$((total_fail + 1))
    status=1
  fi
fi

echo "$total_pass passed, $total_fail failed"
exit $status
