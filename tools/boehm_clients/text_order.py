#!/usr/bin/env python3
"""Writes runtime/boehm/text_order.txt, the link order of libgc.so.1's hot
functions (gold's --section-ordering-file), from callgrind profiles of
client runs on that library.

Why: the kernel maps a shared library's cached file pages 64 KiB around
each page fault (fault-around), so a library whose executed functions are
spread over its whole text keeps all of it resident; placed together they
fault in two or three such windows (docs/boehm.md, "Building and
linking"). A function missing from the list still works; it is laid out
after the listed ones.

Usage, for each profile (each a run of a client with
LD_LIBRARY_PATH=DIR holding the library to be profiled):
    valgrind --tool=callgrind --demangle=no --callgrind-out-file=FILE CMD
then:
    tools/boehm_clients/text_order.py FILE... > runtime/boehm/text_order.txt

Every function of libgc.so.1 with an executed instruction in any profile
is listed, in the order of first appearance; for each, the section names
GCC gives it under -ffunction-sections (.text.NAME, and .text.startup.NAME
and .text.hot.NAME where GCC moves it), and for a constructor or
destructor its base-object variant (C2/D2), whose section the
complete-object alias shares.
"""

import re
import subprocess
import sys


def functions(profile):
    out = subprocess.run(
        ['callgrind_annotate', '--threshold=100', '--inclusive=no', profile],
        check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        m = re.match(r'\s*[\d,]+ \([^)]*\)\s+(.*) \[(.*)\]$', line)
        if not m or not m.group(2).endswith('/libgc.so.1'):
            continue
        name = m.group(1).rsplit(':', 1)[-1].split("'")[0]
        if not name.startswith('0x'):  # a PLT entry
            yield name


def main(profiles):
    seen = set()
    for profile in profiles:
        for name in functions(profile):
            variants = [name]
            for a, b in (('C1E', 'C2E'), ('D1E', 'D2E'), ('D0E', 'D2E')):
                if a in name:
                    variants.append(name.replace(a, b))
            for v in variants:
                for prefix in ('.text.', '.text.startup.', '.text.hot.'):
                    section = prefix + v
                    if section not in seen:
                        seen.add(section)
                        print(section)


if __name__ == '__main__':
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
