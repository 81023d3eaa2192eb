package progress

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Defaults of Options.
const (
	DefaultTerminalInterval = time.Second
	DefaultPlainInterval    = 10 * time.Second
	// MinInterval is the shortest Interval: a live line redrawn faster than
	// this is unreadable and costs CPU on a busy copy.
	MinInterval = 100 * time.Millisecond

	defaultVerb = "enclave"
)

// sampleEvery is the longest time between two rate samples, whatever the
// Interval: a plain log printing every 10s still averages its rate over a
// window sampled every second.
const sampleEvery = time.Second

// Escape codes of the live line: carriage return, then erase to the end of
// the line.
const (
	cr        = "\r"
	eraseLine = "\x1b[K"
)

// Options configure New. The zero value of every field means its documented
// default.
type Options struct {
	// Out receives the output (default os.Stderr).
	Out io.Writer
	// Terminal selects the live line (true) or plain lines (false); nil
	// means IsTerminal(Out).
	Terminal *bool
	// Interval is the time between two redraws of the live line (default
	// DefaultTerminalInterval) or two plain status lines (default
	// DefaultPlainInterval). At least MinInterval.
	Interval time.Duration
	// Width truncates the live line to Width-1 columns so it never wraps (a
	// wrapped line cannot be redrawn in place). 0 asks the terminal at each
	// redraw; if it cannot be asked, the line is not truncated.
	Width int
	// Now returns the current time (default time.Now). Tests set a fake
	// clock.
	Now func() time.Time
	// Verb starts every line: "pack", "unpack", "mirror" (default
	// "enclave").
	Verb string
}

// A Reporter counts the work of a run and shows it: on a terminal, one
// status line redrawn in place; elsewhere (CI, a log file), a plain status
// line every Interval. On both, one line per image done or failed, and lines
// from Logf, which never interleave with the status line.
//
// All methods are safe for concurrent use. Transferred is a single atomic
// add; the other events take a short lock. All methods of a nil *Reporter do
// nothing (Summary returns a zero Summary), so a library can take an
// optional Reporter without checking it.
type Reporter struct {
	out      io.Writer
	terminal bool
	interval time.Duration
	width    int
	now      func() time.Time
	verb     string

	transferred atomic.Int64

	mu           sync.Mutex
	start        time.Time
	stoppedAt    time.Time
	running      bool // Start was called and Stop was not
	stopped      bool
	shown        bool // the live line is on screen
	lastDraw     time.Time
	imagesTotal  int
	bytesTotal   int64
	imagesDone   int
	imagesFailed int
	failed       []Failure
	active       map[string]int // images started and not done, with multiplicity
	blobs        int
	blobBytes    int64
	skipped      [numSkipReasons]SkipCount
	rate         window

	quit chan struct{} // closed by Stop
	done chan struct{} // closed when the ticker goroutine returns
}

// New returns a Reporter. The run's elapsed time is measured from New.
func New(opts Options) *Reporter {
	r := &Reporter{
		out:    opts.Out,
		width:  opts.Width,
		now:    opts.Now,
		verb:   opts.Verb,
		active: make(map[string]int),
	}
	if r.out == nil {
		r.out = os.Stderr
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.verb == "" {
		r.verb = defaultVerb
	}
	if opts.Terminal != nil {
		r.terminal = *opts.Terminal
	} else {
		r.terminal = IsTerminal(r.out)
	}
	r.interval = opts.Interval
	if r.interval <= 0 {
		r.interval = DefaultPlainInterval
		if r.terminal {
			r.interval = DefaultTerminalInterval
		}
	}
	r.interval = max(r.interval, MinInterval)
	r.start = r.now()
	r.rate.add(r.start, 0)
	return r
}

// SetTotals sets the planned work: the number of images, and the total
// size of all blobs the run will visit, including those that will turn out
// to be skipped (skipped bytes count as done). bytes is 0 if unknown: no
// byte total and no ETA are shown. It may be called again as the plan
// grows.
func (r *Reporter) SetTotals(images int, bytes int64) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.imagesTotal, r.bytesTotal = max(images, 0), max(bytes, 0)
}

