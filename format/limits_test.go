package format

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/cespare/xxhash/v2"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
)

// countingReaderAt records every read made through it.
type countingReaderAt struct {
	r     io.ReaderAt
	mu    sync.Mutex
	reads [][2]int64 // offset, length
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	c.mu.Lock()
	c.reads = append(c.reads, [2]int64{off, int64(len(p))})
	c.mu.Unlock()
	return c.r.ReadAt(p, off)
}

// total is the number of bytes asked for; touches reports whether any read
// overlapped [off, off+n).
func (c *countingReaderAt) total() (n int64) {
	for _, r := range c.reads {
		n += r[1]
	}
	return n
}

func (c *countingReaderAt) touches(off, n int64) bool {
	for _, r := range c.reads {
		if r[0] < off+n && off < r[0]+r[1] {
			return true
		}
	}
	return false
}

// allocated returns the bytes fn allocated (runtime.MemStats.TotalAlloc, so
// memory freed again still counts).
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestLimitsBeforeRead: an index or manifest over its byte cap is refused
// from the length that declares it, before a byte of it is read and before
// anything is allocated from the length.
func TestLimitsBeforeRead(t *testing.T) {
	t.Run("invalid-manifest-over-cap", func(t *testing.T) {
		vol := readVector(t, "invalid-manifest-over-cap")[0]
		f, err := parseFooter(vol[len(vol)-FooterSize:], int64(len(vol)))
		if err != nil {
			t.Fatal(err)
		}
		// The vector declares 64 MiB + 21 bytes: one over the cap.
		ibody := vol[f.IndexOffset+12 : f.IndexOffset+f.IndexLength-8]
		if got := le.Uint64(ibody[64:]); got != MaxManifestSize+frameOverhead+1 {
			t.Fatalf("vector declares a manifest frame of %d bytes", got)
		}
		cr := &countingReaderAt{r: bytes.NewReader(vol)}
		var a *Archive
		n := allocated(func() { a, err = Open(cr, int64(len(vol)), ReaderOptions{}) })
		if a != nil || !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), fmt.Sprintf("manifest frame of %d bytes", MaxManifestSize+frameOverhead+1)) {
			t.Fatalf("open: %v", err)
		}
		// Footer, volume header, index: nothing else was read.
		if got, want := cr.total(), int64(FooterSize+frameOverhead+volumeHeaderBody)+f.IndexLength; got != want {
			t.Fatalf("open read %d bytes, want %d (footer, header, index)", got, want)
		}
		if n > 1<<20 {
			t.Fatalf("open allocated %d bytes", n)
		}
	})

	vol := readVector(t, "valid-single-volume")[0]
	a, err := Open(bytes.NewReader(vol), int64(len(vol)), ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	manBody := len(a.ManifestJSON())
	mOff, mLen := a.ix.hdr.ManifestOffset, a.ix.hdr.ManifestLength
	idxBody := int(a.footer.IndexLength) - frameOverhead
	for _, tc := range []struct {
		name    string
		lim     Limits
		class   error // nil: opens
		want    string
		maxRead int64
	}{
		{"manifest at a lowered cap", Limits{MaxManifestSize: manBody}, nil, "", int64(len(vol))},
		{"manifest one byte over a lowered cap", Limits{MaxManifestSize: manBody - 1}, ErrLimit,
			fmt.Sprintf("manifest frame of %d bytes: its body of %d bytes is over the limit of %d", mLen, manBody, manBody-1),
			int64(FooterSize+frameOverhead+volumeHeaderBody) + a.footer.IndexLength},
		{"index at a lowered cap", Limits{MaxIndexSize: idxBody}, nil, "", int64(len(vol))},
		{"index one byte over a lowered cap", Limits{MaxIndexSize: idxBody - 1}, ErrLimit,
			fmt.Sprintf("index is %d bytes, the limit is %d", a.footer.IndexLength, idxBody-1),
			FooterSize + frameOverhead + volumeHeaderBody},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cr := &countingReaderAt{r: bytes.NewReader(vol)}
			got, err := Open(cr, int64(len(vol)), ReaderOptions{Limits: tc.lim})
			if tc.class == nil {
				if err != nil || got.Digest() != a.Digest() {
					t.Fatalf("open: %v", err)
				}
				return
			}
			if got != nil || !errors.Is(err, tc.class) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("open: %v; want %v saying %q", err, tc.class, tc.want)
			}
			if cr.total() != tc.maxRead || cr.touches(mOff, mLen) {
				t.Fatalf("open read %d bytes (%v); want %d, none of the manifest at %d+%d", cr.total(), cr.reads, tc.maxRead, mOff, mLen)
			}
		})
	}

	// A scan meets the manifest frame in sequence: its declared length is
	// checked against the cap before the frame is allocated or read.
	t.Run("scan: manifest frame declaring 4 GiB", func(t *testing.T) {
		v := append([]byte(nil), vol[:frameOverhead+volumeHeaderBody]...)
		v = le.AppendUint32(v, FrameMagic)
		v = le.AppendUint32(v, 0xfffffff0)
		v = append(v, TagManifest...)
		v = append(v, make([]byte, 4096)...) // a little of the "body"
		var err error
		n := allocated(func() { _, err = ScanVolume(bytes.NewReader(v), ScanOptions{}) })
		if !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), `"EMAN" frame of 4294967280 bytes`) {
			t.Fatalf("scan: %v", err)
		}
		if n > 4<<20 { // the scanner's 1 MiB read buffer, not 4 GiB
			t.Fatalf("scan allocated %d bytes", n)
		}
	})
	t.Run("scan: manifest over a lowered cap", func(t *testing.T) {
		_, err := ScanVolume(bytes.NewReader(vol), ScanOptions{Limits: Limits{MaxManifestSize: manBody - 1}})
		if !errors.Is(err, ErrLimit) {
			t.Fatalf("scan: %v", err)
		}
		var fe *Error
		// The error names the frame over the cap by its first byte
		// (spec section 12), though the scan read its tag.
		if !errors.As(err, &fe) || fe.Offset != mOff {
			t.Fatalf("scan error %v; want the manifest frame's offset %d", err, mOff)
		}
	})
}

