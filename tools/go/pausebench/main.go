// pausebench: the Go version of tools/pause_bench.cc, for a side-by-side
// comparison with Go's collector (the design gcheap follows).
//
// Same workload: a forest of binary trees of 32-byte nodes (left, right,
// a pointer to a pointer-free payload of 16/48/96/256 bytes, one in 256 a
// 4 KiB buffer, and a key), --live_mb MiB live in total, built by
// --threads goroutines that then replace random subtrees of their own
// trees with fresh ones for --seconds. GOMAXPROCS is Go's default (the
// number of CPUs). Per-cycle stop-the-world time comes from
// runtime.MemStats.PauseNs (Go's own accounting: the sum of a cycle's
// pauses), over the cycles that ran during the mutation phase.
//
//	tools/run_pause_bench.sh   (builds and runs both versions)
package main

import (
	"flag"
	"fmt"
	"gcheap/tools/go/xorshift"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

const treeDepth = 12

type node struct {
	left, right *node
	data        unsafe.Pointer
	key         uint64
}

var payload = [4]int{16, 48, 96, 256}

type mutator struct {
	rng       *xorshift.Rng
	trees     []*node
	built     int
	ops       uint64
	allocated uint64
}

func (m *mutator) makeTree(height int) *node {
	if height == 0 {
		n := &node{}
		size := payload[m.rng.Next()%4]
		if m.rng.Next()%256 == 0 {
			size = 4096
		}
		b := make([]byte, size)
		b[0] = byte(size)
		n.data = unsafe.Pointer(&b[0])
		n.key = uint64(size)
		m.built += 32 + size
		m.allocated += uint64(32 + size)
		return n
	}
	l := m.makeTree(height - 1)
	r := m.makeTree(height - 1)
	m.built += 32
	m.allocated += 32
	return &node{left: l, right: r, key: uint64(height)}
}

func (m *mutator) build(bytes int) {
	for m.built < bytes {
		m.trees = append(m.trees, m.makeTree(treeDepth))
	}
}

func (m *mutator) mutate(deadline time.Time) {
	for time.Now().Before(deadline) {
		for i := 0; i < 16; i++ {
			root := m.trees[m.rng.Next()%uint64(len(m.trees))]
			k := 1 + int(m.rng.Next()%treeDepth)
			path := m.rng.Next()
			fresh := m.makeTree(treeDepth - k)
			parent := root
			for d := 1; d < k; d++ {
				if path>>uint(d)&1 != 0 {
					parent = parent.left
				} else {
					parent = parent.right
				}
			}
			if path&1 != 0 {
				parent.left = fresh
			} else {
				parent.right = fresh
			}
			m.ops++
		}
	}
}

func percentile(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	i := int(p*float64(len(s)-1) + 0.5)
	if i >= len(s) {
		i = len(s) - 1
	}
	return s[i]
}

func main() {
	liveMB := flag.Int("live_mb", 1024, "live heap size in MiB")
	threads := flag.Int("threads", 4, "mutator goroutines")
	seconds := flag.Float64("seconds", 20, "length of the mutation phase")
	flag.Parse()

	live := *liveMB << 20
	muts := make([]*mutator, *threads)
	for i := range muts {
		muts[i] = &mutator{rng: xorshift.New(uint64(1234 + i))}
	}
	tBuild := time.Now()
	var wg sync.WaitGroup
	for _, m := range muts {
		wg.Add(1)
		go func(m *mutator) { defer wg.Done(); m.build(live / *threads) }(m)
	}
	wg.Wait()
	tMut := time.Now()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	firstGC := ms.NumGC
	deadline := tMut.Add(time.Duration(*seconds * float64(time.Second)))
	var peakHeap uint64
	stop := int32(0)
	go func() { // sample the heap size, as the C++ version's cycle hook does
		var s runtime.MemStats
		for atomic.LoadInt32(&stop) == 0 {
			runtime.ReadMemStats(&s)
			if s.HeapInuse > peakHeap {
				peakHeap = s.HeapInuse
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	for _, m := range muts {
		wg.Add(1)
		go func(m *mutator) { defer wg.Done(); m.mutate(deadline) }(m)
	}
	wg.Wait()
	tEnd := time.Now()
	atomic.StoreInt32(&stop, 1)
	runtime.ReadMemStats(&ms)
	var pauses []float64
	for c := firstGC + 1; c <= ms.NumGC; c++ {
		if ms.NumGC-c >= 256 {
			continue // overwritten in the circular buffer
		}
		pauses = append(pauses, float64(ms.PauseNs[(c+255)%256])/1e3)
	}
	var ops, allocated uint64
	for _, m := range muts {
		ops += m.ops
		allocated += m.allocated
	}
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	mut := tEnd.Sub(tMut).Seconds()
	fmt.Printf("pausebench (Go %s, GOMAXPROCS %d): %d goroutines, %d MiB live target, build %.1f s, mutate %.1f s\n",
		runtime.Version(), runtime.GOMAXPROCS(0), *threads, *liveMB, tMut.Sub(tBuild).Seconds(), mut)
	fmt.Printf("  cycles during mutation   %d (all: %d)\n", len(pauses), ms.NumGC)
	fmt.Printf("  STW per cycle (us)       p50 %.0f  p99 %.0f  max %.0f\n",
		percentile(pauses, 0.5), percentile(pauses, 0.99), percentile(pauses, 1))
	fmt.Printf("  GC CPU fraction          %.3f\n", ms.GCCPUFraction)
	fmt.Printf("  mutator                  %.0f subtree replacements/s, %.0f MB/s allocated\n",
		float64(ops)/mut, float64(allocated)/1e6/mut)
	fmt.Printf("  peak heap in use (MiB)   %.0f\n", float64(peakHeap)/1048576)
	fmt.Printf("  peak RSS (MiB)           %.0f\n", float64(ru.Maxrss)/1024)
}
