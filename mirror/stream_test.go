package mirror_test

import (
	"cmp"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/enclave-mirror/enclave/archive"
	"github.com/enclave-mirror/enclave/archive/archivetest"
	"github.com/enclave-mirror/enclave/format"
	"github.com/enclave-mirror/enclave/internal/testing/regserver"
	"github.com/enclave-mirror/enclave/mirror"
	"github.com/enclave-mirror/enclave/ocistore"
)

type volRead struct {
	volume uint32
	off, n int64
}

// TestUnpackReadsVolumesOnceInOrder: unpack reads each chunk of each
// blob once, and the blobs front to back through the volumes; only the
// manifests (read by the graph check, before any write) are read apart.
func TestUnpackReadsVolumesOnceInOrder(t *testing.T) {
	ctx := context.Background()
	dir := sixImageArchive(t)
	dst := regserver.New(t, regserver.Options{})

	// Where each chunk lies, and which are manifests'.
	r, err := archive.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.CheckGraph(ctx); err != nil {
		t.Fatal(err)
	}
	type chunkAt struct {
		manifest bool
		size     int64
	}
	chunks := map[[2]int64]chunkAt{}
	var volumes int64
	for _, v := range r.Volumes() {
		volumes += v.Size
	}
	r.Format().Blobs(func(b format.Blob) bool {
		desc, _, _ := r.Descriptor(ctx, b.Digest)
		manifest := strings.Contains(desc.MediaType, "manifest") || strings.Contains(desc.MediaType, "index")
		for _, c := range r.Format().Chunks(b) {
			chunks[[2]int64{int64(c.Volume), c.Offset}] = chunkAt{manifest, int64(c.StoredSize)}
		}
		return true
	})
	r.Close()
	if len(r.Volumes()) < 3 {
		t.Fatalf("%d volumes: the test means several", len(r.Volumes()))
	}

	var mu sync.Mutex
	var reads []volRead
	record := func(volume uint32, off, n int64) {
		mu.Lock()
		reads = append(reads, volRead{volume, off, n})
		mu.Unlock()
	}
	res, err := mirror.Unpack(ctx, mirror.UnpackOptions{Archive: dir, Registry: dst.Host + "/m", Dest: ocistore.Options{SkipTLSVerify: true},
		Receipt: filepath.Join(t.TempDir(), "r.json"), ClusterResources: t.TempDir(), ArchiveOptions: []archive.OpenOption{archive.WithVolumeReads(record)}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Images) != 6 {
		t.Fatalf("%d images", len(res.Images))
	}
	for _, im := range res.Images {
		name, tag, _ := strings.Cut(strings.TrimPrefix(im.Destination, dst.Host+"/"), ":")
		got, err := repo(t, dst.Host, name).Resolve(ctx, tag)
		if err != nil || got.Digest != im.Digest {
			t.Fatalf("%s: %s %v, want %s", im.Destination, got.Digest, err, im.Digest)
		}
	}

	seen := map[[2]int64]int{}
	var blobReads []volRead
	var read int64
	for _, rd := range reads {
		c, ok := chunks[[2]int64{int64(rd.volume), rd.off}]
		if !ok || c.size != rd.n {
			continue // a header, footer or the index (open)
		}
		read += rd.n
		seen[[2]int64{int64(rd.volume), rd.off}]++
		if !c.manifest {
			blobReads = append(blobReads, rd)
		}
	}
	for at, c := range chunks {
		if seen[at] != 1 {
			t.Errorf("chunk at volume %d offset %d (manifest: %v) read %d times, want once", at[0], at[1], c.manifest, seen[at])
		}
	}
	if !slices.IsSortedFunc(blobReads, func(a, b volRead) int {
		return cmp.Or(cmp.Compare(a.volume, b.volume), cmp.Compare(a.off, b.off))
	}) {
		t.Errorf("the blobs' chunks were not read front to back: %v", blobReads)
	}
	if float64(read) > 1.01*float64(volumes) {
		t.Errorf("read %d bytes of chunks from %d bytes of volumes", read, volumes)
	}
}

// sixImageArchive packs six images of three layers each (about 200 KiB,
// incompressible) in 64 KiB chunks over 1 MiB volumes: blobs of several
// chunks, over several volumes.
func sixImageArchive(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	src := regserver.New(t, regserver.Options{})
	var isc strings.Builder
	isc.WriteString("mirror:\n  additionalImages:\n")
	for i := range 6 {
		r := repo(t, src.Host, fmt.Sprintf("org/app%d", i))
		var layers [][]byte
		for k := range 3 {
			layers = append(layers, archivetest.Blob(uint64(10*i+k), 200<<10+k*1000, false))
		}
		d, err := archivetest.Image(ctx, r, "amd64", layers...)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Tag(ctx, d, "v1"); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&isc, "    - name: %s/org/app%d:v1\n", src.Host, i)
	}
	dir := filepath.Join(t.TempDir(), "archive")
	// 64 KiB chunks, 1 MiB volumes: blobs of several chunks, over volumes.
	if _, err := mirror.Pack(ctx, mirror.PackOptions{Config: config(t, isc.String()), Archive: dir, ChunkSize: 64 << 10, VolumeSize: 1 << 20,
		Source: ocistore.Options{SkipTLSVerify: true}}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// holdLastBlob is an Observer that holds the stream in the report of its
// last layer until an image is done, or gives up after a while.
type holdLastBlob struct {
	mu        sync.Mutex
	blobs     int
	last      int
	imageDone chan struct{}
	once      sync.Once
	held      bool
}

func (h *holdLastBlob) BlobDone(size int64) {
	if size < 200<<10 {
		return // a config or a manifest: not a layer
	}
	h.mu.Lock()
	h.blobs++
	last := h.blobs == h.last
	h.mu.Unlock()
	if !last {
		return
	}
	select {
	case <-h.imageDone:
		h.mu.Lock()
		h.held = true
		h.mu.Unlock()
	case <-time.After(10 * time.Second):
	}
}
func (h *holdLastBlob) ImageDone(string, int64, error)   { h.once.Do(func() { close(h.imageDone) }) }
func (h *holdLastBlob) SetTotals(int, int64)             {}
func (h *holdLastBlob) Start()                           {}
func (h *holdLastBlob) Stop()                            {}
func (h *holdLastBlob) ImageStarted(string)              {}
func (h *holdLastBlob) Transferred(int64)                {}
func (h *holdLastBlob) Skipped(mirror.SkipReason, int64) {}
func (h *holdLastBlob) Logf(string, ...any)              {}

// TestUnpackImagesDoneAsTheReadGoesOn: an image is pushed (manifests, tag)
// as soon as its blobs are in, while the stream goes on with the others'
// (on a 300 GB archive, images and tags appear over hours, not all at the
// end). The stream is held in the report of its last blob: an image must
// be done meanwhile.
func TestUnpackImagesDoneAsTheReadGoesOn(t *testing.T) {
	dir := sixImageArchive(t)
	dst := regserver.New(t, regserver.Options{})
	// 18 layers are streamed (and one config the six images share).
	h := &holdLastBlob{last: 18, imageDone: make(chan struct{})}
	res, err := mirror.Unpack(context.Background(), mirror.UnpackOptions{Archive: dir, Registry: dst.Host + "/m", Dest: ocistore.Options{SkipTLSVerify: true},
		Receipt: filepath.Join(t.TempDir(), "r.json"), ClusterResources: t.TempDir(), Progress: h})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Images) != 6 || len(res.Failed()) != 0 {
		t.Fatalf("images %+v", res.Images)
	}
	if h.blobs < h.last {
		t.Fatalf("%d blobs reported, the test holds the %dth", h.blobs, h.last)
	}
	if !h.held {
		t.Fatal("no image was done while the stream was held in its last blob: images wait for the whole stream")
	}
}

// countSkips is an Observer that counts blobs moved and skipped, by reason.
type countSkips struct {
	mu      sync.Mutex
	moved   int
	skipped map[mirror.SkipReason]int
}

func (c *countSkips) BlobDone(int64) { c.mu.Lock(); c.moved++; c.mu.Unlock() }
func (c *countSkips) Skipped(r mirror.SkipReason, _ int64) {
	c.mu.Lock()
	c.skipped[r]++
	c.mu.Unlock()
}
func (c *countSkips) ImageDone(string, int64, error) {}
func (c *countSkips) SetTotals(int, int64)           {}
func (c *countSkips) Start()                         {}
func (c *countSkips) Stop()                          {}
func (c *countSkips) ImageStarted(string)            {}
func (c *countSkips) Transferred(int64)              {}
func (c *countSkips) Logf(string, ...any)            {}

// TestUnpackCountsStreamedBlobsOnce: a blob the stream uploaded for an
// image is counted once, as moved; the image's own copy, which finds it in
// place, does not count it again as shared. Six images in six
// repositories: 18 layers, one config they share and 6 manifests are
// moved; the config is mounted into the 5 other repositories (shared).
func TestUnpackCountsStreamedBlobsOnce(t *testing.T) {
	dir := sixImageArchive(t)
	dst := regserver.New(t, regserver.Options{})
	c := &countSkips{skipped: map[mirror.SkipReason]int{}}
	if _, err := mirror.Unpack(context.Background(), mirror.UnpackOptions{Archive: dir, Registry: dst.Host + "/m", Dest: ocistore.Options{SkipTLSVerify: true},
		Receipt: filepath.Join(t.TempDir(), "r.json"), ClusterResources: t.TempDir(), Progress: c}); err != nil {
		t.Fatal(err)
	}
	if c.moved != 25 || c.skipped[mirror.SkipShared] != 5 || len(c.skipped) != 1 {
		t.Fatalf("moved %d, skipped %v; want 25 moved and 5 shared", c.moved, c.skipped)
	}
}
