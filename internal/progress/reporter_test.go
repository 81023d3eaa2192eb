package progress

import (
	"bytes"
	"errors"
	"os"
	"runtime"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

const (
	KiB = 1 << 10
	MiB = 1 << 20
	GiB = 1 << 30
)

func ptr[T any](v T) *T { return &v }

// advance moves the bubble's fake clock by d and lets the ticker goroutine
// finish what the ticks in between made it do.
func advance(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

// live is a redraw of the live line as the terminal receives it.
func live(line string) string { return "\r" + line + "\x1b[K" }

// above is a line printed above the live line.
func above(line string) string { return "\r\x1b[K" + line + "\n" }

func diffOutput(t *testing.T, got, want string) {
	t.Helper()
	if got == want {
		return
	}
	g, w := strings.SplitAfter(got, "\n"), strings.SplitAfter(want, "\n")
	for i := range max(len(g), len(w)) {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			t.Errorf("output differs at line %d:\ngot  %q\nwant %q", i+1, gl, wl)
		}
	}
	t.Errorf("whole output:\ngot  %q\nwant %q", got, want)
}

func TestTerminal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out bytes.Buffer
		r := New(Options{Out: &out, Terminal: ptr(true), Verb: "pack", Width: 200})
		r.SetTotals(3, 100*MiB)
		r.Start()
		r.ImageStarted("quay.io/x/y:1")
		r.Transferred(10 * MiB)
		advance(time.Second) // t=1s: no rate yet (under 2 s measured)
		r.Transferred(10 * MiB)
		advance(time.Second) // t=2s: 20 MiB in 2 s
		r.Skipped(SkipInBase, 30*MiB)
		r.ImageDone("quay.io/x/y:1", 60*MiB, nil)
		r.Logf("resolving %s\n", "quay.io/x/z:2")
		r.ImageDone("quay.io/x/z:2", 0, errors.New("manifest unknown\n(second line)"))
		r.Stop()
		r.Logf("after stop")

		want := live("pack  0/3 images  0 B of 100 MiB (0%)") +
			live("pack  0/3 images  10 MiB of 100 MiB (10%)") +
			live("pack  0/3 images  20 MiB of 100 MiB (20%)  10 MiB/s  0:08 left") +
			above("pack: done quay.io/x/y:1 (60 MiB)") +
			live("pack  1/3 images  50 MiB of 100 MiB (50%)  10 MiB/s  0:05 left  skipped 30 MiB (in a base)") +
			above("resolving quay.io/x/z:2") +
			live("pack  1/3 images  50 MiB of 100 MiB (50%)  10 MiB/s  0:05 left  skipped 30 MiB (in a base)") +
			above("pack: FAILED quay.io/x/z:2: manifest unknown (second line)") +
			live("pack  2/3 images  1 failed  50 MiB of 100 MiB (50%)  10 MiB/s  0:05 left  skipped 30 MiB (in a base)") +
			"\r\x1b[K" + // Stop erases the live line
			"after stop\n"
		diffOutput(t, out.String(), want)
	})
}

// The live line is redrawn at most every Interval, though the rate is
// sampled every second.
func TestTerminalInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out bytes.Buffer
		r := New(Options{Out: &out, Terminal: ptr(true), Verb: "unpack", Interval: 3 * time.Second, Width: 200})
		r.Start()
		for range 7 {
			r.Transferred(2 * MiB)
			advance(time.Second)
		}
		r.Stop()
		want := live("unpack  0 images  0 B") +
			live("unpack  0 images  6 MiB  2 MiB/s") +
			live("unpack  0 images  12 MiB  2 MiB/s") +
			"\r\x1b[K"
		diffOutput(t, out.String(), want)
	})
}

