#!/usr/bin/env python3
"""Checks what heapviz.html drew against the files it was given.

Usage: heapviz_check.py SNAPSHOT.json TRACE.json DOM.html SCREENSHOT.png

DOM.html is the page after loading (chromium --dump-dom). Checks, from the
files themselves: the arenas drawn equal the snapshot's arenas; the spans
drawn, in total and per size class and scan/noscan, equal the snapshot's
spans; the cycles and pauses drawn equal the trace's "GC N" and "pause"
slices; the screenshot is a PNG of the window's size. Prints each failure
and a summary; exits 1 on any failure.
"""
import collections
import html.parser
import json
import struct
import sys


class Dom(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.summary = None
        self.classes = {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id") == "summary":
            self.summary = a
        if tag == "tr" and "data-class" in a:
            self.classes[int(a["data-class"])] = a


def trace_slices(trace):
    """Counts completed B/E slices by name (as the page pairs them)."""
    open_, names = collections.defaultdict(list), collections.Counter()
    for e in trace["traceEvents"]:
        key = (e["pid"], e["tid"])
        if e["ph"] == "B":
            open_[key].append(e["name"])
        elif e["ph"] == "E" and open_[key]:
            names[open_[key].pop()] += 1
    return names


def main():
    snap_path, trace_path, dom_path, png_path = sys.argv[1:5]
    failures = []
    with open(snap_path) as f:
        snap = json.load(f)
    with open(trace_path) as f:
        trace = json.load(f)
    dom = Dom()
    with open(dom_path) as f:
        dom.feed(f.read())
    if dom.summary is None or "data-spans" not in dom.summary:
        print("heapviz_check: the page drew nothing (no #summary data)")
        return 1
    s = dom.summary

    def expect(what, drawn, want):
        if int(drawn) != want:
            failures.append("%s: drawn %s, the file has %d" % (what, drawn,
                                                                 want))

    expect("arenas", s["data-arenas"], len(snap["arenas"]))
    expect("spans", s["data-spans"], len(snap["spans"]))
    expect("objects", s["data-objects"],
           sum(sp["objects"] for sp in snap["spans"]))
    per_class = collections.defaultdict(lambda: [0, 0])
    for sp in snap["spans"]:
        per_class[sp["class"]][1 if sp["noscan"] else 0] += 1
    if set(per_class) != set(dom.classes):
        failures.append("classes drawn %s, snapshot has %s" %
                        (sorted(dom.classes), sorted(per_class)))
    for c, (scan, noscan) in per_class.items():
        row = dom.classes.get(c)
        if row is None:
            continue
        expect("class %d scan spans" % c, row["data-scan-spans"], scan)
        expect("class %d noscan spans" % c, row["data-noscan-spans"], noscan)
    names = trace_slices(trace)
    cycles = sum(n for name, n in names.items()
                 if name.startswith("GC ") and name[3:].isdigit())
    expect("cycles", s["data-cycles"], cycles)
    expect("pauses", s["data-pauses"], names["pause"])
    if names["pause"] == 0:
        failures.append("the trace has no pause to draw")
    with open(png_path, "rb") as f:
        head = f.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        failures.append("the screenshot is not a PNG")
    else:
        w, h = struct.unpack(">II", head[16:24])
        if w < 800 or h < 600:
            failures.append("the screenshot is %dx%d" % (w, h))
    for f in failures:
        print("heapviz_check: " + f)
    print("heapviz_check: %s arenas, %s spans in %d classes, %s cycles, %s "
          "pauses drawn; %d failures" % (s["data-arenas"], s["data-spans"],
                                         len(dom.classes), s["data-cycles"],
                                         s["data-pauses"], len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
