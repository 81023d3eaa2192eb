package archive_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"

	"github.com/enclave-mirror/enclave/archive"
	"github.com/enclave-mirror/enclave/archive/archivetest"
	"github.com/enclave-mirror/enclave/format"
)

// sparseSource is a two-platform index in a memory store.
func sparseSource(t *testing.T) (mem *memory.Store, idx, amd, arm ocispec.Descriptor) {
	t.Helper()
	ctx := context.Background()
	mem = memory.New()
	var err error
	if amd, err = archivetest.Image(ctx, mem, "amd64", archivetest.Blob(1, 500, false)); err != nil {
		t.Fatal(err)
	}
	if arm, err = archivetest.Image(ctx, mem, "arm64", archivetest.Blob(2, 500, false)); err != nil {
		t.Fatal(err)
	}
	if idx, err = archivetest.Index(ctx, mem, amd, arm); err != nil {
		t.Fatal(err)
	}
	return mem, idx, amd, arm
}

// packSparse copies idx into a new archive at dir with only amd, as a
// sparse copy does: Omit first, then the copy without arm.
func packSparse(t *testing.T, dir string, mem *memory.Store, idx, amd, arm ocispec.Descriptor, opts ...archive.CreateOption) *archive.Writer {
	t.Helper()
	ctx := context.Background()
	w, err := archive.Create(dir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Omit(idx, []ocispec.Descriptor{arm}); err != nil {
		t.Fatal(err)
	}
	err = oras.CopyGraph(ctx, mem, w, idx, oras.CopyGraphOptions{FindSuccessors: func(ctx context.Context, f content.Fetcher, d ocispec.Descriptor) ([]ocispec.Descriptor, error) {
		succ, err := content.Successors(ctx, f, d)
		return slices.DeleteFunc(succ, func(s ocispec.Descriptor) bool { return s.Digest == arm.Digest }), err
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Tag(ctx, idx, "example.com/multi:v1"); err != nil {
		t.Fatal(err)
	}
	return w
}

// An index packed without its arm64 manifest closes (the child is not a
// prerequisite), records the child as omitted, and reads back: CheckGraph
// passes, Successors and Predecessors leave the child out, and the index
// blob is the source's, byte for byte.
func TestSparseIndexRoundTrip(t *testing.T) {
	ctx := context.Background()
	mem, idx, amd, arm := sparseSource(t)
	dir := filepath.Join(t.TempDir(), "a")
	if err := packSparse(t, dir, mem, idx, amd, arm).Close(); err != nil {
		t.Fatal(err)
	}
	r, err := archive.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if d := r.Delta(); d != nil {
		t.Fatalf("a full archive has a delta: %+v", d)
	}
	roots := r.Roots()
	if len(roots) != 1 || roots[0].Descriptor.Digest != idx.Digest || len(roots[0].Omitted) != 1 || roots[0].Omitted[0].Digest != arm.Digest {
		t.Fatalf("roots = %+v, want the index omitting %s", roots, arm.Digest)
	}
	if p := roots[0].Omitted[0].Platform; p == nil || p.Architecture != "arm64" {
		t.Fatalf("omitted platform = %+v, want linux/arm64 as the index lists it", p)
	}
	if err := r.CheckGraph(ctx); err != nil {
		t.Fatal(err)
	}
	succ, err := r.Successors(ctx, idx)
	if err != nil || len(succ) != 1 || succ[0].Digest != amd.Digest {
		t.Fatalf("Successors = %v, %v; want only %s", succ, err, amd.Digest)
	}
	if preds, _ := r.Predecessors(ctx, arm); len(preds) != 0 {
		t.Fatalf("the omitted child has predecessors %v", preds)
	}
	if ok, _ := r.Exists(ctx, arm); ok {
		t.Fatal("the omitted child is in the archive")
	}
	want, _ := content.FetchAll(ctx, mem, idx)
	got, err := content.FetchAll(ctx, r, idx)
	if err != nil || string(got) != string(want) {
		t.Fatalf("index in the archive differs from the source's: %v", err)
	}
	rep, vr, err := archive.Verify(dir)
	if err != nil || !rep.OK() {
		t.Fatalf("verify: %v %+v", err, rep)
	}
	vr.Close()
}

// Two copies of one index, one sparse and one whole: nothing is omitted,
// and the arm64 manifest is carried.
func TestSparseAndWholeCopyOfOneIndex(t *testing.T) {
	ctx := context.Background()
	mem, idx, amd, arm := sparseSource(t)
	dir := filepath.Join(t.TempDir(), "a")
	w := packSparse(t, dir, mem, idx, amd, arm)
	if err := w.Omit(idx, nil); err != nil {
		t.Fatal(err)
	}
	if err := oras.CopyGraph(ctx, mem, w, idx, oras.DefaultCopyGraphOptions); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := archive.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if o := r.Roots()[0].Omitted; len(o) != 0 {
		t.Fatalf("omitted %v, want nothing", o)
	}
	if ok, _ := r.Exists(ctx, arm); !ok {
		t.Fatal("the arm64 manifest is not carried")
	}
}

// A base that holds the index sparsely: a delta with the same platforms
// carries nothing (the index is a prerequisite); a delta of every
// platform goes through the index and carries the arm64 manifest alone,
// the amd64 one a prerequisite. The same holds with a receipt recording
// the index as omitting arm64; a receipt without the record would leave
// arm64 out of the second delta.
func TestSparseBase(t *testing.T) {
	ctx := context.Background()
	mem, idx, amd, arm := sparseSource(t)
	work := t.TempDir()
	first := filepath.Join(work, "first")
	if err := packSparse(t, first, mem, idx, amd, arm).Close(); err != nil {
		t.Fatal(err)
	}
	// The receipt an unpack of first writes: every digest it pushed, the
	// index with arm64 omitted.
	fr, err := archive.Open(first)
	if err != nil {
		t.Fatal(err)
	}
	rec := &archive.Receipt{Destination: "registry.example/m"}
	fr.Format().Blobs(func(b format.Blob) bool {
		if b.Digest == idx.Digest {
			rec.Add(b.Digest, b.Size, idx.MediaType, "multi", arm.Digest)
		} else {
			rec.Add(b.Digest, b.Size, "", "multi")
		}
		return true
	})
	fr.Close()
	receipt := filepath.Join(work, "receipt.json")
	if _, err := archive.WriteReceipt(receipt, rec); err != nil {
		t.Fatal(err)
	}
	for _, base := range []struct{ name, path string }{{"archive", first}, {"receipt", receipt}} {
		t.Run(base.name+" base, same platforms", func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "d")
			w := packSparse(t, dir, mem, idx, amd, arm, archive.WithBasePath(base.path))
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			r, err := archive.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if n := r.Format().NumBlobs(); n != 0 {
				t.Fatalf("the delta carries %d blobs, want none", n)
			}
			if p := r.Delta().Prerequisites; len(p) != 1 || p[0].Digest != idx.Digest {
				t.Fatalf("prerequisites %v, want the index alone", p)
			}
		})
		t.Run(base.name+" base, every platform", func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "d")
			w, err := archive.Create(dir, archive.WithBasePath(base.path))
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Omit(idx, nil); err != nil {
				t.Fatal(err)
			}
			if err := oras.CopyGraph(ctx, mem, w, idx, oras.DefaultCopyGraphOptions); err != nil {
				t.Fatal(err)
			}
			if err := w.Tag(ctx, idx, "example.com/multi:v1"); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			r, err := archive.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			for _, c := range []struct {
				d    ocispec.Descriptor
				want bool
			}{{arm, true}, {idx, true}, {amd, false}} {
				if ok, _ := r.Exists(ctx, c.d); ok != c.want {
					t.Errorf("%s in the delta = %v, want %v", c.d.Digest, ok, c.want)
				}
			}
			var pre []digest.Digest
			for _, p := range r.Delta().Prerequisites {
				pre = append(pre, p.Digest)
			}
			if !slices.Contains(pre, amd.Digest) || slices.Contains(pre, arm.Digest) {
				t.Fatalf("prerequisites %v: want amd64's manifest, not arm64's", pre)
			}
		})
	}
}

