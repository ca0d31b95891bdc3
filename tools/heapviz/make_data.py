#!/usr/bin/env python3
"""Wraps a heap snapshot and a GC trace into a script for heapviz.html.

Usage: make_data.py SNAPSHOT.json TRACE.json > data.js
then open heapviz.html?data=data.js (data.js beside the page). Either file
may be given as '-' to leave it out.
"""
import json
import sys


def read(path):
    if path == "-":
        return "null"
    with open(path) as f:
        return json.dumps(json.load(f), separators=(",", ":"))


print("heapviz.load(%s,\n%s);" % (read(sys.argv[1]), read(sys.argv[2])))
