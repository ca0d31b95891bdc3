#!/usr/bin/env python3
"""Runs gcheap against its anchors and writes a table, results.json and plots.

What it does
------------
Every benchmark is a separate process that follows tools/bench/PROTOCOL.md:
the driver passes --workload, --threads, --depth, --quick and --trace=FILE,
and reads the last stdout line,

    RESULT system=S workload=W threads=N wall_ms=F cpu_ms=F max_rss_mb=F
           gcs=N pause_p50_us=F pause_p99_us=F pause_max_us=F
           ns_per_alloc=F allocator=A

(one line), plus the trace CSV (kind,t_ms,value: rss, heap and pause rows).
Each program is started by a /bin/sh that forks it, so that its ru_maxrss
does not inherit this driver's peak RSS (see launch()).

Systems: gcheap (ours, concurrent marking; the default), gcheap-stw (ours,
stop-the-world; shown for contrast, not an anchor), boehm, boehm-tuned and
the malloc family (glibc, mimalloc, jemalloc, tcmalloc), all run by
tools/bench/tree_bench (--system=...; the malloc allocators are chosen with
LD_PRELOAD), and go, run by tools/go/treebench. The anchors are every system
except gcheap and gcheap-stw.

Workload configurations: gcbench, binarytrees (depth 21; quick 16),
mtgcbench with 1, 2, 4 and 8 threads, allocrate with 1 and 2 threads.

Alternation: for each round r = 1..runs, for each configuration, every
system runs once, each process with its own trace file. The system order
is rotated by one place per round (and per configuration), so no system
always runs first or always right after a configuration change.

A run fails if it cannot start, times out, exits non-zero, lacks the RESULT
line (or the line is missing a key, or names another workload or thread
count), or, for a malloc system, reports an allocator other than the one
asked for. A failure is reported at once on stderr, the driver goes on,
and it exits 1 at the end. In the tables a system whose runs all failed
shows FAIL in every cell; if only some failed, its runs column says
"FAIL k/n" and the medians are over the others.

Statistics: per (configuration, system) the median over the successful runs
of wall ms, cpu ms, max RSS MiB, collections, p99 and max pause (us) and,
for allocrate, ns per allocation. Pause medians skip runs without pauses
(nan). Ratios are gcheap's median divided by an anchor's median (below 1:
gcheap is better): to the best anchor in wall time (the lowest wall among
the anchors), in RSS (the lowest RSS) and, for allocrate, in ns/alloc; and
to go and boehm-tuned by name.

Output: a fixed-width table on stdout, the same as markdown in --markdown
(with the machine description), results.json (every run and the medians),
and per configuration two SVG plots drawn from the median-wall run of each
system: <cfg>-rss.svg (RSS over time, the collector's heap dashed) and
<cfg>-pauses.svg (a CDF of the per-cycle pauses on a log axis, GC systems
only). Traces are downsampled to at most 500 points per line.

Usage (tools/run_anchor_bench.sh builds both programs and calls this):
    anchor_bench.py --tree_bench=PATH --go_treebench=PATH [--quick]
        [--runs=N] [--systems=a,b] [--workloads=gcbench,mtgcbench-t4,...]
        [--out=DIR] [--markdown=FILE] [--trace_dir=DIR] [--timeout=S]
"""

import argparse
import csv
import datetime
import functools
import glob
import json
import math
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from xml.sax.saxutils import escape

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))

SYSTEMS = ['gcheap', 'gcheap-stw', 'boehm', 'boehm-tuned', 'go', 'glibc',
           'mimalloc', 'jemalloc', 'tcmalloc']
OURS = ['gcheap', 'gcheap-stw']
ANCHORS = [s for s in SYSTEMS if s not in OURS]
MALLOCS = ['glibc', 'mimalloc', 'jemalloc', 'tcmalloc']
GC_SYSTEMS = [s for s in SYSTEMS if s not in MALLOCS]

# The shared library LD_PRELOADed for each malloc system (glibc: none).
PRELOAD_LIBS = {
    'mimalloc': 'libmimalloc.so.2',
    'jemalloc': 'libjemalloc.so.2',
    'tcmalloc': 'libtcmalloc_minimal.so.4',
}

# Debian packages whose versions go into the report's header.
VERSION_PACKAGES = [
    ('Boehm GC', 'libgc-dev'),
    ('glibc', 'libc6'),
    ('mimalloc', 'libmimalloc-dev'),
    ('jemalloc', 'libjemalloc-dev'),
    ('tcmalloc', 'libgoogle-perftools-dev'),
]

# One colour per system, the same in every plot.
COLORS = {
    'gcheap': '#d62728', 'gcheap-stw': '#ff7f0e', 'boehm': '#1f77b4',
    'boehm-tuned': '#9467bd', 'go': '#17becf', 'glibc': '#7f7f7f',
    'mimalloc': '#2ca02c', 'jemalloc': '#8c564b', 'tcmalloc': '#bcbd22',
}

RESULT_KEYS = ['system', 'workload', 'threads', 'wall_ms', 'cpu_ms',
               'max_rss_mb', 'gcs', 'pause_p50_us', 'pause_p99_us',
               'pause_max_us', 'ns_per_alloc', 'allocator']
NUMERIC_KEYS = ['wall_ms', 'cpu_ms', 'max_rss_mb', 'gcs', 'pause_p50_us',
                'pause_p99_us', 'pause_max_us', 'ns_per_alloc']

# The medians shown: (results.json key, column header, RESULT key).
METRICS = [
    ('wall_ms', 'wall ms', 'wall_ms'),
    ('cpu_ms', 'cpu ms', 'cpu_ms'),
    ('rss_mib', 'max RSS MiB', 'max_rss_mb'),
    ('gcs', 'GCs', 'gcs'),
    ('pause_p99_us', 'p99 pause us', 'pause_p99_us'),
    ('pause_max_us', 'max pause us', 'pause_max_us'),
    ('ns_per_alloc', 'ns/alloc', 'ns_per_alloc'),
]

