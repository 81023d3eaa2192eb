package format_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/enclave-mirror/enclave/format"
)

// TestBlobReaderWithholdsLastChunk: a blob whose chunks all pass their
// checksums but whose digest does not match never has its last chunk
// served. A consumer that commits only a complete blob (the final PUT of an
// upload) therefore never commits it: the single-pass unpack relies on
// this, not on the registry checking the digest again.
func TestBlobReaderWithholdsLastChunk(t *testing.T) {
	const chunk = format.MinChunkSize
	data := randomBytes(7, 3*chunk+100) // 4 chunks, the last of 100 bytes
	good := newBlob(data)
	vs := writeArchive(t, []blob{good}, writeOpts{WriterOptions: format.WriterOptions{ChunkSize: chunk}}, false)
	a := openArchive(t, vs)
	b, ok := a.Lookup(good.d)
	if !ok {
		t.Fatal("blob not found")
	}
	chunks := a.Chunks(b)
	if len(chunks) != 4 {
		t.Fatalf("%d chunks, want 4", len(chunks))
	}

	// Correct: every byte, then io.EOF.
	got, err := io.ReadAll(a.OpenBlob(b, vs))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("good blob: %d bytes, %v", len(got), err)
	}

	for _, tc := range []struct {
		name  string
		claim digest.Digest
	}{
		{"claimed digest of other content", digest.FromString("other")},
		{"claimed digest of all but the last byte", digest.FromBytes(data[:len(data)-1])},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := a.OpenBlobClaiming(b, tc.claim, vs)
			defer r.Close()
			var served bytes.Buffer
			_, err := io.Copy(&served, r)
			var fe *format.Error
			if !errors.Is(err, format.ErrDigest) || !errors.As(err, &fe) {
				t.Fatalf("err = %v, want a *format.Error of ErrDigest", err)
			}
			last := int(chunks[3].RawSize)
			if served.Len() != len(data)-last {
				t.Fatalf("served %d bytes, want %d: the last chunk (%d bytes) must be withheld", served.Len(), len(data)-last, last)
			}
			if !bytes.Equal(served.Bytes(), data[:served.Len()]) {
				t.Fatal("the bytes served differ from the blob's")
			}
			if fe.Blob != tc.claim || fe.Volume != chunks[0].Volume || fe.Offset != chunks[0].Offset {
				t.Fatalf("error names blob %s volume %d offset %d, want %s, %d, %d", fe.Blob, fe.Volume, fe.Offset, tc.claim, chunks[0].Volume, chunks[0].Offset)
			}
			if !strings.Contains(err.Error(), format.VolumeFileName(chunks[0].Volume)) {
				t.Fatalf("error %q does not name the volume file", err)
			}
			// Sticky: nothing more comes.
			if n, err2 := r.Read(make([]byte, 10)); n != 0 || !errors.Is(err2, format.ErrDigest) {
				t.Fatalf("read after the error: %d, %v", n, err2)
			}
		})
	}

	// A one-chunk blob: not one byte is served.
	small := newBlob(randomBytes(8, 1000))
	vs1 := writeArchive(t, []blob{small}, writeOpts{}, false)
	a1 := openArchive(t, vs1)
	b1, _ := a1.Lookup(small.d)
	n, err := io.Copy(io.Discard, a1.OpenBlobClaiming(b1, digest.FromString("x"), vs1))
	if n != 0 || !errors.Is(err, format.ErrDigest) {
		t.Fatalf("one-chunk blob: served %d bytes, %v; want 0 and ErrDigest", n, err)
	}
}