// A hand-made archive whose root omits a digest its index does not list is
// refused by CheckGraph (spec 7.3.1 rule 3), before anything is written.
func TestCheckGraphRefusesOmittedNotListed(t *testing.T) {
	ctx := context.Background()
	mem, idx, amd, _ := sparseSource(t)
	var blobs [][]byte
	for _, d := range []ocispec.Descriptor{idx, amd} {
		b, _ := content.FetchAll(ctx, mem, d)
		blobs = append(blobs, b)
	}
	var m ocispec.Manifest
	json.Unmarshal(blobs[1], &m)
	for _, d := range append([]ocispec.Descriptor{m.Config}, m.Layers...) {
		b, _ := content.FetchAll(ctx, mem, d)
		blobs = append(blobs, b)
	}
	stranger := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("not listed"), Size: 10}
	dir := t.TempDir()
	if _, err := archivetest.HandMade(dir, blobs, format.Manifest{Roots: []format.Root{{Descriptor: idx, References: []string{"example.com/multi:v1"}, Omitted: []ocispec.Descriptor{stranger}}}}); err != nil {
		t.Fatal(err)
	}
	r, err := archive.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.CheckGraph(ctx); !errors.Is(err, format.ErrMalformed) {
		t.Fatalf("CheckGraph = %v, want ErrMalformed for an omitted digest the index does not list", err)
	}
}

// A receipt holds an index without a child only while every push of the
// index left that child out; the record survives a write and a load.
func TestReceiptAddOmitted(t *testing.T) {
	idx, arm, s390 := digest.FromString("index"), digest.FromString("arm64"), digest.FromString("s390x")
	for _, tt := range []struct {
		name   string
		pushes [][]digest.Digest
		want   []digest.Digest
	}{
		{"one sparse push", [][]digest.Digest{{arm, s390}}, []digest.Digest{arm, s390}},
		{"two sparse pushes", [][]digest.Digest{{arm, s390}, {s390}}, []digest.Digest{s390}},
		{"a whole push after a sparse one", [][]digest.Digest{{arm}, nil}, nil},
		{"a sparse push after a whole one", [][]digest.Digest{nil, {arm}}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := &archive.Receipt{Destination: "registry.example/m"}
			for _, o := range tt.pushes {
				rec.Add(idx, 10, ocispec.MediaTypeImageIndex, "app", o...)
			}
			path := filepath.Join(t.TempDir(), "r.json")
			if _, err := archive.WriteReceipt(path, rec); err != nil {
				t.Fatal(err)
			}
			got, _, err := archive.LoadReceipt(path)
			if err != nil {
				t.Fatal(err)
			}
			want := slices.Clone(tt.want)
			slices.Sort(want)
			if len(got.Content) != 1 || !slices.Equal(got.Content[0].Omitted, want) {
				t.Fatalf("content %+v, want the index omitting %v", got.Content, want)
			}
		})
	}
}
