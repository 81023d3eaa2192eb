package operators

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"

	"github.com/enclave-mirror/enclave/catalog"
	"github.com/enclave-mirror/enclave/catalog/catalogtest"
	"github.com/enclave-mirror/enclave/imageset"
)

// TestOverlayKeepsOnlyNewBlobs: the filtered catalog built into an overlay
// holds in memory its new layer, config and manifest and none of the
// original's layers, which a copy reads from where the original is; the
// image copied is the one Rebuild gives into a plain store, digest for
// digest.
func TestOverlayKeepsOnlyNewBlobs(t *testing.T) {
	ctx := context.Background()
	src := memory.New()
	files := map[string][]byte{
		"alpha/catalog.json": []byte(catalogtest.Package("alpha", "stable", "alpha.v1") + "\n" +
			catalogtest.Bundle("alpha", "alpha.v1", "1.0.0", "quay.example/alpha/bundle@sha256:0000000000000000000000000000000000000000000000000000000000000001")),
		"beta/catalog.json": []byte(catalogtest.Package("beta", "stable", "beta.v1") + "\n" +
			catalogtest.Bundle("beta", "beta.v1", "1.0.0", "quay.example/beta/bundle@sha256:0000000000000000000000000000000000000000000000000000000000000002")),
	}
	orig, err := catalogtest.Image(ctx, src, "amd64", files)
	if err != nil {
		t.Fatal(err)
	}
	c, err := catalog.Load(ctx, src, orig)
	if err != nil {
		t.Fatal(err)
	}
	sel, err := catalog.Filter(c, imageset.Operator{Packages: []imageset.OperatorPackage{{Name: "alpha"}}})
	if err != nil {
		t.Fatal(err)
	}
	o := newOverlay(src)
	fd, err := sel.Rebuild(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	plain := memory.New()
	want, err := sel.Rebuild(ctx, plain)
	if err != nil {
		t.Fatal(err)
	}
	if fd.Digest != want.Digest {
		t.Fatalf("built in the overlay: %s, in a plain store: %s", fd.Digest, want.Digest)
	}
	var om, fm ocispec.Manifest
	for _, x := range []struct {
		from content.Fetcher
		d    ocispec.Descriptor
		m    *ocispec.Manifest
	}{{src, orig, &om}, {plain, fd, &fm}} {
		b, err := content.FetchAll(ctx, x.from, x.d)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, x.m); err != nil {
			t.Fatal(err)
		}
	}
	if len(fm.Layers) != len(om.Layers)+1 {
		t.Fatalf("filtered image has %d layers, original %d", len(fm.Layers), len(om.Layers))
	}
	for _, l := range om.Layers {
		if ok, _ := o.Store.Exists(ctx, l); ok {
			t.Errorf("the overlay holds the original layer %s in memory", l.Digest)
		}
	}
	for _, d := range []ocispec.Descriptor{fd, fm.Config, fm.Layers[len(fm.Layers)-1]} {
		if ok, _ := o.Store.Exists(ctx, d); !ok {
			t.Errorf("the overlay lacks the new blob %s (%s)", d.Digest, d.MediaType)
		}
	}
	// A copy from the overlay is the whole image.
	dst := memory.New()
	if err := oras.CopyGraph(ctx, o, dst, fd, oras.DefaultCopyGraphOptions); err != nil {
		t.Fatal(err)
	}
	for _, l := range fm.Layers {
		if ok, _ := dst.Exists(ctx, l); !ok {
			t.Errorf("copy lacks layer %s", l.Digest)
		}
	}
	fc, err := catalog.Load(ctx, dst, fd)
	if err != nil {
		t.Fatal(err)
	}
	if got := fc.PackageNames(); !slices.Equal(got, []string{"alpha"}) {
		t.Errorf("filtered catalog copied holds %v, want [alpha]", got)
	}
}
