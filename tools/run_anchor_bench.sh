#!/usr/bin/env bash
# The anchor benchmarks: gcheap against Go, Boehm GC and glibc malloc,
# mimalloc, jemalloc and tcmalloc, on GCBench, binarytrees, multi-threaded
# GCBench and an allocation-rate loop. The one command, from a fresh clone:
# installs what is missing (tools/install_deps.sh, then golang-go and
# python3), builds //tools/bench:tree_bench and tools/go/treebench, and runs
# tools/bench/anchor_bench.py, which alternates the systems, prints the
# table and writes the markdown, results.json and SVG plots (docs/benchmarks
# by default; a temp dir with --quick). Arguments go to anchor_bench.py:
#   tools/run_anchor_bench.sh [--quick] [--runs=3] [--systems=gcheap,go,...]
#       [--workloads=gcbench,mtgcbench-t4,...] [--out=DIR] [--markdown=FILE]
# Exits non-zero if anything failed to build or any run failed.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/install_deps.sh
missing=()
command -v go >/dev/null || missing+=(golang-go)
command -v python3 >/dev/null || missing+=(python3)
if ((${#missing[@]})); then
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO=sudo
  echo "run_anchor_bench: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  # install_deps.sh skips apt-get update when it has nothing to do, so a
  # fresh machine may have no package lists yet.
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 ||
    { $SUDO apt-get update -qq &&
      $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2; }
fi

bazel build //tools/bench:tree_bench >&2
TREE_BENCH="$(bazel info bazel-bin 2>/dev/null)/tools/bench/tree_bench"
[[ -x "$TREE_BENCH" ]] || TREE_BENCH=bazel-out/k8-opt/bin/tools/bench/tree_bench

GOBIN_DIR=$(mktemp -d)
trap 'rm -rf "$GOBIN_DIR"' EXIT
(
  # One module for the Go programs (tools/go/go.mod), standard library only.
  cd tools/go && go build -o "$GOBIN_DIR/treebench" ./treebench
) >&2

python3 tools/bench/anchor_bench.py --tree_bench="$TREE_BENCH" \
  --go_treebench="$GOBIN_DIR/treebench" "$@"
