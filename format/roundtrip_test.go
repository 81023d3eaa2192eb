package format_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/enclave-mirror/enclave/format"
)

func testBlobs() []blob {
	return []blob{
		newBlob(nil), // the empty blob
		newBlob([]byte("{}")),
		newBlob(textBytes(1, 3<<20+17)),  // compressible, several chunks
		newBlob(randomBytes(2, 2<<20+5)), // incompressible
		newBlob(randomBytes(3, 64<<10)),  // exactly one minimum chunk
		newBlob(textBytes(4, 1000)),
	}
}

func TestRoundTrip(t *testing.T) {
	sha512Data := []byte("sha512 content")
	sha512Blob := blob{data: sha512Data, d: digest.SHA512.FromBytes(sha512Data)}
	for _, tc := range []struct {
		name     string
		opts     format.WriterOptions
		parallel bool
		volumes  int // at least
	}{
		{name: "one volume", opts: format.WriterOptions{ChunkSize: 1 << 20}},
		{name: "one volume parallel", opts: format.WriterOptions{ChunkSize: 1 << 20}, parallel: true},
		{name: "many volumes", opts: format.WriterOptions{ChunkSize: 256 << 10, VolumeSize: 1 << 20}, volumes: 4},
		{name: "many volumes parallel", opts: format.WriterOptions{ChunkSize: 256 << 10, VolumeSize: 1 << 20}, parallel: true, volumes: 3},
		{name: "fastest", opts: format.WriterOptions{Compression: format.CompressionFastest}},
		{name: "best", opts: format.WriterOptions{Compression: format.CompressionBest, ChunkSize: 1 << 20}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			blobs := append(testBlobs(), sha512Blob)
			m := &format.Manifest{Sequence: 7, Roots: []format.Root{{
				Descriptor: ocispec.Descriptor{MediaType: "application/json", Digest: blobs[1].d, Size: 2},
				References: []string{"example.com/app:1"},
			}}}
			vs := writeArchive(t, blobs, writeOpts{WriterOptions: tc.opts, manifest: m}, tc.parallel)
			if len(vs) < tc.volumes {
				t.Fatalf("%d volumes, want at least %d", len(vs), tc.volumes)
			}
			for i, v := range vs {
				if tc.opts.VolumeSize > 0 && int64(len(v)) > tc.opts.VolumeSize {
					t.Errorf("volume %d is %d bytes, above the %d limit", i+1, len(v), tc.opts.VolumeSize)
				}
			}
			a := openArchive(t, vs)
			if a.NumBlobs() != len(blobs) {
				t.Fatalf("NumBlobs = %d, want %d", a.NumBlobs(), len(blobs))
			}
			for _, b := range blobs {
				got, err := readBlob(a, vs, b.d)
				if err != nil {
					t.Fatalf("read %s: %v", b.d, err)
				}
				if !bytes.Equal(got, b.data) {
					t.Fatalf("blob %s: content differs (%d bytes, want %d)", b.d, len(got), len(b.data))
				}
			}
			if got := a.Manifest(); got.Sequence != 7 || len(got.Roots) != 1 || got.Roots[0].References[0] != "example.com/app:1" || got.Archive != a.ID().String() {
				t.Fatalf("manifest = %+v", got)
			}
			for n := range vs {
				if err := a.CheckVolume(uint32(n+1), bytes.NewReader(vs[n]), int64(len(vs[n]))); err != nil {
					t.Errorf("CheckVolume(%d): %v", n+1, err)
				}
			}
			rep := a.Verify(vs.opener())
			if !rep.OK() || rep.Blobs != len(blobs) || rep.Volumes != len(vs) {
				t.Fatalf("verify: %d blobs, %d volumes, problems %v", rep.Blobs, rep.Volumes, rep.Problems)
			}
		})
	}
}

// The archive digest is a pure function of the content and options: the
// same blobs written in another order give the same index.
func TestDigestDeterministic(t *testing.T) {
	m := func() *format.Manifest { return &format.Manifest{Created: fixedTime} }
	a := writeArchive(t, testBlobs(), writeOpts{manifest: m()}, false)
	rev := testBlobs()
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	b := writeArchive(t, rev, writeOpts{manifest: m()}, false)
	da, db := openArchive(t, a).Digest(), openArchive(t, b).Digest()
	// Different write order moves chunks, so offsets and the digest change;
	// the same order must reproduce it exactly.
	c := writeArchive(t, testBlobs(), writeOpts{manifest: m()}, false)
	if dc := openArchive(t, c).Digest(); dc != da {
		t.Fatalf("same input, different digests: %s %s", da, dc)
	}
	if da == db {
		t.Fatalf("different layouts, same digest %s", da)
	}
}

