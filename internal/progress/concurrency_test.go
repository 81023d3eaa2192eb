package progress

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer lets the test read the output while the Reporter writes it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Many copy goroutines report at once, with the real ticker redrawing as
// fast as it may: every event is counted exactly, and no line is ever cut
// into by another.
func TestConcurrentReporting(t *testing.T) {
	const workers, perWorker = 8, 300
	for _, terminal := range []bool{true, false} {
		t.Run(fmt.Sprintf("terminal=%v", terminal), func(t *testing.T) {
			var out lockedBuffer
			r := New(Options{Out: &out, Terminal: ptr(terminal), Verb: "pack", Interval: MinInterval, Width: 500})
			r.SetTotals(workers*perWorker, workers*perWorker*3*KiB)
			r.Start()
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					for i := range perWorker {
						ref := fmt.Sprintf("quay.io/w%d/img:%d", w, i)
						r.ImageStarted(ref)
						r.Transferred(KiB)
						r.Transferred(KiB)
						r.BlobDone(2 * KiB)
						r.Skipped(SkipInBase, KiB)
						var err error
						if i%10 == 0 {
							err = errors.New("manifest unknown")
						}
						r.ImageDone(ref, 3*KiB, err)
						if i%50 == 0 {
							r.Logf("worker %d at %d", w, i)
							_ = r.Summary()
						}
					}
				})
			}
			wg.Add(1)
			go func() { // a reader of the counts while they change
				defer wg.Done()
				for range 50 {
					_ = r.Summary()
					time.Sleep(time.Millisecond)
				}
			}()
			wg.Wait()
			r.Stop()

			s := r.Summary()
			const n = workers * perWorker
			if s.Images != n*9/10 || s.ImagesFailed != n/10 || len(s.Failed) != n/10 ||
				s.Blobs != n || s.Bytes != n*2*KiB || s.Skipped[SkipInBase] != (SkipCount{n, n * KiB}) ||
				len(s.Unfinished) != 0 {
				t.Errorf("summary: %d done, %d failed (%d listed), %d blobs, %d bytes, skipped %+v, %d unfinished",
					s.Images, s.ImagesFailed, len(s.Failed), s.Blobs, s.Bytes, s.Skipped[SkipInBase], len(s.Unfinished))
			}
			if got := r.transferred.Load(); got != n*2*KiB {
				t.Errorf("transferred %d, want %d", got, n*2*KiB)
			}

			text := out.String()
			var whole *regexp.Regexp
			if terminal {
				// Lines above the live line, and redraws of it.
				whole = regexp.MustCompile(`^(?:\r\x1b\[K[^\r\n\x1b]+\n|\r[^\r\n\x1b]+\x1b\[K)*\r\x1b\[K$`)
			} else {
				whole = regexp.MustCompile(`^(?:[^\r\n\x1b]+\n)*$`)
			}
			if !whole.MatchString(text) {
				t.Errorf("output is garbled: %q...", text[:min(len(text), 300)])
			}
			line := regexp.MustCompile(`^(?:pack: done quay\.io/w\d/img:\d+ \(3 KiB\)|pack: FAILED quay\.io/w\d/img:\d+: manifest unknown|worker \d at \d+|pack  .*|pack: \d+/\d+ images.*|)$`)
			dones := 0
			for _, l := range strings.FieldsFunc(text, func(c rune) bool { return c == '\n' || c == '\r' }) {
				l = strings.TrimPrefix(strings.TrimSuffix(l, "\x1b[K"), "\x1b[K")
				if !line.MatchString(l) {
					t.Errorf("unexpected line %q", l)
				}
				if strings.HasPrefix(l, "pack: done ") || strings.HasPrefix(l, "pack: FAILED ") {
					dones++
				}
			}
			if dones != n {
				t.Errorf("%d image lines, want %d", dones, n)
			}
		})
	}
}
