package progress

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestSummaryWriteTo(t *testing.T) {
	s := Summary{
		Verb:          "pack",
		ImagesPlanned: 36,
		Images:        35,
		ImagesFailed:  1,
		Failed:        []Failure{{"quay.io/x/z:2", "manifest unknown"}},
		Blobs:         210,
		Bytes:         1288490188,
		Skipped: map[SkipReason]SkipCount{
			SkipAtDestination: {3, 12 * MiB},
			SkipInBase:        {40, 340 * MiB},
		},
		Elapsed: 14200 * time.Millisecond,
	}
	want := `pack summary
  images     35 done, 1 failed
  moved      1.2 GiB in 210 blobs (14.2s, 86.5 MiB/s)
  skipped    340 MiB in 40 blobs already in a base
             12 MiB in 3 blobs already at the destination
  failed     quay.io/x/z:2: manifest unknown
`
	var b strings.Builder
	n, err := s.WriteTo(&b)
	if err != nil || n != int64(len(want)) {
		t.Errorf("WriteTo = %d, %v; want %d, nil", n, err, len(want))
	}
	diffOutput(t, b.String(), want)
}

func TestSummaryEmpty(t *testing.T) {
	var b strings.Builder
	Summary{Verb: "pack"}.WriteTo(&b)
	want := "pack summary\n" +
		"  images     0 done\n" +
		"  moved      0 B in 0 blobs (0.0s)\n"
	diffOutput(t, b.String(), want)
	if r := (Summary{}).Rate(); r != 0 {
		t.Errorf("Rate of zero Summary = %v", r)
	}
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// The Reporter's counts become the Summary: what moved, what was skipped
// and why, what failed, and what an interrupted run left unfinished or never
// started.
func TestReporterSummary(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 3, 0, 0, 0, time.UTC)}
	r := New(Options{Out: &strings.Builder{}, Verb: "unpack", Now: clock.Now})
	r.SetTotals(10, 0)
	for _, ref := range []string{"a", "b", "c", "z", "y"} {
		r.ImageStarted(ref)
	}
	r.BlobDone(MiB)
	r.BlobDone(MiB)
	r.BlobDone(MiB)
	r.Transferred(5 * MiB) // the status line counts bytes moved, retries included; the summary counts blobs done
	r.Skipped(SkipInBase, MiB)
	r.Skipped(SkipInBase, MiB)
	r.Skipped(SkipMounted, KiB)
	r.Skipped(SkipReason(99), 5)
	r.ImageDone("z", 0, errors.New("denied"))
	r.ImageDone("a", 0, errors.New("boom"))
	r.ImageDone("b", 0, nil)
	r.ImageDone("y", 0, nil)
	clock.Advance(65 * time.Second)
	r.Stop()
	clock.Advance(time.Hour) // Stop ended the run's time

	s := r.Summary()
	if s.Elapsed != 65*time.Second {
		t.Errorf("Elapsed = %v, want 1m5s", s.Elapsed)
	}
	var b strings.Builder
	s.WriteTo(&b)
	want := `unpack summary
  images     2 done, 2 failed, 1 unfinished, 5 not started
  moved      3 MiB in 3 blobs (1m5s, 47.3 KiB/s)
  skipped    2 MiB in 2 blobs already in a base
             1 KiB in 1 blob mounted from another repository
             5 B in 1 blob for another reason
  failed     a: boom
             z: denied
  unfinished c
`
	diffOutput(t, b.String(), want)
}

func TestSkipReasonString(t *testing.T) {
	for reason, want := range map[SkipReason][2]string{
		SkipInBase:        {"in a base", "already in a base"},
		SkipAtDestination: {"already at destination", "already at the destination"},
		SkipMounted:       {"mounted from another repository", "mounted from another repository"},
		SkipBlocked:       {"blocked", "blocked by configuration"},
		SkipNotSelected:   {"not selected", "not selected by configuration"},
		SkipForeign:       {"foreign layer", "non-distributable (foreign) layers, left to their urls"},
		SkipReason(42):    {"SkipReason(42)", "SkipReason(42)"},
	} {
		if got := [2]string{reason.String(), reason.Phrase()}; got != want {
			t.Errorf("%d: got %q, want %q", reason, got, want)
		}
	}
}

// The moved and skipped lines add up to the total; the rest is "not
// moved"; shared blobs are shown apart, outside the sum (issue 16: a fresh
// 378.7 MiB archive was summed up as 650.7 MiB moved and 567.6 MiB
// skipped).
func TestSummaryAddsUpToTheTotal(t *testing.T) {
	s := Summary{
		Verb:          "pack",
		ImagesPlanned: 10,
		BytesPlanned:  400 * MiB,
		Images:        9,
		ImagesFailed:  1,
		Failed:        []Failure{{"quay.io/x/z:2", "manifest unknown"}},
		Blobs:         30,
		Bytes:         300 * MiB,
		Skipped: map[SkipReason]SkipCount{
			SkipInBase:  {4, 60 * MiB},
			SkipShared:  {25, 500 * MiB},
			SkipBlocked: {2, 0},
		},
		Elapsed: 10 * time.Second,
	}
	want := `pack summary
  images     9 done, 1 failed
  total      400 MiB (419430400 bytes), each blob counted once
  moved      300 MiB in 30 blobs (10.0s, 30 MiB/s)
  skipped    60 MiB in 4 blobs already in a base
             2 images blocked by configuration
  not moved  40 MiB (failed or interrupted images)
  shared     25 blobs (500 MiB) shared with another image of this run, counted once above
  failed     quay.io/x/z:2: manifest unknown
`
	var b strings.Builder
	s.WriteTo(&b)
	diffOutput(t, b.String(), want)
	if bytes, blobs := s.Accounted(); bytes != 360*MiB || blobs != 34 {
		t.Errorf("Accounted = %d, %d; want %d, 34", bytes, blobs, 360*MiB)
	}
}

// Bytes of shared blobs are not done twice on the status line.
func TestSharedNotDone(t *testing.T) {
	var out strings.Builder
	f := false
	r := New(Options{Out: &out, Terminal: &f})
	r.SetTotals(2, 100)
	r.BlobDone(60)
	r.Transferred(60)
	r.Skipped(SkipShared, 60)
	r.Skipped(SkipInBase, 40)
	r.mu.Lock()
	st := r.statusLocked(r.now())
	r.mu.Unlock()
	if st.done != 100 || st.skipped != 40 {
		t.Errorf("done %d, skipped %d; want 100, 40", st.done, st.skipped)
	}
}
