#!/usr/bin/env bash
# The survey of Debian programs that link Boehm GC's libgc.so.1 (issue 13):
# each one runs a small but real workload twice, on Debian's libgc1 and
# with LD_LIBRARY_PATH pointing at another libgc.so.1 (gcheap's drop-in,
# //runtime/boehm:libgc.so.1), and the two runs' exit status, stdout,
# stderr and output files are compared byte for byte. docs/boehm.md
# ("Debian clients") holds the table this script printed.
#
#   tools/boehm_clients/survey.sh [--libgc-dir=DIR] [--no-install]
#       [--out=FILE] [--keep=DIR] [--timeout=S] [CLIENT...]
#
# Clients (the Debian package, then the workload; every input is written
# by this script, so the runs are reproducible):
#   guile    guile-3.0    a Scheme script: binary trees, a hash table, a
#                         weak-key table, 100k strings, vectors, (gc)
#   ecl      ecl          the same program in Common Lisp (ecl --shell)
#   nix      nix-bin      nix-instantiate --eval --strict of an expression
#                         (recursion, a 200k-element list of attribute
#                         sets, folds, JSON) in read-only mode
#   crystal  crystal      the compiler builds a binary-trees program, then
#                         the program runs (both link libgc.so.1)
#   asy      asymptote    a picture with 60 paths of 400 points, circles
#                         and a 100k-element array, rendered to EPS (the
#                         EPS is compared less its %%CreationDate line)
#   poke     poke         a Poke script: 20k structs, arrays and strings
#   neko     neko         nekoc compiles a binary-trees program, neko
#                         runs it
#   goo      goo          GOO's interpreter: binary trees and fib
#   fauhdlc  fauhdlc      compiles a VHDL design to C (the C is compared)
#   parser3  parser3-cgi  a Parser 3 page: a 20k-entry hash and a string
#   mmv      mmv          renames 2000 files by a pattern (the resulting
#                         directory listing is compared)
#   chase    chase        resolves 5000 symbolic links in chains of 10
#   inkscape inkscape     exports an SVG of 3,000 shapes and 200 texts to
#                         PNG twice: in its default GC mode and with
#                         _INKSCAPE_GC=debug (Boehm's debugging allocator);
#                         both PNGs are compared (GTK's warnings lose
#                         their pid and time stamp)
# w3m and stalin are not here: tests/boehm_clients compares them in CI.
#
# Each side runs with GC_PRINT_STATS=1 (the collections of each run are
# counted from its stderr: the "World-stopped marking took" lines of
# docs/boehm-stats.md), a fresh HOME and LC_ALL=C.UTF-8, and with
# LD_DEBUG=libs: the loader's log must show that the intended libgc.so.1
# was initialized (DIR/libgc.so.1, or Debian's), as
# tools/boehm_clients/run_client.sh checks. The statistics lines are
# removed from stderr before the comparison (they differ by design).
#
# Results: PASS (same exit status, identical outputs, the intended library
# loaded on both sides), DIFF (the outputs differ: the first differing
# file is named), LOAD (the loader refused the library: the undefined
# symbol is named), CRASH (killed by a signal), HANG (no exit within the
# timeout; the process is killed), FAIL (another exit status than
# Debian's). "Needs" lists every GC_* symbol the client's ELF objects (the
# programs and the libraries they load that link libgc.so.1 or
# libgccpp.so.1) import and DIR/libgc.so.1 does not export
# (nm -D --undefined-only against nm -D --defined-only), and whether a
# C++ program replaces operator new through libgccpp.so.1.
#
# Options:
#   --libgc-dir=DIR  the library to compare (default:
#                    bazel-bin/runtime/boehm after building it)
#   --no-install     do not apt-get install the missing packages (clients
#                    whose program is missing are reported as SKIP)
#   --out=FILE       the markdown table (default: stdout)
#   --keep=DIR       keep every run's inputs, outputs and logs in DIR
#   --timeout=S      per run (default 300)
# Exits 0 when the survey ran (whatever the results), 1 on a usage or
# setup error.
set -euo pipefail

die() { echo "survey: $*" >&2; exit 1; }

