#!/usr/bin/env bash
# One client of the Debian survey (tools/boehm_clients/survey.sh; docs/boehm.md,
# "Debian clients") as a test: the survey runs the client's workload on
# Debian's libgc.so.1 and on the one in the second directory (libgc_dir.sh),
# checks from the loader's log that each side initialized its library, and
# compares exit status, stdout, stderr (less the GC statistics lines) and
# output files byte for byte. The test requires the verdict PASS and that
# the workload collected on both libraries (at least MIN_GCS collections
# each, counted from GC_PRINT_STATS), so a run that never reached the
# collector cannot pass.
#   survey_client_test.sh CLIENT SURVEY MIN_GCS
set -euo pipefail
source "$(dirname "$0")/libgc_dir.sh"
client=$1 survey=$2 min_gcs=$3
tmp=${TEST_TMPDIR:-$(mktemp -d)}
dir=$(second_libgc_dir "$tmp")

"$survey" --no-install --libgc-dir="$dir" --timeout=120 --keep="$tmp/k" \
  --out="$tmp/table.md" "$client" || fail "survey.sh $client failed"
cat "$tmp/table.md"
row=$(grep "^| $client |" "$tmp/table.md") || fail "no row for $client"
[[ "$row" == *"| PASS ("* ]] || fail "$client did not pass: $row"
# Columns: client | package | Debian: exit, N GCs, wall | result | N GCs, wall | needs
IFS='|' read -r _ _ _ debian _ ours _ <<< "$row"
debian_gcs=$(sed -n 's/.*, \([0-9]*\) GCs,.*/\1/p' <<< "$debian")
ours_gcs=$(sed -n 's/^ *\([0-9]*\) GCs,.*/\1/p' <<< "$ours")
(( debian_gcs >= min_gcs )) ||
  fail "Debian's run collected $debian_gcs times (< $min_gcs)"
(( ours_gcs >= min_gcs )) ||
  fail "the run on $dir collected $ours_gcs times (< $min_gcs)"
echo "ok: $client identical on both libraries ($debian_gcs and $ours_gcs collections)"
