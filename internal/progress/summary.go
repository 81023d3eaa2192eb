package progress

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// SkipReason says why a blob was not transferred.
type SkipReason int

// The reasons a blob is skipped. The zero value, SkipOther, is for a reason
// none of the others fits; Skipped also counts an out-of-range value as
// SkipOther. The summary lists SkipOther last.
const (
	SkipOther         SkipReason = iota // none of the below
	SkipInBase                          // in a base archive the destination already has
	SkipAtDestination                   // the destination already has it
	SkipMounted                         // mounted from another repository of the destination
	SkipBlocked                         // an image excluded by a blocked-images rule (counted per image, no bytes)
	SkipNotSelected                     // not selected by the configuration's filters
	SkipForeign                         // a non-distributable (foreign) layer: never carried, never fetched from its urls
	// SkipShared is a blob another image of this run moved (or skipped)
	// already: shared layers are read and written once, and counted once,
	// under what happened to them first. The summary shows shared blobs on
	// a line of their own, outside the sum of the moved and skipped lines,
	// and the status line does not count their bytes as done.
	SkipShared
	numSkipReasons
)

var skipNames = [numSkipReasons]struct{ short, long string }{
	SkipOther:         {"other", "for another reason"},
	SkipInBase:        {"in a base", "already in a base"},
	SkipAtDestination: {"already at destination", "already at the destination"},
	SkipMounted:       {"mounted from another repository", "mounted from another repository"},
	SkipBlocked:       {"blocked", "blocked by configuration"},
	SkipNotSelected:   {"not selected", "not selected by configuration"},
	SkipForeign:       {"foreign layer", "non-distributable (foreign) layers, left to their urls"},
	SkipShared:        {"shared", "shared with another image of this run, counted once above"},
}

func (r SkipReason) valid() bool { return r >= 0 && r < numSkipReasons }

// String returns the short form used on the live line, e.g. "in a base".
func (r SkipReason) String() string {
	if !r.valid() {
		return fmt.Sprintf("SkipReason(%d)", int(r))
	}
	return skipNames[r].short
}

// Phrase returns the form used in the summary after "N MiB in M blobs", e.g.
// "already in a base".
func (r SkipReason) Phrase() string {
	if !r.valid() {
		return r.String()
	}
	return skipNames[r].long
}

// SkipCount counts the blobs skipped for one reason.
type SkipCount struct {
	Blobs int
	Bytes int64
}

// Failure is an image that could not be transferred.
type Failure struct {
	Ref string
	Err string // the error text, on one line
}

// Summary is what a run did, as counted by a Reporter.
type Summary struct {
	Verb          string // as in Options.Verb
	ImagesPlanned int    // from SetTotals; 0 if unknown
	BytesPlanned  int64  // from SetTotals; 0 if unknown
	Images        int    // images done without error
	ImagesFailed  int
	Failed        []Failure // sorted by Ref
	Unfinished    []string  // started and never reported done (an interrupted run), sorted
	Blobs         int       // blobs transferred (BlobDone)
	Bytes         int64     // their total size
	Skipped       map[SkipReason]SkipCount
	Elapsed       time.Duration // from New to Stop (or to the call, if not stopped)
}

// Rate returns the average transfer rate of the run in bytes per second, or
// 0 if no time has elapsed.
func (s Summary) Rate() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Bytes) / s.Elapsed.Seconds()
}

// summaryLabelWidth is the width of the label column of the summary.
const summaryLabelWidth = 11

// Accounted returns the bytes and blobs the moved and skipped lines count:
// every blob of the run once (shared ones are not counted again).
func (s Summary) Accounted() (bytes int64, blobs int) {
	bytes, blobs = s.Bytes, s.Blobs
	for reason, c := range s.Skipped {
		if reason != SkipShared && reason != SkipBlocked {
			bytes += c.Bytes
			blobs += c.Blobs
		}
	}
	return bytes, blobs
}