libgc_dir=""
install=1
out=/dev/stdout
keep=""
timeout_s=300
clients=()
ALL=(guile ecl nix crystal asy poke neko goo fauhdlc parser3 mmv chase inkscape)
for arg in "$@"; do
  case "$arg" in
    --libgc-dir=*) libgc_dir="${arg#*=}" ;;
    --no-install) install=0 ;;
    --out=*) out="${arg#*=}" ;;
    --keep=*) keep="${arg#*=}" ;;
    --timeout=*) timeout_s="${arg#*=}" ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option $arg" ;;
    *) [[ " ${ALL[*]} " == *" $arg "* ]] || die "unknown client $arg (${ALL[*]})"
       clients+=("$arg") ;;
  esac
done
((${#clients[@]})) || clients=("${ALL[@]}")

declare -A PKG=([guile]=guile-3.0 [ecl]=ecl [nix]=nix-bin [crystal]=crystal
  [asy]=asymptote [poke]=poke [neko]=neko [goo]=goo [fauhdlc]=fauhdlc
  [parser3]=parser3-cgi [mmv]=mmv [chase]=chase [inkscape]=inkscape)
# The executables whose ELF objects are analysed for "Needs".
declare -A EXE=([guile]=/usr/bin/guile-3.0 [ecl]=/usr/bin/ecl
  [nix]=/usr/bin/nix-instantiate [crystal]=/usr/bin/crystal
  [asy]=/usr/bin/asy [poke]=/usr/bin/poke
  [neko]="/usr/bin/neko /usr/bin/nekoc" [goo]=/usr/bin/g2c
  [fauhdlc]=/usr/bin/fauhdlc [parser3]=/usr/bin/parser3 [mmv]=/usr/bin/mmv
  [chase]=/usr/bin/chase [inkscape]=/usr/bin/inkscape)

if [[ -z "$libgc_dir" ]]; then
  libgc_dir=$(cd "$(dirname "$0")/../.." &&
    bazel build //runtime/boehm:libgc.so.1 >&2 &&
    echo "$(bazel info bazel-bin 2>/dev/null)/runtime/boehm")
fi
[[ -e "$libgc_dir/libgc.so.1" ]] || die "no libgc.so.1 in $libgc_dir"
libgc_dir=$(cd "$libgc_dir" && pwd)
multiarch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
debian_libgc=$(readlink -f "/usr/lib/$multiarch/libgc.so.1") ||
  die "Debian's libgc1 is not installed"

if ((install)); then
  missing=()
  for c in "${clients[@]}"; do
    dpkg-query -W -f='${Status}' "${PKG[$c]}" 2>/dev/null |
      grep -q "ok installed" || missing+=("${PKG[$c]}")
  done
  if ((${#missing[@]})); then
    sudo=""; [[ $(id -u) -eq 0 ]] || sudo=sudo
    echo "survey: installing ${missing[*]}" >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q \
      --no-install-recommends "${missing[@]}" >&2
  fi
fi

if [[ -n "$keep" ]]; then
  mkdir -p "$keep"; work=$(cd "$keep" && pwd)
else
  work=$(mktemp -d "${TMPDIR:-/tmp}/survey.XXXXXX")
  trap 'rm -rf "$work"' EXIT
fi
nm -D --defined-only "$libgc_dir/libgc.so.1" | awk '{print $3}' |
  sed 's/@.*//' | sort -u > "$work/exports"

# ---- the workloads' inputs -------------------------------------------------

write_inputs() {  # DIR CLIENT: writes the client's inputs into DIR
  local d="$1"
  case "$2" in
    guile) cat > "$d/gc.scm" <<'EOF'
(use-modules (srfi srfi-1))
(define (make-tree d) (if (= d 0) '() (cons (make-tree (- d 1)) (make-tree (- d 1)))))
(define (check t) (if (null? t) 1 (+ 1 (check (car t)) (check (cdr t)))))
(define long-lived (make-tree 16))
(define h (make-hash-table))
(define w (make-weak-key-hash-table))
(let loop ((i 0) (acc 0))
  (if (< i 200)
      (begin
        (hash-set! h i (number->string (* i i)))
        (hashq-set! w (list i) i)
        (loop (+ i 1) (+ acc (check (make-tree 12)))))
      (begin (display acc) (newline))))
(define strs (map (lambda (i) (string-append "s" (number->string i))) (iota 100000)))
(display (string-length (apply string-append strs))) (newline)
(display (check long-lived)) (newline)
(display (hash-ref h 199)) (newline)
(display (fold + 0 (map vector-length (map (lambda (i) (make-vector (modulo i 50) i)) (iota 50000))))) (newline)
(gc)
(display (length (filter (lambda (p) (< (car p) 10)) (map (lambda (i) (cons i (* 2 i))) (iota 200000))))) (newline)
EOF
    ;;
    ecl) cat > "$d/gc.lisp" <<'EOF'
(defun make-tree (d) (if (= d 0) nil (cons (make-tree (1- d)) (make-tree (1- d)))))
(defun check (tr) (if (null tr) 1 (+ 1 (check (car tr)) (check (cdr tr)))))
(defvar *long* (make-tree 16))
(defvar *h* (make-hash-table :test #'equal))
(let ((acc 0)) (dotimes (i 200) (setf (gethash (format nil "k~D" i) *h*) (* i i)) (incf acc (check (make-tree 12)))) (print acc))
(print (check *long*))
(print (gethash "k199" *h*))
(print (length (apply #'concatenate 'string (loop for i below 20000 collect (format nil "s~D" i)))))
(print (reduce #'+ (mapcar #'length (loop for i below 50000 collect (make-array (mod i 50) :initial-element i)))))
(si:gc t)
(print (length (remove-if-not (lambda (p) (< (car p) 10)) (loop for i below 200000 collect (cons i (* 2 i))))))
(terpri)
EOF
    ;;
    nix) cat > "$d/gc.nix" <<'EOF'
let
  fib = n: if n < 2 then n else fib (n - 1) + fib (n - 2);
  l = builtins.genList (i: { a = toString i; b = [ i (i * 2) ]; }) 200000;
in {
  f = fib 24;
  s = builtins.foldl' (x: y: x + builtins.stringLength y.a) 0 l;
  c = builtins.length (builtins.filter (x: builtins.elemAt x.b 1 > 1000) l);
  j = builtins.hashString "sha256" (builtins.toJSON (builtins.genList (i: i * i) 30000));
  m = builtins.length (builtins.attrNames (builtins.listToAttrs
        (map (x: { name = x.a; value = x.b; }) l)));
}
EOF
    ;;
    crystal) cat > "$d/gc.cr" <<'EOF'
class Node
  property left : Node?
  property right : Node?
  def initialize(@left, @right) end
end
def make(d) : Node?
  d == 0 ? nil : Node.new(make(d - 1), make(d - 1))
end
def check(n : Node?) : Int32
  n.nil? ? 1 : 1 + check(n.left) + check(n.right)
end
long = make(16)
acc = 0
h = Hash(String, Int32).new
200.times { |i| acc += check(make(12)); h["k#{i}"] = i * i }
puts acc, check(long), h["k199"]
puts (0...100000).map { |i| "s#{i}" }.join.size
GC.collect
puts (0...200000).map { |i| {i, i * 2} }.select { |p| p[0] < 10 }.size
EOF
    ;;
    asy) cat > "$d/gc.asy" <<'EOF'
settings.outformat="eps";
size(10cm);
real f(real x) { return sin(5x)*exp(-x/3); }
path p;
for (int k = 0; k < 60; ++k) { p = (0,0); for (int i = 1; i < 400; ++i) p = p--(i/40, f(i/40 + k/100)); }
draw(p, blue);
for (int i = 0; i < 50; ++i) draw(circle((i/5, 0), 0.1 + i/100), red);
int[] a; for (int i = 0; i < 100000; ++i) a.push(i*i % 97);
write(sum(a));
fill(box((0,-1),(1,-0.5)), green);
EOF
    ;;
    poke) cat > "$d/gc.pk" <<'EOF'
type Pair = struct { uint<32> a; uint<32> b; };
var total = 0UL;
for (var i = 0; i < 20000; i++) {
  var s = "x" + format ("%i32d", i);
  var arr = [1UL, 2UL, 3UL, (i as uint<64>)];
  var p = Pair { a = i, b = i * 2 };
  total = total + arr[3] + p.b + s'length;
}
printf ("%u64d\n", total);
var strs = [""];
for (var j = 0; j < 2000; j++) strs += [format ("%i32d", j)];
printf ("%i32d\n", strs'length);
EOF
    ;;
    neko) cat > "$d/gc.neko" <<'EOF'
make = function(d) { if( d == 0 ) return null; return $array(make(d-1), make(d-1)); }
check = function(t) { if( t == null ) return 1; return 1 + check(t[0]) + check(t[1]); }
var long = make(16);
var acc = 0;
var i = 0;
var h = $hnew(0);
while( i < 200 ) { acc += check(make(12)); $hset(h, i, "v" + i, null); i += 1; }
$print(acc, "\n", check(long), "\n", $hget(h, 199, null), "\n");
var s = "";
i = 0;
var n = 0;
while( i < 100000 ) { s = "s" + i; n += $ssize(s); i += 1; }
$print(n, "\n");
EOF
    ;;
    goo) cat > "$d/gc.goo" <<'EOF'
(df mk (d) (if (= d 0) nul (pair (mk (- d 1)) (mk (- d 1)))))
(df fib (n) (if (< n 2) n (+ (fib (- n 1)) (fib (- n 2)))))
(post "%=\n" (fib 22))
(post "%=\n" (len (mk 12)))
EOF
    ;;
    fauhdlc) cat > "$d/gc.vhdl" <<'EOF'
entity adder is
  port (a, b : in integer; s : out integer);
end entity adder;
architecture rtl of adder is
begin
  s <= a + b;
end architecture rtl;
entity top is
end entity top;
architecture sim of top is
  signal x, y, z : integer := 0;
  type arr is array (0 to 63) of integer;
  signal mem : arr;
begin
  process is
    variable acc : integer := 0;
  begin
    for i in 0 to 63 loop
      acc := acc + i * i;
      mem(i) <= acc;
    end loop;
    x <= acc;
    y <= 3;
    wait;
  end process;
end architecture sim;
EOF
    ;;
    parser3) cat > "$d/gc.p" <<'EOF'
@main[]
$h[^hash::create[]]
$s[]
^for[i](1;20000){$h.[k$i][^eval($i*$i)]$s[$s^eval($i % 7)]}
$h.k19999
^s.length[]
$t[^table::create{a	b
1	2
3	4}]
^t.count[]
EOF
    ;;
    mmv)
      mkdir -p "$d/files"
      local i
      for ((i = 1; i <= 2000; i++)); do : > "$d/files/file_$i.txt"; done
      ;;
    inkscape)
      awk 'BEGIN {
        x = 12345; w = 800; h = 600
        print "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"800\" height=\"600\">"
        for (i = 0; i < 3200; i++) {
          x = (x * 1103515245 + 12345) % 2147483648; a = x % w
          x = (x * 1103515245 + 12345) % 2147483648; b = x % h
          x = (x * 1103515245 + 12345) % 2147483648; r = 2 + x % 38
          c = sprintf("#%06x", (x * 7) % 16777216)
          if (i >= 3000) printf "<text x=\"%d\" y=\"%d\" font-size=\"%d\">word%d</text>\n", a, b, 8 + r % 20, i
          else if (i % 3 == 0) printf "<circle cx=\"%d\" cy=\"%d\" r=\"%d\" fill=\"%s\" opacity=\"0.5\"/>\n", a, b, r, c
          else if (i % 3 == 1) printf "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\" transform=\"rotate(%d %d %d)\"/>\n", a, b, 2 * r, r, c, i % 90, a, b
          else printf "<polygon points=\"%d,%d %d,%d %d,%d\" fill=\"none\" stroke=\"%s\"/>\n", a, b, (a + 97 * r) % w, (b + 31 * r) % h, (a * 3) % w, (b * 7) % h, c
        }
        print "</svg>"
      }' > "$d/gc.svg"
      ;;
    chase)
      mkdir -p "$d/links"
      : > "$d/links/f0"
      local j k prev
      for ((j = 1; j <= 500; j++)); do
        prev=f0
        for ((k = 1; k <= 10; k++)); do
          ln -s "$prev" "$d/links/c${j}_$k"; prev="c${j}_$k"
        done
      done
      ;;
  esac
}

# run_workload CLIENT: runs in the current directory (the inputs are there);
# stdout/stderr go to the caller's redirections; output files stay here.
run_workload() {
  case "$1" in
    guile) guile --no-auto-compile gc.scm ;;
    ecl) ecl --norc --shell gc.lisp ;;
    nix) NIX_STATE_DIR="$PWD/nix/state" NIX_STORE_DIR="$PWD/nix/store" \
           NIX_LOG_DIR="$PWD/nix/log" NIX_CONF_DIR="$PWD/nix/conf" \
           nix-instantiate --readonly-mode --eval --strict gc.nix ;;
    crystal) CRYSTAL_CACHE_DIR="$PWD/crystal-cache" \
               crystal build --no-debug -o gc-cr gc.cr && ./gc-cr ;;
    asy) asy -noV gc.asy && sed -i '/^%%CreationDate:/d' gc.eps ;;
    poke) poke -q --no-init-file -L gc.pk ;;
    neko) nekoc gc.neko && neko gc.n ;;
    goo) goo < gc.goo ;;
    fauhdlc) fauhdlc -o gc.c gc.vhdl ;;
    parser3) parser3 gc.p ;;
    mmv) (cd files && mmv '*_*.txt' '#2-#1.dat') && ls files > listing ;;
    chase) (cd links && chase c*) ;;
    inkscape)
      local rc=0
      { inkscape --export-type=png --export-filename=default.png gc.svg &&
          _INKSCAPE_GC=debug inkscape --export-type=png \
            --export-filename=gcdebug.png gc.svg; } 2> ink.err || rc=$?
      sed -E 's/\(inkscape:[0-9]+\)/(inkscape)/; s/[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]+/TIME/' \
        ink.err >&2
      rm -f ink.err
      return "$rc" ;;
  esac
}

