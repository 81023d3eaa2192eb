package format

import (
	"bytes"
	"errors"
	"testing"
)

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
