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
	// read from the archive's volumes: "bytes N", "reads N", "seeks N"
	// (a seek is a read starting more than seekDistance away from where
	// the one before it, of any goroutine, ended) and "volume-seeks N"
	// (a read of a volume file not starting at or up to seekDistance past
	// where the previous read of that file ended: what ReadSeekEnv
	// charges).
	ReadStatsEnv = "ENCLAVE_READ_STATS"
	// ReadRateEnv paces the reads of the archive's volumes to at most this
	// many bytes per second (decimal): the archive then reads like one on
	// a USB disk or an optical disc.
	ReadRateEnv = "ENCLAVE_READ_RATE"
	// ReadSeekEnv, a duration ("10ms"), charges each volume seek that much
	// time on top of ReadRateEnv's pace, as a hard disk or a DVD drive
	// takes to move its head.
	ReadSeekEnv = "ENCLAVE_READ_SEEK"
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
	volumeSeeks  int64
	ends         map[uint32]int64 // where the last read of each volume ended
}

// add counts a read and says whether it is a volume seek.
func (s *readStats) add(volume uint32, off, n int64) (seek bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reads > 0 && (volume != s.volume || off < s.end-seekDistance || off > s.end+seekDistance) &&
		(volume != s.volume+1 || off > seekDistance) {
		s.seeks++
	}
	if s.ends == nil {
		s.ends = map[uint32]int64{}
	}
	end, ok := s.ends[volume]
	if !ok {
		end = 0 // the first read of a volume follows Open's read of its header
	}
	if off < end || off > end+seekDistance {
		s.volumeSeeks++
		seek = true
	}
	s.ends[volume] = off + n
	s.bytes += n
	s.reads++
	s.volume, s.end = volume, off+n
	return seek
}

func (s *readStats) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprintf("bytes %d\nreads %d\nseeks %d\nvolume-seeks %d\n", s.bytes, s.reads, s.seeks, s.volumeSeeks)
}

// archiveReads returns the archive options the environment asks for, and
// a function to call at the end of the run (it writes the statistics).
func archiveReads() ([]archive.OpenOption, func() error, error) {
	stats, rate, seekCost := os.Getenv(ReadStatsEnv), os.Getenv(ReadRateEnv), os.Getenv(ReadSeekEnv)
	if stats == "" && rate == "" && seekCost == "" {
		return nil, func() error { return nil }, nil
	}
	st := &readStats{}
	var bps float64
	if rate != "" {
		var err error
		if bps, err = strconv.ParseFloat(rate, 64); err != nil || bps <= 0 {
			return nil, nil, Usagef("%s=%q: want bytes per second", ReadRateEnv, rate)
		}
	}
	var seek time.Duration
	if seekCost != "" {
		var err error
		if seek, err = time.ParseDuration(seekCost); err != nil || seek < 0 {
			return nil, nil, Usagef("%s=%q: want a duration (10ms)", ReadSeekEnv, seekCost)
		}
	}
	var pace func(n int64, seek bool)
	if bps > 0 || seek > 0 {
		pace = pacer(bps, seek)
	}
	fn := func(volume uint32, off, n int64) {
		seek := st.add(volume, off, n)
		if pace != nil {
			pace(n, seek)
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
// size at bps bytes per second (none: 0) plus seekCost for each that was a
// seek, since the first.
func pacer(bps float64, seekCost time.Duration) func(n int64, seek bool) {
	var mu sync.Mutex
	var start time.Time
	var busy time.Duration
	return func(n int64, seek bool) {
		mu.Lock()
		if start.IsZero() {
			start = time.Now()
		}
		if bps > 0 {
			busy += time.Duration(float64(n) / bps * float64(time.Second))
		}
		if seek {
			busy += seekCost
		}
		due := start.Add(busy)
		mu.Unlock()
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
	}
}
