#!/usr/bin/env python3
"""Runs programs that link Boehm GC's libgc.so.1 on two libraries: Debian's
libgc1 and the one in --libgc-dir (gcheap's drop-in, issue 13), and prints
the comparison.

What runs
---------
Workloads, each a set of measured processes ("rows"):
- w3m: `w3m -dump` of the generated 6 MiB page (row w3m);
- stalin-earley: Stalin compiling earley (row stalin-earley:compile) and
  the compiled program running (stalin-earley:run);
- stalin-boyer: Stalin compiling boyer (stalin-boyer:compile; compiled
  boyer does not link libgc.so.1 and is not measured);
  all three through tools/boehm_clients/run_client.sh, which also checks
  from the loader's log that each process initialized the intended
  library;
- tree-gcbench, tree-binarytrees (depth 18), tree-mtgcbench-t4,
  tree-allocrate-t2: tools/bench/tree_bench --system=boehm, the Boehm-API
  anchor workloads (tools/bench/PROTOCOL.md), which link libgc.so.1
  dynamically; its RESULT line must be there and sane.

Every measured process runs under tools/boehm_clients/procstat (wall time,
user+system CPU of the process and its waited-for children, VmHWM at exit,
the path of the libgc.so.1 in /proc/PID/maps) with GC_PRINT_STATS=1, and its
stderr is parsed for the statistics lines defined in docs/boehm-stats.md:
collections = the "World-stopped marking took" lines, the pause of each
collection is its figure. A run fails if a process fails, maps another
library than the one asked for, or, for the clients, produces output that
differs from the first Debian run of the same workload (every run is also
a correctness check).

Alternation: for each round r = 1..runs, for each workload, both libraries
run once, the order rotated by one place per round and per workload.

Statistics: per row and library, the median over the successful runs of
wall ms, CPU ms, peak RSS MiB, collections, p99 pause ms and max pause ms
(nearest-rank percentiles over a run's collections; medians skip runs with
no collection); the ratio row is the DIR library's median divided by
Debian's (below 1: the DIR library is better).

Load: the 1-minute load average is read before every run; the header
gives its minimum, median and maximum (on a machine shared with other work
wall times and pauses are inflated, the more so the higher it is). A run
that fails because the loader found a symbol missing from the library
names the symbol.

Output: a fixed-width table on stdout, the same as markdown in --markdown,
and results.json (every run and the medians) in --out.

Usage (tools/run_boehm_clients_bench.sh builds the programs and calls this):
    boehm_clients_bench.py --run_client=PATH --procstat=PATH
        --tree_bench=PATH --libgc_dir=DIR [--runs=N]
        [--workloads=w3m,tree-gcbench,...] [--out=DIR] [--markdown=FILE]
        [--logs=DIR] [--timeout=S]
"""

import argparse
import datetime
import json
import math
import os
import re
import shutil
import sys
import tempfile

# No __pycache__ in the source tree (a checkout stays clean).
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import anchor_bench as ab  # noqa: E402  (tables, medians, launching)

LIBS = ['debian', 'dir']

# name -> (kind, argument, rows measured)
WORKLOADS = {
    'w3m': ('client', 'w3m', ['w3m']),
    'stalin-earley': ('client', 'stalin-earley',
                      ['stalin-earley:compile', 'stalin-earley:run']),
    'stalin-boyer': ('client', 'stalin-boyer', ['stalin-boyer:compile']),
    'tree-gcbench': ('tree', ['--workload=gcbench'], ['tree-gcbench']),
    'tree-binarytrees': ('tree', ['--workload=binarytrees', '--depth=18'],
                         ['tree-binarytrees']),
    'tree-mtgcbench-t4': ('tree', ['--workload=mtgcbench', '--threads=4'],
                          ['tree-mtgcbench-t4']),
    'tree-allocrate-t2': ('tree', ['--workload=allocrate', '--threads=2'],
                          ['tree-allocrate-t2']),
}

