package corpus

import (
	"context"
	"errors"
	"io"
	"reflect"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content/memory"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/enclave-mirror/enclave/internal/testing/regserver"
)

// tiny is a corpus small enough for every test run, race detector on.
var tiny = Options{Seed: 7, Scale: 0.0005, Images: 8, Release: 1}

func memoryTarget() func(string) (oras.Target, error) {
	s := memory.New()
	return func(string) (oras.Target, error) { return s, nil }
}

func generate(t *testing.T, target func(string) (oras.Target, error), o Options) *Manifest {
	t.Helper()
	m, err := Generate(context.Background(), target, o)
	if err != nil {
		t.Fatalf("Generate(release %d): %v", o.Release, err)
	}
	return m
}

func TestDeterministic(t *testing.T) {
	a := generate(t, memoryTarget(), tiny)
	o := tiny
	o.Concurrency = 1 // a different schedule must not matter
	b := generate(t, memoryTarget(), o)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("two runs with seed %d differ:\n%+v\n%+v", tiny.Seed, a.Images, b.Images)
	}
	o.Seed++
	c := generate(t, memoryTarget(), o)
	if a.Images[0].Digest == c.Images[0].Digest {
		t.Errorf("seeds %d and %d give the same image %s", tiny.Seed, o.Seed, a.Images[0].Digest)
	}
}

func TestShape(t *testing.T) {
	m := generate(t, memoryTarget(), tiny)
	if len(m.Images) != tiny.Images {
		t.Fatalf("%d images, want %d", len(m.Images), tiny.Images)
	}
	count := map[string]int{}
	for _, b := range m.Blobs {
		count[b.MediaType]++
	}
	for _, mt := range []string{ocispec.MediaTypeImageLayerGzip, ocispec.MediaTypeImageLayer, ocispec.MediaTypeImageIndex, ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageConfig, signatureMediaType} {
		if count[mt] == 0 {
			t.Errorf("no blob of media type %s (have %v)", mt, count)
		}
	}
	// The first base layer is shared by most images.
	uses := map[digest.Digest]int{}
	for _, im := range m.Images {
		for _, d := range im.Blobs {
			uses[d]++
		}
	}
	most := 0
	for _, n := range uses {
		most = max(most, n)
	}
	if most < len(m.Images)*3/4 {
		t.Errorf("most shared blob is in %d of %d images", most, len(m.Images))
	}
}

func layerSet(m *Manifest) map[digest.Digest]bool {
	set := map[digest.Digest]bool{}
	for _, b := range m.Blobs {
		if b.MediaType == ocispec.MediaTypeImageLayerGzip || b.MediaType == ocispec.MediaTypeImageLayer {
			set[b.Digest] = true
		}
	}
	return set
}

func TestRelease2(t *testing.T) {
	o := tiny
	o.Images = 24
	o.Cache = &Cache{}
	target := memoryTarget()
	v1 := generate(t, target, o)
	o.Release = 2
	v2 := generate(t, target, o)
	o.Cache = nil
	if fresh := generate(t, memoryTarget(), o); !reflect.DeepEqual(v2, fresh) {
		t.Fatal("release 2 generated with a warm cache differs from a fresh one")
	}
	if want := o.Images + o.Images/12; len(v2.Images) != want {
		t.Errorf("release 2 has %d images, want %d", len(v2.Images), want)
	}
	l1, l2 := layerSet(v1), layerSet(v2)
	shared := 0
	for d := range l2 {
		if l1[d] {
			shared++
		}
	}
	share := float64(shared) / float64(len(l2))
	t.Logf("release 2: %d layers, %.0f%% shared with release 1; %d of %d bytes new", len(l2), 100*share, v2.NewBytes(v1), v2.UniqueBytes())
	if share < 0.8 || share > 0.95 {
		t.Errorf("release 2 shares %.2f of its layers with release 1, want about 0.9", share)
	}
	if n := v2.NewBytes(v1); n <= 0 || n > v2.UniqueBytes()/3 {
		t.Errorf("release 2 has %d new bytes of %d", n, v2.UniqueBytes())
	}
	// Unchanged images keep their digests; v2 tags point at them.
	same := 0
	for i := range v1.Images {
		if v1.Images[i].Digest == v2.Images[i].Digest {
			same++
		}
	}
	if same == 0 || same == len(v1.Images) {
		t.Errorf("%d of %d images unchanged in release 2", same, len(v1.Images))
	}
}

