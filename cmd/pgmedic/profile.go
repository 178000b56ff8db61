package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
)

// startProfiling writes a CPU profile of the whole run to $PGMEDIC_PPROF.cpu
// and, at exit, a heap profile to $PGMEDIC_PPROF.heap and the runtime's
// memory statistics to $PGMEDIC_PPROF.mem, when that variable is set: how
// the numbers in the README's performance section were found.
// The returned function stops it.
func startProfiling() (stop func(), err error) {
	prefix := os.Getenv("PGMEDIC_PPROF")
	if prefix == "" {
		return func() {}, nil
	}
	// Record every allocation of 4 KB or more, not one per 512 KB: the
	// heap here is a few megabytes.
	runtime.MemProfileRate = 4096
	cpu, err := os.Create(prefix + ".cpu")
	if err != nil {
		return nil, fmt.Errorf("PGMEDIC_PPROF: %w", err)
	}
	if err := pprof.StartCPUProfile(cpu); err != nil {
		cpu.Close()
		return nil, fmt.Errorf("PGMEDIC_PPROF: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		cpu.Close()
		heap, err := os.Create(prefix + ".heap")
		if err != nil {
			fmt.Fprintln(os.Stderr, "pgmedic: PGMEDIC_PPROF:", err)
			return
		}
		defer heap.Close()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms) // before the GC below: the heap as it ran
		runtime.GC()
		if err := pprof.WriteHeapProfile(heap); err != nil {
			fmt.Fprintln(os.Stderr, "pgmedic: PGMEDIC_PPROF:", err)
		}
		const kb = 1024
		stats := fmt.Sprintf("heap in use %d kB, idle %d kB (released %d kB), stacks %d kB, "+
			"spans %d kB, GC metadata %d kB, other %d kB, GC cycles %d\n",
			ms.HeapInuse/kb, ms.HeapIdle/kb, ms.HeapReleased/kb, ms.StackSys/kb,
			ms.MSpanSys/kb, ms.GCSys/kb, ms.OtherSys/kb, ms.NumGC)
		if err := os.WriteFile(prefix+".mem", []byte(stats), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "pgmedic: PGMEDIC_PPROF:", err)
		}
	}, nil
}
