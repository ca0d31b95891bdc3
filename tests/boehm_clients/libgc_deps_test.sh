#!/usr/bin/env bash
# What gcheap's libgc.so.1 brings into a Boehm client's process besides
# itself (docs/boehm.md, "Building and linking"; docs/benchmarks.md, "where
# the pages go"): every shared object it loads costs the client resident
# pages, and on a small client they were most of the peak RSS gap to
# Debian's libgc1. Checks, on the library built in the optimized
# configuration:
#  - the shared objects it loads, directly or through one another (ldd):
#    no libstdc++.so and no libgcc_s.so (the C++ runtime is linked in), and
#    of Debian's Abseil only the two shared objects flat_hash_map needs
#    that cannot be linked in (raw_hash_set, whose archive is not
#    position-independent, and raw_logging_internal, which it needs; hash,
#    city and low_level_hash are linked in); Abseil's status library and
#    its chain (statusor, cord, str_format_internal, synchronization, time,
#    symbolize...) in particular are refused;
#  - no standard stream object (std::cout, std::cerr, std::clog, std::cin)
#    is linked in: runtime/boehm/no_iostreams.cc keeps libstdc++'s stream
#    and locale code out on the promise that nothing uses them;
#  - libstdc++'s demangler (__cxa_demangle) is not linked in:
#    runtime/boehm/terminate_handler.cc replaces the default terminate
#    handler, its only user.
# (gccpp_new_gcheap_test checks that it exports GC_* only.)
#   libgc_deps_test.sh LIBGC_SO
set -euo pipefail
so=$1
status=0
fail() {
  echo "FAIL: $*"
  status=1
}

[[ -f "$so" ]] || { echo "FAIL: no library at $so"; exit 1; }
needed=$(readelf -d "$so" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p')
[[ -n "$needed" ]] || { echo "FAIL: readelf found no DT_NEEDED in $so"; exit 1; }
echo "DT_NEEDED: $(echo $needed)"
# ldd lists the closure: what the needed objects need too.
loaded=$(ldd "$so" | awk '$1 != "linux-vdso.so.1" {print $1}')
[[ -n "$loaded" ]] || { echo "FAIL: ldd listed nothing for $so"; exit 1; }
echo "loaded: $(echo $loaded)"
allowed_absl=" raw_hash_set raw_logging_internal "
for lib in $loaded; do
  case "${lib##*/}" in
    libstdc++.so* | libgcc_s.so*)
      fail "$so loads $lib (the C++ runtime must be linked in)" ;;
    libabsl_*)
      name=${lib##*/libabsl_}
      name=${name#libabsl_}
      name=${name%%.so*}
      [[ "$allowed_absl" == *" $name "* ]] ||
        fail "$so loads Abseil's $lib (allowed:$allowed_absl)" ;;
  esac
done

# The full symbol table (the build keeps it: --strip=never); a library
# without one would pass the check below vacuously.
symbols=$(nm "$so" 2>/dev/null || true)
grep -q ' GC_malloc$' <<<"$symbols" ||
  { echo "FAIL: nm finds no symbol table in $so"; exit 1; }
streams=$(awk '$3 ~ /^_ZSt(4cout|4cerr|4clog|3cin|5wcout|5wcerr|5wclog|4wcin)$/ {print $3}' \
  <<<"$symbols")
[[ -z "$streams" ]] ||
  fail "$so links the standard streams ($(echo $streams)): libstdc++'s" \
    "stream and locale code is in (no_iostreams.cc not linked, or code" \
    "that uses a stream, which its stubs would leave unconstructed)"

demangler=$(awk '$3 == "__cxa_demangle" {print $3}' <<<"$symbols")
[[ -z "$demangler" ]] ||
  fail "$so links libstdc++'s demangler (__cxa_demangle): the default" \
    "terminate handler of libstdc++ is in (terminate_handler.cc not linked)"

[[ $status -eq 0 ]] && echo "ok: $so loads only libc, the loader and" \
  "Abseil's raw_hash_set objects, and links no standard stream and no" \
  "demangler"
exit $status
