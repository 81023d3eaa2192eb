package format

import (
	"bytes"
	"errors"
	"testing"
)

// TestScanReportsFrameStart: a fault is reported at the first byte of the
// frame it was found in (spec section 12), not where the scan had got to;
// a chunk whose XXH64 matches but which is no zstd frame is Malformed, one
// whose XXH64 differs is Checksum whatever its first bytes (11.3 step 5).
func TestScanReportsFrameStart(t *testing.T) {
	hdrAt := int64(frameOverhead + volumeHeaderBody) // the first chunk header
	for _, tt := range []struct {
		vector  string
		wantErr error
		at      int64
	}{
		{"invalid-bitflip-chunk-header", ErrChecksum, hdrAt},
		{"invalid-chunk-not-zstd", ErrMalformed, hdrAt + 92},
	} {
		t.Run(tt.vector, func(t *testing.T) {
			vols := readVector(t, tt.vector)
			_, err := ScanVolume(bytes.NewReader(vols[0]), ScanOptions{})
			var fe *Error
			if !errors.Is(err, tt.wantErr) || !errors.As(err, &fe) || fe.Offset != tt.at {
				t.Fatalf("scan: %v; want %v at offset %d", err, tt.wantErr, tt.at)
			}
		})
	}
	t.Run("damaged magic is damage", func(t *testing.T) {
		vols := readVector(t, "valid-single-volume")
		v := flip(vols[0], int(hdrAt)+92, 0) // the chunk frame's first byte
		_, err := ScanVolume(bytes.NewReader(v), ScanOptions{})
		if !errors.Is(err, ErrChecksum) {
			t.Fatalf("scan: %v; want ErrChecksum", err)
		}
	})
}

// TestSizeBoundClasses: one class per bound, the same in a chunk header and
// in the index (spec 3.3, 3.5.3, 10): a raw size of 0 and a stored size
// outside 8..MaxStoredSize(raw) are Malformed, a raw size above the chunk
// limit is Limit.
func TestSizeBoundClasses(t *testing.T) {
	vol := build(t, WriterOptions{ChunkSize: 64 << 10}, [][]byte{vecChunk4K()}, nil, nil)[0]
	// The chunk table's first entry in the index body (one volume).
	ct := indexHeaderSize + volumeEntrySize
	tests := []struct {
		name    string
		raw     uint32
		stored  uint32
		wantErr error
	}{
		{"raw size 0", 0, 100, ErrMalformed},
		{"stored size 7", 4096, 7, ErrMalformed},
		{"stored size above MaxStoredSize", 4096, uint32(MaxStoredSize(4096) + 1), ErrMalformed},
		{"raw size above 16 MiB", MaxChunkSize + 1, 100, ErrLimit},
	}
	for _, tt := range tests {
		t.Run("index/"+tt.name, func(t *testing.T) {
			v := reseal(t, vol, func(b []byte) []byte {
				le.PutUint32(b[ct+16:], tt.raw)
				le.PutUint32(b[ct+4:], tt.stored)
				return b
			}, nil)
			_, err := Open(bytes.NewReader(v), int64(len(v)), ReaderOptions{})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("open: %v, want %v", err, tt.wantErr)
			}
		})
		t.Run("chunk header/"+tt.name, func(t *testing.T) {
			h := ChunkHeader{RawSize: tt.raw, StoredSize: tt.stored, BlobSize: 1 << 30, Blob: "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"}
			f := h.appendTo(nil)
			_, err := parseChunkHeader(f[12 : len(f)-8])
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("parse: %v, want %v", err, tt.wantErr)
			}
		})
	}
}
