#!/usr/bin/env bash
# Installs the Debian packages the build needs, only those missing.
# Idempotent: when everything is installed it does nothing (no apt-get update).
set -euo pipefail

PACKAGES=(
  bazel-bootstrap          # Bazel 4.2, used fully offline
  g++ clang libclang-rt-14-dev  # compilers; clang's sanitizer runtimes
  libabsl-dev              # Abseil
  libgtest-dev libgmock-dev  # GoogleTest
  libbenchmark-dev         # Google Benchmark
  libgc-dev                # Boehm GC (differential tests, benchmark anchor)
  libmimalloc-dev libjemalloc-dev libgoogle-perftools-dev  # malloc anchors
  pkg-config cmake         # install tests: the examples built outside Bazel
  chromium                 # tools/heapviz: the visualizer page, headless
  w3m stalin python3       # Boehm clients (tests/boehm_clients/): programs
                           # linking libgc.so.1; stalin pulls in dpkg-dev
  poke guile-3.0           # the survey's clients in CI (poke_survey_*_test,
                           # guile_survey_*_test)
)

missing=()
for p in "${PACKAGES[@]}"; do
  [[ "$p" == \#* ]] && continue
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "install_deps: need root to install: ${missing[*]}" >&2
    exit 1
  fi
fi
echo "install_deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
