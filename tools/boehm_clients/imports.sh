#!/usr/bin/env bash
# Survey of the Debian packages that link Boehm GC's libgc.so.1: which GC_*
# symbols each one imports, so that the author of a drop-in libgc.so.1
# (issue 13) knows which parts of the ABI each client needs.
#
# Nothing is installed: every package's .deb is fetched with
# `apt-get download` (the package alone, not its dependencies) and unpacked
# with `dpkg-deb -x` into a temporary directory. Every ELF file in it whose
# dynamic section NEEDs libgc.so.1, libgccpp.so.1 or libgctba.so.1 is a
# client object; its imports are its undefined dynamic symbols
# (`nm -D --undefined-only`) that Debian's libgc.so.1 defines (so GC_*
# functions and variables alike, and nothing from other libraries). A
# package's imports are the union over its client objects.
#
# The packages are `apt-cache rdepends libgc1` less libgc-dev (headers), or
# the ones named on the command line. Needs the package lists (apt-get
# update) and the Debian mirror; it is a documentation tool, not a test.
#
# Usage: tools/boehm_clients/imports.sh [--out=FILE] [PACKAGE...]
#   Writes markdown (the per-package table, then the union of the imported
#   symbols, most used first) to FILE, default stdout.
set -euo pipefail

out=/dev/stdout
packages=()
for arg in "$@"; do
  case "$arg" in
    --out=*) out="${arg#--out=}" ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "imports: unknown option $arg" >&2; exit 2 ;;
    *) packages+=("$arg") ;;
  esac
done
if ((${#packages[@]} == 0)); then
  mapfile -t packages < <(apt-cache rdepends libgc1 | tail -n +3 |
    sed 's/^[ |]*//' | grep -vx 'libgc-dev' | sort -u)
fi
((${#packages[@]})) || { echo "imports: no packages (apt-get update?)" >&2; exit 1; }

libgc=$(readlink -f /usr/lib/x86_64-linux-gnu/libgc.so.1 2>/dev/null ||
        true)
[[ -f "$libgc" ]] || { echo "imports: Debian's libgc.so.1 is not installed" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# GC symbols libgc.so.1 defines, with their kind (function or variable).
nm -D --defined-only "$libgc" | awk '{ k = ($2 == "T") ? "function" : "variable";
  print $3, k }' | sort > "$work/defined"
cut -d' ' -f1 "$work/defined" > "$work/defined.names"

(cd "$work" && apt-get download "${packages[@]}" >/dev/null 2>"$work/download.log") || {
  cat "$work/download.log" >&2; exit 1; }

# One line per package: "pkg version objects symbols" plus per-package
# symbol files for the union.
: > "$work/rows"
for deb in "$work"/*.deb; do
  pkg=$(dpkg-deb -f "$deb" Package)
  ver=$(dpkg-deb -f "$deb" Version)
  size=$(dpkg-deb -f "$deb" Installed-Size)
  root="$work/x/$pkg"
  mkdir -p "$root"
  dpkg-deb -x "$deb" "$root"
  objects=()
  : > "$work/$pkg.syms"
  while IFS= read -r -d '' f; do
    head -c 4 "$f" 2>/dev/null | grep -q $'\x7fELF' || continue
    needed=$(readelf -d "$f" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' |
             grep -xE 'libgc(cpp|tba)?\.so\.1' | tr '\n' ' ' || true)
    [[ -n "$needed" ]] || continue
    objects+=("${f#"$root"}${needed:+ (${needed% })}")
    nm -D --undefined-only "$f" 2>/dev/null | awk '{print $NF}' |
      sed 's/@.*//' | sort -u | comm -12 - "$work/defined.names" \
      >> "$work/$pkg.syms"
  done < <(find "$root" -type f -print0 | sort -z)
  sort -u -o "$work/$pkg.syms" "$work/$pkg.syms"
  n=$(wc -l < "$work/$pkg.syms")
  objs=$(printf '%s; ' "${objects[@]}"); objs=${objs%; }
  syms=$(sed 's/^/`/; s/$/`/' "$work/$pkg.syms" | paste -sd' ' | sed 's/` `/`, `/g')
  printf '| %s | %s | %s KiB | %s | %s | %s |\n' "$pkg" "$ver" "$size" \
    "${objs:-none}" "$n" "${syms:--}" >> "$work/rows"
done

{
  echo "| package | version | installed size | objects linking libgc (NEEDED) | GC symbols | imported GC symbols |"
  echo "| --- | --- | --- | --- | --- | --- |"
  cat "$work/rows"
  echo
  npkg=$(ls "$work"/*.syms | wc -l)
  echo "Union over the $npkg packages: each symbol, how many packages import it, and which."
  echo
  echo "| symbol | kind | packages | which |"
  echo "| --- | --- | --- | --- |"
  for s in "$work"/*.syms; do
    p=$(basename "$s" .syms)
    sed "s/\$/ $p/" "$s"
  done | sort -k1,1 -k2,2 | awk '
    { n[$1]++; who[$1] = (who[$1] == "" ? $2 : who[$1] ", " $2) }
    END { for (s in n) print n[s], s, who[s] }' |
    sort -k1,1nr -k2,2 | while read -r n s who; do
      kind=$(awk -v s="$s" '$1 == s {print $2}' "$work/defined")
      echo "| \`$s\` | $kind | $n | $who |"
    done
} > "$out"
