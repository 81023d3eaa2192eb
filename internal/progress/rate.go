package progress

import "time"

const (
	// rateWindow is the span the displayed rate averages over: long enough
	// to smooth the bursts of a blob-by-blob copy, short enough that a
	// stalled or recovered link shows within seconds.
	rateWindow = 10 * time.Second
	// minRateSpan is the shortest span a rate (and an ETA) is shown for:
	// the first second of a run measures connection set-up, not throughput.
	minRateSpan = 2 * time.Second
)

type sample struct {
	t time.Time
	n int64 // bytes transferred by t
}

// window is a moving average of a byte counter over about rateWindow. It is
// fed one sample per tick; its length is bounded by rateWindow/tick + 2.
type window struct {
	samples []sample
}

// add records that n bytes had been transferred at t, and forgets samples
// the window no longer needs: it keeps the newest sample at or before
// t-rateWindow as the baseline.
func (w *window) add(t time.Time, n int64) {
	w.samples = append(w.samples, sample{t, n})
	cutoff := t.Add(-rateWindow)
	drop := 0
	for drop+1 < len(w.samples) && !w.samples[drop+1].t.After(cutoff) {
		drop++
	}
	if drop > 0 {
		w.samples = w.samples[:copy(w.samples, w.samples[drop:])]
	}
}

// rate returns the bytes per second between the baseline sample and (now,
// n), and whether that span is long enough to mean anything.
func (w *window) rate(now time.Time, n int64) (float64, bool) {
	if len(w.samples) == 0 {
		return 0, false
	}
	base := w.samples[0]
	span := now.Sub(base.t)
	if span < minRateSpan {
		return 0, false
	}
	r := float64(n-base.n) / span.Seconds()
	if r < 0 {
		r = 0
	}
	return r, true
}
