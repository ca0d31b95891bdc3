#!/usr/bin/env bash
# Installs gcheap into a temporary prefix with install/install_tree.sh (the
# script tools/install.sh runs) and uses the installed tree the way a
# program outside this repository does, with the system's compilers, then
# runs what it built and checks its output:
#
#   install_test.sh pkgconfig  the layout (headers, versioned .so and its
#       symlinks, .a, .pc, CMake files); the quickstart example in C with
#       `cc $(pkg-config --cflags --libs gcheap)` (needs libgcheap.so.MAJOR)
#       and fully static with `cc -static $(pkg-config --static ...)` (no
#       dynamic section at all: libgcheap.a and Libs.private are complete);
#       the cons_vm example in C++ with `c++ ... $(pkg-config ...)`; a C++20
#       program on <gcheap/gc.hpp>, and the clear #error below C++20.
#   install_test.sh cmake  docs/examples/cmake with find_package(gcheap):
#       quickstart on gcheap::gcheap and on gcheap::gcheap_static, cons_vm;
#       then the tree moved elsewhere (the package is relocatable) with
#       Abseil's CMake package hidden: the shared target still works, and
#       requiring the static one fails with the reason; and the version
#       file's answers to find_package(gcheap VERSION) requests.
#
# Usage: install_test.sh MODE INSTALL_TREE GC_H GC_H_INFO_SH
#                        EXAMPLES_CMAKELISTS
set -euo pipefail
mode=$1
install_tree=$2
gc_h=$3
gc_h_info=$4
cmakelists=$5

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

version=$("$gc_h_info" version "$gc_h")
major=$("$gc_h_info" major "$gc_h")

work="$TEST_TMPDIR/work"
rm -rf "$work"
mkdir -p "$work"
prefix="$work/prefix"
"$install_tree" --prefix="$prefix"
# Installing again over an install replaces it (the links included).
"$install_tree" --prefix="$prefix"

# The examples as a user has them: a copy of docs/examples.
examples_src=$(dirname "$(dirname "$cmakelists")")
cp -rL "$examples_src" "$work/examples"
ex="$work/examples"

# Expected output of the quickstart example (it also exits 0 only if its
# own checks pass).
quickstart_expected="gcheap $version (compiled against $version)
list: 10000 cells, sum 50005000
after gc_collect: 10000 objects live of 1000000 allocated
ok"
check_quickstart() {
  local out
  out=$("$1") || fail "$1 exited with status $?"
  [[ "$out" == "$quickstart_expected" ]] ||
    fail "$1 printed:"$'\n'"$out"$'\n'"expected:"$'\n'"$quickstart_expected"
  echo "ok: $1"
}
check_cons_vm() {
  local out
  out=$("$1" 1000 10) || fail "$1 exited with status $?"
  if ! grep -qxF 'result: ((sum . 5005000) (weighted . 1671670000))' <<<"$out" ||
    ! grep -qxF 'expected: sum 5005000, weighted 1671670000: ok' <<<"$out"; then
    fail "$1 1000 10 printed:"$'\n'"$out"
  fi
  echo "ok: $1"
}
# The shared libraries a program needs, one per line.
needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p'; }

case "$mode" in
pkgconfig)
  lib="$prefix/lib"
  for f in include/gcheap/gc.h include/gcheap/gc.hpp lib/libgcheap.a \
    "lib/libgcheap.so.$version" lib/pkgconfig/gcheap.pc \
    lib/cmake/gcheap/gcheapConfig.cmake \
    lib/cmake/gcheap/gcheapConfigVersion.cmake; do
    [[ -f "$prefix/$f" && ! -L "$prefix/$f" ]] || fail "not installed: $f"
  done
  [[ "$(readlink "$lib/libgcheap.so.$major")" == "libgcheap.so.$version" ]] ||
    fail "lib/libgcheap.so.$major is not a link to libgcheap.so.$version"
  [[ "$(readlink "$lib/libgcheap.so")" == "libgcheap.so.$major" ]] ||
    fail "lib/libgcheap.so is not a link to libgcheap.so.$major"
  cmp -s "$gc_h" "$prefix/include/gcheap/gc.h" || fail "gc.h differs"

  export PKG_CONFIG_PATH="$lib/pkgconfig"
  [[ "$(pkg-config --modversion gcheap)" == "$version" ]] ||
    fail "pkg-config --modversion gcheap: $(pkg-config --modversion gcheap)"
  libdir=$(pkg-config --variable=libdir gcheap)
  [[ "$libdir" == "$lib" ]] || fail "libdir $libdir"

  cd "$work"
  # Shared: the program records the soname, not the -lgcheap link.
  # shellcheck disable=SC2046
  cc -o quickstart "$ex/quickstart/quickstart.c" \
    $(pkg-config --cflags --libs gcheap) -Wl,-rpath,"$libdir"
  needed quickstart | grep -qx "libgcheap.so.$major" ||
    fail "quickstart does not need libgcheap.so.$major: $(needed quickstart)"
  check_quickstart ./quickstart

  # Fully static: every library must come from an archive, so anything
  # missing from libgcheap.a or from Libs.private fails the link.
  # shellcheck disable=SC2046
  cc -static -o quickstart_static "$ex/quickstart/quickstart.c" \
    $(pkg-config --static --cflags --libs gcheap)
  ! readelf -d quickstart_static | grep -q NEEDED ||
    fail "quickstart_static is not static: $(needed quickstart_static)"
  check_quickstart ./quickstart_static

  # The worked VM example, C++, on the shared library.
  # shellcheck disable=SC2046
  c++ -o cons_vm "$ex/cons_vm/cons_vm.cc" "$ex/cons_vm/cons_vm_lib.cc" \
    $(pkg-config --cflags --libs gcheap) -Wl,-rpath,"$libdir"
  check_cons_vm ./cons_vm

  # The C++ layer from the installed tree (gc.hpp includes its gc.h).
  cat >hpp.cc <<'EOF'
