package archive

import (
	"context"
	"fmt"
	"io"
	"sync"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/enclave-mirror/enclave/format"
)

// Default limits of AttachmentLimits.
const (
	// DefaultMaxAttachments bounds the attachments an archive may list to
	// be read.
	DefaultMaxAttachments = 4096
	// DefaultMaxAttachmentBytes bounds the bytes of the attachments read
	// whole from one archive, every name counted (names may share a blob).
	// The largest release attachment, the graph-data tarball, may be 512
	// MiB.
	DefaultMaxAttachmentBytes = 1 << 30
)

// AttachmentLimits bound what is read whole into memory from an archive's
// attachments (release graphs and signatures today, catalogs and chart
// indexes tomorrow), beside each attachment's own limit: an archive may
// list any number of names, and many names may point at one blob. Zero
// fields take the defaults.
type AttachmentLimits struct {
	// Count bounds the number of attachments the manifest lists.
	Count int
	// Bytes bounds the declared sizes of every attachment the manifest
	// lists, added up name by name, and so what reads may hold in all.
	Bytes int64
}

func (l AttachmentLimits) withDefaults() AttachmentLimits {
	if l.Count <= 0 {
		l.Count = DefaultMaxAttachments
	}
	if l.Bytes <= 0 {
		l.Bytes = DefaultMaxAttachmentBytes
	}
	return l
}

// Attachments reads an archive's attachments whole, within limits. Safe
// for concurrent use.
type Attachments struct {
	r   *Reader
	lim AttachmentLimits

	mu   sync.Mutex
	read int64 // bytes handed out so far
}

// Attachments checks the attachments the manifest lists against l (their
// number, and their declared sizes added up name by name) before anything
// is read, and returns a reader of them. An archive over the limits is
// refused with format.ErrLimit (an integrity error).
func (r *Reader) Attachments(l AttachmentLimits) (*Attachments, error) {
	l = l.withDefaults()
	list := r.Manifest().Attachments
	if len(list) > l.Count {
		return nil, fmt.Errorf("%w: archive %s lists %d attachments, limit %d", format.ErrLimit, r.dir, len(list), l.Count)
	}
	var total int64
	for _, a := range list {
		if a.Size < 0 || a.Size > l.Bytes || total+a.Size > l.Bytes {
			return nil, fmt.Errorf("%w: archive %s: its attachments add up to more than %d bytes (at %q, %d bytes)", format.ErrLimit, r.dir, l.Bytes, a.Name, a.Size)
		}
		total += a.Size
	}
	return &Attachments{r: r, lim: l}, nil
}

// Read returns the content of attachment a, verified against its digest.
// It is refused before anything is read when a is larger than max, or when
// it would take what Read has handed out past the limits' Bytes (each read
// counts, the same name read twice too).
func (at *Attachments) Read(ctx context.Context, a format.Attachment, max int64) ([]byte, error) {
	if a.Size < 0 || a.Size > max {
		return nil, fmt.Errorf("%w: attachment %q is %d bytes, limit %d", format.ErrLimit, a.Name, a.Size, max)
	}
	at.mu.Lock()
	if at.read+a.Size > at.lim.Bytes {
		at.mu.Unlock()
		return nil, fmt.Errorf("%w: attachment %q: attachments read from %s would add up to more than %d bytes", format.ErrLimit, a.Name, at.r.dir, at.lim.Bytes)
	}
	at.read += a.Size
	at.mu.Unlock()
	rc, err := at.r.Fetch(ctx, ocispec.Descriptor{MediaType: a.MediaType, Digest: a.Digest, Size: a.Size})
	if err != nil {
		return nil, fmt.Errorf("attachment %q: %w", a.Name, err)
	}
	defer rc.Close()
	buf := make([]byte, a.Size)
	if _, err := io.ReadFull(rc, buf); err != nil {
		return nil, fmt.Errorf("attachment %q: %w", a.Name, err)
	}
	// Reading to the end verifies the digest.
	if n, err := rc.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		if err == nil || err == io.EOF {
			err = fmt.Errorf("%w: attachment %q is longer than its %d bytes", format.ErrMalformed, a.Name, a.Size)
		}
		return nil, fmt.Errorf("attachment %q: %w", a.Name, err)
	}
	return buf, nil
}