// TestWindow1TB: a chunk frame declaring a 1 TiB window is refused from its
// header, with a clear error and almost no memory, by fetch and by verify;
// the decoder's own window limit would refuse it too.
func TestWindow1TB(t *testing.T) {
	vols := readVector(t, "invalid-zstd-window-1tb")
	a, err := Open(bytes.NewReader(vols[0]), int64(len(vols[0])), ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	data := vecChunk4K()
	d := digest.FromBytes(data)
	b, ok := a.Lookup(d)
	if !ok || len(a.Chunks(b)) != 1 {
		t.Fatalf("vector does not hold the one-chunk blob %s", d)
	}
	c := a.Chunks(b)[0]
	stored := vols[0][c.Offset : c.Offset+int64(c.StoredSize)]
	var h zstd.Header
	if err := h.Decode(stored); err != nil || h.SingleSegment || h.WindowSize != 1<<40 || h.FrameContentSize != 4096 {
		t.Fatalf("vector's frame: %+v, %v; want a 1 TiB window and 4096 bytes", h, err)
	}
	const want = "chunk frame declares a window of 1099511627776 bytes (limit 16777216)"

	var out []byte
	n := allocated(func() { out, err = DecodeChunk(c, stored, nil) })
	if out != nil || !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), want) {
		t.Fatalf("decode: %d bytes, %v", len(out), err)
	}
	if n > 64<<10 { // process-wide: the race detector and the runtime allocate too
		t.Fatalf("refusing the frame allocated %d bytes", n)
	}
	// Defence in depth: the shared decoder, given the frame without the
	// header check, refuses it on its window limit.
	dec, err := decoder()
	if err != nil {
		t.Fatal(err)
	}
	n = allocated(func() { out, err = dec.DecodeAll(stored, nil) })
	if !errors.Is(err, zstd.ErrWindowSizeExceeded) || len(out) != 0 || n > 1<<20 {
		t.Fatalf("decoder: %d bytes, %v, %d bytes allocated", len(out), err, n)
	}
	// The frame is otherwise right: one raw last block of the content,
	// then its checksum, ending the stored bytes. The window is the only
	// fault.
	blk := stored[h.HeaderSize:]
	if bh := uint32(blk[0]) | uint32(blk[1])<<8 | uint32(blk[2])<<16; bh != 4096<<3|1 ||
		!bytes.Equal(blk[3:3+4096], data) || le.Uint32(blk[3+4096:]) != uint32(xxhash.Sum64(data)) || len(blk) != 3+4096+4 {
		t.Fatalf("vector's frame is not one raw block of the content and its checksum")
	}

	var got []byte
	n = allocated(func() { got, err = io.ReadAll(a.OpenBlob(b, sliceVolumes(vols))) })
	if len(got) != 0 {
		t.Fatalf("fetch served %d bytes", len(got))
	}
	wantLocated(t, err, ErrLimit, 1, c.Offset, d, want)
	if n > 1<<20 {
		t.Fatalf("fetch allocated %d bytes", n)
	}
	var rep *VerifyReport
	n = allocated(func() { rep = verifyVols(a, vols) })
	if len(rep.Problems) != 1 || len(rep.MissingBlobs) != 1 {
		t.Fatalf("verify: %v, missing %v", rep.Problems, rep.MissingBlobs)
	}
	wantLocated(t, rep.Problems[0], ErrLimit, 1, c.Offset, d, want)
	if n > 4<<20 { // the scanner's 1 MiB read buffer and a chunk
		t.Fatalf("verify allocated %d bytes", n)
	}
}

