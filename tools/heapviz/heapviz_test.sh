#!/usr/bin/env bash
# heapviz_test: a real program (tools:gc_demo, binary-trees) writes a heap
# snapshot midway and a GC trace; headless Chromium loads heapviz.html with
# them (through a data script: file:// forbids fetching JSON), the DOM it
# produced is checked against the files (heapviz_check.py), and a
# screenshot is taken (kept in the test's undeclared outputs).
#
# Usage: heapviz_test.sh GC_DEMO HEAPVIZ.html MAKE_DATA.py CHECK.py
# Needs chromium and python3 from the system (tools/install_deps.sh). Runs
# in the opt configuration only (tagged no_sanitizer); about 10 s.
set -euo pipefail
demo=$1 page=$2 make_data=$3 check=$4
out=${TEST_TMPDIR:-$(mktemp -d)}/heapviz
mkdir -p "$out"
export HOME=$out  # chromium writes under $HOME

GC_TRACE_FILE=$out/trace.json "$demo" --depth=16 --trace=false \
  --heap_snapshot="$out/snapshot.json" >"$out/demo.log"
python3 "$make_data" "$out/snapshot.json" "$out/trace.json" >"$out/data.js"
cp "$page" "$out/heapviz.html"
url="file://$out/heapviz.html?data=data.js"
flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
       --disable-background-networking --disable-component-update
       --disable-sync --user-data-dir="$out/profile"
       --virtual-time-budget=10000 --hide-scrollbars)
timeout 120 chromium "${flags[@]}" --dump-dom "$url" >"$out/dom.html" \
  2>"$out/chromium-dom.log"
timeout 120 chromium "${flags[@]}" --window-size=1400,1250 \
  --screenshot="$out/heapviz.png" "$url" >"$out/chromium-shot.log" 2>&1
if [[ -n "${TEST_UNDECLARED_OUTPUTS_DIR:-}" ]]; then
  cp "$out/heapviz.png" "$out/snapshot.json" "$TEST_UNDECLARED_OUTPUTS_DIR/"
fi
python3 "$check" "$out/snapshot.json" "$out/trace.json" "$out/dom.html" \
  "$out/heapviz.png"
