package archive_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/enclave-mirror/enclave/archive"
	"github.com/enclave-mirror/enclave/archive/archivetest"
	"github.com/enclave-mirror/enclave/format"
)

// volumeReads records every read of volume bytes (WithVolumeReads).
type volumeReads struct {
	mu    sync.Mutex
	reads [][3]int64 // volume, offset, length
}

func (v *volumeReads) record(volume uint32, off, n int64) {
	v.mu.Lock()
	v.reads = append(v.reads, [3]int64{int64(volume), off, n})
	v.mu.Unlock()
}

// interleavedArchive packs n (at most 4, the writer's blobs at once) layers of the given number of 64 KiB chunks
// into one image, written at once so that their chunks alternate in the
// volumes (as a pack that copies several layers at a time writes them):
// the first chunk of every layer, then the second of every layer, and so
// on. It returns the layers' descriptors and bytes.
func interleavedArchive(t *testing.T, n, chunks int, opts ...archive.CreateOption) (dir string, descs []ocispec.Descriptor, blobs map[digest.Digest][]byte) {
	t.Helper()
	ctx := context.Background()
	const chunk = 64 << 10
	dir = filepath.Join(t.TempDir(), "a")
	w, err := archive.Create(dir, append([]archive.CreateOption{archive.WithChunkSize(chunk)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	blobs = map[digest.Digest][]byte{}
	var layers [][]byte
	pipes := make([]*io.PipeWriter, n)
	errs := make(chan error, n)
	for i := range n {
		b := archivetest.Blob(uint64(100+i), chunks*chunk, false)
		layers = append(layers, b)
		d := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: digest.FromBytes(b), Size: int64(len(b))}
		descs = append(descs, d)
		blobs[d.Digest] = b
		pr, pw := io.Pipe()
		pipes[i] = pw
		go func() { errs <- w.Push(ctx, d, pr) }()
	}
	// One chunk of each layer in turn: a Write returns once the writer took
	// it, so chunk k of every layer is handed over before chunk k+1 of any.
	for k := range chunks {
		for i, pw := range pipes {
			if _, err := pw.Write(layers[i][k*chunk : (k+1)*chunk]); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, pw := range pipes {
		pw.Close()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	img, err := archivetest.Image(ctx, w, "amd64", layers...)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Tag(ctx, img, "registry.example/x/y:v1"); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, descs, blobs
}

// maxInterleaved returns how many of descs have chunks on both sides of
// some chunk of another: the blobs a reader front to back has open at once.
func maxInterleaved(t *testing.T, r *archive.Reader, descs []ocispec.Descriptor) int {
	type span struct{ first, last int64 }
	var spans []span
	for _, d := range descs {
		b, _ := r.Format().Lookup(d.Digest)
		c := r.Format().Chunks(b)
		pos := func(c format.Chunk) int64 { return int64(c.Volume)<<40 | c.Offset }
		spans = append(spans, span{pos(c[0]), pos(c[len(c)-1])})
	}
	best := 0
	for _, s := range spans {
		open := 0
		for _, o := range spans {
			if o.first <= s.first && s.first <= o.last {
				open++
			}
		}
		best = max(best, open)
	}
	return best
}

func streamAll(t *testing.T, r *archive.Reader, descs []ocispec.Descriptor, opts archive.StreamOptions, read func(ocispec.Descriptor, io.Reader) ([]byte, error)) (map[digest.Digest][]byte, map[digest.Digest]error) {
	t.Helper()
	var mu sync.Mutex
	got, errs := map[digest.Digest][]byte{}, map[digest.Digest]error{}
	err := r.Stream(context.Background(), descs, opts, func(ctx context.Context, d ocispec.Descriptor, rc io.ReadCloser) error {
		defer rc.Close()
		b, err := read(d, rc)
		mu.Lock()
		defer mu.Unlock()
		if _, twice := got[d.Digest]; twice {
			t.Errorf("%s consumed twice", d.Digest)
		}
		got[d.Digest], errs[d.Digest] = b, err
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return got, errs
}

func TestStreamReadsFrontToBack(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts archive.StreamOptions
	}{
		{"defaults", archive.StreamOptions{}},
		// Fewer slots than interleaved blobs: the pass takes slots above
		// Concurrency rather than wait for ever.
		{"one slot", archive.StreamOptions{Concurrency: 1, MaxConcurrency: 4}},
		{"one read-ahead", archive.StreamOptions{Concurrency: 2, ReadAhead: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, descs, blobs := interleavedArchive(t, 4, 6, archive.WithVolumeSize(1<<20))
			reads := &volumeReads{}
			r, err := archive.Open(dir, archive.WithVolumeReads(reads.record))
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if n := maxInterleaved(t, r, descs); n < 4 {
				t.Fatalf("the layers' chunks interleave %d at most, want 4: the test packs nothing it claims", n)
			}
			if len(r.Volumes()) < 2 {
				t.Fatalf("%d volumes, want several", len(r.Volumes()))
			}
			reads.reads = nil // open's reads of headers and index
			got, errs := streamAll(t, r, descs, tc.opts, func(_ ocispec.Descriptor, rd io.Reader) ([]byte, error) { return io.ReadAll(rd) })
			var stored int64
			for _, d := range descs {
				mustBeWhole(t, d, got, errs, blobs)
				b, _ := r.Format().Lookup(d.Digest)
				for _, c := range r.Format().Chunks(b) {
					stored += int64(c.StoredSize)
				}
			}
			// One read per chunk, each volume front to back, never back.
			var n, at int64
			vol := int64(0)
			for _, rd := range reads.reads {
				if rd[0] < vol || (rd[0] == vol && rd[1] < at) {
					t.Fatalf("read at volume %d offset %d after volume %d offset %d: not front to back", rd[0], rd[1], vol, at)
				}
				vol, at = rd[0], rd[1]+rd[2]
				n += rd[2]
			}
			if n != stored {
				t.Fatalf("read %d bytes, the chunks hold %d", n, stored)
			}
		})
	}
}

// A blob more than MaxConcurrency others interleave with is consumed after
// the pass, through reads of its own: every blob still comes once.
func TestStreamDefersPastMaxConcurrency(t *testing.T) {
	dir, descs, blobs := interleavedArchive(t, 4, 4)
	r := openArchive(t, dir)
	var mu sync.Mutex
	active, peak := 0, 0
	got, errs := streamAll(t, r, descs, archive.StreamOptions{Concurrency: 1, MaxConcurrency: 2}, func(_ ocispec.Descriptor, rd io.Reader) ([]byte, error) {
		mu.Lock()
		active++
		peak = max(peak, active)
		mu.Unlock()
		defer func() { mu.Lock(); active--; mu.Unlock() }()
		return io.ReadAll(rd)
	})
	for _, d := range descs {
		mustBeWhole(t, d, got, errs, blobs)
	}
	if peak > 2 {
		t.Fatalf("%d consumers at once, MaxConcurrency 2", peak)
	}
}

// The empty blob has no chunk for the pass to reach: it is consumed all
// the same, checked (its digest is the empty content's).
func TestStreamEmptyBlob(t *testing.T) {
	empty := []byte{}
	other := archivetest.Blob(3, 1000, false)
	dir := filepath.Join(t.TempDir(), "a")
	if _, err := archivetest.HandMade(dir, [][]byte{empty, other}, format.Manifest{}); err != nil {
		t.Fatal(err)
	}
	r := openArchive(t, dir)
	descs := []ocispec.Descriptor{
		{MediaType: ocispec.MediaTypeImageLayer, Digest: digest.FromBytes(empty), Size: 0},
		{MediaType: ocispec.MediaTypeImageLayer, Digest: digest.FromBytes(other), Size: int64(len(other))},
	}
	got, errs := streamAll(t, r, descs, archive.StreamOptions{}, func(_ ocispec.Descriptor, rd io.Reader) ([]byte, error) { return io.ReadAll(rd) })
	if b, ok := got[descs[0].Digest]; !ok || len(b) != 0 || errs[descs[0].Digest] != nil {
		t.Fatalf("empty blob: consumed %v, %d bytes, %v", ok, len(b), errs[descs[0].Digest])
	}
	if !bytes.Equal(got[descs[1].Digest], other) || errs[descs[1].Digest] != nil {
		t.Fatalf("other blob: %d bytes, %v", len(got[descs[1].Digest]), errs[descs[1].Digest])
	}
}

// A damaged chunk fails the Read of its blob's reader with an integrity
// error naming the blob, before its last chunk is served; the other blobs
// come whole.
func TestStreamDamagedChunk(t *testing.T) {
	dir, descs, blobs := interleavedArchive(t, 3, 4)
	r, err := archive.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	bad := descs[1]
	b, _ := r.Format().Lookup(bad.Digest)
	c := r.Format().Chunks(b)[2]
	r.Close()
	flipByte(t, filepath.Join(dir, archive.VolumeName(c.Volume)), c.Offset+int64(c.StoredSize)/2)
	if r, err = archive.Open(dir); err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, errs := streamAll(t, r, descs, archive.StreamOptions{}, func(_ ocispec.Descriptor, rd io.Reader) ([]byte, error) { return io.ReadAll(rd) })
	for _, d := range descs {
		if d.Digest == bad.Digest {
			var fe *format.Error
			if !format.IsIntegrity(errs[d.Digest]) || !errors.As(errs[d.Digest], &fe) || fe.Blob != bad.Digest {
				t.Fatalf("damaged %s: err = %v", d.Digest, errs[d.Digest])
			}
			if int64(len(got[d.Digest])) > 2*64<<10 {
				t.Fatalf("damaged blob: %d bytes served, at most the 2 chunks before the damaged one", len(got[d.Digest]))
			}
			continue
		}
		mustBeWhole(t, d, got, errs, blobs)
	}
}

// A consumer that closes its reader early (an upload that starts over
// through FetchAt) neither stops nor stalls the pass.
func TestStreamConsumerClosesEarly(t *testing.T) {
	dir, descs, blobs := interleavedArchive(t, 4, 5)
	r := openArchive(t, dir)
	quitter := descs[0].Digest
	got, errs := streamAll(t, r, descs, archive.StreamOptions{Concurrency: 2, ReadAhead: 1}, func(d ocispec.Descriptor, rd io.Reader) ([]byte, error) {
		if d.Digest == quitter {
			buf := make([]byte, 10)
			_, err := io.ReadFull(rd, buf)
			return buf, err // closed by streamAll with 4 chunks unread
		}
		return io.ReadAll(rd)
	})
	for _, d := range descs {
		if d.Digest == quitter {
			continue
		}
		mustBeWhole(t, d, got, errs, blobs)
	}
}

// A cancelled context ends Stream with its error, consumers included.
func TestStreamCancel(t *testing.T) {
	dir, descs, _ := interleavedArchive(t, 3, 4)
	r := openArchive(t, dir)
	ctx, cancel := context.WithCancel(context.Background())
	err := r.Stream(ctx, descs, archive.StreamOptions{}, func(ctx context.Context, d ocispec.Descriptor, rc io.ReadCloser) error {
		defer rc.Close()
		cancel()
		_, err := io.ReadAll(rc)
		return err
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// mustBeWhole fails the test unless blob d was streamed whole, without
// an error.
func mustBeWhole(t *testing.T, d ocispec.Descriptor, got map[digest.Digest][]byte, errs map[digest.Digest]error, blobs map[digest.Digest][]byte) {
	t.Helper()
	if errs[d.Digest] != nil || !bytes.Equal(got[d.Digest], blobs[d.Digest]) {
		t.Fatalf("%s: %d bytes, %v", d.Digest, len(got[d.Digest]), errs[d.Digest])
	}
}

func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x40
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}