func TestOpenBlobAt(t *testing.T) {
	data := textBytes(9, 1<<20+333)
	vs := writeArchive(t, []blob{newBlob(data)}, writeOpts{WriterOptions: format.WriterOptions{ChunkSize: 64 << 10}}, false)
	a := openArchive(t, vs)
	b, _ := a.Lookup(digest.FromBytes(data))
	for _, off := range []int64{0, 1, 64 << 10, 64<<10 + 1, int64(len(data)) - 1, int64(len(data))} {
		r, err := a.OpenBlobAt(b, vs, off)
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		if _, err := got.ReadFrom(r); err != nil {
			t.Fatalf("offset %d: %v", off, err)
		}
		if !bytes.Equal(got.Bytes(), data[off:]) {
			t.Fatalf("offset %d: wrong bytes", off)
		}
	}
}

func TestWriterRefuses(t *testing.T) {
	w, err := format.NewWriter(&memSink{}, format.WriterOptions{Archive: format.ArchiveID{1}})
	if err != nil {
		t.Fatal(err)
	}
	good := newBlob([]byte("hello"))
	for _, tc := range []struct {
		name    string
		d       digest.Digest
		size    int64
		data    []byte
		wantErr error
	}{
		{"bad digest", "sha256:../../etc/passwd", 5, good.data, format.ErrInvalidDigest},
		{"uppercase digest", digest.Digest("sha256:" + "ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789"), 5, good.data, format.ErrInvalidDigest},
		{"sha1", "sha1:da39a3ee5e6b4b0d3255bfef95601890afd80709", 5, good.data, format.ErrInvalidDigest},
		{"wrong content", good.d, 5, []byte("HELLO"), format.ErrDigest},
		{"too short", good.d, 6, good.data, format.ErrSize},
		{"too long", good.d, 4, good.data, format.ErrSize},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bw, err := w.Blob(tc.d, tc.size)
			if err == nil {
				_, err = bw.Write(tc.data)
				if err == nil {
					err = bw.Commit()
				} else {
					bw.Abort()
				}
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
		})
	}
	// A failed blob can be written again; a committed one cannot.
	bw, err := w.Blob(good.d, 5)
	if err != nil {
		t.Fatal(err)
	}
	bw.Write(good.data)
	if err := bw.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Blob(good.d, 5); !errors.Is(err, format.ErrDuplicate) {
		t.Fatalf("duplicate: err = %v", err)
	}
	if err := w.Close(&format.Manifest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Blob(newBlob([]byte("x")).d, 1); !errors.Is(err, format.ErrClosed) {
		t.Fatalf("after close: err = %v", err)
	}
	if err := w.Close(&format.Manifest{}); !errors.Is(err, format.ErrClosed) {
		t.Fatalf("second close: err = %v", err)
	}
}

// One damaged chunk is reported once, for its own blob; every other blob in
// the same and later volumes is still verified.
func TestVerifyPastDamagedChunk(t *testing.T) {
	blobs := []blob{newBlob(randomBytes(31, 200<<10)), newBlob(randomBytes(32, 200<<10)), newBlob(randomBytes(33, 200<<10))}
	vs := writeArchive(t, blobs, writeOpts{WriterOptions: format.WriterOptions{ChunkSize: 64 << 10}}, false)
	a := openArchive(t, vs)
	b0, _ := a.Lookup(blobs[0].d)
	c := a.Chunks(b0)[1]
	bad := vs.clone()
	bad[c.Volume-1][c.Offset+100] ^= 1
	rep := a.Verify(bad.opener())
	if len(rep.Problems) != 1 || !errors.Is(rep.Problems[0], format.ErrChecksum) {
		t.Fatalf("problems = %v, want one checksum error", rep.Problems)
	}
	var fe *format.Error
	if !errors.As(rep.Problems[0], &fe) || fe.Blob != blobs[0].d || fe.Offset != c.Offset || fe.Volume != c.Volume {
		t.Fatalf("problem %v does not name volume %d, offset %d, blob %s", rep.Problems[0], c.Volume, c.Offset, blobs[0].d)
	}
	if rep.Blobs != len(blobs)-1 || len(rep.MissingBlobs) != 1 || rep.MissingBlobs[0] != blobs[0].d {
		t.Fatalf("verified %d blobs, missing %v", rep.Blobs, rep.MissingBlobs)
	}
}
