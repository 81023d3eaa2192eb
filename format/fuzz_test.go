package format

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// Fuzz targets for every parser, seeded from spec/testdata. Memory stays
// small because every reader limit applies; the targets also lower them.

var fuzzLimits = Limits{MaxIndexSize: 4 << 20, MaxManifestSize: 1 << 20, MaxChunkSize: 1 << 20, MaxVolumes: 64}

func seedVolumes(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join(vectorDir, "*", "volume-*.enclave"))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err == nil && len(b) < 512<<10 {
			f.Add(b)
		}
	}
}

// FuzzFooter: any 160 bytes either parse into a footer that re-encodes to the
// same bytes, or fail.
func FuzzFooter(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join(vectorDir, "*", "volume-*.enclave"))
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil && len(b) >= FooterSize {
			f.Add(b[len(b)-FooterSize:], int64(len(b)))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte, size int64) {
		ft, err := parseFooter(b, size)
		if err != nil {
			return
		}
		if again := ft.encode(); !bytes.Equal(again, b) {
			t.Fatalf("footer does not round-trip")
		}
	})
}

// FuzzOpen: any final volume either opens (and then every blob read either
// verifies or fails cleanly) or fails with an error, never a panic or an
// allocation beyond the limits.
func FuzzOpen(f *testing.F) {
	seedVolumes(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := Open(bytes.NewReader(b), int64(len(b)), ReaderOptions{Limits: fuzzLimits})
		if err != nil {
			return
		}
		vs := sliceVolumes{b}
		n := 0
		a.Blobs(func(bl Blob) bool {
			if got, ok := a.Lookup(bl.Digest); !ok || got != bl {
				t.Fatalf("Lookup(%s) = %v, %v; Blobs said %v", bl.Digest, got, ok, bl)
			}
			if len(a.Volumes()) == 1 {
				io.Copy(io.Discard, a.OpenBlob(bl, vs))
			}
			n++
			return n < 64
		})
		// Re-encoding the manifest and decoding it again gives the same.
		mj, err := EncodeManifest(a.Manifest())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeManifest(mj); err != nil {
			t.Fatalf("manifest does not round-trip: %v", err)
		}
	})
}

// FuzzScanVolume: the sequential scanner over arbitrary bytes.
func FuzzScanVolume(f *testing.F) {
	seedVolumes(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		var raw []byte
		scan, err := ScanVolume(bytes.NewReader(b), ScanOptions{Limits: fuzzLimits, Chunk: func(cr ChunkRecord) error {
			out, err := DecodeChunk(cr.Chunk, cr.Stored, raw)
			if err == nil {
				raw = out
			}
			return nil
		}})
		if err == nil && !scan.Complete {
			t.Fatal("scan without error but incomplete")
		}
		if scan != nil && scan.GoodEnd > int64(len(b)) {
			t.Fatalf("GoodEnd %d beyond %d bytes", scan.GoodEnd, len(b))
		}
	})
}

// FuzzManifest: manifest JSON parse -> encode -> parse gives the same.
func FuzzManifest(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join(vectorDir, "valid-*", "volume-*.enclave"))
	for _, p := range paths {
		b, _ := os.ReadFile(p)
		if a, err := Open(bytes.NewReader(b), int64(len(b)), ReaderOptions{}); err == nil {
			f.Add(a.ManifestJSON())
		}
	}
	f.Add([]byte(`{"mediaType":"application/vnd.enclave.archive.manifest.v1+json","archiveID":"00000000000000000000000000000000","roots":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeManifest(b)
		if err != nil {
			return
		}
		enc, err := EncodeManifest(m)
		if err != nil {
			t.Fatal(err)
		}
		m2, err := DecodeManifest(enc)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		enc2, _ := EncodeManifest(m2)
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("manifest encoding unstable:\n%s\n%s", enc, enc2)
		}
	})
}

// FuzzChunk: DecodeChunk over arbitrary frames with a claimed raw size.
func FuzzChunk(f *testing.F) {
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd, 0x20, 0x05, 0x29, 0x00, 0x00, 'h', 'e', 'l', 'l', 'o'}, uint32(5))
	f.Fuzz(func(t *testing.T, stored []byte, raw uint32) {
		if raw == 0 || raw > 1<<20 {
			return
		}
		c := Chunk{StoredSize: uint32(len(stored)), RawSize: raw}
		c.StoredXXH = xxhashSum(stored)
		out, err := DecodeChunk(c, stored, nil)
		if err == nil && len(out) != int(raw) {
			t.Fatalf("decoded %d bytes, claimed %d", len(out), raw)
		}
	})
}
