package cli

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/enclave-mirror/enclave/archive"
)

// Environment variables with which make bench measures how an unpack
// reads its archive (tools/bench). Nobody else needs them.
const (
	// ReadStatsEnv names a file that an unpack writes, at its end, the
	// number of bytes it read from the archive's volumes into (decimal).
	ReadStatsEnv = "ENCLAVE_READ_STATS"
	// ReadRateEnv paces the reads of the archive's volumes to at most this
	// many bytes per second (decimal): the archive then reads like one on
	// a USB disk or an optical disc.
	ReadRateEnv = "ENCLAVE_READ_RATE"
)

// archiveReads returns the archive options the environment asks for, and
// a function to call at the end of the run (it writes the read count).
func archiveReads() ([]archive.OpenOption, func() error, error) {
	stats, rate := os.Getenv(ReadStatsEnv), os.Getenv(ReadRateEnv)
	if stats == "" && rate == "" {
		return nil, func() error { return nil }, nil
	}
	var total atomic.Int64
	var pace func(int64)
	if rate != "" {
		bps, err := strconv.ParseFloat(rate, 64)
		if err != nil || bps <= 0 {
			return nil, nil, Usagef("%s=%q: want bytes per second", ReadRateEnv, rate)
		}
		pace = pacer(bps)
	}
	fn := func(n int64) {
		total.Add(n)
		if pace != nil {
			pace(n)
		}
	}
	done := func() error {
		if stats == "" {
			return nil
		}
		if err := os.WriteFile(stats, []byte(strconv.FormatInt(total.Load(), 10)+"\n"), 0o644); err != nil {
			return fmt.Errorf("%s: %w", ReadStatsEnv, err)
		}
		return nil
	}
	return []archive.OpenOption{archive.WithVolumeReads(fn)}, done, nil
}

// pacer returns a function that, called after each read of n bytes, sleeps
// until the reads so far (from every goroutine) have taken at least their
// size at bps bytes per second since the first.
func pacer(bps float64) func(int64) {
	var mu sync.Mutex
	var start time.Time
	var read int64
	return func(n int64) {
		mu.Lock()
		if start.IsZero() {
			start = time.Now()
		}
		read += n
		due := start.Add(time.Duration(float64(read) / bps * float64(time.Second)))
		mu.Unlock()
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
	}
}
