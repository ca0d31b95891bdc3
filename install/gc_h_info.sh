#!/usr/bin/env bash
# gc_h_info.sh WHAT HEADER: what the public C header (runtime/gc.h) says, for
# the build, the install and the tests, which all read it here:
#
#   functions  the functions HEADER declares with external linkage, sorted,
#              one per line: the API libgcheap.so must export. The C
#              compiler reads the header (gcc's -aux-info lists every
#              function declared in a translation unit with its storage
#              class), so the static inline fast paths (gc_write_barrier,
#              gc_safepoint) and function-pointer typedefs are not counted.
#   version    MAJOR.MINOR.PATCH, from the GCHEAP_VERSION_* macros
#   major      MAJOR
#
# Fails (status 1, a message on stderr) if it finds nothing.
set -euo pipefail
what=$1
header=$2

part() {
  sed -n "s/^#define GCHEAP_VERSION_$1 \\([0-9][0-9]*\\)\$/\\1/p" "$header"
}

case "$what" in
functions)
  aux=$(mktemp)
  trap 'rm -f "$aux"' EXIT
  gcc -std=c11 -fsyntax-only -aux-info "$aux" -x c "$header"
  # Lines look like: /* runtime/gc.h:80:NC */ extern void gc_config_init (...);
  out=$(awk -v h="$header" '
    index($0, "/* " h ":") == 1 && $4 == "extern" {
      for (i = 5; i <= NF; i++) {
        if ($(i + 1) ~ /^\(/) { name = $i; sub(/^\**/, "", name); print name; break }
      }
    }' "$aux" | sort -u)
  ;;
version)
  major=$(part MAJOR) minor=$(part MINOR) patch=$(part PATCH)
  out=""
  if [[ -n "$major" && -n "$minor" && -n "$patch" ]]; then
    out="$major.$minor.$patch"
  fi
  ;;
major) out=$(part MAJOR) ;;
*)
  echo "usage: $0 functions|version|major HEADER" >&2
  exit 2
  ;;
esac
if [[ -z "$out" ]]; then
  echo "$0: no $what found in $header" >&2
  exit 1
fi
echo "$out"
