package mirror

import "github.com/enclave-mirror/enclave/internal/progress"

// Observer is told what a run does as it happens: what a person watching
// sees (the tools pass a live progress display, which also sums up the run
// at the end). Its methods are called from many goroutines at once.
type Observer interface {
	// SetTotals announces the images (and bytes, 0 if unknown) to move:
	// the unique bytes of the run, each blob once whatever the number of
	// images that share it. It is called again when the copy finds more
	// (referrers). Start and Stop bracket the copy.
	SetTotals(images int, bytes int64)
	Start()
	Stop()
	// ImageStarted and ImageDone bracket one image; bytes is what it
	// moved, err why it failed (nil if it did not).
	ImageStarted(ref string)
	ImageDone(ref string, bytes int64, err error)
	// Transferred counts bytes as they are read from the source.
	Transferred(n int64)
	// BlobDone counts a blob written; Skipped one not written, and why.
	// Each blob of a run is counted once by one of them; every later
	// encounter of the same blob (another image sharing it) is
	// Skipped(SkipShared), whose bytes are not part of the total.
	BlobDone(size int64)
	Skipped(reason SkipReason, size int64)
	// Logf prints one line for a person to read.
	Logf(format string, args ...any)
}

// SkipReason says why a blob was not transferred.
type SkipReason = progress.SkipReason

// Reasons for Observer.Skipped.
const (
	SkipAtDestination = progress.SkipAtDestination // the destination holds it
	SkipInBase        = progress.SkipInBase        // a base the archive is cut against holds it
	SkipMounted       = progress.SkipMounted       // mounted from another repository
	SkipBlocked       = progress.SkipBlocked       // blockedImages
	SkipForeign       = progress.SkipForeign       // a non-distributable layer
	SkipShared        = progress.SkipShared        // another image of this run moved it: counted once
)

// discard observes nothing.
type discard struct{}

func (discard) SetTotals(int, int64)           {}
func (discard) Start()                         {}
func (discard) Stop()                          {}
func (discard) ImageStarted(string)            {}
func (discard) ImageDone(string, int64, error) {}
func (discard) Transferred(int64)              {}
func (discard) BlobDone(int64)                 {}
func (discard) Skipped(SkipReason, int64)      {}
func (discard) Logf(string, ...any)            {}

var _ Observer = (*progress.Reporter)(nil)
