package cli

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"time"
)

// Environment variables that turn on profiling of a whole command (make
// bench -profile DIR sets them). They are read by Main only, so tests that
// call Run in-process are never profiled.
const (
	// CPUProfileEnv names a file for a CPU profile of the run.
	CPUProfileEnv = "ENCLAVE_CPUPROFILE"
	// MemProfileEnv names a file for a heap profile taken at exit (its
	// alloc_space shows where allocations come from); FILE.peak gets the
	// heap profile taken when the live heap was largest (its inuse_space
	// shows what the peak RSS is made of).
	MemProfileEnv = "ENCLAVE_MEMPROFILE"
)

// profiled runs run under the profiles the environment asks for and returns
// its exit code. Failures to profile are reported, never fatal.
func profiled(run func() int) int {
	cpuFile, memFile := os.Getenv(CPUProfileEnv), os.Getenv(MemProfileEnv)
	if cpuFile == "" && memFile == "" {
		return run()
	}
	warn := func(err error) { fmt.Fprintf(os.Stderr, "profile: %v\n", err) }
	if cpuFile != "" {
		f, err := os.Create(cpuFile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			warn(err)
		} else {
			defer func() {
				pprof.StopCPUProfile()
				if err := f.Close(); err != nil {
					warn(err)
				}
			}()
		}
	}
	if memFile == "" {
		return run()
	}
	done := make(chan []byte)
	stop := make(chan struct{})
	go func() { done <- peakHeapProfile(stop) }()
	code := run()
	close(stop)
	if peak := <-done; peak != nil {
		if err := os.WriteFile(memFile+".peak", peak, 0o644); err != nil {
			warn(err)
		}
	}
	runtime.GC() // up-to-date inuse figures
	var buf bytes.Buffer
	if err := pprof.Lookup("heap").WriteTo(&buf, 0); err != nil {
		warn(err)
	} else if err := os.WriteFile(memFile, buf.Bytes(), 0o644); err != nil {
		warn(err)
	}
	return code
}

// peakHeapProfile watches the live heap until stop closes and returns the
// heap profile taken each time it grew by a tenth over the last snapshot.
func peakHeapProfile(stop <-chan struct{}) []byte {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	var peak uint64
	var snap []byte
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return snap
		case <-t.C:
		}
		metrics.Read(sample)
		if sample[0].Value.Kind() != metrics.KindUint64 {
			return nil
		}
		if live := sample[0].Value.Uint64(); live > peak+peak/10 {
			var buf bytes.Buffer
			if pprof.Lookup("heap").WriteTo(&buf, 0) == nil {
				peak, snap = live, buf.Bytes()
			}
		}
	}
}
