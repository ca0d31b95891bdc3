#!/usr/bin/env bash
# Runs one real Debian program that links Boehm GC's libgc.so.1 (a "client")
# on a chosen libgc.so.1 and writes the client's output to a file.
#
#   tools/boehm_clients/run_client.sh CLIENT [--libgc-dir=DIR] [--out=FILE]
#       [--work=DIR] [--logs=DIR] [--procstat=PATH --stats=FILE]
#
# Clients:
#   w3m            `w3m -dump` of a generated HTML page of 6 MiB
#                  (gen_html.py, deterministic: tables, nested lists, links,
#                  entities, forms), 100 columns, UTF-8, links numbered.
#                  Output: the dump.
#   stalin-earley  the Stalin Scheme compiler on a benchmark it ships in
#   stalin-boyer   /usr/share/doc/stalin/benchmarks (X.sc.gz, edited with the
#                  stalin.sed shipped next to it, as its scripts do), with
#                  the shipped scripts' safety options (-Ob -Om -On -Or -Ot)
#                  and an unlimited stack (ulimit -s; Stalin recurses
#                  deeply). Stalin runs with -c (C only), then gcc builds
#                  the C exactly as Stalin 0.11 itself calls it, then the
#                  program runs. Output: "== X-stalin.c" and the generated
#                  C, "== ./X-stalin" and the program's stdout.
#
# The library: without --libgc-dir every process gets Debian's libgc1
# (LD_LIBRARY_PATH is unset); with it, DIR must hold a libgc.so.1 (a file or
# a symlink), and every client process runs with LD_LIBRARY_PATH=DIR. The
# processes that link libgc.so.1 are: w3m; stalin (the compiler); the
# compiled program when it links libgc.so.1 (Stalin's runtime links it only
# if the program allocates: earley does, boyer does not, see
# docs/boehm-clients.md). Each runs with LD_DEBUG=libs writing to a file,
# and the script checks that the dynamic loader ran the initializer of the
# expected libgc.so.1 (DIR/libgc.so.1, or Debian's) in it, and fails
# otherwise. gcc never links against DIR: it builds with Debian's headers
# and libgc.so, as any Debian user would, and the program picks the library
# up at run time by its soname.
#
# Options:
#   --out=FILE       the client's output (default: CLIENT.out in the current
#                    directory)
#   --work=DIR       where inputs and intermediate files go (default: a new
#                    temporary directory, deleted at the end); the page and
#                    Stalin's inputs there are reused if present
#   --logs=DIR       each client process's stderr as DIR/LABEL.stderr
#                    (default: in the work directory)
#   --procstat=PATH  run each client process under procstat (built by
#   --stats=FILE     //tools/boehm_clients:procstat), appending its line to
#                    FILE (labels: w3m, stalin-X:compile, stalin-X:run).
#                    The benchmark uses this; the tests use it to check
#                    /proc/PID/maps as well.
# Environment: GC_* variables (GC_PRINT_STATS...) pass through to the
# clients. HOME is a directory in the work directory (w3m writes ~/.w3m),
# LC_ALL=C.UTF-8.
#
# Exits non-zero, with the reason on stderr, if a client fails, its
# library is not the expected one, or a program is missing
# (tools/install_deps.sh installs w3m and stalin).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STALIN_BENCH=/usr/share/doc/stalin/benchmarks
STALIN_OPTS=(-Ob -Om -On -Or -Ot)
PAGE_MB=6

die() { echo "run_client: $*" >&2; exit 1; }

client=""
libgc_dir=""
out=""
work=""
logs=""
procstat=""
stats=""
for arg in "$@"; do
  case "$arg" in
    --libgc-dir=*) libgc_dir="${arg#*=}" ;;
    --out=*) out="${arg#*=}" ;;
    --work=*) work="${arg#*=}" ;;
    --logs=*) logs="${arg#*=}" ;;
    --procstat=*) procstat="${arg#*=}" ;;
    --stats=*) stats="${arg#*=}" ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option $arg" ;;
    *) [[ -z "$client" ]] || die "one client at a time ($client, $arg)"
       client="$arg" ;;
  esac
done
case "$client" in
  w3m|stalin-earley|stalin-boyer) ;;
  "") die "usage: run_client.sh w3m|stalin-earley|stalin-boyer [--libgc-dir=DIR] [--out=FILE]" ;;
  *) die "unknown client '$client' (w3m, stalin-earley, stalin-boyer)" ;;
esac
[[ -n "$procstat" && -z "$stats" || -z "$procstat" && -n "$stats" ]] &&
  die "--procstat and --stats go together"