// ImageStarted records that the copy of ref began. An image started and
// never done is listed as unfinished in the Summary.
func (r *Reporter) ImageStarted(ref string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.active[ref]++
}

// ImageDone records that ref is finished: copied if err is nil, failed
// otherwise. size is the image's size for the "done" line (0 leaves it
// out). It prints "<verb>: done <ref> (<size>)" or "<verb>: FAILED <ref>:
// <err>".
func (r *Reporter) ImageDone(ref string, size int64, err error) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := r.active[ref]; n > 1 {
		r.active[ref] = n - 1
	} else {
		delete(r.active, ref)
	}
	ref = oneLine(ref)
	var line string
	if err != nil {
		msg := oneLine(err.Error())
		r.imagesFailed++
		r.failed = append(r.failed, Failure{Ref: ref, Err: msg})
		line = fmt.Sprintf("%s: FAILED %s: %s", r.verb, ref, msg)
	} else {
		r.imagesDone++
		line = fmt.Sprintf("%s: done %s", r.verb, ref)
		if size > 0 {
			line += " (" + HumanBytes(size) + ")"
		}
	}
	r.printLocked(line)
}

// Transferred adds n bytes moved (call it as bytes flow, from any
// goroutine: it is one atomic add). Values n <= 0 are ignored. The status
// line's byte count and rate come from it; the Summary's from BlobDone.
func (r *Reporter) Transferred(n int64) {
	if r == nil || n <= 0 {
		return
	}
	r.transferred.Add(n)
}

// BlobDone records that a blob of size bytes was transferred completely.
// It does not add to the byte count of the status line: report the bytes
// themselves with Transferred (or Reader) as they flow.
func (r *Reporter) BlobDone(size int64) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.blobs++
	r.blobBytes += max(size, 0)
}

// Skipped records a blob of size bytes that was not transferred, and why.
// An unknown reason counts as SkipOther.
func (r *Reporter) Skipped(reason SkipReason, size int64) {
	if r == nil {
		return
	}
	if !reason.valid() {
		reason = SkipOther
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.skipped[reason].Blobs++
	r.skipped[reason].Bytes += max(size, 0)
}

// Logf prints a line (a trailing newline is added if missing). On a
// terminal it first erases the live status line and redraws it below, so
// the two never garble each other. Control characters other than newline
// and tab are replaced, so a hostile reference or error text cannot move
// the cursor.
func (r *Reporter) Logf(format string, args ...any) {
	if r == nil {
		return
	}
	msg := strings.TrimSuffix(fmt.Sprintf(format, args...), "\n")
	msg = strings.Map(func(c rune) rune {
		if c == '\n' || c == '\t' || !isControl(c) {
			return c
		}
		return '?'
	}, msg)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.printLocked(msg)
}

// Reader returns a reader that reports every byte read from rd with
// Transferred.
func (r *Reporter) Reader(rd io.Reader) io.Reader {
	if r == nil {
		return rd
	}
	return &countingReader{rd, r}
}

type countingReader struct {
	rd io.Reader
	r  *Reporter
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.rd.Read(p)
	c.r.Transferred(int64(n))
	return n, err
}

// Start shows the status now and then every Interval, until Stop. Calling
// it again, or after Stop, does nothing.
func (r *Reporter) Start() {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.running || r.stopped {
		return
	}
	r.running = true
	r.quit = make(chan struct{})
	r.done = make(chan struct{})
	r.drawLocked(r.now())

	period := min(r.interval, sampleEvery)
	go func() {
		defer close(r.done)
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-r.quit:
				return
			case <-t.C:
				r.tick()
			}
		}
	}()
}

