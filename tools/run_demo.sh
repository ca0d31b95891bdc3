#!/usr/bin/env bash
# The README's main job: installs missing Debian packages, builds the demo
# (binary-trees on the heap, one gctrace line per collection, then the
# collector's statistics) and runs it. Extra arguments go to the demo
# (e.g. --depth=21, --trace=false); GC_* environment variables configure the
# heap (see runtime/gc.h).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install_deps.sh
bazel build //tools:gc_demo </dev/null
exec bazel-bin/tools/gc_demo "$@"
