package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
)

// startProfiling writes a CPU profile of the whole run to $PGMEDIC_PPROF.cpu
// and a heap profile at exit to $PGMEDIC_PPROF.heap, when that variable is
// set: how the numbers in the README's performance section were made.
// The returned function stops it.
func startProfiling() (stop func(), err error) {
	prefix := os.Getenv("PGMEDIC_PPROF")
	if prefix == "" {
		return func() {}, nil
	}
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
		runtime.GC()
		if err := pprof.WriteHeapProfile(heap); err != nil {
			fmt.Fprintln(os.Stderr, "pgmedic: PGMEDIC_PPROF:", err)
		}
	}, nil
}
