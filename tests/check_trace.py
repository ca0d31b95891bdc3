#!/usr/bin/env python3
"""Checks a gcheap trace file (Chrome Trace Event JSON, gc/trace_file.h).

Usage: check_trace.py TRACE.json [EXPECTED.json]

- the file parses as JSON (an object with "traceEvents");
- on every (pid, tid) the B/E slices nest: every E ends the innermost open
  B of the same name, no slice ends before it begins, and none is left open;
- a cycle's phases follow each other: a phase slice ("sweep termination",
  "mark", "mark finalizers", "mark termination", "sweep") never begins
  while another phase slice is open on the same track;
- the tracks a run with collections must have exist: a driver with cycles
  and phases, mark worker slices, a mutator, the pauses track, heap
  counters;
- with EXPECTED (a list of {"cycle", "pauses", "pause_ns"} from the cycle
  hook): for every cycle the trace has exactly that many "pause" slices,
  each slice's length (E.ts - B.ts, in ns) equals the pause_ns its E
  reports, and they sum to the hook's pause_ns.
Prints one line per failure and exits 1 if there was any; prints a summary.
"""
import collections
import decimal
import json
import sys

PHASES = {"sweep termination", "mark", "mark finalizers", "mark termination",
          "sweep"}


def main():
    failures = []
    with open(sys.argv[1]) as f:
        trace = json.load(f, parse_float=decimal.Decimal)
    events = trace["traceEvents"]
    stacks = collections.defaultdict(list)
    names = {}
    slices = collections.Counter()
    pauses = collections.defaultdict(list)
    counters = collections.Counter()
    for e in events:
        ph = e["ph"]
        key = (e["pid"], e["tid"])
        if ph == "M" and e["name"] == "thread_name":
            names[key] = e["args"]["name"]
        elif ph == "B":
            if e["name"] in PHASES:
                for b in stacks[key]:
                    if b["name"] in PHASES:
                        failures.append("phase %r begins inside phase %r" %
                                        (e["name"], b["name"]))
            stacks[key].append(e)
        elif ph == "E":
            if not stacks[key]:
                failures.append("E without B: %r" % e)
                continue
            b = stacks[key].pop()
            if b["name"] != e["name"]:
                failures.append("E %r ends B %r" % (e["name"], b["name"]))
            if e["ts"] < b["ts"]:
                failures.append("slice %r ends before it begins" % e["name"])
            slices[e["name"]] += 1
            if e["name"] == "pause":
                ns = int((e["ts"] - b["ts"]) * 1000)
                if ns != e["args"]["pause_ns"]:
                    failures.append("pause of cycle %s: %d ns in the trace, "
                                    "%d in its args" % (e["args"]["cycle"], ns,
                                                        e["args"]["pause_ns"]))
                pauses[e["args"]["cycle"]].append(ns)
        elif ph == "C":
            counters[e["name"]] += 1
    for key, st in stacks.items():
        for b in st:
            failures.append("B %r on %r never ended" % (b["name"], key))
    # (Mark workers may all be the driver: worker 0 is, and on two
    # processors a concurrent mark has no other.)
    for role in ("gc driver", "mutator", "stop-the-world pauses"):
        if role not in names.values():
            failures.append("no thread named %r" % role)
    for name in ("mark", "mark worker", "pause", "stopping"):
        if slices[name] == 0:
            failures.append("no %r slice" % name)
    if counters["heap"] == 0:
        failures.append("no heap counter")
    if len(sys.argv) > 2:
        with open(sys.argv[2]) as f:
            expected = json.load(f)
        for c in expected:
            got = pauses.get(c["cycle"], [])
            if len(got) != c["pauses"] or sum(got) != c["pause_ns"]:
                failures.append(
                    "cycle %d: the hook reports %d pauses, %d ns; the trace "
                    "has %d, %d ns" % (c["cycle"], c["pauses"], c["pause_ns"],
                                       len(got), sum(got)))
        if len(pauses) != len(expected):
            failures.append("the trace has pauses of %d cycles, the hook "
                            "reported %d" % (len(pauses), len(expected)))
    for f in failures:
        print("check_trace: " + f)
    print("check_trace: %d events, %d slices, %d cycles with pauses, %d "
          "failures" % (len(events), sum(slices.values()), len(pauses),
                        len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