# The medians shown: (key, column header, format kind).
METRICS = [
    ('wall_ms', 'wall ms', 'auto'),
    ('cpu_ms', 'CPU ms', 'auto'),
    ('peak_rss_mib', 'peak RSS MiB', 'auto'),
    ('gcs', 'GCs', 'int'),
    ('pause_p99_ms', 'p99 pause ms', 'auto'),
    ('pause_max_ms', 'max pause ms', 'auto'),
]

# docs/boehm-stats.md: the lines a library prints with GC_PRINT_STATS=1.
WORLD_STOPPED = re.compile(
    r'^World-stopped marking took (\d+) ms (\d+) ns \(\d+ ms in average\)$')
GC_FREED = re.compile(r'^GC #(\d+) freed -?\d+ bytes, heap \d+ KiB')
GC_MODE = re.compile(r'^GC #(\d+) mode: (\S+)$')
UNDEFINED_SYMBOL = re.compile(r'symbol lookup error: .*undefined symbol: (\S+)')


def parse_gc_stats(text):
    """Returns {'gcs', 'pauses_ms', 'gc_numbers', 'modes'} from stderr."""
    pauses, numbers, modes = [], [], {}
    for line in text.splitlines():
        m = WORLD_STOPPED.match(line)
        if m:
            pauses.append(int(m.group(1)) + int(m.group(2)) / 1e6)
            continue
        m = GC_FREED.match(line)
        if m:
            numbers.append(int(m.group(1)))
            continue
        m = GC_MODE.match(line)
        if m:
            modes[m.group(2)] = modes.get(m.group(2), 0) + 1
    return {'gcs': len(pauses), 'pauses_ms': pauses, 'gc_numbers': numbers,
            'modes': modes}


def check_gc_stats(gc):
    """An error if the lines break docs/boehm-stats.md's contract, or None."""
    if gc['gcs'] != len(gc['gc_numbers']):
        return (f'{gc["gcs"]} "World-stopped marking" lines but '
                f'{len(gc["gc_numbers"])} "GC #N freed" lines')
    numbers = gc['gc_numbers']
    if any(b <= a for a, b in zip(numbers, numbers[1:])):
        return 'the "GC #N freed" numbers do not increase'
    return None


def nearest_rank(sorted_values, q):
    """The nearest-rank q-quantile of sorted values, or nan."""
    if not sorted_values:
        return math.nan
    k = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[k - 1]


def parse_procstat(path):
    """{label: {key: value}} from procstat's lines (the last per label)."""
    out = {}
    if not os.path.exists(path):
        return out
    with open(path) as f:
        for line in f:
            fields = dict(item.split('=', 1) for item in line.split())
            out[fields['label']] = fields
    return out


def parse_args(argv):
    p = argparse.ArgumentParser(
        description='Boehm clients on Debian\'s libgc1 and on --libgc_dir '
        '(see the file comment).')
    p.add_argument('--run_client', required=True)
    p.add_argument('--procstat', required=True)
    p.add_argument('--tree_bench', required=True)
    p.add_argument('--libgc_dir', required=True,
                   help='directory holding the libgc.so.1 to compare')
    p.add_argument('--runs', type=int, default=3)
    p.add_argument('--workloads', default=','.join(WORKLOADS))
    p.add_argument('--out', default=None,
                   help='results.json goes here (default: a new temp dir)')
    p.add_argument('--markdown', default=None,
                   help='markdown table (default OUT/boehm-clients.md)')
    p.add_argument('--logs', default=None,
                   help='keep every run\'s outputs and stderr here')
    p.add_argument('--timeout', type=float, default=1800.0)
    args = p.parse_args(argv)
    if args.runs < 1:
        p.error('--runs must be at least 1')
    args.workloads = [w for w in args.workloads.split(',') if w]
    unknown = [w for w in args.workloads if w not in WORKLOADS]
    if unknown or not args.workloads:
        p.error(f'unknown workloads {unknown}; choose from '
                f'{",".join(WORKLOADS)}')
    for flag in ('run_client', 'procstat', 'tree_bench'):
        path = os.path.abspath(getattr(args, flag))
        if not os.access(path, os.X_OK):
            p.error(f'--{flag}={path} is not an executable')
        setattr(args, flag, path)
    args.libgc_dir = os.path.abspath(args.libgc_dir)
    if not os.path.exists(os.path.join(args.libgc_dir, 'libgc.so.1')):
        p.error(f'--libgc_dir={args.libgc_dir} holds no libgc.so.1')
    return args


