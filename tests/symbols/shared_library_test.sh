#!/usr/bin/env bash
# Checks libgcheap.so (install/, the installed shared library):
#  - the symbols it exports (its defined dynamic symbols) are exactly the
#    functions runtime/gc.h declares with external linkage, as the C
#    compiler reads the header (install/gc_h_info.sh): nothing of the
#    C++ implementation, Abseil or the standard library leaks out (the
#    version script install/gcheap.lds), and every declared function is
#    there;
#  - its soname is libgcheap.so.MAJOR, MAJOR from gc.h's
#    GCHEAP_VERSION_MAJOR.
# Usage: shared_library_test.sh LIBGCHEAP_SO GC_H GC_H_INFO_SH
set -euo pipefail
so=$1
header=$2
gc_h_info=$3
status=0

declared=$("$gc_h_info" functions "$header")
# "ADDRESS TYPE NAME[@VERSION]" for every defined dynamic symbol.
exported=$(nm -D --defined-only "$so" | awk '{sub(/@.*/, "", $3); print $3}' |
  sort -u)
extra=$(comm -13 <(echo "$declared") <(echo "$exported"))
missing=$(comm -23 <(echo "$declared") <(echo "$exported"))
if [[ -n "$extra" ]]; then
  echo "FAIL: $so exports symbols gc.h does not declare:"
  while read -r s; do echo "  $s  ($(c++filt "$s"))"; done <<<"$extra"
  status=1
fi
if [[ -n "$missing" ]]; then
  echo "FAIL: $so does not export functions gc.h declares:"
  sed 's/^/  /' <<<"$missing"
  status=1
fi

major=$("$gc_h_info" major "$header")
soname=$(readelf -d "$so" | sed -n 's/.*(SONAME).*\[\(.*\)\]$/\1/p')
if [[ "$soname" != "libgcheap.so.$major" ]]; then
  echo "FAIL: soname '$soname', expected libgcheap.so.$major"
  status=1
fi

echo "$(wc -l <<<"$exported") exported symbols," \
  "$(wc -l <<<"$declared") functions declared in gc.h, soname $soname"
exit $status
