#!/usr/bin/env bash
# api_functions.sh HEADER: prints, one per line and sorted, the functions
# the public C header HEADER (runtime/gc.h) declares with external linkage:
# the API libgcheap.so must export. The C compiler reads the header (gcc's
# -aux-info lists every function declared in a translation unit, with its
# storage class), so the static inline fast paths (gc_write_barrier,
# gc_safepoint) and function-pointer typedefs are not counted.
set -euo pipefail
header=$1
aux=$(mktemp)
trap 'rm -f "$aux"' EXIT
gcc -std=c11 -fsyntax-only -aux-info "$aux" -x c "$header"
# Lines look like: /* runtime/gc.h:80:NC */ extern void gc_config_init (...);
awk -v h="$header" '
  index($0, "/* " h ":") == 1 && $4 == "extern" {
    for (i = 5; i <= NF; i++) {
      if ($(i + 1) ~ /^\(/) { name = $i; sub(/^\**/, "", name); print name; break }
    }
  }' "$aux" | sort -u
