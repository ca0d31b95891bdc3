// treebench: the Go program of the anchor benchmarks, the Go side of
// tools/bench/tree_bench (gcheap, Boehm and malloc). It follows the process
// protocol in tools/bench/PROTOCOL.md: the same flags, the same four
// workloads, the same final RESULT line and the same --trace CSV, so that
// tools/run_anchor_bench.sh can run it next to the C++ systems.
//
//   - gcbench: GCBench (Ellis, Kovac, Boehm), 24-byte nodes
//     {left, right, int32 i, int32 j}.
//   - binarytrees: the Benchmarks Game algorithm, single-threaded, nodes
//     {left, right}, trees built parent first; prints the Benchmarks Game
//     lines and verifies every check.
//   - mtgcbench: GCBench with the per-depth loop split over --threads
//     goroutines (NumIters(d) / N iterations each).
//   - allocrate: each goroutine keeps a ring of 4096 live pointer-free
//     objects ([]byte of 16..256 bytes, sizes drawn by xorshift64*) and
//     replaces one per allocation; reports ns per allocation.
//
// Go is left at its defaults (GOGC=100, GOMAXPROCS = number of CPUs).
// Per-cycle pauses are Go's own accounting (MemStats.PauseNs: the sum of a
// cycle's stop-the-world pauses), read with debug.ReadGCStats, which does
// not stop the world (runtime.ReadMemStats does), by a sampler goroutine
// every 10 ms and once at the end, merged by cycle number so that more
// than the 256 cycles of the runtime's circular buffer are kept. The same
// sampler records RSS (/proc/self/statm) and the heap
// (/memory/classes/heap/objects:bytes from runtime/metrics) for --trace.
//
//	cd tools/go/treebench && go build -o treebench . && ./treebench --workload=gcbench
package main

import (
	"bufio"
	"encoding/binary"
	"flag"
	"fmt"
	"gcheap/tools/go/xorshift"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// ---------------------------------------------------------------- GCBench

// gcNode is GCBench's Node: two pointers and two ints, 24 bytes.
type gcNode struct {
	left, right *gcNode
	i, j        int32
}

// sink keeps objects that must live on the heap (the roots of the
// top-down trees, which escape analysis could otherwise put on the stack).
var sink *gcNode

func treeSize(i int) int { return (1 << uint(i+1)) - 1 }

// populate builds a tree top-down: the children of n, then theirs.
func populate(depth int, n *gcNode) {
	if depth <= 0 {
		return
	}
	depth--
	n.left = &gcNode{}
	n.right = &gcNode{}
	populate(depth, n.left)
	populate(depth, n.right)
}

// makeTree builds a tree bottom-up: the children first, then the parent.
func makeTree(depth int) *gcNode {
	if depth <= 0 {
		return &gcNode{}
	}
	return &gcNode{left: makeTree(depth - 1), right: makeTree(depth - 1)}
}

func countNodes(n *gcNode) int {
	if n == nil {
		return 0
	}
	return 1 + countNodes(n.left) + countNodes(n.right)
}

type gcParams struct {
	stretch, longLived, minDepth, maxDepth, arraySize int
}

func gcParamsFor(quick bool) gcParams {
	if quick {
		return gcParams{stretch: 16, longLived: 14, minDepth: 4, maxDepth: 14, arraySize: 500000}
	}
	return gcParams{stretch: 18, longLived: 16, minDepth: 4, maxDepth: 16, arraySize: 500000}
}

// numIters is GCBench's NumIters: 2 * TreeSize(stretch) / TreeSize(d).
func (p gcParams) numIters(d int) int { return 2 * treeSize(p.stretch) / treeSize(d) }

// timeConstruction is GCBench's per-depth step: iters trees top-down, as
// many bottom-up, each dropped at once.
func timeConstruction(depth, iters int) {
	for i := 0; i < iters; i++ {
		t := &gcNode{}
		sink = t
		populate(depth, t)
		sink = nil
	}
	for i := 0; i < iters; i++ {
		t := makeTree(depth)
		_ = t
	}
}

// gcSetup builds and drops the stretch tree, then builds the long-lived
// tree and array.
func gcSetup(p gcParams) (*gcNode, []float64) {
	makeTree(p.stretch) // built and dropped
	longLived := &gcNode{}
	sink = longLived
	populate(p.longLived, longLived)
	array := make([]float64, p.arraySize)
	for i := 0; i < p.arraySize/2; i++ {
		array[i] = 1.0 / float64(i)
	}
	return longLived, array
}

func gcCheck(p gcParams, longLived *gcNode, array []float64) {
	if longLived == nil || array[1000] != 1.0/1000 {
		fail("gcbench: long-lived array corrupted (array[1000] = %v)", array[1000])
	}
	if n := countNodes(longLived); n != treeSize(p.longLived) {
		fail("gcbench: long-lived tree has %d nodes, expected %d", n, treeSize(p.longLived))
	}
	runtime.KeepAlive(array)
	sink = nil
}

func runGCBench(quick bool) {
	p := gcParamsFor(quick)
	longLived, array := gcSetup(p)
	for d := p.minDepth; d <= p.maxDepth; d += 2 {
		timeConstruction(d, p.numIters(d))
	}
	gcCheck(p, longLived, array)
}

func runMTGCBench(quick bool, threads int) {
	p := gcParamsFor(quick)
	longLived, array := gcSetup(p)
	var wg sync.WaitGroup
	for t := 0; t < threads; t++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := p.minDepth; d <= p.maxDepth; d += 2 {
				timeConstruction(d, p.numIters(d)/threads)
			}
		}()
	}
	wg.Wait()
	gcCheck(p, longLived, array)
}

