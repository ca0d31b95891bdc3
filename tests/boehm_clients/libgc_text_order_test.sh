#!/usr/bin/env bash
# The hot functions of gcheap's libgc.so.1 lie together (docs/boehm.md,
# "Building and linking"): the functions runtime/boehm/text_order.txt
# lists (those a client's run executes, from callgrind profiles,
# tools/boehm_clients/text_order.py) are laid out first by gold's
# --section-ordering-file, so that a client faults in two or three of the
# kernel's 64 KiB fault-around windows of the library's text, not all of
# it. Checks, on the library built in the optimized configuration, that
# at least 200 listed functions are defined in it and that 95% of them lie
# within 160 KiB (they hold about 100 KB of code; laid out in source order
# they spread over the whole 340 KB of text).
#   libgc_text_order_test.sh LIBGC_SO TEXT_ORDER
set -euo pipefail
so=$1
order=$2
# Symbol names from the section names (.text.NAME, .text.startup.NAME,
# .text.hot.NAME).
names=$(mktemp)
trap 'rm -f "$names"' EXIT
sed -E 's/^\.text\.(startup\.|hot\.)?//' "$order" | sort -u >"$names"
# nm -S: address, size, type, name; fixed-width hexadecimal addresses.
rows=$(nm -S --defined-only "$so" | awk 'NF == 4 && $3 ~ /^[tTwW]$/' |
  sort -k4,4 | join -1 4 -2 1 -o 1.1,1.2 - "$names" | sort)
count=$(wc -l <<<"$rows")
# The most listed functions inside one 160 KiB window (identical-code
# folding gives a few listed names the address of an unlisted copy).
addrs=()
while read -r a _; do addrs+=($((16#$a))); done <<<"$rows"
window=$((160 * 1024))
best=0
j=0
for ((i = 0; i < count; i++)); do
  while ((addrs[i] - addrs[j] > window)); do j=$((j + 1)); done
  ((i - j + 1 > best)) && best=$((i - j + 1))
done
echo "$count listed functions defined, $best of them within $window bytes"
status=0
if ((count < 200)); then
  echo "FAIL: only $count of the listed functions are in $so"
  status=1
fi
if ((best * 100 < count * 95)); then
  echo "FAIL: fewer than 95% of the listed functions lie within" \
    "$window bytes: the section ordering was not applied"
  status=1
fi
exit $status