[[ -z "$procstat" || -x "$procstat" ]] || die "--procstat=$procstat is not executable"
[[ -n "$out" ]] || out="$client.out"
# Paths given relative to the caller's directory stay valid after a cd.
abspath() { [[ "$1" == /* ]] && echo "$1" || echo "$PWD/$1"; }
out=$(abspath "$out")
[[ -z "$procstat" ]] || procstat=$(abspath "$procstat")
[[ -z "$stats" ]] || stats=$(abspath "$stats")
[[ -z "$logs" ]] || logs=$(abspath "$logs")

# The library every client process must load.
multiarch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
debian_libgc=/usr/lib/$multiarch/libgc.so.1
[[ -e "$debian_libgc" ]] || die "$debian_libgc missing: install libgc1 (tools/install_deps.sh)"
if [[ -n "$libgc_dir" ]]; then
  [[ -d "$libgc_dir" ]] || die "--libgc-dir: no directory $libgc_dir"
  libgc_dir=$(cd "$libgc_dir" && pwd)
  [[ -e "$libgc_dir/libgc.so.1" ]] || die "--libgc-dir: $libgc_dir holds no libgc.so.1"
  expected="$libgc_dir/libgc.so.1"
else
  expected="$debian_libgc"
fi

if [[ -z "$work" ]]; then
  work=$(mktemp -d "${TMPDIR:-/tmp}/run_client.XXXXXX")
  trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work/home" "$work/ld"
work=$(cd "$work" && pwd)
[[ -n "$logs" ]] || logs="$work"
mkdir -p "$logs"

export HOME="$work/home" LC_ALL=C.UTF-8
unset LD_LIBRARY_PATH LD_PRELOAD LD_DEBUG LD_DEBUG_OUTPUT

# run_gc LABEL CMD...: runs one client process on the chosen library, its
# stdout to this function's stdout, its stderr to LOGS/LABEL.stderr, then
# checks from the loader's log that it initialized the expected libgc.so.1.
# Returns the process's exit status. With gc_lock set, the process runs
# holding that lock file (flock), started after it is acquired.
gc_lock=
run_gc() {
  local label="$1"; shift
  local ldlog="$work/ld/${label//:/_}"
  rm -f "$ldlog".*
  local env=(env LD_DEBUG=libs "LD_DEBUG_OUTPUT=$ldlog")
  [[ -n "$libgc_dir" ]] && env+=("LD_LIBRARY_PATH=$libgc_dir")
  local wrap=()
  [[ -n "$procstat" ]] && wrap=("$procstat" "--out=$stats" "--label=$label" --)
  local lock=()
  [[ -n "$gc_lock" ]] && lock=(flock "$gc_lock")
  local rc=0
  "${lock[@]}" "${env[@]}" "${wrap[@]}" "$@" 2>"$logs/${label//:/_}.stderr" ||
    rc=$?
  if ((rc != 0)); then
    echo "run_client: $label: '$*' exited with $rc; its stderr:" >&2
    tail -n 20 "$logs/${label//:/_}.stderr" >&2
    return "$rc"
  fi
  # "calling init: PATH" for every shared object the loader initialized.
  local loaded
  loaded=$(cat "$ldlog".* 2>/dev/null | sed -n 's/.*calling init: \(.*\/libgc\.so\.1\)$/\1/p' | sort -u)
  # The loader names a library found through LD_LIBRARY_PATH by the path it
  # opened (DIR/libgc.so.1, exactly); Debian's may show as /lib/... or
  # /usr/lib/... (merged /usr), so that one is compared resolved.
  local same=0
  if [[ -n "$libgc_dir" ]]; then
    [[ "$loaded" == "$expected" ]] && same=1
  elif [[ -n "$loaded" && "$(readlink -f "$loaded")" == "$(readlink -f "$expected")" ]]; then
    same=1
  fi
  if ((!same)); then
    echo "run_client: $label loaded libgc.so.1 from '${loaded:-nowhere}'," \
      "expected $expected" >&2
    return 1
  fi
}

case "$client" in
  w3m)
    command -v w3m >/dev/null || die "w3m is not installed (tools/install_deps.sh)"
    page="$work/page-${PAGE_MB}mb.html"
    if [[ ! -s "$page" ]]; then
      python3 "$HERE/gen_html.py" --size-mb="$PAGE_MB" > "$page.tmp"
      mv "$page.tmp" "$page"
    fi
    run_gc w3m w3m -dump -cols 100 -T text/html -I UTF-8 -O UTF-8 \
      -o display_link_number=1 "$page" > "$out"
    ;;
  stalin-*)
    name="${client#stalin-}"
    command -v stalin >/dev/null || die "stalin is not installed (tools/install_deps.sh)"
    [[ -f "$STALIN_BENCH/$name.sc.gz" ]] || die "$STALIN_BENCH/$name.sc.gz missing"
    dir="$work/stalin-$name"
    mkdir -p "$dir"
    cd "$dir"
    rm -f "$name-stalin" "$name-stalin.c"
    zcat "$STALIN_BENCH/$name.sc.gz" | sed -f "$STALIN_BENCH/stalin.sed" > "$name-stalin.sc"
    # Stalin and the Scheme programs it compiles recurse deeply.
    ulimit -s unlimited 2>/dev/null || ulimit -s "$(ulimit -H -s)"
    # Every Stalin run writes, reads and deletes the same file,
    # /tmp/QobiScheme.tmp (the output of its architecture probe), so two at
    # once can fail with "OPEN-INPUT-FILE cannot open file": they take
    # turns.
    gc_lock=/tmp/QobiScheme.tmp.lock
    run_gc "$client:compile" stalin "${STALIN_OPTS[@]}" -c "$name-stalin" \
      > compile.stdout
    gc_lock=""
    # The command line Stalin 0.11 runs when it calls the C compiler itself
    # (seen by wrapping gcc), less its search paths that do not exist.
    gcc -I . -I /usr/lib/stalin -o "$name-stalin" "$name-stalin.c" \
      -I /usr/include/gc -fno-strict-aliasing -L /usr/lib/stalin \
      -lm -lstalin -lgc
    if readelf -d "$name-stalin" | grep -q 'NEEDED.*\[libgc\.so\.1\]'; then
      run_gc "$client:run" "./$name-stalin" > run.stdout
    else
      # Not a libgc client: nothing to check about the library.
      "./$name-stalin" > run.stdout
    fi
    {
      echo "== stalin ${STALIN_OPTS[*]} -c $name-stalin: stdout"
      cat compile.stdout
      echo "== $name-stalin.c"
      cat "$name-stalin.c"
      echo "== ./$name-stalin: stdout"
      cat run.stdout
    } > "$out"
    ;;
esac