MAX_POINTS = 500  # Per plotted line.


def workload_configs(quick):
    """Returns every workload configuration: name, workload, flags."""
    depth = 16 if quick else 21
    configs = [
        {'name': 'gcbench', 'workload': 'gcbench', 'threads': 1, 'args': []},
        {'name': 'binarytrees', 'workload': 'binarytrees', 'threads': 1,
         'args': [f'--depth={depth}']},
    ]
    for threads in (1, 2, 4, 8):
        configs.append({'name': f'mtgcbench-t{threads}',
                        'workload': 'mtgcbench', 'threads': threads,
                        'args': [f'--threads={threads}']})
    for threads in (1, 2):
        configs.append({'name': f'allocrate-t{threads}',
                        'workload': 'allocrate', 'threads': threads,
                        'args': [f'--threads={threads}']})
    return configs


def parse_args(argv):
    """Parses the command line; fills in the mode-dependent defaults."""
    p = argparse.ArgumentParser(
        description='Runs gcheap against its anchors (see the file comment).')
    p.add_argument('--tree_bench', required=True,
                   help='path to the C++ tree_bench binary')
    p.add_argument('--go_treebench', required=True,
                   help='path to the Go treebench binary')
    p.add_argument('--quick', action='store_true',
                   help='smaller sizes; 1 run; output to a temp dir')
    p.add_argument('--runs', type=int, default=None,
                   help='rounds of runs (default 3; quick: 1)')
    p.add_argument('--systems', default=','.join(SYSTEMS),
                   help='comma-separated systems: ' + ','.join(SYSTEMS))
    p.add_argument('--workloads', default='',
                   help='comma-separated workloads (gcbench, mtgcbench, ...) '
                   'or configurations (mtgcbench-t4, allocrate-t2, ...); '
                   'default all')
    p.add_argument('--out', default=None,
                   help='output directory (default docs/benchmarks; quick: a '
                   'new temp dir)')
    p.add_argument('--markdown', default=None,
                   help='markdown report (default OUT/anchors.md)')
    p.add_argument('--trace_dir', default=None,
                   help='keep traces and run logs here (default: a temp dir, '
                   'deleted at the end)')
    p.add_argument('--timeout', type=float, default=None,
                   help='seconds before a run is killed and failed (default '
                   '1800; quick: 300)')
    args = p.parse_args(argv)

    if args.runs is None:
        args.runs = 1 if args.quick else 3
    if args.runs < 1:
        p.error('--runs must be at least 1')
    if args.timeout is None:
        args.timeout = 300.0 if args.quick else 1800.0

    args.systems = [s for s in args.systems.split(',') if s]
    unknown = [s for s in args.systems if s not in SYSTEMS]
    if unknown or not args.systems:
        p.error(f'unknown systems {unknown}; choose from {",".join(SYSTEMS)}')
    args.systems = [s for s in SYSTEMS if s in args.systems]

    configs = workload_configs(args.quick)
    if args.workloads:
        wanted = [w for w in args.workloads.split(',') if w]
        known = {c['name'] for c in configs} | {c['workload'] for c in configs}
        unknown = [w for w in wanted if w not in known]
        if unknown:
            names = ','.join(c['name'] for c in configs)
            p.error(f'unknown workloads {unknown}; choose from {names} '
                    'or a workload name')
        configs = [c for c in configs
                   if c['name'] in wanted or c['workload'] in wanted]
    args.configs = configs
    return args


def make_output_dirs(args):
    """Resolves --out, --markdown and --trace_dir and creates them."""
    if args.out is None:
        if args.quick:
            args.out = tempfile.mkdtemp(prefix='anchor_bench.')
        else:
            args.out = os.path.join(REPO_ROOT, 'docs', 'benchmarks')
    args.out = os.path.abspath(args.out)
    if args.markdown is None:
        args.markdown = os.path.join(args.out, 'anchors.md')
    args.markdown = os.path.abspath(args.markdown)
    os.makedirs(args.out, exist_ok=True)
    os.makedirs(os.path.dirname(args.markdown), exist_ok=True)
    args.keep_traces = args.trace_dir is not None
    if args.keep_traces:
        args.trace_dir = os.path.abspath(args.trace_dir)
        os.makedirs(args.trace_dir, exist_ok=True)
    else:
        args.trace_dir = tempfile.mkdtemp(prefix='anchor_bench_traces.')


@functools.lru_cache(maxsize=None)
def find_library(soname):
    """Returns the path of a shared library by its soname, or None."""
    try:
        out = subprocess.run(['ldconfig', '-p'], capture_output=True, text=True,
                             check=False).stdout
    except OSError:
        out = ''
    if not out:
        try:  # Debian keeps ldconfig in /sbin, not always on a user's PATH.
            out = subprocess.run(['/sbin/ldconfig', '-p'], capture_output=True,
                                 text=True, check=False).stdout
        except OSError:
            out = ''
    matches = []
    for line in out.splitlines():
        # "\tlibmimalloc.so.2 (libc6,x86-64) => /lib/x86_64-linux-gnu/..."
        desc, _, path = line.strip().partition(' => ')
        if desc.split(' ')[0] == soname and os.path.exists(path):
            matches.append((desc, path))
    # ldconfig also lists other ABIs' copies (i386: "(libc6)"); prefer ours.
    arch = {'x86_64': 'x86-64', 'aarch64': 'AArch64'}.get(platform.machine())
    for desc, path in matches:
        if arch is None or arch in desc:
            return path
    multiarch = ''
    try:
        multiarch = subprocess.run(['gcc', '-print-multiarch'],
                                   capture_output=True, text=True,
                                   check=False).stdout.strip()
    except OSError:
        pass
    candidates = []
    if multiarch:
        candidates += [f'/usr/lib/{multiarch}/{soname}',
                       f'/lib/{multiarch}/{soname}']
    candidates += sorted(glob.glob(f'/usr/lib/*-linux-gnu/{soname}'))
    candidates += [f'/usr/lib/{soname}', f'/usr/local/lib/{soname}']
    for path in candidates:
        if os.path.exists(path):
            return path
    return None