def debian_libgc():
    multiarch = ab.sh(['gcc', '-print-multiarch']) or 'x86_64-linux-gnu'
    return os.path.realpath(f'/usr/lib/{multiarch}/libgc.so.1')


def run_once(args, name, lib, rnd, dirs, reference):
    """Runs one workload on one library; returns a list of row records."""
    kind, what, rows = WORKLOADS[name]
    stem = f'{name}.{lib}.r{rnd}'
    stats = os.path.join(dirs['logs'], stem + '.procstat')
    logs = os.path.join(dirs['logs'], stem + '.stderr')
    if os.path.exists(stats):
        os.remove(stats)
    os.makedirs(logs, exist_ok=True)
    expected = (debian_libgc() if lib == 'debian' else
                os.path.realpath(os.path.join(args.libgc_dir, 'libgc.so.1')))
    out_path = os.path.join(dirs['logs'], stem + '.out')
    if kind == 'client':
        argv = [args.run_client, what, f'--out={out_path}',
                f'--work={dirs["work"]}', f'--logs={logs}',
                f'--procstat={args.procstat}', f'--stats={stats}']
        if lib == 'dir':
            argv.append(f'--libgc-dir={args.libgc_dir}')
        env_prefix = []
    else:
        env_prefix = (['env', '-u', 'LD_LIBRARY_PATH'] if lib == 'debian' else
                      ['env', f'LD_LIBRARY_PATH={args.libgc_dir}'])
        argv = [args.procstat, f'--out={stats}', f'--label={rows[0]}', '--'
                ] + env_prefix + [args.tree_bench, '--system=boehm'] + what
    load_before = os.getloadavg()[0]
    code, stdout, stderr, error = ab.launch(argv, '', args.timeout)
    if error is not None:
        # The loader's reason, when a library lacks a symbol the program
        # binds (`symbol lookup error: ...: undefined symbol: GC_x`).
        missing = UNDEFINED_SYMBOL.search(stderr or '')
        if missing:
            error += f' (undefined symbol {missing.group(1)})'
    if kind == 'tree':
        with open(os.path.join(logs, rows[0] + '.stderr'), 'w') as f:
            f.write(stderr)
        with open(out_path, 'w') as f:
            f.write(stdout)
        if error is None:
            res, error = ab.parse_result(stdout)
    elif error is None:
        with open(out_path, 'rb') as f:
            data = f.read()
        if name not in reference and lib == 'debian':
            reference[name] = data
        if name in reference and data != reference[name]:
            error = 'output differs from the first Debian run'
    measured = parse_procstat(stats)
    records = []
    for row in rows:
        rec = {'row': row, 'workload': name, 'lib': lib, 'round': rnd,
               'command': ' '.join(argv), 'ok': False, 'error': error,
               'loadavg_1min': load_before}
        records.append(rec)
        if error is not None:
            rec['output_tail'] = ab.tail(stderr or stdout)
            continue
        m = measured.get(row)
        if m is None:
            rec['error'] = f'procstat measured no process {row}'
            continue
        if m['exit'] != '0':
            rec['error'] = f'{row} exited with {m["exit"]}'
            continue
        if os.path.realpath(m['libgc']) != expected:
            rec['error'] = f'{row} mapped {m["libgc"]}, expected {expected}'
            continue
        with open(os.path.join(logs, row.replace(':', '_') + '.stderr'),
                  errors='replace') as f:
            gc = parse_gc_stats(f.read())
        pauses = sorted(gc['pauses_ms'])
        rec.update({
            'ok': True, 'libgc': m['libgc'],
            'wall_ms': float(m['wall_ms']), 'cpu_ms': float(m['cpu_ms']),
            'peak_rss_mib': int(m['peak_rss_kib']) / 1024,
            'peak_source': m['peak_source'], 'gcs': gc['gcs'],
            'pause_p99_ms': nearest_rank(pauses, 0.99),
            'pause_max_ms': pauses[-1] if pauses else math.nan,
            'pauses_ms': gc['pauses_ms'], 'modes': gc['modes'],
            'gc_lines': len(gc['gc_numbers'])})
        error = check_gc_stats(gc)
        if error is not None:
            rec['ok'] = False
            rec['error'] = error
    return records


