#!/usr/bin/env bash
# The Boehm client benchmark (issue 13): real programs that link Boehm GC's
# libgc.so.1 (w3m, stalin) and the Boehm-API anchor workloads of
# tools/bench/tree_bench, each run on Debian's libgc1 and on the libgc.so.1
# in DIR, alternating, with wall, CPU, peak RSS (VmHWM), collections and
# p99/max pause (from GC_PRINT_STATS, docs/boehm-stats.md). It installs
# what is missing (tools/install_deps.sh), builds procstat and tree_bench,
# and runs tools/bench/boehm_clients_bench.py, which prints the table and
# writes it as markdown and results.json.
#
#   tools/run_boehm_clients_bench.sh [--libgc-dir=DIR] [--runs=N]
#       [--workloads=w3m,stalin-earley,...] [--out=DIR] [--markdown=FILE]
#       [--logs=DIR]
#
# DIR: a directory holding a libgc.so.1; the word `debian-copy` makes a
# temporary copy of Debian's own (a smoke test: every ratio should be near
# 1.00x). Without --libgc-dir, DIR is bazel-bin/runtime/boehm after building
# //runtime/boehm:libgc.so.1, gcheap's drop-in library, if that target
# exists. --runs: rounds (default 3). Exits non-zero if anything failed.
set -euo pipefail
cd "$(dirname "$0")/.."

libgc_dir=""
args=()
for arg in "$@"; do
  case "$arg" in
    --libgc-dir=*) libgc_dir="${arg#*=}" ;;
    *) args+=("$arg") ;;
  esac
done

tools/install_deps.sh
bazel build //tools/boehm_clients:procstat //tools/bench:tree_bench >&2
bin="$(bazel info bazel-bin 2>/dev/null)"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [[ "$libgc_dir" == debian-copy ]]; then
  libgc_dir="$tmp/debian-copy"
  mkdir -p "$libgc_dir"
  cp "$(readlink -f "/usr/lib/$(gcc -print-multiarch)/libgc.so.1")" \
    "$libgc_dir/libgc.so.1"
elif [[ -z "$libgc_dir" ]]; then
  if ! bazel query //runtime/boehm:libgc.so.1 >/dev/null 2>&1; then
    echo "run_boehm_clients_bench: //runtime/boehm:libgc.so.1 does not exist" \
      "yet; pass --libgc-dir=DIR (or --libgc-dir=debian-copy)" >&2
    exit 2
  fi
  bazel build //runtime/boehm:libgc.so.1 >&2
  libgc_dir="$bin/runtime/boehm"
fi

python3 tools/bench/boehm_clients_bench.py \
  --run_client=tools/boehm_clients/run_client.sh \
  --procstat="$bin/tools/boehm_clients/procstat" \
  --tree_bench="$bin/tools/bench/tree_bench" \
  --libgc_dir="$libgc_dir" "${args[@]}"
