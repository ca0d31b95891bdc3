#!/usr/bin/env bash
# install_tree.sh: installs gcheap's built artifacts under a prefix.
#
#   bazel-bin/install/install_tree --prefix=DIR     (tools/install.sh does it)
#
# Its inputs are its Bazel runfiles (install/BUILD.bazel, :install_tree):
# libgcheap.so, libgcheap.a, runtime/gc.h, runtime/gc.hpp and the templates
# of this folder. It writes:
#   DIR/include/gcheap/gc.h, gc.hpp
#   DIR/lib/libgcheap.so.MAJOR.MINOR.PATCH, and the symlinks
#       libgcheap.so.MAJOR (the soname) and libgcheap.so (for -lgcheap)
#   DIR/lib/libgcheap.a
#   DIR/lib/pkgconfig/gcheap.pc
#   DIR/lib/cmake/gcheap/gcheapConfig.cmake, gcheapConfigVersion.cmake
# The version is read from runtime/gc.h's GCHEAP_VERSION_* lines
# (install/gc_h_info.sh). Files of
# an earlier install are replaced; other files under DIR are left alone.
# Needs coreutils, sed and pkg-config (for Abseil's link flags); it runs
# inside Bazel's sandbox in the tests (tests/install/).
set -euo pipefail

usage() {
  echo "usage: $0 --prefix=DIR" >&2
  exit 2
}

prefix=""
while (($#)); do
  case "$1" in
    --prefix=*) prefix=${1#--prefix=} ;;
    --prefix) (($# >= 2)) || usage; prefix=$2; shift ;;
    *) usage ;;
  esac
  shift
done
[[ -n "$prefix" ]] || usage
# Relative to where the user ran the command (bazel run changes directory).
if [[ "$prefix" != /* ]]; then
  prefix="${BUILD_WORKING_DIRECTORY:-$PWD}/$prefix"
fi

# The runfiles: next to this script when it is run directly or by bazel
# run, in RUNFILES_DIR or TEST_SRCDIR when a test runs it.
if [[ -d "$0.runfiles/gcheap" ]]; then
  runfiles="$0.runfiles/gcheap"
elif [[ -n "${RUNFILES_DIR:-}" && -d "$RUNFILES_DIR/gcheap" ]]; then
  runfiles="$RUNFILES_DIR/gcheap"
elif [[ -n "${TEST_SRCDIR:-}" && -d "$TEST_SRCDIR/gcheap" ]]; then
  runfiles="$TEST_SRCDIR/gcheap"
else
  echo "install_tree: cannot find its runfiles; build and run it with" \
    "tools/install.sh" >&2
  exit 1
fi
for f in install/libgcheap.so install/libgcheap.a runtime/gc.h runtime/gc.hpp \
  install/gcheap.pc.in install/gcheapConfig.cmake.in \
  install/gcheapConfigVersion.cmake.in install/gc_h_info.sh; do
  if [[ ! -f "$runfiles/$f" ]]; then
    echo "install_tree: missing input $runfiles/$f" >&2
    exit 1
  fi
done

version=$("$runfiles/install/gc_h_info.sh" version "$runfiles/runtime/gc.h")
major=$("$runfiles/install/gc_h_info.sh" major "$runfiles/runtime/gc.h")

# The Abseil components gcheap's code uses (gc/): what a static link needs
# besides libgcheap.a and the C++ runtime. The shared library records its
# own dependencies (DT_NEEDED); tests/install/ links statically both ways,
# which fails if one is missing. The CMake package refers to them as
# absl::NAME targets (Abseil's CMake package); gcheap.pc lists their
# libraries in Libs.private, in static link order, as Abseil's own
# pkg-config files (absl_NAME) give them for the Abseil installed now, the
# one libgcheap.a was compiled against. Listing them there, not as
# Requires.private, puts the C++ runtime after them (Abseil's files leave
# it to a C++ link driver), so `cc -static` links, and a dynamic link needs
# neither Abseil's .pc files nor its -DNOMINMAX.
absl_components=(flat_hash_map)
if ! absl_libs=$(pkg-config --static --libs "${absl_components[@]/#/absl_}"); then
  echo "install_tree: pkg-config cannot find Abseil's pkg-config files" \
    "(libabsl-dev; tools/install_deps.sh installs it)" >&2
  exit 1
fi

lib="$prefix/lib"
mkdir -p "$prefix/include/gcheap" "$lib/pkgconfig" "$lib/cmake/gcheap"

install -m 644 "$runfiles/runtime/gc.h" "$runfiles/runtime/gc.hpp" \
  "$prefix/include/gcheap/"
rm -f "$lib/libgcheap.so" "$lib/libgcheap.so.$major"
install -m 755 "$runfiles/install/libgcheap.so" "$lib/libgcheap.so.$version"
ln -s "libgcheap.so.$version" "$lib/libgcheap.so.$major"
ln -s "libgcheap.so.$major" "$lib/libgcheap.so"
install -m 644 "$runfiles/install/libgcheap.a" "$lib/libgcheap.a"

# @PREFIX@ is the only path written into a file: gcheap.pc carries it (as
# pkg-config files do); the CMake package finds the prefix from its own
# location instead, so an installed tree can be moved.
subst() {
  sed -e "s|@PREFIX@|$prefix|g" -e "s|@VERSION@|$version|g" \
    -e "s|@MAJOR@|$major|g" \
    -e "s|@ABSL_LIBS@|${absl_libs% }|g" \
    -e "s|@ABSL_CMAKE@|${absl_components[*]/#/absl::}|g" "$1" >"$2"
  chmod 644 "$2"
}
subst "$runfiles/install/gcheap.pc.in" "$lib/pkgconfig/gcheap.pc"
subst "$runfiles/install/gcheapConfig.cmake.in" \
  "$lib/cmake/gcheap/gcheapConfig.cmake"
subst "$runfiles/install/gcheapConfigVersion.cmake.in" \
  "$lib/cmake/gcheap/gcheapConfigVersion.cmake"

echo "installed gcheap $version under $prefix"
