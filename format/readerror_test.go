package format_test

import (
	"errors"
	"fmt"
	"io"
	"syscall"
	"testing"

	"github.com/enclave-mirror/enclave/format"
)

// failingReader serves b up to byte at, then fails with err: a disk that
// answers EIO in the middle of a file.
type failingReader struct {
	b   []byte
	off int
	at  int
	err error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if r.off >= r.at {
		return 0, r.err
	}
	n := copy(p[:min(len(p), r.at-r.off)], r.b[r.off:])
	r.off += n
	return n, nil
}

// Regression: a read error in the middle of a volume was reported as
// ErrTruncated ("volume ends inside a frame header"), an integrity problem,
// and the reader's error (which names the file) was lost. At whatever
// offset the reader fails, the scan and the verify return that error and no
// integrity class.
func TestScanReadErrorIsNotTruncation(t *testing.T) {
	blobs := []blob{newBlob(textBytes(1, 200<<10)), newBlob(randomBytes(2, 90<<10))}
	vs := writeArchive(t, blobs, writeOpts{WriterOptions: format.WriterOptions{ChunkSize: 64 << 10, VolumeSize: 1 << 20}}, false)
	if len(vs) != 1 {
		t.Fatalf("%d volumes, want 1", len(vs))
	}
	a := openArchive(t, vs)
	eio := fmt.Errorf("read /media/usb/volume-0001.enclave: %w", syscall.EIO)
	vol := vs[0]
	for at := 0; at < len(vol); at += 1 + at/8 {
		t.Run(fmt.Sprint(at), func(t *testing.T) {
			_, err := format.ScanVolume(&failingReader{b: vol, at: at, err: eio}, format.ScanOptions{})
			if !errors.Is(err, syscall.EIO) || format.IsIntegrity(err) {
				t.Fatalf("scan: %v (EIO %v, integrity %v), want the read error only", err, errors.Is(err, syscall.EIO), format.IsIntegrity(err))
			}
			rep := a.Verify(func(n uint32) (io.ReadCloser, int64, error) {
				return io.NopCloser(&failingReader{b: vol, at: at, err: eio}), int64(len(vol)), nil
			})
			found := false
			for _, p := range rep.Problems {
				found = found || errors.Is(p, syscall.EIO)
			}
			if !found {
				t.Fatalf("verify problems %v: none is the read error", rep.Problems)
			}
		})
	}
}