// TestDecodeChunkWindow: what a chunk frame's header declares about its
// window and size, and the class each is refused with (section 4.2).
func TestDecodeChunkWindow(t *testing.T) {
	data := vecChunk4K()
	for _, tc := range []struct {
		name  string
		d     frameDesc
		class error // nil: accepted
		want  string
	}{
		{"single segment, content size right", frameDesc{single: true, fcs: 4096}, nil, ""},
		{"window 1 TiB", frameDesc{window: 30 << 3, fcs: 4096}, ErrLimit, "window of 1099511627776 bytes"},
		{"window 3.75 TiB (the largest a header can declare)", frameDesc{window: 0xff, fcs: 4096}, ErrLimit, "window of 4123168604160 bytes"},
		{"window 32 MiB", frameDesc{window: 15 << 3, fcs: 4096}, ErrLimit, "window of 33554432 bytes"},
		{"window 16 MiB + 2 MiB", frameDesc{window: 14<<3 | 1, fcs: 4096}, ErrLimit, "window of 18874368 bytes"},
		{"window 16 MiB, not single segment", frameDesc{window: 14 << 3, fcs: 4096}, ErrMalformed, "must be single-segment"},
		{"window 1 TiB, no content size", frameDesc{window: 30 << 3, fcs: -1}, ErrMalformed, "has size: false"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stored := zstdRawFrame(data, tc.d)
			c := Chunk{Volume: 1, Offset: 160, StoredSize: uint32(len(stored)), RawSize: 4096, StoredXXH: xxhash.Sum64(stored)}
			var out []byte
			var err error
			n := allocated(func() { out, err = DecodeChunk(c, stored, nil) })
			if tc.class == nil {
				if err != nil || !bytes.Equal(out, data) {
					t.Fatalf("%d bytes, %v", len(out), err)
				}
				return
			}
			if !errors.Is(err, tc.class) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v; want %v saying %q", err, tc.class, tc.want)
			}
			if n > 64<<10 { // process-wide: the race detector and the runtime allocate too
				t.Fatalf("refusing the frame allocated %d bytes", n)
			}
		})
	}
	// A single-segment frame's window is its content size: one declaring
	// 1 TiB is refused on the size, from the header (the existing zstd-bomb
	// vector is the same with 64 MiB).
	stored := le.AppendUint32(nil, zstdMagic)
	stored = append(stored, 3<<6|1<<5|1<<2) // 8-byte content size, single segment, checksum
	stored = le.AppendUint64(stored, 1<<40)
	stored = append(stored, 1, 0, 0, 0, 0, 0, 0) // an empty raw last block and a checksum
	c := Chunk{StoredSize: uint32(len(stored)), RawSize: 4096, StoredXXH: xxhash.Sum64(stored)}
	if _, err := DecodeChunk(c, stored, nil); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "declares 1099511627776 bytes") {
		t.Fatalf("1 TiB content size: %v", err)
	}
}
