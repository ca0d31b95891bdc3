#!/usr/bin/env bash
# Builds gcheap with Bazel and installs it under a prefix:
#
#   tools/install.sh --prefix=DIR [bazel build flags, e.g. --config=dbg]
#
# DIR/include/gcheap/{gc.h,gc.hpp}, DIR/lib/libgcheap.so.MAJOR.MINOR.PATCH
# with its links libgcheap.so.MAJOR (the soname) and libgcheap.so,
# DIR/lib/libgcheap.a, DIR/lib/pkgconfig/gcheap.pc and the CMake package
# DIR/lib/cmake/gcheap/. Then, for example:
#
#   export PKG_CONFIG_PATH=DIR/lib/pkgconfig
#   cc app.c $(pkg-config --cflags --libs gcheap) -Wl,-rpath,DIR/lib
#   cmake -DCMAKE_PREFIX_PATH=DIR ...     # find_package(gcheap)
#
# docs/build.md describes the layout and how the libraries are made. The
# copying is install/install_tree.sh, which the tests (tests/install/) run
# on the same Bazel outputs. Bazel runs as the invoking user; a prefix that
# user cannot write to (/usr/local) needs the printed command rerun as root.
set -euo pipefail

usage() {
  sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

prefix=""
bazel_flags=()
while (($#)); do
  case "$1" in
    --prefix=*) prefix=${1#--prefix=} ;;
    --prefix) (($# >= 2)) || usage; prefix=$2; shift ;;
    -h | --help) usage ;;
    *) bazel_flags+=("$1") ;;
  esac
  shift
done
[[ -n "$prefix" ]] || usage
[[ "$prefix" == /* ]] || prefix="$PWD/$prefix"

cd "$(dirname "$0")/.."
tools/install_deps.sh
bazel build "${bazel_flags[@]}" //install:install_tree
installer="$(bazel info "${bazel_flags[@]}" bazel-bin)/install/install_tree"
mkdir -p "$prefix" 2>/dev/null || true
if [[ ! -w "$prefix" ]]; then
  echo "install: cannot write to $prefix; run as root:" >&2
  echo "  $installer --prefix=$prefix" >&2
  exit 1
fi
"$installer" --prefix="$prefix"
