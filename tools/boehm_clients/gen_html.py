#!/usr/bin/env python3
"""Writes a large, deterministic HTML page for the w3m client test.

The page is the input of `w3m -dump` in tools/boehm_clients/run_client.sh:
w3m builds its whole document (strings, lines, table cells, anchors) in
Boehm GC's heap, so a page of several MB makes it allocate and collect a
lot. The content is chosen to drive every part of w3m's HTML layout:

- sections with headings (h1-h4) and paragraphs of inline markup (b, i, em,
  strong, code, tt, u, s, sub, sup, br, span), long and short words;
- links (a href to in-page anchors and to outside URLs, a name targets),
  which -dump numbers and lists at the end with display_link_number;
- named, decimal and hexadecimal character references (&amp; &lt; &gt;
  &quot; &nbsp; &copy; &eacute; &mdash; &#8212; &#x263A; ...), also inside
  attributes and table cells;
- nested lists (ul, ol with type and start, dl) up to depth 5;
- tables: headers, captions, borders, colspan and rowspan, cell alignment,
  nested tables in cells, tables with long text that must be wrapped;
- pre blocks, blockquotes, hr, centered text, forms (input, select,
  textarea) that -dump renders as text.

Deterministic: the only source of variation is a 64-bit xorshift* generator
seeded from --seed (default 1), so the same arguments give the same bytes
on any Python 3. Size: sections are added until the page reaches --size-mb
MiB (default 4).

Usage: gen_html.py [--size-mb=N] [--seed=N] > page.html
"""

import argparse
import sys

WORDS = (
    'the quick brown fox jumps over lazy dog garbage collector heap mark '
    'sweep span arena pointer root finalizer weak link thread stack scan '
    'conservative precise allocation object page region generation barrier '
    'pause concurrent parallel incremental compaction survivor tenure nursery '
    'cache line word byte bitmap descriptor interior displacement'.split())
LONG_WORDS = ['supercalifragilisticexpialidocious',
              'antidisestablishmentarianism',
              'pneumonoultramicroscopicsilicovolcanoconiosis',
              'a' * 70, 'http://example.org/very/long/path/' + 'segment/' * 9]
ENTITIES = ['&amp;', '&lt;', '&gt;', '&quot;', '&nbsp;', '&copy;', '&eacute;',
            '&mdash;', '&ndash;', '&hellip;', '&laquo;', '&raquo;', '&#8212;',
            '&#x263A;', '&#169;', '&#x00e9;', '&auml;', '&szlig;', '&euro;',
            '&trade;', '&deg;', '&plusmn;', '&frac12;', '&times;']
INLINE = ['b', 'i', 'em', 'strong', 'code', 'tt', 'u', 's', 'sub', 'sup',
          'span', 'small', 'big', 'q', 'kbd']


class Rng:
    """xorshift64*: the same sequence on every platform and Python."""

    def __init__(self, seed):
        self.state = (seed * 0x9E3779B97F4A7C15 + 1) & (2**64 - 1) or 1

    def next(self):
        x = self.state
        x ^= x >> 12
        x ^= (x << 25) & (2**64 - 1)
        x ^= x >> 27
        self.state = x
        return (x * 0x2545F4914F6CDD1D) & (2**64 - 1)

    def below(self, n):
        return self.next() % n

    def pick(self, seq):
        return seq[self.below(len(seq))]


