package cli

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/enclave-mirror/enclave/archive"
)

// Environment variables with which make bench measures how an unpack
// reads its archive (tools/bench). Nobody else needs them.
const (
	// ReadStatsEnv names a file that an unpack writes, at its end, what it
	// read from the archive's volumes: "bytes N", "reads N" and "seeks N"
	// lines (a seek is a read starting more than seekDistance away from
	// where the one before it, of any goroutine, ended).
	ReadStatsEnv = "ENCLAVE_READ_STATS"
	// ReadRateEnv paces the reads of the archive's volumes to at most this
	// many bytes per second (decimal): the archive then reads like one on
	// a USB disk or an optical disc.
	ReadRateEnv = "ENCLAVE_READ_RATE"
)

// seekDistance is how far from the end of the previous read a read may
// start and still count as sequential: a disk's read-ahead covers a few
// MiB, and chunk header frames are skipped between chunks.
const seekDistance = 8 << 20

// readStats counts the reads of an archive's volumes.
type readStats struct {
	mu           sync.Mutex
	bytes, reads int64
	seeks        int64
	volume       uint32
	end          int64
}

func (s *readStats) add(volume uint32, off, n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reads > 0 && (volume != s.volume || off < s.end-seekDistance || off > s.end+seekDistance) &&
		(volume != s.volume+1 || off > seekDistance) {
		s.seeks++
	}
	s.bytes += n
	s.reads++
	s.volume, s.end = volume, off+n
}

func (s *readStats) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprintf("bytes %d\nreads %d\nseeks %d\n", s.bytes, s.reads, s.seeks)
}

// archiveReads returns the archive options the environment asks for, and
// a function to call at the end of the run (it writes the statistics).
func archiveReads() ([]archive.OpenOption, func() error, error) {
	stats, rate := os.Getenv(ReadStatsEnv), os.Getenv(ReadRateEnv)
	if stats == "" && rate == "" {
		return nil, func() error { return nil }, nil
	}
	st := &readStats{}
	var pace func(int64)
	if rate != "" {
		bps, err := strconv.ParseFloat(rate, 64)
		if err != nil || bps <= 0 {
			return nil, nil, Usagef("%s=%q: want bytes per second", ReadRateEnv, rate)
		}
		pace = pacer(bps)
	}
	fn := func(volume uint32, off, n int64) {
		st.add(volume, off, n)
		if pace != nil {
			pace(n)
		}
	}
	done := func() error {
		if stats == "" {
			return nil
		}
		if err := os.WriteFile(stats, []byte(st.String()), 0o644); err != nil {
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
