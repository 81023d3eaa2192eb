package mirror

import (
	"context"
	"io"
	"sync/atomic"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
)

// meter counts the bytes one image moves and passes them on to the run's
// reporter: the "done <image> (size)" line.
type meter struct {
	p Observer
	n atomic.Int64
}

func (m *meter) Transferred(n int64) {
	if n > 0 {
		m.n.Add(n)
		m.p.Transferred(n)
	}
}

// countingSource reports bytes as they are read from the source.
type countingSource struct {
	oras.ReadOnlyGraphTarget
	m *meter
}

func counted(t oras.ReadOnlyGraphTarget, m *meter) oras.ReadOnlyGraphTarget {
	return &countingSource{ReadOnlyGraphTarget: t, m: m}
}

func (c *countingSource) Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	rc, err := c.ReadOnlyGraphTarget.Fetch(ctx, desc)
	if err != nil {
		return nil, err
	}
	return countReads(rc, c.m), nil
}

// countReads counts what is read from rc; a body that seeks still does
// (openAt resumes a blob with it).
func countReads(rc io.ReadCloser, m *meter) io.ReadCloser {
	cr := &countingReader{ReadCloser: rc, m: m}
	if _, ok := rc.(io.Seeker); ok {
		return &countingReadSeeker{cr}
	}
	return cr
}

// Referrers passes through when the source lists referrers itself.
func (c *countingSource) Referrers(ctx context.Context, desc ocispec.Descriptor, artifactType string, fn func([]ocispec.Descriptor) error) error {
	type lister interface {
		Referrers(context.Context, ocispec.Descriptor, string, func([]ocispec.Descriptor) error) error
	}
	if l, ok := c.ReadOnlyGraphTarget.(lister); ok {
		return l.Referrers(ctx, desc, artifactType, fn)
	}
	preds, err := c.Predecessors(ctx, desc)
	if err != nil {
		return err
	}
	return fn(preds)
}

type countingReader struct {
	io.ReadCloser
	m *meter
}

type countingReadSeeker struct{ *countingReader }

func (r *countingReadSeeker) Seek(off int64, whence int) (int64, error) {
	return r.ReadCloser.(io.Seeker).Seek(off, whence)
}

func (r *countingReader) Read(b []byte) (int, error) {
	n, err := r.ReadCloser.Read(b)
	r.m.Transferred(int64(n))
	return n, err
}