func TestPlain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out bytes.Buffer
		r := New(Options{Out: &out, Terminal: ptr(false), Verb: "pack"})
		r.SetTotals(2, 200*MiB)
		r.Start()
		for i := range 30 {
			r.Transferred(5 * MiB)
			advance(time.Second)
			if i == 14 {
				r.ImageDone("quay.io/x/y:1", 34*MiB, nil)
				r.Logf("a log line")
			}
		}
		r.Skipped(SkipAtDestination, 12*MiB)
		r.Skipped(SkipInBase, 1*MiB)
		advance(10 * time.Second)
		r.ImageDone("quay.io/x/z:2", 0, errors.New("manifest unknown"))
		r.Stop()
		want := "pack: 0/2 images, 0 B of 200 MiB (0%)\n" +
			"pack: 0/2 images, 50 MiB of 200 MiB (25%), 5 MiB/s, 0:30 left\n" +
			"pack: done quay.io/x/y:1 (34 MiB)\n" +
			"a log line\n" +
			"pack: 1/2 images, 100 MiB of 200 MiB (50%), 5 MiB/s, 0:20 left\n" +
			"pack: 1/2 images, 150 MiB of 200 MiB (75%), 5 MiB/s, 0:10 left\n" +
			// A stall: the rate drops to zero within the window and the
			// ETA goes, rather than averaging since the start.
			"pack: 1/2 images, 163 MiB of 200 MiB (81%), 0 B/s, skipped 13 MiB\n" +
			"pack: FAILED quay.io/x/z:2: manifest unknown\n"
		diffOutput(t, out.String(), want)
	})
}

// With no planned bytes there is no byte total and no ETA.
func TestUnknownTotals(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out bytes.Buffer
		r := New(Options{Out: &out, Terminal: ptr(false), Verb: "mirror", Interval: 2 * time.Second})
		r.Start()
		r.ImageDone("a", 0, nil)
		r.Transferred(3 * GiB)
		advance(2 * time.Second)
		r.Stop()
		want := "mirror: 0 images, 0 B\n" +
			"mirror: done a\n" +
			"mirror: 1 image, 3 GiB, 1.5 GiB/s\n"
		diffOutput(t, out.String(), want)
	})
}

// The rate averages over the last ten seconds, not since the start.
func TestRateWindow(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	var w window
	w.add(t0, 0)
	if _, ok := w.rate(at(1), MiB); ok {
		t.Errorf("rate after 1 s is shown; want it only from 2 s")
	}
	if r, ok := w.rate(at(2), 20*MiB); !ok || r != 10*MiB {
		t.Errorf("rate at 2 s = %v, %v; want 10 MiB/s", r, ok)
	}
	// 10 MiB/s for 20 s, then nothing.
	for s := 1; s <= 20; s++ {
		w.add(at(s), int64(s)*10*MiB)
	}
	for s := 21; s <= 25; s++ {
		w.add(at(s), 200*MiB)
	}
	if r, _ := w.rate(at(25), 200*MiB); r != 5*MiB { // (200-150) MiB over 15..25
		t.Errorf("rate at 25 s = %v, want 5 MiB/s (since-start would be 8)", HumanBytes(int64(r)))
	}
	w.add(at(30), 200*MiB)
	if r, ok := w.rate(at(30), 200*MiB); !ok || r != 0 {
		t.Errorf("rate after 10 s stalled = %v, %v; want 0", r, ok)
	}
	if len(w.samples) > 12 {
		t.Errorf("window holds %d samples, want at most 12", len(w.samples))
	}
}

func TestETAFormat(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                                     "0:00",
		27 * time.Second:                      "0:27",
		27*time.Second + 400*time.Millisecond: "0:27",
		12*time.Minute + 5*time.Second:        "12:05",
		time.Hour + 2*time.Minute + 3*time.Second: "1:02:03",
		100 * time.Hour: "100:00:00",
	} {
		if got := formatETA(d); got != want {
			t.Errorf("formatETA(%v) = %q, want %q", d, got, want)
		}
	}
}

// A live line wider than the terminal would wrap, and a wrapped line cannot
// be redrawn in place: it is cut to Width-1 columns.
func TestTerminalWidth(t *testing.T) {
	var out bytes.Buffer
	r := New(Options{Out: &out, Terminal: ptr(true), Verb: "pack", Width: 20})
	r.SetTotals(36, 3*GiB)
	r.Start()
	r.Stop()
	diffOutput(t, out.String(), live("pack  0/36 images  ")+"\r\x1b[K")
}