def summarize(records, args):
    """{row: {lib: cell}} with medians and run counts, plus ratios."""
    cells = {}
    for name in args.workloads:
        for row in WORKLOADS[name][2]:
            cells[row] = {}
            for lib in LIBS:
                runs = [r for r in records if r['row'] == row and
                        r['lib'] == lib]
                ok = [r for r in runs if r['ok']]
                cell = {'runs': len(runs), 'ok_runs': len(ok)}
                for key, _, _ in METRICS:
                    cell[key] = ab.median([r[key] for r in ok])
                modes = {}
                for r in ok:
                    for mode, n in r['modes'].items():
                        modes[mode] = modes.get(mode, 0) + n
                cell['modes'] = modes
                cells[row][lib] = cell
            cells[row]['ratio'] = {
                key: ab.ratio(cells[row]['dir'][key],
                              cells[row]['debian'][key])
                for key, _, _ in METRICS}
    return cells


def table(cells, args):
    header = ['row', 'library', 'runs'] + [m[1] for m in METRICS]
    rows = []
    for row, by_lib in cells.items():
        for lib, label in (('debian', 'Debian libgc1'),
                           ('dir', 'libgc-dir')):
            cell = by_lib[lib]
            runs = f'{cell["ok_runs"]}/{cell["runs"]}'
            if cell['ok_runs'] == 0:
                rows.append([row, label, runs] + ['FAIL'] * len(METRICS))
                continue
            rows.append([row, label, runs] + [
                ab.fmt_num(cell[key], kind) for key, _, kind in METRICS])
        rows.append([row, 'ratio dir/Debian', ''] + [
            ab.fmt_num(by_lib['ratio'][key], 'ratio')
            for key, _, _ in METRICS])
    return header, rows


