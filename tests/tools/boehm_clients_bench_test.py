#!/usr/bin/env python3
"""Tests of tools/bench/boehm_clients_bench.py's reading of GC_PRINT_STATS.

The fixture testdata/boehm_gc_print_stats.txt is what Debian's libgc 8.2.2
printed for the first three collections of `w3m -dump` (with its other
lines: heap growth, block maps, finalization counts). The parser must find
exactly those three collections and pauses, read the optional `GC #K mode:`
lines of docs/boehm-stats.md, and reject output that breaks the contract.

Usage: boehm_clients_bench_test.py BOEHM_CLIENTS_BENCH_PY FIXTURE
"""
import importlib.util
import math
import os
import sys
import unittest

BENCH, FIXTURE = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.dirname(os.path.realpath(BENCH)))
spec = importlib.util.spec_from_file_location('bench', BENCH)
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


class ParseGcStatsTest(unittest.TestCase):

    def setUp(self):
        with open(FIXTURE) as f:
            self.text = f.read()

    def test_debian_output(self):
        gc = bench.parse_gc_stats(self.text)
        self.assertEqual(gc['gcs'], 3)
        self.assertEqual(gc['gc_numbers'], [1, 2, 3])
        self.assertEqual(gc['pauses_ms'], [0.280779, 4.305972, 0.250944])
        self.assertEqual(gc['modes'], {})
        self.assertIsNone(bench.check_gc_stats(gc))

    def test_mode_lines(self):
        text = self.text.replace(
            'World-stopped marking took 4 ms',
            'GC #2 mode: mostly-concurrent\nWorld-stopped marking took 4 ms')
        gc = bench.parse_gc_stats(text)
        self.assertEqual(gc['modes'], {'mostly-concurrent': 1})
        self.assertEqual(gc['gcs'], 3)

    def test_pause_without_collection_line_is_an_error(self):
        text = self.text.replace('GC #2 freed', 'GC #2 released')
        self.assertIn('"GC #N freed"',
                      bench.check_gc_stats(bench.parse_gc_stats(text)))

    def test_collection_numbers_must_increase(self):
        text = self.text.replace('GC #3 freed', 'GC #2 freed')
        self.assertIn('do not increase',
                      bench.check_gc_stats(bench.parse_gc_stats(text)))

    def test_no_collections(self):
        gc = bench.parse_gc_stats('Number of processors: 2\n')
        self.assertEqual(gc['gcs'], 0)
        self.assertIsNone(bench.check_gc_stats(gc))

    def test_nearest_rank(self):
        values = list(range(1, 101))
        self.assertEqual(bench.nearest_rank(values, 0.99), 99)
        self.assertEqual(bench.nearest_rank(values, 1.0), 100)
        self.assertEqual(bench.nearest_rank([1, 2, 3, 4, 5], 0.99), 5)
        self.assertTrue(math.isnan(bench.nearest_rank([], 0.99)))


if __name__ == '__main__':
    unittest.main(argv=sys.argv[:1])