def command_for(args, cfg, system, trace_path):
    """Returns (argv, LD_PRELOAD or '', error) for one run.

    error is set when the run cannot be made (a missing library).
    """
    flags = [f'--workload={cfg["workload"]}'] + cfg['args']
    if args.quick:
        flags.append('--quick')
    flags.append(f'--trace={trace_path}')
    if system == 'go':
        return [args.go_treebench] + flags, '', None
    if system in MALLOCS:
        argv = [args.tree_bench, '--system=malloc'] + flags
        if system not in PRELOAD_LIBS:
            return argv, '', None
        lib = find_library(PRELOAD_LIBS[system])
        if lib is None:
            return argv, '', f'{PRELOAD_LIBS[system]} not found'
        return argv, lib, None
    return [args.tree_bench, f'--system={system}'] + flags, '', None


def launch(argv, preload, timeout):
    """Runs argv; returns (exit code or None, stdout, stderr, error or None).

    The program is started by a /bin/sh that forks it, not by this process.
    Linux carries a process's peak RSS across exec (ru_maxrss includes the
    peak of the image it replaced), so a program started straight from
    Python would report at least this driver's own RSS as its max RSS. The
    forked child's peak starts from the small shell instead. The shell gets
    a session of its own, so a timeout kills the program with it.
    """
    env = dict(os.environ)
    env.pop('LD_PRELOAD', None)  # glibc must really be glibc.
    prefix = ['env', f'LD_PRELOAD={preload}'] if preload else []
    shell = ['/bin/sh', '-c', '"$@"; exit $?', 'sh'] + prefix + argv
    try:
        proc = subprocess.Popen(shell, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True,
                                errors='replace', start_new_session=True)
    except OSError as e:
        return None, '', '', f'could not start: {e}'
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # The shell's own group.
        except ProcessLookupError:
            pass
        stdout, stderr = proc.communicate()
        return None, stdout, stderr, f'timed out after {timeout:g} s'
    code = proc.returncode
    if code == 0:
        return code, stdout, stderr, None
    if code > 128:  # The shell reports a program killed by signal N as 128+N.
        return code, stdout, stderr, (
            f'exit code {code} (killed by {signal_name(code - 128)})')
    if code == 127:
        return code, stdout, stderr, f'exit code {code} (could not start)'
    return code, stdout, stderr, f'exit code {code}'


def signal_name(n):
    try:
        return signal.Signals(n).name
    except ValueError:
        return f'signal {n}'


def parse_result(stdout):
    """Returns (dict of the RESULT line, error or None)."""
    lines = [l for l in stdout.splitlines() if l.strip()]
    result_lines = [l for l in lines if l.startswith('RESULT ')]
    if not result_lines:
        return None, 'no RESULT line on stdout'
    if lines[-1] != result_lines[-1]:
        return None, 'RESULT is not the last line of stdout'
    fields = {}
    for item in result_lines[-1].split()[1:]:
        key, sep, value = item.partition('=')
        if not sep:
            return None, f'malformed RESULT field {item!r}'
        fields[key] = value
    missing = [k for k in RESULT_KEYS if k not in fields]
    if missing:
        return None, f'RESULT lacks {",".join(missing)}'
    for key in NUMERIC_KEYS + ['threads']:
        try:
            fields[key] = float(fields[key])  # float('nan') parses 'nan'.
        except ValueError:
            return None, f'RESULT {key}={fields[key]!r} is not a number'
    return fields, None


def check_result(res, cfg, system):
    """Returns an error if the RESULT does not describe the run asked for."""
    if res['workload'] != cfg['workload']:
        return f'RESULT workload={res["workload"]}, expected {cfg["workload"]}'
    if cfg['workload'] in ('mtgcbench', 'allocrate') and (
        res['threads'] != cfg['threads']):
        return f'RESULT threads={res["threads"]:g}, expected {cfg["threads"]}'
    expected = {system, 'malloc' if system in MALLOCS else system}
    if system == 'go':
        ok = res['system'].startswith('go')
    else:
        ok = res['system'] in expected
    if not ok:
        return f'RESULT system={res["system"]}, expected {system}'
    if system in MALLOCS and res['allocator'] != system:
        return f'allocator={res["allocator"]}, expected {system}'
    if not math.isfinite(res['wall_ms']) or res['wall_ms'] <= 0:
        return f'wall_ms={res["wall_ms"]}'
    if cfg['workload'] == 'allocrate' and not math.isfinite(
        res['ns_per_alloc']):
        return 'allocrate without ns_per_alloc'
    return None


def tail(text, n=15):
    """The last n lines of text, indented, for failure reports."""
    lines = text.rstrip().splitlines()[-n:]
    return '\n'.join('    | ' + l for l in lines)


