#!/usr/bin/env bash
# Fuzzes the collector against the exact oracle with libFuzzer (clang,
# AddressSanitizer + UBSan): every input becomes a mutator program that runs
# on our heap (and on Boehm GC) with the oracle's checks after each
# collection (tests/fuzz/oracle_fuzzer.cc).
#
# Usage: tools/fuzz.sh [MINUTES] [options] [-- libFuzzer flags...]
#   MINUTES       how long to fuzz (default 10)
#   --seconds N   the same in seconds
#   --quick       reuse the asan-ubsan build of the libraries (only the
#                 oracle and the fuzz target get coverage instrumentation):
#                 builds in seconds after `bazel test --config=asan-ubsan`;
#                 what CI runs. Default: everything coverage-instrumented
#                 (-fsanitize=fuzzer-no-link), in its own output tree.
#   --jobs N      N fuzzing processes (default 1)
#
# The working corpus lives in $FUZZ_DIR/corpus (default /tmp/gcheap-fuzz),
# seeded from tests/fuzz/corpus, which is never written. Crashing inputs go
# to $FUZZ_DIR/crash-*; see what one does with
#   bazel run //tools:oracle_diff -- --fuzz_input=$FUZZ_DIR/crash-... --print
# The last line is "fuzz: N executions in S s, C crashes"; the exit status is
# non-zero if anything crashed or did not build.
set -uo pipefail
cd "$(dirname "$0")/.."

seconds=600
quick=0
jobs=1
extra=()
while (($#)); do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --quick) quick=1; shift ;;
    --jobs) jobs="$2"; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    [0-9]*) seconds=$(($1 * 60)); shift ;;
    *) echo "fuzz.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

flags=(--config=asan-ubsan)
if ((!quick)); then
  flags+=(--copt=-fsanitize=fuzzer-no-link --platform_suffix=fuzz)
fi
if ! bazel build "${flags[@]}" //tests/fuzz:oracle_fuzzer </dev/null >/tmp/gcheap-fuzz-build.log 2>&1; then
  tail -30 /tmp/gcheap-fuzz-build.log
  echo "fuzz: 0 executions in 0 s, build failed"
  exit 1
fi
bin="$(bazel info "${flags[@]}" bazel-bin 2>/dev/null)/tests/fuzz/oracle_fuzzer"

dir="${FUZZ_DIR:-/tmp/gcheap-fuzz}"
mkdir -p "$dir/corpus"
log="$dir/fuzz-$$.log"
count_crashes() {
  ls "$dir"/crash-* "$dir"/leak-* "$dir"/timeout-* "$dir"/oom-* 2>/dev/null | wc -l
}
before=$(count_crashes)
par=()
if ((jobs > 1)); then par=(-jobs="$jobs" -workers="$jobs"); fi
start=$(date +%s)
# Two corpus directories: new inputs go to the first only.
ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}" \
  "$bin" -max_total_time="$seconds" -max_len=2048 -timeout=60 \
  -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix="$dir/" \
  "${par[@]}" "${extra[@]}" \
  "$dir/corpus" tests/fuzz/corpus >"$log" 2>&1
rc=$?
elapsed=$(($(date +%s) - start))
# With -jobs, each job writes fuzz-N.log in the current directory.
execs=$(cat "$log" fuzz-*.log 2>/dev/null |
          sed -n 's/^stat::number_of_executed_units: *//p' | awk '{s+=$1} END {print s+0}')
crashes=$(($(count_crashes) - before))
if ((rc != 0)); then
  tail -60 "$log"
  rm -f fuzz-*.log
  echo "fuzz: $execs executions in $elapsed s, $crashes crashes (libFuzzer exit $rc; log $log)"
  exit 1
fi
rm -f fuzz-*.log
echo "fuzz: $execs executions in $elapsed s, 0 crashes (corpus $dir/corpus: $(ls "$dir/corpus" | wc -l) inputs)"
exit 0
