package mirror

import (
	"bytes"
	"io"
	"testing"
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