// Stop ends the status display and the elapsed time: on a terminal it
// erases the live line, so that what follows (the Summary) starts on a
// clean line. Counting continues after Stop, but no status is shown. It is
// safe to call more than once, and without Start.
func (r *Reporter) Stop() {
	if r == nil {
		return
	}
	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		return
	}
	r.stopped = true
	r.stoppedAt = r.now()
	running := r.running
	r.running = false
	if running {
		close(r.quit)
	}
	r.mu.Unlock()
	if running {
		<-r.done
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.shown {
		io.WriteString(r.out, cr+eraseLine)
		r.shown = false
	}
}

// Summary returns the counts so far.
func (r *Reporter) Summary() Summary {
	if r == nil {
		return Summary{}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	end := r.stoppedAt
	if !r.stopped {
		end = r.now()
	}
	s := Summary{
		Verb:          r.verb,
		ImagesPlanned: r.imagesTotal,
		BytesPlanned:  r.bytesTotal,
		Images:        r.imagesDone,
		ImagesFailed:  r.imagesFailed,
		Failed:        slices.Clone(r.failed),
		Blobs:         r.blobs,
		Bytes:         r.blobBytes,
		Elapsed:       end.Sub(r.start),
	}
	slices.SortStableFunc(s.Failed, func(a, b Failure) int { return strings.Compare(a.Ref, b.Ref) })
	for ref := range r.active {
		s.Unfinished = append(s.Unfinished, oneLine(ref))
	}
	slices.Sort(s.Unfinished)
	for reason, c := range r.skipped {
		if c.Blobs > 0 || c.Bytes > 0 {
			if s.Skipped == nil {
				s.Skipped = make(map[SkipReason]SkipCount)
			}
			s.Skipped[SkipReason(reason)] = c
		}
	}
	return s
}

// tick samples the rate and redraws the status when Interval has passed.
// The ticker goroutine calls it; tests call it after moving a fake clock.
func (r *Reporter) tick() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.running {
		return
	}
	now := r.now()
	r.rate.add(now, r.transferred.Load())
	if now.Sub(r.lastDraw) >= r.interval {
		r.drawLocked(now)
	}
}

// drawLocked shows the status at now: the live line redrawn in place, or a
// plain line.
func (r *Reporter) drawLocked(now time.Time) {
	r.lastDraw = now
	st := r.statusLocked(now)
	if r.terminal {
		r.drawLiveLocked(st)
		return
	}
	io.WriteString(r.out, st.plain(r.verb)+"\n")
}

func (r *Reporter) drawLiveLocked(st status) {
	line := st.live(r.verb)
	width := r.width
	if width <= 0 {
		width = outputWidth(r.out)
	}
	if width > 1 {
		line = truncate(line, width-1)
	}
	io.WriteString(r.out, cr+line+eraseLine)
	r.shown = true
}

// printLocked prints a line above the live line, or as is on plain output.
// Write errors are ignored: progress output never fails a run.
func (r *Reporter) printLocked(line string) {
	if r.terminal && r.shown {
		io.WriteString(r.out, cr+eraseLine+line+"\n")
		r.drawLiveLocked(r.statusLocked(r.now()))
		return
	}
	io.WriteString(r.out, line+"\n")
}

// status is one snapshot of the counters, formatted by live and plain.
type status struct {
	images, imagesTotal, failed int
	done, total                 int64 // bytes, skipped ones included
	skipped                     int64
	skipReason                  SkipReason // the only reason, if skipReasons == 1
	skipReasons                 int
	rate                        float64
	rateOK                      bool
	eta                         time.Duration
	etaOK                       bool
}

func (r *Reporter) statusLocked(now time.Time) status {
	transferred := r.transferred.Load()
	st := status{
		images:      r.imagesDone + r.imagesFailed,
		imagesTotal: r.imagesTotal,
		failed:      r.imagesFailed,
		total:       r.bytesTotal,
	}
	for reason, c := range r.skipped {
		if r := SkipReason(reason); r == SkipShared || r == SkipBlocked {
			continue // counted once already; images, not bytes
		}
		if c.Blobs > 0 || c.Bytes > 0 {
			st.skipped += c.Bytes
			st.skipReason = SkipReason(reason)
			st.skipReasons++
		}
	}
	st.done = transferred + st.skipped
	st.rate, st.rateOK = r.rate.rate(now, transferred)
	if remaining := st.total - st.done; st.total > 0 && remaining > 0 && st.rateOK && st.rate > 0 {
		st.eta = time.Duration(float64(remaining) / st.rate * float64(time.Second))
		st.etaOK = true
	}
	return st
}

