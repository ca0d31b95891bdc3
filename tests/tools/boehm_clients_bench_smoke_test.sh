#!/usr/bin/env bash
# tools/bench/boehm_clients_bench.py end to end on tree-gcbench, Debian's
# libgc.so.1 against a copy of it (see BUILD.bazel).
set -euo pipefail
bench=$1 run_client=$2 procstat=$3 tree_bench=$4
tmp=${TEST_TMPDIR:-$(mktemp -d)}
mkdir -p "$tmp/lib"
cp "$(readlink -f "/usr/lib/$(gcc -print-multiarch)/libgc.so.1")" "$tmp/lib/libgc.so.1"
python3 "$bench" --run_client="$run_client" --procstat="$procstat" \
  --tree_bench="$tree_bench" --libgc_dir="$tmp/lib" --runs=1 \
  --workloads=tree-gcbench --out="$tmp/out" > "$tmp/table.txt"
cat "$tmp/table.txt"
grep -qE '^tree-gcbench +Debian libgc1 +1/1 ' "$tmp/table.txt"
grep -qE '^tree-gcbench +libgc-dir +1/1 ' "$tmp/table.txt"
grep -qE '^tree-gcbench +ratio dir/Debian .*x' "$tmp/table.txt"
python3 - "$tmp/out/results.json" "$tmp/lib/libgc.so.1" <<'PY'
import json, sys
res = json.load(open(sys.argv[1]))
recs = res['records']
assert len(recs) == 2 and all(r['ok'] for r in recs), recs
by_lib = {r['lib']: r for r in recs}
assert by_lib['dir']['libgc'] == sys.argv[2], by_lib['dir']['libgc']
assert by_lib['debian']['libgc'] != sys.argv[2]
for r in recs:
    assert r['gcs'] > 0 and r['gcs'] == len(r['pauses_ms']), r
    assert r['peak_rss_mib'] > 1 and r['wall_ms'] > 0, r
print('ok: both runs measured, each on its own library')
PY
