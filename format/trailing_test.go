package format

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cespare/xxhash/v2"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
)

// readVector returns the volumes of spec/testdata/<name>.
func readVector(t *testing.T, name string) [][]byte {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(vectorDir, name, "volume-*.enclave"))
	if err != nil || len(names) == 0 {
		t.Fatalf("vector %s: %v (generate with: go test ./format -run TestVectors -update)", name, err)
	}
	var vols [][]byte
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		vols = append(vols, b)
	}
	return vols
}

func verifyVols(a *Archive, vols [][]byte) *VerifyReport {
	return a.Verify(func(n uint32) (io.ReadCloser, int64, error) {
		return io.NopCloser(bytes.NewReader(vols[n-1])), int64(len(vols[n-1])), nil
	})
}

// wantLocated checks that err is an *Error of class with the volume, offset
// and blob given, and that its message says want.
func wantLocated(t *testing.T, err error, class error, vol uint32, off int64, blob digest.Digest, want string) {
	t.Helper()
	var fe *Error
	if !errors.As(err, &fe) || !errors.Is(err, class) {
		t.Fatalf("error %v; want a located %v", err, class)
	}
	if fe.Volume != vol || fe.Offset != off || fe.Blob != blob {
		t.Fatalf("error at volume %d offset %d blob %s; want volume %d offset %d blob %s (%v)", fe.Volume, fe.Offset, fe.Blob, vol, off, blob, err)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not say %q", err, want)
	}
}

// TestDecodeChunkTrailing: every way of putting bytes in a chunk that its
// raw size does not account for is refused before or while decoding, and
// the frame the writer would write is accepted.
func TestDecodeChunkTrailing(t *testing.T) {
	data := vecChunk4K()
	enc, _ := zstd.NewWriter(nil, zstd.WithEncoderCRC(true), zstd.WithSingleSegment(true), zstd.WithWindowSize(64<<10))
	good := enc.EncodeAll(data, nil)
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	for _, tc := range []struct {
		name   string
		stored []byte
		raw    uint32
		class  error // nil: accepted
		want   string
	}{
		{"writer frame", good, 4096, nil, ""},
		{"hand-built raw frame", zstdRawFrame(data, frameDesc{single: true, fcs: 4096}), 4096, nil, ""},
		{"one zero byte after the frame", cat(good, []byte{0}), 4096, ErrMalformed, "1 trailing bytes after the chunk's zstd frame"},
		{"garbage after the frame", cat(good, []byte("\x00trailing")), 4096, ErrMalformed, "9 trailing bytes after the chunk's zstd frame"},
		{"skippable frame after the frame", cat(good, skippableFrame([]byte("trailing"))), 4096, ErrMalformed, "16 trailing bytes"},
		{"second zstd frame after the frame", cat(good, enc.EncodeAll([]byte("more"), nil)), 4096, ErrMalformed, "trailing bytes after the chunk's zstd frame"},
		{"the same frame twice", cat(good, good), 4096, ErrMalformed, "trailing bytes after the chunk's zstd frame"},
		{"blocks hold one byte more than declared", zstdRawFrame(cat(data, []byte("!")), frameDesc{single: true, fcs: 4096}), 4096, ErrMalformed, "does not decode to its 4096 bytes"},
		{"blocks hold one byte less than declared", zstdRawFrame(data[:4095], frameDesc{single: true, fcs: 4096}), 4096, ErrMalformed, "does not decode to its 4096 bytes"},
		{"checksum cut short", good[:len(good)-2], 4096, ErrMalformed, "content checksum past the end"},
		{"last block cut short", good[:len(good)-8], 4096, ErrMalformed, "block past the end"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Chunk{Volume: 1, Offset: 160, StoredSize: uint32(len(tc.stored)), RawSize: tc.raw, StoredXXH: xxhash.Sum64(tc.stored)}
			out, err := DecodeChunk(c, tc.stored, nil)
			if tc.class == nil {
				if err != nil || !bytes.Equal(out, data) {
					t.Fatalf("got %d bytes, %v; want the 4096 bytes", len(out), err)
				}
				return
			}
			if !errors.Is(err, tc.class) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v; want %v saying %q", err, tc.class, tc.want)
			}
			if out != nil {
				t.Fatalf("%d bytes returned with the error", len(out))
			}
		})
	}
}