// live formats the terminal line:
//
//	pack  12/36 images  1.2 GiB of 3.4 GiB (35%)  85.3 MiB/s  0:27 left  skipped 340 MiB (in a base)
func (st status) live(verb string) string {
	parts := []string{verb, st.imagesPart()}
	if st.failed > 0 {
		parts = append(parts, fmt.Sprintf("%d failed", st.failed))
	}
	parts = append(parts, st.bytesPart())
	parts = append(parts, st.tail()...)
	return strings.Join(parts, "  ")
}

// plain formats the line for logs:
//
//	pack: 12/36 images, 1.2 GiB of 3.4 GiB (35%), 85.3 MiB/s, 0:27 left, skipped 340 MiB (in a base)
func (st status) plain(verb string) string {
	parts := []string{st.imagesPart()}
	if st.failed > 0 {
		parts = append(parts, fmt.Sprintf("%d failed", st.failed))
	}
	parts = append(parts, st.bytesPart())
	parts = append(parts, st.tail()...)
	return verb + ": " + strings.Join(parts, ", ")
}

// bytesPart is the bytes done, of the total with a percentage when it is
// known.
func (st status) bytesPart() string {
	if st.total <= 0 {
		return HumanBytes(st.done)
	}
	pct := min(st.done*100/st.total, 100)
	return fmt.Sprintf("%s of %s (%d%%)", HumanBytes(st.done), HumanBytes(st.total), pct)
}

func (st status) imagesPart() string {
	if st.imagesTotal > 0 {
		return fmt.Sprintf("%d/%d images", st.images, st.imagesTotal)
	}
	return plural(st.images, "image")
}

// tail is the rate, ETA and skipped parts, common to both formats.
func (st status) tail() []string {
	var parts []string
	if st.rateOK {
		parts = append(parts, HumanBytes(int64(st.rate))+"/s")
	}
	if st.etaOK {
		parts = append(parts, formatETA(st.eta)+" left")
	}
	if st.skipped > 0 {
		s := "skipped " + HumanBytes(st.skipped)
		if st.skipReasons == 1 {
			s += " (" + st.skipReason.String() + ")"
		}
		parts = append(parts, s)
	}
	return parts
}

// truncate cuts s to at most n runes.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i := 0
	for j := range s {
		if i == n {
			return s[:j]
		}
		i++
	}
	return s
}

func isControl(c rune) bool {
	return c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0)
}

// oneLine makes s safe for a single output line: line breaks and tabs
// become spaces, other control characters (escape sequences) '?'.
func oneLine(s string) string {
	return strings.Map(func(c rune) rune {
		switch {
		case c == '\n' || c == '\r' || c == '\t':
			return ' '
		case isControl(c):
			return '?'
		}
		return c
	}, s)
}

// Printable returns s with every control character but line feed and tab
// (escape sequences, carriage returns, C1 controls) replaced by '?': for
// text that comes from an archive or a registry and cannot be validated
// (a registry's error message) on its way to a terminal.
func Printable(s string) string {
	return strings.Map(func(c rune) rune {
		if c == '\n' || c == '\t' || !isControl(c) {
			return c
		}
		return '?'
	}, s)
}

// PrintableWriter returns a writer that passes what is written through
// Printable: for output that is never a live progress line.
func PrintableWriter(w io.Writer) io.Writer { return printableWriter{w} }

type printableWriter struct{ w io.Writer }

func (p printableWriter) Write(b []byte) (int, error) {
	if _, err := io.WriteString(p.w, Printable(string(b))); err != nil {
		return 0, err
	}
	return len(b), nil
}