// ---------------------------------------------------------------- binary-trees

type btNode struct {
	left, right *btNode
}

// bottomUpTree builds a tree of the given depth, parent first.
func bottomUpTree(depth int) *btNode {
	n := &btNode{}
	if depth > 0 {
		n.left = bottomUpTree(depth - 1)
		n.right = bottomUpTree(depth - 1)
	}
	return n
}

func (n *btNode) itemCheck() int {
	if n.left == nil {
		return 1
	}
	return 1 + n.left.itemCheck() + n.right.itemCheck()
}

func runBinaryTrees(depth int, out *bufio.Writer) {
	const minDepth = 4
	maxDepth := depth
	if maxDepth < minDepth+2 {
		maxDepth = minDepth + 2
	}
	stretch := maxDepth + 1
	check := bottomUpTree(stretch).itemCheck()
	fmt.Fprintf(out, "stretch tree of depth %d\t check: %d\n", stretch, check)
	if check != treeSize(stretch) {
		fail("binarytrees: stretch tree check %d, expected %d", check, treeSize(stretch))
	}
	longLived := bottomUpTree(maxDepth)
	for d := minDepth; d <= maxDepth; d += 2 {
		iters := 1 << uint(maxDepth-d+minDepth)
		check = 0
		for i := 0; i < iters; i++ {
			check += bottomUpTree(d).itemCheck()
		}
		fmt.Fprintf(out, "%d\t trees of depth %d\t check: %d\n", iters, d, check)
		if check != iters*treeSize(d) {
			fail("binarytrees: %d trees of depth %d check %d, expected %d", iters, d, check, iters*treeSize(d))
		}
	}
	check = longLived.itemCheck()
	fmt.Fprintf(out, "long lived tree of depth %d\t check: %d\n", maxDepth, check)
	if check != treeSize(maxDepth) {
		fail("binarytrees: long lived tree check %d, expected %d", check, treeSize(maxDepth))
	}
}

// ---------------------------------------------------------------- allocrate

var allocSizes = [8]int{16, 24, 32, 48, 64, 96, 128, 256}

const ringSize = 4096

var allocSum [64]uint64 // per-goroutine checksums, read at the end

// allocLoop allocates n pointer-free objects into a ring of ringSize live
// slots, writing the first word of each.
func allocLoop(seed uint64, n int) uint64 {
	r := xorshift.New(seed)
	ring := make([]unsafe.Pointer, ringSize)
	for k := 0; k < n; k++ {
		b := make([]byte, allocSizes[r.Next()%8])
		binary.LittleEndian.PutUint64(b, uint64(k))
		ring[k&(ringSize-1)] = unsafe.Pointer(&b[0])
	}
	var sum uint64
	for _, p := range ring {
		if p != nil {
			sum += *(*uint64)(p)
		}
	}
	return sum
}

