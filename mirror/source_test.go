package mirror

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/enclave-mirror/enclave/archive"
	"github.com/enclave-mirror/enclave/archive/archivetest"
	"github.com/enclave-mirror/enclave/format"
)

// TestBlobSourceReadsOnce: the bodies of one upload (PATCHes, each starting
// where the last ended) are served by one reader opened at 0, read once
// front to back; a body at another offset (a resume, a replay, or a body
// asked for before the previous one was closed) gets a reader of its own,
// read from 0 and dropped up to its offset, so that the digest check of a
// reader from 0 still covers every byte.
func TestBlobSourceReadsOnce(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 1000)
	var opens, read int
	s := &blobSource{open: func(off int64) (io.ReadCloser, error) {
		if off != 0 {
			t.Fatalf("opened at %d: a reader from 0 is the one that checks the digest", off)
		}
		opens++
		return io.NopCloser(&tallyReader{r: bytes.NewReader(data), n: &read}), nil
	}}
	part := func(off, n int64) io.ReadCloser {
		t.Helper()
		b, err := s.body(off)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]byte, n)
		if _, err := io.ReadFull(b, got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data[off:off+n]) {
			t.Fatalf("body at %d: wrong bytes", off)
		}
		return b
	}
	// Three PATCHes in a row: one reader, every byte read once.
	part(0, 3000).Close()
	part(3000, 3000).Close()
	part(6000, 1000).Close()
	if opens != 1 || read != 7000 {
		t.Fatalf("sequential bodies: %d opens, %d bytes read; want 1 and 7000", opens, read)
	}
	// A resume at an offset the registry reports (behind where the
	// reader is): a new reader, read from 0 to there.
	part(5000, 1000).Close()
	if opens != 2 || read != 7000+6000 {
		t.Fatalf("resume: %d opens, %d bytes read; want 2 and 13000", opens, read)
	}
	// A body asked for while the previous one is still open (the
	// transport closes bodies when it likes): never the same reader.
	open := part(6000, 1000)
	part(7000, 1000).Close()
	if opens != 3 {
		t.Fatalf("body before the previous one closed: %d opens, want 3", opens)
	}
	open.Close()
	if _, err := open.Read(make([]byte, 1)); err == nil {
		t.Fatal("a closed body still reads")
	}
	s.close()
}

type tallyReader struct {
	r io.Reader
	n *int
}

func (c *tallyReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	*c.n += n
	return n, err
}

// TestBlobSourceResumesFromACheckpoint: a body at an offset behind where
// the reader is (a resume after a dropped connection) reads the archive
// from the last checkpoint at or before it, not from the blob's start, and
// the digest is still checked over the whole blob: the rest of the blob
// comes right and ends in io.EOF (a reader from a checkpoint that fails
// the check withholds the last chunk: format TestOpenBlobFrom).
func TestBlobSourceResumesFromACheckpoint(t *testing.T) {
	ctx := context.Background()
	const chunk = 64 << 10
	data := archivetest.Blob(5, 20*chunk+100, false)
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: digest.FromBytes(data), Size: int64(len(data))}
	dir := filepath.Join(t.TempDir(), "a")
	w, err := archive.Create(dir, archive.WithChunkSize(chunk))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Push(ctx, desc, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	cfg, err := archivetest.Image(ctx, w, "amd64", data)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Tag(ctx, cfg, "registry.example/x/y:v1"); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	var read atomic.Int64
	r, err := archive.Open(dir, archive.WithVolumeReads(func(_ uint32, _, n int64) { read.Add(n) }))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	s := &blobSource{
		open: func(off int64) (io.ReadCloser, error) { return r.FetchAt(ctx, desc, off) },
		from: func(cp format.Checkpoint) (io.ReadCloser, error) { return r.FetchFrom(ctx, desc, cp) },
	}
	defer s.close()
	// The first body gets 12 chunks out, then its connection drops.
	b, err := s.body(0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(io.Discard, b, 12*chunk); err != nil {
		t.Fatal(err)
	}
	b.Close()
	// The registry has 10.5 chunks: the resume reads from chunk 10 on.
	off := int64(10*chunk + chunk/2)
	read.Store(0)
	b, err = s.body(off)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(b)
	b.Close()
	if err != nil || !bytes.Equal(got, data[off:]) {
		t.Fatalf("resumed body: %d bytes, %v", len(got), err)
	}
	// Incompressible chunks are stored whole, with a few bytes of framing.
	if n, rest := read.Load(), int64(len(data)-10*chunk); n < rest || n > rest+rest/50 {
		t.Fatalf("the resume read %d bytes of volume; from chunk 10 on is %d (from 0 would be %d)", n, rest, len(data))
	}
}
