#!/usr/bin/env bash
# Checks that gcheap's static libraries define no global symbol outside its
# own names: the public C API (gc_*), and C++ names in namespace gcheap or
# of the API's structs (gc_heap, gc_mutator). Anything else (an unprefixed
# C function such as `AllocRetry`, which api.cc once exported because an
# anonymous namespace inside extern "C" keeps C linkage) could collide with
# a symbol of the program or of another library linked next to gcheap.
# Also checks that no archive is named like Boehm GC's (libgc.a).
# The API's structs' C++ names include their vtable and typeinfo
# (_ZTV7gc_heap: gc_heap derives from a polymorphic class; clang, which the
# sanitizer configurations use, defines them strongly). Weak symbols (inline
# functions and template instances, merged by the linker) are not checked.
set -euo pipefail
allowed='^(gc_[a-z_0-9]+|_ZN?K?6gcheap|_ZNK?7gc_heap|_ZNK?10gc_mutator|_ZT[VISHW](N6gcheap|7gc_heap|10gc_mutator)|_ZGVZN6gcheap)'
status=0
n=0
for lib in "$@"; do
  [[ "$lib" == *.a ]] || continue
  # Boehm GC's own archive is libgc.a (and libgc.so.1): a library of ours by
  # that name would shadow it on a link line.
  if [[ "$(basename "$lib")" == libgc.* ]]; then
    echo "FAIL: $lib has Boehm GC's library name"
    status=1
  fi
  while read -r sym; do
    n=$((n + 1))
    if ! [[ "$sym" =~ $allowed ]]; then
      echo "FAIL: $lib defines the global symbol '$sym' ($(c++filt "$sym"))"
      status=1
    fi
  done < <(nm --defined-only "$lib" | awk '$2 ~ /^[TDBRGS]$/ {print $3}')
done
if ((n == 0)); then
  echo "FAIL: no global symbols found in: $*" >&2
  exit 1
fi
echo "checked $n global symbols in $# files"
exit $status