func runAllocRate(quick bool, threads int) int {
	n := 20000000
	if quick {
		n = 2000000
	}
	sums := make([]uint64, threads)
	var wg sync.WaitGroup
	for t := 0; t < threads; t++ {
		wg.Add(1)
		go func(t int) {
			defer wg.Done()
			sums[t] = allocLoop(uint64(t+1), n)
		}(t)
	}
	wg.Wait()
	for t, s := range sums {
		allocSum[t%len(allocSum)] += s
	}
	return n
}

// ---------------------------------------------------------------- sampling

type traceRec struct {
	kind  string
	t     float64 // ms since the workload started
	value float64
}

type cycle struct {
	num   int64
	pause time.Duration
	end   time.Time
}

// gcLog merges successive debug.ReadGCStats snapshots by cycle number.
type gcLog struct {
	last   int64 // highest cycle number merged
	cycles []cycle
	lost   int // cycles that left the 256-entry buffer between two reads
}

func (l *gcLog) merge(s *debug.GCStats) {
	for c := l.last + 1; c <= s.NumGC; c++ {
		i := s.NumGC - c // Pause[0] is the most recent cycle
		if i < int64(len(s.Pause)) {
			l.cycles = append(l.cycles, cycle{c, s.Pause[i], s.PauseEnd[i]})
		} else {
			l.lost++
		}
	}
	if s.NumGC > l.last {
		l.last = s.NumGC
	}
}

type sampler struct {
	start   time.Time
	trace   bool
	log     gcLog
	recs    []traceRec
	stats   debug.GCStats
	metric  []metrics.Sample
	page    float64
	stop    chan struct{}
	stopped chan struct{}
}

func newSampler(trace bool, startGC *debug.GCStats) *sampler {
	s := &sampler{
		trace:   trace,
		metric:  []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}},
		page:    float64(os.Getpagesize()),
		stop:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	s.log.last = startGC.NumGC
	return s
}

// peakRssMiB is the process's peak resident set (VmHWM in
// /proc/self/status). Unlike ru_maxrss it does not carry the peak of the
// process that exec'ed this one; ru_maxrss is the fallback.
func peakRssMiB(ru syscall.Rusage) float64 {
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "VmHWM:") {
				var kb float64
				if _, err := fmt.Sscanf(strings.TrimSpace(line[len("VmHWM:"):]), "%f kB", &kb); err == nil {
					return kb / 1024
				}
			}
		}
	}
	return float64(ru.Maxrss) / 1024
}

func rssMiB(page float64) (float64, bool) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, false
	}
	pages, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return 0, false
	}
	return float64(pages) * page / (1 << 20), true
}

func (s *sampler) sample() {
	debug.ReadGCStats(&s.stats)
	s.log.merge(&s.stats)
	if !s.trace {
		return
	}
	t := msSince(s.start)
	if rss, ok := rssMiB(s.page); ok {
		s.recs = append(s.recs, traceRec{"rss", t, rss})
	}
	metrics.Read(s.metric)
	if s.metric[0].Value.Kind() == metrics.KindUint64 {
		s.recs = append(s.recs, traceRec{"heap", t, float64(s.metric[0].Value.Uint64()) / (1 << 20)})
	}
}

func (s *sampler) run() {
	defer close(s.stopped)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	s.sample()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
			s.sample()
		}
	}
}

func msSince(t time.Time) float64 { return float64(time.Since(t).Nanoseconds()) / 1e6 }

