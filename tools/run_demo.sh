#!/usr/bin/env bash
# The README's main job: installs missing Debian packages, builds the demo
# and runs it. Extra arguments go to the demo (e.g. --threads=8 --cycles=20).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install_deps.sh
bazel build //tools:heap_demo </dev/null
exec bazel-bin/tools/heap_demo "$@"
