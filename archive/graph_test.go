package archive_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content/memory"

	"github.com/enclave-mirror/enclave/archive"
	"github.com/enclave-mirror/enclave/archive/archivetest"
)

// nested pushes an image and n indexes over it into a memory store.
func nested(t *testing.T, n int) (*memory.Store, ocispec.Descriptor) {
	t.Helper()
	ctx := context.Background()
	mem := memory.New()
	top, err := archivetest.Image(ctx, mem, "amd64", archivetest.Blob(3, 1000, false))
	if err != nil {
		t.Fatal(err)
	}
	for range n {
		if top, err = archivetest.Index(ctx, mem, top); err != nil {
			t.Fatal(err)
		}
	}
	return mem, top
}

// A library user copying a graph nested past MaxGraphDepth into a Writer
// gets ErrGraphTooDeep from Close and no archive: a reader would refuse it.
// At the bound, the archive is written and reads back.
func TestWriterRefusesGraphTooDeep(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		levels int
		ok     bool
	}{{archive.MaxGraphDepth, true}, {archive.MaxGraphDepth + 1, false}} {
		mem, top := nested(t, c.levels)
		dir := filepath.Join(t.TempDir(), "out")
		w, err := archive.Create(dir)
		if err != nil {
			t.Fatal(err)
		}
		if err := oras.CopyGraph(ctx, mem, w, top, oras.DefaultCopyGraphOptions); err != nil {
			t.Fatal(err)
		}
		if err := w.Tag(ctx, top, "example.com/deep:v1"); err != nil {
			t.Fatal(err)
		}
		err = w.Close()
		if c.ok {
			if err != nil {
				t.Fatalf("%d levels: %v", c.levels, err)
			}
			r, err := archive.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			if err := r.CheckGraph(ctx); err != nil {
				t.Fatalf("%d levels: CheckGraph: %v", c.levels, err)
			}
			r.Close()
			continue
		}
		if !errors.Is(err, archive.ErrGraphTooDeep) {
			t.Fatalf("%d levels: Close = %v, want ErrGraphTooDeep", c.levels, err)
		}
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if e.Name() != ".enclave.lock" { // stays by design: an flock file
				t.Errorf("%d levels: left %s in the output", c.levels, e.Name())
			}
		}
	}
}

// A manifest naming a foreign layer: the archive holds the rest, lists no
// prerequisite for it (a full archive closes; a reader's preflight asks
// nothing of the destination for it).
func TestForeignLayerIsNeitherCarriedNorPrerequisite(t *testing.T) {
	ctx := context.Background()
	mem := memory.New()
	cfg, err := oras.PushBytes(ctx, mem, ocispec.MediaTypeImageConfig, []byte(`{"os":"windows"}`))
	if err != nil {
		t.Fatal(err)
	}
	body := archivetest.Blob(9, 500, false)
	foreign := ocispec.Descriptor{MediaType: "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
		Digest: digest.FromBytes(body), Size: int64(len(body)), URLs: []string{"https://foreign.example/layer"}}
	b, _ := json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		Config: cfg, Layers: []ocispec.Descriptor{foreign}})
	m, err := oras.PushBytes(ctx, mem, ocispec.MediaTypeImageManifest, b)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "out")
	w, err := archive.Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := oras.CopyGraph(ctx, mem, w, m, oras.DefaultCopyGraphOptions); err != nil {
		t.Fatal(err)
	}
	if err := w.Tag(ctx, m, "example.com/win:v1"); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v (a foreign layer must not count as missing)", err)
	}
	r, err := archive.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, ok := r.Format().Lookup(foreign.Digest); ok {
		t.Fatal("the archive carries the foreign layer")
	}
	if r.Delta() != nil {
		t.Fatalf("prerequisites: %+v", r.Delta().Prerequisites)
	}
	for _, d := range []digest.Digest{cfg.Digest, m.Digest} {
		if _, ok := r.Format().Lookup(d); !ok {
			t.Fatalf("the archive lacks %s", d)
		}
	}
}