// WriteTo writes the summary for a person: the unique bytes of the run,
// what moved, what did not and why (these lines add up to the total; what
// failed or was interrupted is the rest, "not moved"), the blobs shared by
// several images (counted once), and which images failed with their
// errors. For example:
//
//	pack summary
//	  images     35 done, 1 failed
//	  total      1.6 GiB (1717986918 bytes), each blob counted once
//	  moved      1.2 GiB in 210 blobs (14.2s, 85.3 MiB/s)
//	  skipped    340 MiB in 40 blobs already in a base
//	             12 MiB in 3 blobs already at the destination
//	  not moved  48 MiB (failed or interrupted images)
//	  shared     25 blobs (310 MiB) shared with another image of this run, counted once above
//	  failed     quay.io/x/z:2: manifest unknown
func (s Summary) WriteTo(w io.Writer) (int64, error) {
	var b strings.Builder
	verb := s.Verb
	if verb == "" {
		verb = defaultVerb
	}
	fmt.Fprintf(&b, "%s summary\n", verb)
	rows := func(label string, lines []string) {
		for i, line := range lines {
			if i > 0 {
				label = ""
			}
			fmt.Fprintf(&b, "  %-*s%s\n", summaryLabelWidth, label, line)
		}
	}

	images := []string{fmt.Sprintf("%d done", s.Images)}
	if s.ImagesFailed > 0 {
		images = append(images, fmt.Sprintf("%d failed", s.ImagesFailed))
	}
	if len(s.Unfinished) > 0 {
		images = append(images, fmt.Sprintf("%d unfinished", len(s.Unfinished)))
	}
	if rest := s.ImagesPlanned - s.Images - s.ImagesFailed - len(s.Unfinished); s.ImagesPlanned > 0 && rest > 0 {
		images = append(images, fmt.Sprintf("%d not started", rest))
	}
	rows("images", []string{strings.Join(images, ", ")})

	accounted, _ := s.Accounted()
	if s.BytesPlanned > 0 {
		rows("total", []string{fmt.Sprintf("%s (%d bytes), each blob counted once", HumanBytes(s.BytesPlanned), s.BytesPlanned)})
	}

	timing := formatElapsed(s.Elapsed)
	if s.Bytes > 0 && s.Elapsed > 0 {
		timing += ", " + HumanBytes(int64(s.Rate())) + "/s"
	}
	rows("moved", []string{fmt.Sprintf("%s in %s (%s)", HumanBytes(s.Bytes), plural(s.Blobs, "blob"), timing)})

	var skipped []string
	for i := range numSkipReasons {
		reason := (i + 1) % numSkipReasons // SkipOther last
		c, ok := s.Skipped[reason]
		if reason == SkipShared || !ok || (c.Blobs == 0 && c.Bytes == 0) {
			continue
		}
		if reason == SkipBlocked { // images, not blobs: nothing of them is read
			skipped = append(skipped, fmt.Sprintf("%s %s", plural(c.Blobs, "image"), reason.Phrase()))
			continue
		}
		skipped = append(skipped, fmt.Sprintf("%s in %s %s", HumanBytes(c.Bytes), plural(c.Blobs, "blob"), reason.Phrase()))
	}
	rows("skipped", skipped)
	if rest := s.BytesPlanned - accounted; s.BytesPlanned > 0 && rest > 0 {
		rows("not moved", []string{HumanBytes(rest) + " (failed or interrupted images)"})
	}
	if c := s.Skipped[SkipShared]; c.Blobs > 0 {
		rows("shared", []string{fmt.Sprintf("%s (%s) %s", plural(c.Blobs, "blob"), HumanBytes(c.Bytes), SkipShared.Phrase())})
	}

	var failed []string
	for _, f := range s.Failed {
		failed = append(failed, f.Ref+": "+f.Err)
	}
	rows("failed", failed)
	rows("unfinished", s.Unfinished)

	n, err := io.WriteString(w, b.String())
	return int64(n), err
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// formatElapsed prints a run's duration: "14.2s" under a minute, "3m7s" or
// "1h2m3s" above.
func formatElapsed(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return d.Round(time.Second).String()
}

// formatETA prints a remaining time as a clock would: "0:27", "12:05",
// "1:02:03".
func formatETA(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	h, m, sec := s/3600, s/60%60, s%60
	if h > 0 {
		return fmt.Sprintf("%d:%02d:%02d", h, m, sec)
	}
	return fmt.Sprintf("%d:%02d", m, sec)
}