// TestRegistry pushes a release with the big layer into a real registry and
// fetches every blob back by digest.
func TestRegistry(t *testing.T) {
	reg := regserver.New(t, regserver.Options{})
	repos := map[string]*remote.Repository{}
	target := func(repo string) (oras.Target, error) {
		r, err := remote.NewRepository(reg.Host + "/" + repo)
		if err != nil {
			return nil, err
		}
		r.PlainHTTP = true
		repos[repo] = r
		return r, nil
	}
	o := tiny
	o.BigLayer, o.BigLayerSize = true, 300<<10
	m := generate(t, target, o)
	ctx := context.Background()
	for _, b := range m.Blobs {
		r := repos[b.Repository]
		desc := ocispec.Descriptor{MediaType: b.MediaType, Digest: b.Digest, Size: b.Size}
		rc, err := r.Fetch(ctx, desc)
		if err != nil {
			t.Fatalf("fetch %s from %s: %v", b.Digest, b.Repository, err)
		}
		got, err := digest.SHA256.FromReader(rc)
		rc.Close()
		if err != nil || got != b.Digest {
			t.Fatalf("blob %s from %s reads as %s, %v", b.Digest, b.Repository, got, err)
		}
	}
	var big bool
	for _, im := range m.Images {
		r := repos[im.Repository]
		desc, err := r.Resolve(ctx, im.Tag)
		if err != nil || desc.Digest != im.Digest {
			t.Fatalf("%s:%s resolves to %s, %v; want %s", im.Repository, im.Tag, desc.Digest, err, im.Digest)
		}
		// Every blob of the image is in its repository.
		for _, d := range im.Blobs {
			b, _ := m.Blob(d)
			if ok, err := r.Exists(ctx, ocispec.Descriptor{MediaType: b.MediaType, Digest: d, Size: b.Size}); !ok {
				t.Fatalf("%s lacks %s (%s): %v", im.Repository, d, b.MediaType, err)
			}
		}
		var refs []digest.Digest
		if err := r.Referrers(ctx, desc, SignatureArtifactType, func(rs []ocispec.Descriptor) error {
			for _, d := range rs {
				refs = append(refs, d.Digest)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(refs, im.Referrers) {
			t.Errorf("%s: referrers %v, want %v", im.Repository, refs, im.Referrers)
		}
		big = big || im.BigLayer
	}
	if !big {
		t.Error("no image with the big layer")
	}
	if want := generate(t, memoryTarget(), o); !reflect.DeepEqual(m, want) {
		t.Error("the release pushed to a registry differs from the one pushed to memory")
	}
}

// recorder records the readers layers are pushed from.
type recorder struct {
	oras.Target
	mu      sync.Mutex
	readers map[digest.Digest]io.Reader
}

func (r *recorder) Push(ctx context.Context, desc ocispec.Descriptor, rd io.Reader) error {
	r.mu.Lock()
	r.readers[desc.Digest] = rd
	r.mu.Unlock()
	return r.Target.Push(ctx, desc, rd)
}

// TestBigLayerStreams checks that the big layer is never held in memory:
// it is pushed from a pipe, and its digest still matches.
func TestBigLayerStreams(t *testing.T) {
	rec := &recorder{Target: memory.New(), readers: map[digest.Digest]io.Reader{}}
	o := tiny
	o.BigLayer, o.BigLayerSize = true, 1<<20
	m := generate(t, func(string) (oras.Target, error) { return rec, nil }, o)
	var found bool
	for _, b := range m.Blobs {
		if b.Size < o.BigLayerSize || b.MediaType != ocispec.MediaTypeImageLayerGzip {
			continue
		}
		found = true
		if _, ok := rec.readers[b.Digest].(*io.PipeReader); !ok {
			t.Errorf("big layer pushed from a %T, want a stream", rec.readers[b.Digest])
		}
		rc, err := rec.Target.Fetch(context.Background(), ocispec.Descriptor{MediaType: b.MediaType, Digest: b.Digest, Size: b.Size})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := digest.SHA256.FromReader(rc)
		rc.Close()
		if got != b.Digest {
			t.Errorf("big layer is %s, want %s", got, b.Digest)
		}
	}
	if !found {
		t.Fatalf("no layer of at least %d bytes", o.BigLayerSize)
	}
}

// TestCompressionRatio checks that layers compress like real ones.
func TestCompressionRatio(t *testing.T) {
	if testing.Short() {
		t.Skip("generates 8 MB")
	}
	g := &generator{o: Options{Seed: 1}, d: newDict(1)}
	for _, tc := range []struct {
		name   string
		mix    mix
		lo, hi float64
	}{
		{"os", mixOS, 0.3, 0.55},
		{"binary", mixBinary, 0.3, 0.55},
		{"script", mixScript, 0.25, 0.5},
		{"big", mixBig, 0.99, 1.01},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := &layerSpec{id: tc.name, mix: tc.mix, size: 2 << 20, gzip: true}
			ld, err := g.writeLayer(context.Background(), io.Discard, l)
			if err != nil {
				t.Fatal(err)
			}
			plain := *l
			plain.gzip = false
			tar, err := g.writeLayer(context.Background(), io.Discard, &plain)
			if err != nil {
				t.Fatal(err)
			}
			if tar.desc.Digest != ld.diffID {
				t.Errorf("diff ID %s, uncompressed layer %s", ld.diffID, tar.desc.Digest)
			}
			ratio := float64(ld.desc.Size) / float64(tar.desc.Size)
			t.Logf("%s: %d -> %d bytes, ratio %.2f", tc.name, tar.desc.Size, ld.desc.Size, ratio)
			if ratio < tc.lo || ratio > tc.hi {
				t.Errorf("gzip ratio %.2f, want %.2f to %.2f", ratio, tc.lo, tc.hi)
			}
		})
	}
}

func TestInvalidOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
	}{
		{"release 0", Options{}},
		{"release 3", Options{Release: 3}},
		{"too few images", Options{Release: 1, Images: 3}},
		{"negative scale", Options{Release: 1, Scale: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Generate(context.Background(), memoryTarget(), tc.o)
			if !errors.Is(err, ErrInvalidOptions) {
				t.Errorf("err = %v, want ErrInvalidOptions", err)
			}
		})
	}
}