func writeTrace(path string, s *sampler, cycles []cycle) error {
	recs := append([]traceRec(nil), s.recs...)
	startNs := s.start.UnixNano()
	for _, c := range cycles {
		recs = append(recs, traceRec{"pause", float64(c.end.UnixNano()-startNs) / 1e6,
			float64(c.pause.Nanoseconds()) / 1e3})
	}
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].t < recs[j].t })
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, "kind,t_ms,value")
	for _, r := range recs {
		fmt.Fprintf(w, "%s,%.3f,%.3f\n", r.kind, r.t, r.value)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ---------------------------------------------------------------- output

// nearestRank is the nearest-rank percentile of sorted v (p in (0, 1]).
func nearestRank(v []float64, p float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	r := int(math.Ceil(p * float64(len(v))))
	if r < 1 {
		r = 1
	}
	if r > len(v) {
		r = len(v)
	}
	return v[r-1]
}

func num(x float64) string {
	if math.IsNaN(x) {
		return "nan"
	}
	return strconv.FormatFloat(x, 'f', 3, 64)
}

func fail(format string, args ...interface{}) {
	if stdout != nil {
		stdout.Flush()
	}
	fmt.Fprintf(os.Stderr, "FAILED: "+format+"\n", args...)
	os.Exit(1)
}

var stdout *bufio.Writer

func rusageCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func main() {
	workload := flag.String("workload", "", "gcbench | binarytrees | mtgcbench | allocrate")
	threads := flag.Int("threads", 1, "goroutines for mtgcbench and allocrate")
	depth := flag.Int("depth", 21, "binarytrees max depth")
	quick := flag.Bool("quick", false, "smaller sizes")
	tracePath := flag.String("trace", "", "write the trace CSV to this file at exit")
	system := flag.String("system", "go", "accepted for symmetry with tree_bench; must be go")
	flag.Parse()
	if flag.NArg() != 0 {
		fmt.Fprintf(os.Stderr, "unexpected arguments: %v\n", flag.Args())
		os.Exit(2)
	}
	if *system != "go" {
		fmt.Fprintf(os.Stderr, "this is the Go program: --system must be go, not %q\n", *system)
		os.Exit(2)
	}
	if *threads < 1 {
		fmt.Fprintf(os.Stderr, "--threads must be at least 1\n")
		os.Exit(2)
	}
	depthSet := false
	flag.Visit(func(f *flag.Flag) {
		if f.Name == "depth" {
			depthSet = true
		}
	})
	if *quick && !depthSet {
		*depth = 16
	}
	reportThreads := 1
	switch *workload {
	case "gcbench", "binarytrees":
	case "mtgcbench", "allocrate":
		reportThreads = *threads
	default:
		fmt.Fprintf(os.Stderr, "--workload must be gcbench, binarytrees, mtgcbench or allocrate\n")
		os.Exit(2)
	}

	stdout = bufio.NewWriter(os.Stdout)
	defer stdout.Flush()

	var startGC debug.GCStats
	debug.ReadGCStats(&startGC)
	smp := newSampler(*tracePath != "", &startGC)
	cpu0 := rusageCPU()
	t0 := time.Now()
	smp.start = t0
	go smp.run()

	perThread := 0
	switch *workload {
	case "gcbench":
		runGCBench(*quick)
	case "binarytrees":
		runBinaryTrees(*depth, stdout)
	case "mtgcbench":
		runMTGCBench(*quick, *threads)
	case "allocrate":
		perThread = runAllocRate(*quick, *threads)
	}

	wall := time.Since(t0)
	cpu := rusageCPU() - cpu0
	var endGC debug.GCStats
	debug.ReadGCStats(&endGC)
	close(smp.stop)
	<-smp.stopped
	smp.log.merge(&endGC)
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)

	var cycles []cycle
	for _, c := range smp.log.cycles {
		if c.num > startGC.NumGC && c.num <= endGC.NumGC {
			cycles = append(cycles, c)
		}
	}
	gcs := endGC.NumGC - startGC.NumGC
	if smp.log.lost > 0 {
		fmt.Fprintf(os.Stderr, "warning: %d of %d cycles left Go's 256-entry pause buffer before they were read; their pauses are not counted\n",
			smp.log.lost, gcs)
	}
	pauses := make([]float64, len(cycles))
	for i, c := range cycles {
		pauses[i] = float64(c.pause.Nanoseconds()) / 1e3
	}
	sort.Float64s(pauses)

	nsPerAlloc := math.NaN()
	if perThread > 0 {
		nsPerAlloc = float64(wall.Nanoseconds()) / float64(perThread)
	}

	if *tracePath != "" {
		if err := writeTrace(*tracePath, smp, cycles); err != nil {
			fail("writing the trace %s: %v", *tracePath, err)
		}
	}

	fmt.Fprintf(stdout, "RESULT system=go workload=%s threads=%d wall_ms=%s cpu_ms=%s max_rss_mb=%s gcs=%d pause_p50_us=%s pause_p99_us=%s pause_max_us=%s ns_per_alloc=%s allocator=-\n",
		*workload, reportThreads,
		num(float64(wall.Nanoseconds())/1e6), num(float64(cpu.Nanoseconds())/1e6),
		num(peakRssMiB(ru)), gcs,
		num(nearestRank(pauses, 0.50)), num(nearestRank(pauses, 0.99)), num(nearestRank(pauses, 1)),
		num(nsPerAlloc))
}