#include <gcheap/gc.hpp>
struct Cell {
  gc::Member<Cell> next;
};
int main() {
  gc::Heap heap;
  gc::Mutator m(heap);
  gc_type_id cell =
      gc::TypeBuilder<Cell>("Cell").Field(GC_FIELD(Cell, next)).Register(heap);
  gc::Root<Cell> list(heap, gc::New<Cell>(m, cell));
  Cell* c = gc::New<Cell>(m, cell);
  c->next.Set(m, c, list.get());
  list = c;
  m.Collect();
  return heap.Stats().live_objects == 2 ? 0 : 1;
}
EOF
  # shellcheck disable=SC2046
  c++ -std=c++20 -o hpp hpp.cc $(pkg-config --cflags --libs gcheap) \
    -Wl,-rpath,"$libdir"
  ./hpp || fail "the gc.hpp program exited with status $?"
  echo "ok: gc.hpp (C++20)"
  # shellcheck disable=SC2046
  if err=$(c++ -std=c++17 -fsyntax-only hpp.cc $(pkg-config --cflags gcheap) 2>&1); then
    fail "gc.hpp compiled as C++17"
  fi
  grep -q "gc.hpp needs C++20" <<<"$err" || fail "C++17 error: $err"
  echo "ok: gc.hpp refuses C++17 with a clear error"
  ;;

cmake)
  cd "$work"
  cmake -S "$ex/cmake" -B build -DCMAKE_PREFIX_PATH="$prefix" >cmake.log 2>&1 ||
    { cat cmake.log; fail "cmake configure"; }
  cmake --build build -j 2 >build.log 2>&1 || { cat build.log; fail "cmake build"; }
  needed build/quickstart | grep -qx "libgcheap.so.$major" ||
    fail "build/quickstart does not need libgcheap.so.$major"
  ! needed build/quickstart_static | grep -q libgcheap ||
    fail "build/quickstart_static needs libgcheap.so"
  check_quickstart build/quickstart
  check_quickstart build/quickstart_static
  check_cons_vm build/cons_vm

  # Moved, with Abseil's CMake package out of reach.
  mv "$prefix" "$work/moved"
  no_absl=(-DCMAKE_PREFIX_PATH="$work/moved" -DCMAKE_DISABLE_FIND_PACKAGE_absl=ON)
  if cmake -S "$ex/cmake" -B build_static "${no_absl[@]}" >static.log 2>&1; then
    fail "find_package(gcheap COMPONENTS static) passed without Abseil"
  fi
  grep -q "gcheap::gcheap_static needs Abseil's CMake package" static.log ||
    { cat static.log; fail "no reason given for the missing static target"; }
  echo "ok: the static component without Abseil fails with the reason"
  cmake -S "$ex/cmake" -B build_moved -DWITH_STATIC=OFF "${no_absl[@]}" \
    >moved.log 2>&1 || { cat moved.log; fail "cmake configure (moved)"; }
  cmake --build build_moved --target quickstart >>moved.log 2>&1 ||
    { cat moved.log; fail "cmake build (moved)"; }
  check_quickstart build_moved/quickstart

  # find_package(gcheap X) against the installed version.
  cat >version.cmake <<'EOF'
set(PACKAGE_FIND_VERSION "${REQ}")
string(REPLACE "." ";" _parts "${REQ}")
list(GET _parts 0 PACKAGE_FIND_VERSION_MAJOR)
set(CMAKE_SIZEOF_VOID_P 8)
include("${FILE}")
message("${PACKAGE_VERSION_COMPATIBLE}")
EOF
  vfile="$work/moved/lib/cmake/gcheap/gcheapConfigVersion.cmake"
  IFS=. read -r _ minor _ <<<"$version"
  # Same major and not newer than installed: compatible; a newer minor or
  # another major: not.
  for req_want in "$version:TRUE" "$major.0:TRUE" "$major.$((minor + 1)):FALSE" \
    "$((major + 1)).0:FALSE"; do
    req=${req_want%:*}
    got=$(cmake -DREQ="$req" -DFILE="$vfile" -P version.cmake 2>&1)
    [[ "$got" == "${req_want#*:}" ]] ||
      fail "find_package(gcheap $req) against $version: compatible=$got"
  done
  echo "ok: version requests"
  ;;
*)
  fail "unknown mode $mode"
  ;;
esac