# side CLIENT SIDE: runs the workload once in WORK/CLIENT/run (the same
# path for both sides, so that paths in outputs agree), then moves that
# directory to WORK/CLIENT/SIDE; prints "EXIT GCS WALL_S".
side() {
  local c="$1" s="$2" r="$work/$1/run" d="$work/$1/$2"
  rm -rf "$r" "$d" "$d".*; mkdir -p "$r/home" "$d.ld"
  write_inputs "$r" "$c"
  local env=(env -u LD_LIBRARY_PATH -u LD_PRELOAD HOME="$r/home"
    LC_ALL=C.UTF-8 GC_PRINT_STATS=1 LD_DEBUG=libs LD_DEBUG_OUTPUT="$d.ld/log")
  [[ "$s" == gcheap ]] && env+=(LD_LIBRARY_PATH="$libgc_dir")
  local t0 t1 rc=0
  t0=$(date +%s.%N)
  (cd "$r" && export -f run_workload &&
    timeout -k 5 "$timeout_s" "${env[@]}" bash -c 'run_workload "$0"' "$c" \
      > "$d.stdout" 2> "$d.stderr.raw") || rc=$?
  t1=$(date +%s.%N)
  mv "$r" "$d"
  local gcs
  gcs=$(grep -c '^World-stopped marking took' "$d.stderr.raw" || true)
  # Boehm's and gcheap's statistics lines (GC_PRINT_STATS) go, and the
  # diagnostics Boehm prints itself in that mode (its mark stack's
  # overflows and growth).
  grep -vE '^(GC #|World-stopped|Grow heap|Grew |Started [0-9]+ mark helper|Initiating|--> Marking|In-use heap|[0-9]+ finalization|Finalize and|Complete collection|Adding block map|Number of processors|Will retry|Immediately reclaimed|Increasing heap|Heap contains|Mark stack overflow; current size|No room to copy back mark stack|Recycle [0-9]+/[0-9]+ scratch-allocated bytes|Total heap size|Disposing of reclaim|$)' \
    "$d.stderr.raw" > "$d.stderr" || true
  echo "$rc $gcs $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')"
}