def main(argv):
    args = parse_args(argv)
    os.environ['GC_PRINT_STATS'] = '1'
    os.environ.pop('LD_LIBRARY_PATH', None)
    out = os.path.abspath(args.out or tempfile.mkdtemp(
        prefix='boehm_clients_bench.'))
    os.makedirs(out, exist_ok=True)
    markdown = os.path.abspath(args.markdown or
                               os.path.join(out, 'boehm-clients.md'))
    keep_logs = args.logs is not None
    logs = os.path.abspath(args.logs) if keep_logs else tempfile.mkdtemp(
        prefix='boehm_clients_logs.')
    os.makedirs(logs, exist_ok=True)
    dirs = {'logs': logs, 'work': os.path.join(logs, 'work')}
    info = {'date': datetime.datetime.now().astimezone().isoformat(
                timespec='seconds'),
            'git_commit': ab.sh(['git', 'rev-parse', '--short=12', 'HEAD']),
            'nproc': ab.sh(['nproc']),
            'debian_libgc': debian_libgc(),
            'libgc_dir': args.libgc_dir,
            'libgc1': ab.sh(['dpkg-query', '-W', '-f', '${Version}',
                             'libgc1']),
            'w3m': ab.sh(['dpkg-query', '-W', '-f', '${Version}', 'w3m']),
            'stalin': ab.sh(['dpkg-query', '-W', '-f', '${Version}',
                             'stalin'])}
    total = args.runs * len(args.workloads) * len(LIBS)
    print(f'boehm_clients_bench: {total} runs ({args.runs} round(s) x '
          f'{len(args.workloads)} workloads x 2 libraries)', file=sys.stderr)
    records, reference, n = [], {}, 0
    try:
        for rnd in range(1, args.runs + 1):
            for wi, name in enumerate(args.workloads):
                for lib in ab.rotated(LIBS, rnd - 1 + wi):
                    recs = run_once(args, name, lib, rnd, dirs, reference)
                    records += recs
                    n += 1
                    for r in recs:
                        if r['ok']:
                            print(f'[{n}/{total}] round {rnd} {r["row"]:<22} '
                                  f'{lib:<6} ok    wall {r["wall_ms"]:9.1f} ms'
                                  f'  rss {r["peak_rss_mib"]:7.1f} MiB  gcs '
                                  f'{r["gcs"]}', file=sys.stderr, flush=True)
                        else:
                            print(f'[{n}/{total}] round {rnd} {r["row"]:<22} '
                                  f'{lib:<6} FAIL  {r["error"]}\n    command: '
                                  f'{r["command"]}\n{r.get("output_tail", "")}',
                                  file=sys.stderr, flush=True)
    finally:
        if not keep_logs:
            shutil.rmtree(logs, ignore_errors=True)

    cells = summarize(records, args)
    header, rows = table(cells, args)
    failures = [r for r in records if not r['ok']]
    lines = [
        f'Date: {info["date"]}; git commit {info["git_commit"]}; nproc '
        f'{info["nproc"]}',
        f'Debian libgc1 {info["libgc1"]} ({info["debian_libgc"]}); '
        f'libgc-dir: {info["libgc_dir"]}/libgc.so.1',
        f'w3m {info["w3m"]}, stalin {info["stalin"]}; {args.runs} run(s) per '
        'library, alternated',
        'Medians over the successful runs; pauses are the world-stopped time '
        'of each collection (GC_PRINT_STATS, docs/boehm-stats.md), p99 by '
        'nearest rank; peak RSS is VmHWM at exit; ratio below 1.00x: '
        'libgc-dir is better.']
    loads = sorted(r['loadavg_1min'] for r in records)
    if loads:
        lines.append(
            f'Machine load: 1-minute load average before each run: min '
            f'{loads[0]:.2f}, median {ab.median(loads):.2f}, max '
            f'{loads[-1]:.2f} ({info["nproc"]} CPUs; above {info["nproc"]} '
            'the runs shared the CPUs with other work and wall times and '
            'pauses are inflated)')
    modes = {row: {lib: c[lib]['modes'] for lib in LIBS if c[lib]['modes']}
             for row, c in cells.items()}
    modes = {row: m for row, m in modes.items() if m}
    if modes:
        lines.append('Marking modes reported: ' + '; '.join(
            f'{row} {lib}: ' + ', '.join(f'{k} x{v}' for k, v in m.items())
            for row, by_lib in modes.items() for lib, m in by_lib.items()))
    if failures:
        lines.append(f'{len(failures)} run(s) FAILED:')
        lines += [f'  {r["row"]} {r["lib"]} round {r["round"]}: {r["error"]}'
                  for r in failures]
    text = '\n'.join(lines + ['', ab.text_table(header, rows)])
    md = '\n'.join(['# Boehm GC clients: Debian libgc1 and libgc-dir', '',
                    'Generated by `tools/run_boehm_clients_bench.sh` '
                    '(driver: `tools/bench/boehm_clients_bench.py`).', ''] +
                   [f'- {l}' for l in lines] + ['',
                                                ab.markdown_table(header,
                                                                  rows), ''])
    with open(markdown, 'w') as f:
        f.write(md)
    for r in records:
        r.pop('output_tail', None)
    with open(os.path.join(out, 'results.json'), 'w') as f:
        json.dump(ab.nan_to_none({'info': info, 'runs': args.runs,
                                  'workloads': args.workloads,
                                  'medians': cells, 'records': records}),
                  f, indent=1)
        f.write('\n')
    print(text)
    print(f'\nWrote {markdown} and {os.path.join(out, "results.json")}' +
          (f' (logs in {logs})' if keep_logs else ''))
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