def run_one(args, cfg, system, rnd, trace_dir):
    """Runs one process; returns its record (ok, error, result, trace...)."""
    stem = f'{cfg["name"]}.{system}.r{rnd}'
    trace_path = os.path.join(trace_dir, stem + '.csv')
    log_path = os.path.join(trace_dir, stem + '.log')
    if os.path.exists(trace_path):
        os.remove(trace_path)  # Never read a stale trace.
    argv, preload, error = command_for(args, cfg, system, trace_path)
    rec = {'config': cfg['name'], 'system': system, 'round': rnd,
           'command': ' '.join(argv), 'ld_preload': preload,
           'ok': False, 'error': error, 'exit_code': None, 'result': None,
           'trace': None, 'elapsed_s': None}
    if error:
        return rec
    start = time.monotonic()
    rec['exit_code'], stdout, stderr, rec['error'] = launch(
        argv, preload, args.timeout)
    rec['elapsed_s'] = round(time.monotonic() - start, 3)
    with open(log_path, 'w') as f:
        f.write(f'$ {rec["command"]}\n# LD_PRELOAD={rec["ld_preload"]}\n')
        f.write(f'# exit code {rec["exit_code"]}\n--- stdout\n{stdout}\n'
                f'--- stderr\n{stderr}\n')
    if rec['error'] is None:
        res, error = parse_result(stdout)
        if error is None:
            error = check_result(res, cfg, system)
        rec['result'] = res
        rec['error'] = error
    if rec['error'] is None:
        rec['ok'] = True
    else:
        rec['output_tail'] = tail(stderr or stdout)
    if os.path.exists(trace_path):
        rec['trace'] = trace_path
    return rec


def rotated(systems, k):
    """The systems list rotated left by k places."""
    k %= len(systems)
    return systems[k:] + systems[:k]


def median(values):
    """Median of the finite values, or nan if there are none."""
    values = [v for v in values if v is not None and math.isfinite(v)]
    return statistics.median(values) if values else math.nan