class Page:
    def __init__(self, rng):
        self.rng = rng
        self.out = []
        self.size = 0
        self.anchors = 0
        self.in_table = 0  # Inside a table: no overlong words (see table()).

    def emit(self, s):
        self.out.append(s)
        self.size += len(s.encode('utf-8'))

    def words(self, n):
        r = self.rng
        parts = []
        for _ in range(n):
            k = r.below(100)
            if k < 3 and not self.in_table:
                parts.append(r.pick(LONG_WORDS))
            elif k < 10:
                parts.append(r.pick(ENTITIES))
            else:
                parts.append(r.pick(WORDS))
        return ' '.join(parts)

    def inline(self, n):
        """A run of text with inline markup, links and entities."""
        r = self.rng
        parts = []
        while n > 0:
            k = r.below(10)
            m = 1 + r.below(6)
            if k < 5:
                parts.append(self.words(m))
            elif k < 7:
                tag = r.pick(INLINE)
                parts.append(f'<{tag}>{self.words(m)}</{tag}>')
            elif k < 8:
                target = r.below(self.anchors + 1)
                parts.append(f'<a href="#s{target}">{self.words(m)}</a>')
            elif k < 9:
                parts.append(
                    f'<a href="http://example.org/p?id={r.below(10**6)}&amp;'
                    f'q={r.pick(WORDS)}" title="{r.pick(WORDS)} &quot;t&quot;">'
                    f'{self.words(m)}</a>')
            else:
                parts.append('<br>' if r.below(2) else self.words(1))
            n -= m
        return ' '.join(parts)

    def paragraph(self):
        align = self.rng.pick(['', '', ' align="center"', ' align="right"'])
        self.emit(f'<p{align}>{self.inline(20 + self.rng.below(80))}</p>\n')

    def lst(self, depth):
        r = self.rng
        kind = r.pick(['ul', 'ol', 'ol', 'dl'])
        if kind == 'dl':
            self.emit('<dl>\n')
            for _ in range(2 + r.below(5)):
                self.emit(f'<dt>{self.inline(3)}</dt><dd>{self.inline(12)}')
                if depth < 5 and r.below(4) == 0:
                    self.lst(depth + 1)
                self.emit('</dd>\n')
            self.emit('</dl>\n')
            return
        attrs = ''
        if kind == 'ol':
            attrs = r.pick(['', ' type="a"', ' type="I"', ' type="i"',
                            f' start="{1 + r.below(50)}"'])
        self.emit(f'<{kind}{attrs}>\n')
        for _ in range(2 + r.below(7)):
            self.emit(f'<li>{self.inline(4 + r.below(20))}')
            if depth < 5 and r.below(3) == 0:
                self.lst(depth + 1)
            self.emit('</li>\n')
        self.emit(f'</{kind}>\n')

    def table(self, depth):
        r = self.rng
        # A nested table is small: w3m gives each cell at least the width
        # its content needs, so wide nested tables make very wide lines.
        cols = 2 + r.below(5 if depth == 0 else 2)
        rows = 3 + r.below(25 if depth == 0 else 3)
        # Overlong words stay out of tables: a cell is as wide as its widest
        # word, and nested tables of such cells make lines of thousands of
        # columns, mostly blanks.
        self.in_table += 1
        border = r.pick(['', ' border="1"', ' border="2"'])
        self.emit(f'<table{border} cellpadding="{r.below(4)}">\n')
        if r.below(2):
            self.emit(f'<caption>{self.inline(6)}</caption>\n')
        self.emit('<tr>' + ''.join(f'<th>{self.words(1 + r.below(3))}</th>'
                                   for _ in range(cols)) + '</tr>\n')
        covered = [0] * cols  # Rows still taken by a rowspan, per column.
        for row in range(rows):
            self.emit('<tr>')
            c = 0
            while c < cols:
                if covered[c]:
                    covered[c] -= 1
                    c += 1
                    continue
                free = 1  # Columns free from c on, in this row.
                while c + free < cols and not covered[c + free]:
                    free += 1
                span = 1 + r.below(min(3, free)) if r.below(6) == 0 else 1
                attrs = f' colspan="{span}"' if span > 1 else ''
                if r.below(12) == 0 and row + 2 < rows:
                    down = 2 + r.below(2)
                    attrs += f' rowspan="{down}"'
                    for k in range(c, c + span):
                        covered[k] = down - 1
                attrs += r.pick(['', '', ' align="right"', ' align="center"',
                                 ' valign="top"'])
                self.emit(f'<td{attrs}>')
                k = r.below(20)
                if k == 0 and depth == 0:
                    self.table(depth + 1)
                elif k == 1 and depth == 0:
                    self.lst(3)
                elif k < 5:
                    self.emit(f'{r.below(10**9)}.{r.below(100):02d}')
                else:
                    self.emit(self.inline(1 + r.below(15)))
                self.emit('</td>')
                c += span
            self.emit('</tr>\n')
        self.emit('</table>\n')
        self.in_table -= 1

    def pre(self):
        r = self.rng
        lines = []
        for i in range(3 + r.below(12)):
            indent = ' ' * r.below(12)
            lines.append(f'{indent}{i:4d}: {self.words(2 + r.below(8))}')
        self.emit('<pre>\n' + '\n'.join(lines) + '\n</pre>\n')

    def form(self):
        r = self.rng
        self.emit('<form action="http://example.org/submit" method="post">\n')
        self.emit(f'<input type="text" name="t{r.below(1000)}" '
                  f'value="{r.pick(WORDS)} &amp; {r.pick(WORDS)}" size="30">\n')
        self.emit('<select name="s">' + ''.join(
            f'<option{" selected" if i == 1 else ""}>{r.pick(WORDS)}</option>'
            for i in range(3 + r.below(4))) + '</select>\n')
        self.emit(f'<input type="checkbox" name="c" checked> {self.words(3)}\n')
        self.emit(f'<textarea rows="3" cols="40">{self.words(20)}</textarea>\n')
        self.emit('<input type="submit" value="Send"></form>\n')

    def section(self, n):
        r = self.rng
        level = 1 + r.below(4)
        self.emit(f'<h{level}><a name="s{n}">{n}.</a> {self.inline(6)}'
                  f'</h{level}>\n')
        self.anchors = n
        for _ in range(2 + r.below(8)):
            k = r.below(16)
            if k < 6:
                self.paragraph()
            elif k < 9:
                self.lst(0)
            elif k < 12:
                self.table(0)
            elif k < 13:
                self.pre()
            elif k < 14:
                self.emit(f'<blockquote>{self.inline(40)}</blockquote>\n')
            elif k < 15:
                self.emit(f'<center>{self.inline(10)}</center><hr>\n')
            else:
                self.form()


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--size-mb', type=float, default=4.0)
    p.add_argument('--seed', type=int, default=1)
    args = p.parse_args(argv)
    page = Page(Rng(args.seed))
    page.emit('<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
              '<title>gcheap w3m client page &amp; test</title></head>\n'
              '<body>\n')
    limit = int(args.size_mb * 1024 * 1024)
    n = 0
    while page.size < limit:
        page.section(n)
        n += 1
    page.emit(f'<p>End of page: {n} sections.</p>\n</body></html>\n')
    sys.stdout.write(''.join(page.out))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
