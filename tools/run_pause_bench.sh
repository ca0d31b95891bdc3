#!/usr/bin/env bash
# The pause benchmark of docs/benchmarks.md, side by side with Go 1.19:
# builds tools/pause_bench (ours) and tools/go/pausebench (the same
# workload in Go), installs Debian's golang-go first if it is missing, and
# runs them alternately: ours (concurrent), Go, ours (stop-the-world, for
# contrast), --runs times.
#   tools/run_pause_bench.sh [--live_mb=1024] [--seconds=20] [--runs=1] [--no_stw]
set -euo pipefail
cd "$(dirname "$0")/.."

LIVE_MB=1024 SECONDS_=20 RUNS=1 STW=1
for a in "$@"; do
  case "$a" in
    --live_mb=*) LIVE_MB="${a#*=}" ;;
    --seconds=*) SECONDS_="${a#*=}" ;;
    --runs=*) RUNS="${a#*=}" ;;
    --no_stw) STW=0 ;;
    *) echo "run_pause_bench: unknown argument $a" >&2; exit 2 ;;
  esac
done

tools/install_deps.sh
if ! command -v go >/dev/null; then
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO=sudo
  echo "run_pause_bench: installing golang-go" >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
    --no-install-recommends golang-go >&2
fi

bazel build //tools:pause_bench >&2
OURS=bazel-out/k8-opt/bin/tools/pause_bench
GOBIN_DIR=$(mktemp -d)
trap 'rm -rf "$GOBIN_DIR"' EXIT
(cd tools/go && go build -o "$GOBIN_DIR/pausebench" ./pausebench)

for ((r = 1; r <= RUNS; r++)); do
  echo "== run $r of $RUNS"
  "$OURS" --live_mb="$LIVE_MB" --seconds="$SECONDS_"
  "$GOBIN_DIR/pausebench" --live_mb="$LIVE_MB" --seconds="$SECONDS_"
  if ((STW)); then
    "$OURS" --live_mb="$LIVE_MB" --seconds="$SECONDS_" --stw
  fi
done