// TestTrailingBytes runs open, fetch (OpenBlob) and verify over the vectors
// with bytes a blob does not account for: each is refused with an error that
// names the volume, the offset and the blob, and fetch serves nothing.
func TestTrailingBytes(t *testing.T) {
	for _, tc := range []struct{ vector, want string }{
		{"invalid-trailing-bytes", "9 trailing bytes after the chunk's zstd frame"},
		{"invalid-trailing-skippable-frame", "16 trailing bytes after the chunk's zstd frame"},
		{"invalid-chunk-overlong", "does not decode to its 4096 bytes"},
	} {
		t.Run(tc.vector, func(t *testing.T) {
			vols := readVector(t, tc.vector)
			a, err := Open(bytes.NewReader(vols[0]), int64(len(vols[0])), ReaderOptions{})
			if err != nil {
				t.Fatal(err)
			}
			d := digest.FromBytes(vecChunk4K())
			b, ok := a.Lookup(d)
			if !ok || a.NumBlobs() != 1 || len(a.Chunks(b)) != 1 {
				t.Fatalf("vector does not hold the one-chunk blob %s", d)
			}
			c := a.Chunks(b)[0]
			got, err := io.ReadAll(a.OpenBlob(b, sliceVolumes(vols)))
			if len(got) != 0 {
				t.Fatalf("fetch served %d bytes", len(got))
			}
			wantLocated(t, err, ErrMalformed, 1, c.Offset, d, tc.want)
			rep := verifyVols(a, vols)
			if len(rep.Problems) != 1 || rep.Blobs != 0 || len(rep.MissingBlobs) != 1 || rep.MissingBlobs[0] != d {
				t.Fatalf("verify: %d problems, %d blobs verified, missing %v", len(rep.Problems), rep.Blobs, rep.MissingBlobs)
			}
			wantLocated(t, rep.Problems[0], ErrMalformed, 1, c.Offset, d, tc.want)
		})
	}

	t.Run("invalid-blob-shorter-than-chunks", func(t *testing.T) {
		vols := readVector(t, "invalid-blob-shorter-than-chunks")
		_, err := Open(bytes.NewReader(vols[0]), int64(len(vols[0])), ReaderOptions{})
		text := vecBytes(1, 300<<10, true)
		d := digest.FromBytes(text)
		var fe *Error
		if !errors.As(err, &fe) {
			t.Fatalf("open: %v", err)
		}
		wantLocated(t, err, ErrMalformed, 1, fe.Offset, d, "blob is 307199 bytes but its 5 chunks hold 307200 (1 trailing bytes)")
		// The offset is the blob entry's: its digest bytes, then the size.
		e := vols[0][fe.Offset:]
		if !bytes.Equal(e[:32], digestBytes(d)) || le.Uint64(e[32:]) != 307199 {
			t.Fatalf("offset %d does not hold the blob entry of %s", fe.Offset, d)
		}
	})

	t.Run("invalid-trailing-record", func(t *testing.T) {
		vols := readVector(t, "invalid-trailing-record")
		a, err := Open(bytes.NewReader(vols[0]), int64(len(vols[0])), ReaderOptions{})
		if err != nil {
			t.Fatal(err)
		}
		small := []byte("hello, enclave\n")
		d := digest.FromBytes(small)
		b, ok := a.Lookup(d)
		if !ok || b.Size != 15 {
			t.Fatalf("blob %s: %v %d", d, ok, b.Size)
		}
		// Fetch reads the index, not chunk headers: it serves exactly
		// the 15 indexed bytes, digest verified, never the record after.
		got, err := io.ReadAll(a.OpenBlob(b, sliceVolumes(vols)))
		if err != nil || !bytes.Equal(got, small) {
			t.Fatalf("fetch: %q, %v", got, err)
		}
		rep := verifyVols(a, vols)
		if len(rep.Problems) != 1 || rep.Blobs != 0 || len(rep.MissingBlobs) != 1 {
			t.Fatalf("verify: problems %v, %d blobs verified, missing %v", rep.Problems, rep.Blobs, rep.MissingBlobs)
		}
		wantLocated(t, rep.Problems[0], ErrMalformed, 1, a.Chunks(b)[0].Offset, d, "chunk header says blob offset 0 of a 20-byte blob, the index offset 0 of 15 bytes")
		// The extra record is there, and counted as unreferenced.
		if rep.Unreferenced != int64(len(zstdRawFrame([]byte("MORE\n"), frameDesc{single: true, fcs: 5}))) {
			t.Fatalf("unreferenced %d bytes", rep.Unreferenced)
		}
	})
}