# loaded DIR: the libgc.so.1 files the loader initialized, one a line.
loaded() {
  cat "$1"/log.* 2>/dev/null |
    sed -n 's/.*calling init: \(.*\/libgc\.so\.1\)$/\1/p' | sort -u
}

needs() {  # CLIENT: missing exports and libgccpp use
  local objs=() f lib
  for f in ${EXE[$1]}; do
    [[ -e "$f" ]] || continue
    objs+=("$f")
    while read -r lib; do objs+=("$lib"); done < <(ldd "$f" 2>/dev/null |
      awk '$3 ~ /^\// {print $3}')
  done
  local gc_objs=() pp=""
  for f in "${objs[@]}"; do
    readelf -d "$f" 2>/dev/null | grep -qE 'NEEDED.*\[libgc(cpp)?\.so\.1\]' &&
      gc_objs+=("$f")
    readelf -d "$f" 2>/dev/null | grep -q 'NEEDED.*\[libgccpp\.so\.1\]' &&
      pp="; operator new from libgccpp.so.1 (${f##*/})"
  done
  ((${#gc_objs[@]})) || { echo "no object links libgc.so.1"; return; }
  local miss
  miss=$(for f in "${gc_objs[@]}"; do nm -D --undefined-only "$f"; done |
    awk '{print $NF}' | sed 's/@.*//' | grep '^GC_' | sort -u |
    comm -23 - "$work/exports" | sed 's/.*/`&`/' | paste -sd' ' | sed 's/ /, /g')
  echo "${miss:-none missing}$pp"
}

rows=()
for c in "${clients[@]}"; do
  exe=${EXE[$c]%% *}
  ver=$(dpkg-query -W -f='${Version}' "${PKG[$c]}" 2>/dev/null || true)
  if [[ ! -x "$exe" ]]; then
    rows+=("| $c | ${PKG[$c]} | - | SKIP (not installed) | - | - |")
    continue
  fi
  echo "survey: $c" >&2
  read -r drc dgcs dwall < <(side "$c" debian)
  read -r grc ggcs gwall < <(side "$c" gcheap)
  dd="$work/$c/debian" gd="$work/$c/gcheap"
  result=""
  if [[ "$(loaded "$dd.ld" | xargs -r readlink -f | sort -u)" != "$debian_libgc" ]]; then
    result="HARNESS: Debian's run did not load $debian_libgc"
  elif ((grc == 124 || grc == 137)); then
    result="HANG (killed after ${timeout_s} s)"
  elif ((grc > 128)); then
    result="CRASH (signal $((grc - 128)))"
  elif sym=$(grep -om1 'undefined symbol: [A-Za-z_0-9]*' "$gd.stderr"); then
    result="LOAD (${sym})"
  elif [[ "$(loaded "$gd.ld")" != "$libgc_dir/libgc.so.1" ]]; then
    result="HARNESS: loaded '$(loaded "$gd.ld" | paste -sd,)', not $libgc_dir/libgc.so.1"
  elif ((grc != drc)); then
    result="FAIL (exit $grc, Debian's $drc)"
  else
    diff_file=""
    for f in stdout stderr; do
      cmp -s "$dd.$f" "$gd.$f" || { diff_file=$f; break; }
    done
    if [[ -z "$diff_file" ]]; then
      diff_file=$(diff -rq -x home -x crystal-cache -x nix "$dd" "$gd" 2>&1 | head -1 || true)
    fi
    if [[ -z "$diff_file" ]]; then
      result="PASS ($(wc -c < "$dd.stdout") B stdout identical)"
    else
      result="DIFF ($diff_file)"
    fi
  fi
  rows+=("| $c | ${PKG[$c]} $ver | $drc, ${dgcs} GCs, ${dwall} s | $result | ${ggcs} GCs, ${gwall} s | $(needs "$c") |")
done

{
  echo "| client | package | Debian libgc1: exit, GCs, wall | --libgc-dir: result | GCs, wall | needs (GC_* imported, not exported) |"
  echo "| --- | --- | --- | --- | --- | --- |"
  printf '%s\n' "${rows[@]}"
} > "$out"