// A reference or error text from a registry cannot move the cursor or
// break the one-line-per-image log.
func TestControlCharacters(t *testing.T) {
	var out bytes.Buffer
	r := New(Options{Out: &out, Terminal: ptr(false), Verb: "pack"})
	r.ImageDone("evil\x1b[2J:1", 0, errors.New("bad\r\nthing\x07"))
	r.Logf("multi\nline\x1b[31m")
	want := "pack: FAILED evil?[2J:1: bad  thing?\n" +
		"multi\nline?[31m\n"
	diffOutput(t, out.String(), want)
	if got := r.Summary().Failed[0]; got != (Failure{"evil?[2J:1", "bad  thing?"}) {
		t.Errorf("Failed[0] = %q", got)
	}
}

func TestStartStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out bytes.Buffer
		r := New(Options{Out: &out, Terminal: ptr(false), Verb: "pack", Interval: time.Second})
		r.Stop() // without Start
		r.Start()
		advance(5 * time.Second)
		if out.Len() != 0 {
			t.Errorf("Start after Stop printed %q", out.String())
		}

		r = New(Options{Out: &out, Terminal: ptr(false), Verb: "pack", Interval: time.Second})
		r.Start()
		r.Start()
		advance(time.Second)
		r.Stop()
		r.Stop()
		advance(5 * time.Second)
		want := "pack: 0 images, 0 B\npack: 0 images, 0 B\n"
		diffOutput(t, out.String(), want)
		if s := r.Summary(); s.Elapsed != time.Second {
			t.Errorf("Elapsed = %v after Stop, want 1s", s.Elapsed)
		}
	})
}

func TestDefaults(t *testing.T) {
	r := New(Options{Out: &bytes.Buffer{}})
	if r.terminal || r.interval != DefaultPlainInterval || r.verb != "enclave" {
		t.Errorf("buffer: terminal=%v interval=%v verb=%q", r.terminal, r.interval, r.verb)
	}
	r = New(Options{Out: &bytes.Buffer{}, Terminal: ptr(true)})
	if r.interval != DefaultTerminalInterval {
		t.Errorf("terminal interval = %v", r.interval)
	}
	r = New(Options{Out: &bytes.Buffer{}, Interval: time.Nanosecond})
	if r.interval != MinInterval {
		t.Errorf("interval = %v, want MinInterval", r.interval)
	}
	if New(Options{}).out != os.Stderr {
		t.Errorf("default Out is not os.Stderr")
	}
}

func TestIsTerminal(t *testing.T) {
	if IsTerminal(&bytes.Buffer{}) {
		t.Errorf("a bytes.Buffer is a terminal")
	}
	f, err := os.CreateTemp(t.TempDir(), "log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if IsTerminal(f) {
		t.Errorf("a regular file is a terminal")
	}
	if w := outputWidth(f); w != 0 {
		t.Errorf("width of a regular file = %d, want 0 (unknown)", w)
	}
	if runtime.GOOS == "windows" {
		return
	}
	// /dev/null is a character device, as a terminal is.
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	t.Setenv("TERM", "xterm")
	if !IsTerminal(null) {
		t.Errorf("a character device is not a terminal")
	}
	t.Setenv("TERM", "dumb")
	if IsTerminal(null) {
		t.Errorf("TERM=dumb is a terminal")
	}
}

func TestNilReporter(t *testing.T) {
	var r *Reporter
	r.SetTotals(1, 1)
	r.Start()
	r.ImageStarted("a")
	r.Transferred(1)
	r.BlobDone(1)
	r.Skipped(SkipInBase, 1)
	r.ImageDone("a", 1, errors.New("x"))
	r.Logf("x")
	r.Stop()
	if s := r.Summary(); s.Images != 0 || s.Skipped != nil {
		t.Errorf("nil Summary = %+v", s)
	}
	if rd := r.Reader(strings.NewReader("x")); rd == nil {
		t.Errorf("nil Reader")
	}
}

func TestReader(t *testing.T) {
	r := New(Options{Out: &bytes.Buffer{}})
	var sink bytes.Buffer
	if _, err := sink.ReadFrom(r.Reader(strings.NewReader(strings.Repeat("x", 100000)))); err != nil {
		t.Fatal(err)
	}
	if got := r.transferred.Load(); got != 100000 {
		t.Errorf("transferred %d, want 100000", got)
	}
}
