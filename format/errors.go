package format

import (
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"
)

// Classes of failure. Every error returned by this package matches one of
// these with errors.Is.
var (
	// ErrMalformed: bytes that do not follow the specification (bad magic,
	// bad tag, inconsistent sizes, overlapping or unsorted entries).
	ErrMalformed = errors.New("format: malformed archive")
	// ErrChecksum: a chunk or metadata frame whose XXH64 does not match,
	// that is, damaged bytes.
	ErrChecksum = errors.New("format: checksum mismatch")
	// ErrDigest: content whose SHA-256 (or SHA-512) does not match the digest
	// that names it: a blob, the index, the manifest or a volume.
	ErrDigest = errors.New("format: digest mismatch")
	// ErrTruncated: a volume or frame that ends early.
	ErrTruncated = errors.New("format: truncated")
	// ErrUnsupported: a format version or required feature this reader does
	// not know.
	ErrUnsupported = errors.New("format: unsupported")
	// ErrLimit: a size or count above a reader limit.
	ErrLimit = errors.New("format: limit exceeded")
	// ErrVolume: a volume that does not belong where it is found: another
	// archive's, another number's, a missing or an extra one.
	ErrVolume = errors.New("format: wrong volume")
	// ErrInvalidDigest: a digest string that is not a valid sha256 or sha512
	// digest in canonical form.
	ErrInvalidDigest = errors.New("format: invalid digest")
	// ErrNotFound: no blob with that digest in the archive.
	ErrNotFound = errors.New("format: blob not found")
	// ErrDuplicate: a blob written twice to one archive.
	ErrDuplicate = errors.New("format: duplicate blob")
	// ErrSize: a blob whose written size differs from its declared size.
	ErrSize = errors.New("format: size mismatch")
	// ErrClosed: use of a writer after Close or after it failed.
	ErrClosed = errors.New("format: writer closed")
)

// Error locates a failure. Fields that do not apply are zero.
type Error struct {
	Op     string        // what was being done: "open", "read blob", "scan", ...
	Volume uint32        // volume number (1-based), 0 if none; Error names its file too
	Offset int64         // byte offset in the volume, -1 if none
	Blob   digest.Digest // blob concerned, if any
	Detail string        // what exactly was wrong
	Err    error         // the class (one of the Err* sentinels) or a cause
}

func (e *Error) Error() string {
	msg := "format: " + e.Op
	if e.Volume != 0 {
		msg += fmt.Sprintf(": %s (volume %d", VolumeFileName(e.Volume), e.Volume)
		if e.Offset >= 0 {
			msg += fmt.Sprintf(", offset %d", e.Offset)
		}
		msg += ")"
	}
	if e.Blob != "" {
		msg += ": blob " + string(e.Blob)
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	if e.Err != nil {
		msg += ": " + trimPrefix(e.Err.Error())
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// VolumeFileName is the file that holds volume n in an archive's
// directory, as FORMAT.md names it ("volume-" + at least four digits +
// ".enclave"): what a person copies again when a volume is damaged.
func VolumeFileName(n uint32) string { return fmt.Sprintf("volume-%04d.enclave", n) }

func trimPrefix(s string) string {
	const p = "format: "
	if len(s) > len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return s
}
