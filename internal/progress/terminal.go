package progress

import (
	"io"
	"os"
)

// IsTerminal reports whether w is a terminal a live status line can be drawn
// on: an *os.File that is a character device, with $TERM not "dumb".
// Anything else (a pipe, a regular file, a bytes.Buffer) gets plain lines.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || f == nil {
		return false
	}
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	return os.Getenv("TERM") != "dumb"
}

// outputWidth returns the column count of w if it is a terminal whose size
// can be asked, else 0 (unknown).
func outputWidth(w io.Writer) int {
	f, ok := w.(*os.File)
	if !ok || f == nil {
		return 0
	}
	return fileWidth(f)
}