def median_wall_run(runs):
    """The successful run with the median wall time (lower middle)."""
    ok = sorted((r for r in runs if r['ok']),
                key=lambda r: r['result']['wall_ms'])
    return ok[(len(ok) - 1) // 2] if ok else None


def summarize(records, configs, systems):
    """Returns {cfg: {system: cell}} with medians and run counts."""
    cells = {}
    for cfg in configs:
        cells[cfg['name']] = {}
        for system in systems:
            runs = [r for r in records
                    if r['config'] == cfg['name'] and r['system'] == system]
            ok = [r for r in runs if r['ok']]
            cell = {'runs': len(runs), 'ok_runs': len(ok),
                    'failed_runs': len(runs) - len(ok)}
            for key, _, result_key in METRICS:
                cell[key] = median([r['result'][result_key] for r in ok])
            best = median_wall_run(runs)
            cell['median_wall_round'] = best['round'] if best else None
            cells[cfg['name']][system] = cell
    return cells


def best_anchor(row, key):
    """(system, value) of the anchor with the lowest finite key, or None."""
    best = None
    for system in ANCHORS:
        cell = row.get(system)
        if cell is None or not math.isfinite(cell[key]):
            continue
        if best is None or cell[key] < best[1]:
            best = (system, cell[key])
    return best


def ratio(a, b):
    if a is None or b is None or not math.isfinite(a) or not math.isfinite(b):
        return math.nan
    if b == 0:
        return math.nan
    return a / b


def compute_ratios(cells, configs):
    """Returns {cfg: gcheap's ratios to the best anchor, go, boehm-tuned}."""
    out = {}
    for cfg in configs:
        row = cells[cfg['name']]
        ours = row.get('gcheap')
        r = {}
        metrics = [('wall', 'wall_ms'), ('rss', 'rss_mib')]
        if cfg['workload'] == 'allocrate':
            metrics.append(('ns_per_alloc', 'ns_per_alloc'))
        for name, key in metrics:
            mine = ours[key] if ours else math.nan
            best = best_anchor(row, key)
            r[f'{name}_best_anchor'] = best[0] if best else None
            r[f'{name}_vs_best'] = ratio(mine, best[1] if best else None)
            for anchor in ('go', 'boehm-tuned'):
                theirs = row[anchor][key] if anchor in row else None
                r[f'{name}_vs_{anchor}'] = ratio(mine, theirs)
        out[cfg['name']] = r
    return out


# ---------------------------------------------------------------- formatting


def fmt_num(v, kind='auto'):
    """Formats a number for the tables; '-' for nan."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return '-'
    if kind == 'ratio':
        return f'{v:.2f}x'
    if kind == 'int':
        return f'{v:.0f}' if v == int(v) else f'{v:.1f}'
    if abs(v) >= 100:
        return f'{v:.0f}'
    if abs(v) >= 10:
        return f'{v:.1f}'
    return f'{v:.2f}'


def system_table(cfg, row, systems):
    """Header and rows of one configuration's table."""
    metrics = [m for m in METRICS
               if m[0] != 'ns_per_alloc' or cfg['workload'] == 'allocrate']
    header = ['system', 'runs'] + [m[1] for m in metrics]
    rows = []
    for system in systems:
        cell = row[system]
        name = system + (' (ours)' if system in OURS else '')
        if cell['ok_runs'] == 0:
            rows.append([name, f'FAIL {cell["failed_runs"]}/{cell["runs"]}'] +
                        ['FAIL'] * len(metrics))
            continue
        runs = str(cell['runs'])
        if cell['failed_runs']:
            runs = f'FAIL {cell["failed_runs"]}/{cell["runs"]}'
        rows.append([name, runs] + [
            fmt_num(cell[key], 'int' if key == 'gcs' else 'auto')
            for key, _, _ in metrics])
    return header, rows


def ratio_tables(configs, ratios):
    """Two summary tables: gcheap vs the best anchor, vs go and boehm-tuned."""
    has_alloc = any(c['workload'] == 'allocrate' for c in configs)
    best_header = ['config', 'wall ratio', 'best wall anchor', 'RSS ratio',
                   'best RSS anchor']
    named_header = ['config', 'wall / go', 'RSS / go', 'wall / boehm-tuned',
                    'RSS / boehm-tuned']
    if has_alloc:
        best_header += ['ns/alloc ratio', 'best ns/alloc anchor']
        named_header += ['ns/alloc / go', 'ns/alloc / boehm-tuned']
    best_rows, named_rows = [], []
    for cfg in configs:
        r = ratios[cfg['name']]
        best = [cfg['name'], fmt_num(r['wall_vs_best'], 'ratio'),
                r['wall_best_anchor'] or '-',
                fmt_num(r['rss_vs_best'], 'ratio'),
                r['rss_best_anchor'] or '-']
        named = [cfg['name']] + [fmt_num(r[k], 'ratio') for k in (
            'wall_vs_go', 'rss_vs_go', 'wall_vs_boehm-tuned',
            'rss_vs_boehm-tuned')]
        if has_alloc:
            if 'ns_per_alloc_vs_best' in r:
                best += [fmt_num(r['ns_per_alloc_vs_best'], 'ratio'),
                         r['ns_per_alloc_best_anchor'] or '-']
                named += [fmt_num(r['ns_per_alloc_vs_go'], 'ratio'),
                          fmt_num(r['ns_per_alloc_vs_boehm-tuned'], 'ratio')]
            else:
                best += ['-', '-']
                named += ['-', '-']
        best_rows.append(best)
        named_rows.append(named)
    return (best_header, best_rows), (named_header, named_rows)


def numeric_columns(header, rows):
    """Per column: True if it holds numbers (right-aligned), else False."""
    def numeric(cell):
        cell = str(cell).rstrip('x')
        if cell in ('-', '') or cell.startswith('FAIL'):
            return True
        try:
            float(cell)
            return True
        except ValueError:
            return False
    return [i > 0 and all(numeric(r[i]) for r in rows)
            for i in range(len(header))]


def text_table(header, rows):
    """A fixed-width table: numbers right-aligned, text left-aligned."""
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    right = numeric_columns(header, rows)

    def line(cells):
        parts = [str(c).rjust(w) if r else str(c).ljust(w)
                 for c, w, r in zip(cells, widths, right)]
        return '  '.join(parts).rstrip()

    out = [line(header), '  '.join('-' * w for w in widths)]
    out += [line(r) for r in rows]
    return '\n'.join(out)


def markdown_table(header, rows):
    """A markdown table: numbers right-aligned, text left-aligned."""
    align = ['---:' if r else ':---' for r in numeric_columns(header, rows)]
    out = ['| ' + ' | '.join(header) + ' |', '|' + '|'.join(align) + '|']
    out += ['| ' + ' | '.join(str(c) for c in r) + ' |' for r in rows]
    return '\n'.join(out)


# ------------------------------------------------------------------ machine


def sh(argv):
    """stdout of a command, stripped; '' if it fails."""
    try:
        p = subprocess.run(argv, capture_output=True, text=True, check=False,
                           cwd=REPO_ROOT)
        return p.stdout.strip() if p.returncode == 0 else ''
    except OSError:
        return ''


def machine_info(args):
    """The facts for the report header."""
    info = {}
    info['date'] = datetime.datetime.now().astimezone().isoformat(
        timespec='seconds')
    commit = sh(['git', 'rev-parse', '--short=12', 'HEAD'])
    if commit and sh(['git', 'status', '--porcelain', '--untracked-files=no']):
        commit += ' (with uncommitted changes)'
    info['git_commit'] = commit or 'unknown'
    info['mode'] = 'quick' if args.quick else 'full'
    info['runs'] = args.runs
    info['nproc'] = sh(['nproc']) or str(os.cpu_count())
    cpu = 'unknown'
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    cpu = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    info['cpu'] = cpu
    mem = 'unknown'
    try:
        with open('/proc/meminfo') as f:
            for line in f:
                if line.startswith('MemTotal:'):
                    mem = f'{int(line.split()[1]) / 1024 / 1024:.1f} GiB'
                    break
    except OSError:
        pass
    info['memory'] = mem
    info['kernel'] = platform.release()
    # `go version BINARY` names the toolchain that built the binary.
    go = sh(['go', 'version', args.go_treebench])
    if ':' in go:
        go = go.split(':', 1)[1].strip()
    else:  # Not a Go binary we can read: the go on PATH, then.
        go = sh(['go', 'version']).replace('go version ', '')
    info['go'] = go or 'unknown'
    for label, package in VERSION_PACKAGES:
        version = sh(['dpkg-query', '-W', '-f', '${Version}', package])
        info[label] = f'{package} {version}' if version else 'unknown'
    info['preload'] = {s: find_library(lib) or 'not found'
                       for s, lib in PRELOAD_LIBS.items()}
    return info


def machine_lines(info):
    """The header as lines of text (markdown bullets without the dash)."""
    return [
        f'Date: {info["date"]}; git commit {info["git_commit"]}',
        f'Mode: {info["mode"]}, {info["runs"]} run(s) per system and '
        'configuration, systems alternated within each round',
        f'Machine: nproc {info["nproc"]}, CPU {info["cpu"]}, memory '
        f'{info["memory"]}, kernel {info["kernel"]}',
        f'Go: {info["go"]}; Boehm GC: {info["Boehm GC"]}; glibc: '
        f'{info["glibc"]}',
        f'Allocators: mimalloc {info["mimalloc"]}, jemalloc {info["jemalloc"]},'
        f' tcmalloc {info["tcmalloc"]} (LD_PRELOAD of '
        + ', '.join(info['preload'].values()) + ')',
    ]


# -------------------------------------------------------------------- plots


def read_trace(path):
    """Returns {'rss': [(t_ms, MiB)], 'heap': [...], 'pause': [...]}."""
    data = {'rss': [], 'heap': [], 'pause': []}
    if not path or not os.path.exists(path):
        return data
    with open(path, newline='') as f:
        for row in csv.reader(f):
            if len(row) != 3 or row[0] not in data:
                continue  # The header, or a line we do not know.
            try:
                t, v = float(row[1]), float(row[2])
            except ValueError:
                continue
            if math.isfinite(t) and math.isfinite(v):
                data[row[0]].append((t, v))
    for points in data.values():
        points.sort()
    return data


def downsample(points, n=MAX_POINTS):
    """At most n points: the lowest and highest of each time bucket.

    Keeping both ends of every bucket keeps a sawtooth's peaks and troughs.
    """
    if len(points) <= n:
        return points
    buckets = n // 2
    size = len(points) / buckets
    out = []
    for i in range(buckets):
        lo = int(i * size)
        bucket = points[lo:max(int((i + 1) * size), lo + 1)]
        low = min(bucket, key=lambda p: p[1])
        high = max(bucket, key=lambda p: p[1])
        out += sorted({low, high})
    return out


def nice_step(span, ticks=6):
    """A 1/2/5 x 10^k step giving about `ticks` ticks over span."""
    if span <= 0:
        return 1.0
    raw = span / ticks
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if m * mag >= raw:
            return m * mag
    return 10 * mag


def tick_label(v):
    return f'{round(v, 9):g}'


# The plot area inside a W x H picture; the legend goes to the right.
W, H = 830, 420
LEFT, RIGHT, TOP, BOTTOM = 70, 580, 40, 360


def svg_open(title):
    return [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" '
            f'height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" '
            'font-size="11">',
            f'<rect width="{W}" height="{H}" fill="white"/>',
            f'<text x="{(LEFT + RIGHT) / 2}" y="22" text-anchor="middle" '
            f'font-size="13">{escape(title)}</text>']


def svg_frame(xlabel, ylabel):
    return [f'<rect x="{LEFT}" y="{TOP}" width="{RIGHT - LEFT}" '
            f'height="{BOTTOM - TOP}" fill="none" stroke="black"/>',
            f'<text x="{(LEFT + RIGHT) / 2}" y="{BOTTOM + 36}" '
            f'text-anchor="middle">{escape(xlabel)}</text>',
            f'<text transform="translate(18,{(TOP + BOTTOM) / 2}) rotate(-90)" '
            f'text-anchor="middle">{escape(ylabel)}</text>']


def svg_xtick(x, label, major=True):
    out = [f'<line x1="{x:.1f}" y1="{BOTTOM}" x2="{x:.1f}" '
           f'y2="{BOTTOM + (5 if major else 3)}" stroke="black"/>']
    if major:
        out.append(f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{BOTTOM}" '
                   'stroke="#ddd"/>')
        out.append(f'<text x="{x:.1f}" y="{BOTTOM + 17}" '
                   f'text-anchor="middle">{escape(label)}</text>')
    return out


def svg_ytick(y, label):
    return [f'<line x1="{LEFT - 5}" y1="{y:.1f}" x2="{LEFT}" y2="{y:.1f}" '
            'stroke="black"/>',
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{RIGHT}" y2="{y:.1f}" '
            'stroke="#ddd"/>',
            f'<text x="{LEFT - 8}" y="{y + 4:.1f}" '
            f'text-anchor="end">{escape(label)}</text>']


def svg_legend(entries):
    """entries: (color, dashed, label) per line."""
    out = []
    y = TOP + 8
    for color, dashed, label in entries:
        dash = ' stroke-dasharray="5,3"' if dashed else ''
        out.append(f'<line x1="{RIGHT + 12}" y1="{y}" x2="{RIGHT + 36}" '
                   f'y2="{y}" stroke="{color}" stroke-width="2"{dash}/>')
        out.append(f'<text x="{RIGHT + 42}" y="{y + 4}">{escape(label)}</text>')
        y += 17
    return out


def svg_polyline(points, color, dashed=False, width=1.5):
    dash = ' stroke-dasharray="5,3"' if dashed else ''
    coords = ' '.join(f'{x:.1f},{y:.1f}' for x, y in points)
    return (f'<polyline fill="none" stroke="{color}" stroke-width="{width}"'
            f'{dash} stroke-linejoin="round" points="{coords}"/>')


def write_rss_svg(path, title, series):
    """RSS (solid) and heap (dashed) over time; series: (system, trace)."""
    points = [p for _, tr in series if tr for p in tr['rss'] + tr['heap']]
    t_max = max([p[0] for p in points] + [1.0])
    v_max = max([p[1] for p in points] + [1.0])
    seconds = t_max >= 2000
    scale = 1000.0 if seconds else 1.0
    x_step = nice_step(t_max / scale)
    x_hi = math.ceil(t_max / scale / x_step) * x_step
    y_step = nice_step(v_max)
    y_hi = math.ceil(v_max * 1.02 / y_step) * y_step

    def xy(p):
        return (LEFT + (p[0] / scale) / x_hi * (RIGHT - LEFT),
                BOTTOM - p[1] / y_hi * (BOTTOM - TOP))

    out = svg_open(title)
    k = 0
    while k * x_step <= x_hi + 1e-9:
        out += svg_xtick(LEFT + k * x_step / x_hi * (RIGHT - LEFT),
                         tick_label(k * x_step))
        k += 1
    k = 0
    while k * y_step <= y_hi + 1e-9:
        out += svg_ytick(BOTTOM - k * y_step / y_hi * (BOTTOM - TOP),
                         tick_label(k * y_step))
        k += 1
    out += svg_frame('time since the workload started (' +
                     ('s' if seconds else 'ms') + ')', 'MiB')
    legend = []
    for system, trace in series:
        color = COLORS[system]
        width = 2.2 if system == 'gcheap' else 1.5
        if trace is None:
            legend.append((color, False, f'{system}: FAIL'))
        elif trace['rss']:
            out.append(svg_polyline([xy(p) for p in downsample(trace['rss'])],
                                    color, width=width))
            legend.append((color, False, f'{system} RSS'))
        else:
            legend.append((color, False, f'{system}: no rss in trace'))
        if trace and trace['heap']:
            out.append(svg_polyline([xy(p) for p in downsample(trace['heap'])],
                                    color, dashed=True, width=width))
            legend.append((color, True, f'{system} heap'))
    out += svg_legend(legend)
    out.append('</svg>')
    with open(path, 'w') as f:
        f.write('\n'.join(out) + '\n')


def us_label(v):
    """1 -> '1 µs', 1000 -> '1 ms', 1234567 -> '1.23 s' (3 digits)."""
    for unit, div in (('s', 1e6), ('ms', 1e3), ('µs', 1.0)):
        if v >= div:
            return f'{v / div:.3g} {unit}'
    return f'{v:.3g} µs'


def write_pause_svg(path, title, series):
    """CDF of pauses on a log x axis; series: (system, [pause us])."""
    positive = [v for _, ps in series for v in ps or [] if v > 0]
    lo = math.floor(math.log10(min(positive))) if positive else 0
    hi = math.ceil(math.log10(max(positive))) if positive else 3
    if hi <= lo:
        hi = lo + 1

    def x_of(v):
        v = max(v, 10 ** lo)  # A 0 µs pause sits on the left edge.
        return LEFT + (math.log10(v) - lo) / (hi - lo) * (RIGHT - LEFT)

    def y_of(f):
        return BOTTOM - f * (BOTTOM - TOP)

    out = svg_open(title)
    for e in range(lo, hi + 1):
        out += svg_xtick(x_of(10 ** e), us_label(10 ** e))
        if e < hi:
            for m in range(2, 10):
                out += svg_xtick(x_of(m * 10 ** e), '', major=False)
    for q in (0, 0.25, 0.5, 0.75, 1):
        out += svg_ytick(y_of(q), f'{q * 100:.0f}%')
    out += svg_frame('per-cycle stop-the-world pause (log scale; dot: max)',
                     'collections with pause ≤ x')
    legend = []
    for system, pauses in series:
        color = COLORS[system]
        if pauses is None:
            legend.append((color, False, f'{system}: FAIL'))
            continue
        if not pauses:
            legend.append((color, False, f'{system}: no pauses'))
            continue
        ps = sorted(pauses)
        n = len(ps)
        points = []
        if n <= MAX_POINTS // 2:  # A true step function.
            for i, v in enumerate(ps):
                points += [(x_of(v), y_of(i / n)), (x_of(v), y_of((i + 1) / n))]
        else:  # Evenly spaced ranks, the last included.
            for j in range(MAX_POINTS):
                i = round(j * (n - 1) / (MAX_POINTS - 1))
                points.append((x_of(ps[i]), y_of((i + 1) / n)))
        width = 2.2 if system == 'gcheap' else 1.5
        out.append(svg_polyline(points, color, width=width))
        # A dot on the largest pause, which a CDF's flat top can hide.
        out.append(f'<circle cx="{x_of(ps[-1]):.1f}" cy="{y_of(1):.1f}" '
                   f'r="3.5" fill="{color}"/>')
        legend.append((color, False,
                       f'{system}: {n}, max {us_label(ps[-1])}'))
    out += svg_legend(legend)
    out.append('</svg>')
    with open(path, 'w') as f:
        f.write('\n'.join(out) + '\n')


def write_plots(args, records):
    """Writes both SVGs per configuration; returns {cfg: [file names]}."""
    plots = {}
    for cfg in args.configs:
        series = []
        for system in args.systems:
            runs = [r for r in records
                    if r['config'] == cfg['name'] and r['system'] == system]
            best = median_wall_run(runs)
            if best is None:  # Every run failed: a legend entry says so.
                series.append((system, None))
                continue
            trace = read_trace(best['trace'])
            if best['trace'] is None:
                print(f'anchor_bench: note: {cfg["name"]} {system} round '
                      f'{best["round"]} wrote no trace', file=sys.stderr)
            series.append((system, trace))
        names = []
        if any(trace for _, trace in series):
            name = f'{cfg["name"]}-rss.svg'
            write_rss_svg(os.path.join(args.out, name),
                          f'{cfg["name"]}: RSS (solid) and heap (dashed), '
                          'median-wall run', series)
            names.append(name)
        pause_series = [(s, tr and [v for _, v in tr['pause']])
                        for s, tr in series if s in GC_SYSTEMS]
        if any(pauses is not None for _, pauses in pause_series):
            name = f'{cfg["name"]}-pauses.svg'
            write_pause_svg(os.path.join(args.out, name),
                            f'{cfg["name"]}: pause CDF, median-wall run',
                            pause_series)
            names.append(name)
        plots[cfg['name']] = names
    return plots


# ------------------------------------------------------------------- report


def report(args, info, cells, ratios, plots, failures):
    """Returns (text for stdout, markdown)."""
    text, md = [], []
    md.append('# Anchor benchmarks: gcheap against Go, Boehm and malloc\n')
    user_args = [a for a in args.argv if not a.startswith(
        ('--tree_bench', '--go_treebench'))]
    md.append('Generated by `' + ' '.join(['tools/run_anchor_bench.sh'] +
                                           user_args)
              + '` (driver: `tools/bench/anchor_bench.py`; process protocol: '
              '`tools/bench/PROTOCOL.md`).\n')
    for line in machine_lines(info):
        text.append(line)
        md.append(f'- {line}')
    explain = (
        'Medians over the successful runs. Anchors: ' + ', '.join(ANCHORS)
        + '; gcheap-stw (stop-the-world) is ours, for contrast. Ratios are '
        'gcheap / anchor: below 1.00x gcheap is better. "best" is the anchor '
        'with the lowest median (wall, RSS or ns/alloc). Pauses are per-cycle '
        'stop-the-world time in µs (- : no collections).')
    text += ['', explain]
    md += ['', explain, '']
    if failures:
        msg = f'{len(failures)} run(s) FAILED (cells marked FAIL):'
        text += ['', msg]
        md += [f'**{msg}**', '']
        for r in failures:
            line = (f'{r["config"]} {r["system"]} round {r["round"]}: '
                    f'{r["error"]}')
            text.append('  ' + line)
            md.append(f'- {line}')
        md.append('')

    (bh, br), (nh, nr) = ratio_tables(args.configs, ratios)
    if 'gcheap' in args.systems:
        best = 'gcheap / the best anchor (ratios of medians)'
        named = 'gcheap / go and gcheap / boehm-tuned (ratios of medians)'
        text += ['', best, text_table(bh, br),
                 '', named, text_table(nh, nr)]
        md += [f'## {best}', '', markdown_table(bh, br), '',
               f'## {named}', '',
               markdown_table(nh, nr), '']

    md_dir = os.path.dirname(args.markdown)
    for cfg in args.configs:
        header, rows = system_table(cfg, cells[cfg['name']], args.systems)
        flags = ' '.join([f'--workload={cfg["workload"]}'] + cfg['args'] +
                         (['--quick'] if args.quick else []))
        text += ['', f'== {cfg["name"]}  ({flags})', text_table(header, rows)]
        md += [f'## {cfg["name"]}', '', f'`{flags}`', '',
               markdown_table(header, rows), '']
        for name in plots.get(cfg['name'], []):
            rel = os.path.relpath(os.path.join(args.out, name), md_dir)
            what = name[len(cfg['name']) + 1:-len('.svg')]
            md.append(f'![{cfg["name"]} {what}]({rel})')
        md.append('')
    return '\n'.join(text), '\n'.join(md)


def nan_to_none(x):
    """Makes a structure JSON-safe (nan is not JSON)."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: nan_to_none(v) for k, v in x.items()}
    if isinstance(x, list):
        return [nan_to_none(v) for v in x]
    return x


def progress_line(rec, cfg, n, total):
    """One line of progress for a finished run (several if it failed)."""
    head = (f'[{n:{len(str(total))}d}/{total}] round {rec["round"]} '
            f'{cfg["name"]:<14} {rec["system"]:<12}')
    if not rec['ok']:
        lines = [f'{head} FAIL  {rec["error"]}',
                 f'    command: {rec["command"]}']
        if rec['ld_preload']:
            lines.append(f'    LD_PRELOAD={rec["ld_preload"]}')
        if rec.get('output_tail'):
            lines.append(rec['output_tail'])
        return '\n'.join(lines)
    res = rec['result']
    line = (f'{head} ok    wall {res["wall_ms"]:9.1f} ms  '
            f'rss {res["max_rss_mb"]:8.1f} MiB  gcs {res["gcs"]:g}')
    if cfg['workload'] == 'allocrate':
        line += f'  {res["ns_per_alloc"]:.1f} ns/alloc'
    return line


def main(argv):
    args = parse_args(argv)
    args.argv = argv
    binaries = []
    if any(s != 'go' for s in args.systems):
        binaries.append(('--tree_bench', args.tree_bench))
    if 'go' in args.systems:
        binaries.append(('--go_treebench', args.go_treebench))
    for flag, path in binaries:
        if not os.access(path, os.X_OK):
            print(f'anchor_bench: {flag}={path} is not an executable',
                  file=sys.stderr)
            return 2
    args.tree_bench = os.path.abspath(args.tree_bench)
    args.go_treebench = os.path.abspath(args.go_treebench)
    make_output_dirs(args)
    keep_traces, trace_dir = args.keep_traces, args.trace_dir

    info = machine_info(args)
    records = []
    total = args.runs * len(args.configs) * len(args.systems)
    print(f'anchor_bench: {total} runs ({args.runs} round(s) x '
          f'{len(args.configs)} configurations x {len(args.systems)} systems), '
          f'{"quick" if args.quick else "full"} mode', file=sys.stderr)
    try:
        for rnd in range(1, args.runs + 1):
            for ci, cfg in enumerate(args.configs):
                for system in rotated(args.systems, rnd - 1 + ci):
                    rec = run_one(args, cfg, system, rnd, trace_dir)
                    records.append(rec)
                    print(progress_line(rec, cfg, len(records), total),
                          file=sys.stderr, flush=True)

        cells = summarize(records, args.configs, args.systems)
        ratios = compute_ratios(cells, args.configs)
        plots = write_plots(args, records)
    finally:
        if not keep_traces:
            shutil.rmtree(trace_dir, ignore_errors=True)

    failures = [r for r in records if not r['ok']]
    text, md = report(args, info, cells, ratios, plots, failures)
    with open(args.markdown, 'w') as f:
        f.write(md)
    results_path = os.path.join(args.out, 'results.json')
    for r in records:
        r.pop('output_tail', None)
        if not keep_traces:
            r['trace'] = None
    with open(results_path, 'w') as f:
        json.dump(nan_to_none({
            'machine': info, 'mode': info['mode'], 'runs': args.runs,
            'systems': args.systems, 'anchors': ANCHORS,
            'configs': args.configs, 'medians': cells, 'ratios': ratios,
            'records': records, 'plots': plots}), f, indent=1)
        f.write('\n')

    print(text)
    sys.stdout.flush()
    if failures:
        print(f'\nanchor_bench: {len(failures)} of {len(records)} runs FAILED:',
              file=sys.stderr)
        for r in failures:
            print(f'  {r["config"]} {r["system"]} round {r["round"]}: '
                  f'{r["error"]}', file=sys.stderr)
        sys.stderr.flush()
    where = (f'Wrote the table to {args.markdown}, results to {results_path} '
             f'and plots to {args.out}/')
    if keep_traces:
        where += f' (traces and logs in {trace_dir}/)'
    print('\n' + where)
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
