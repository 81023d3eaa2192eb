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
	src := regserver.New(t, regserver.Options{})
	dst := regserver.New(t, regserver.Options{})
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
