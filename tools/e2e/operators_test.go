package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"github.com/enclave-mirror/enclave/archive"
	"github.com/enclave-mirror/enclave/archive/archivetest"
	"github.com/enclave-mirror/enclave/catalog"
	"github.com/enclave-mirror/enclave/catalog/catalogtest"
	"github.com/enclave-mirror/enclave/imageset"
	"github.com/enclave-mirror/enclave/internal/testing/regserver"
)

// TestOperatorsPackUnpack runs the tools on an operator catalog: a catalog
// of two packages whose bundles and operator images are real images in the
// source registry; the configuration selects one package; the enclave gets
// the filtered catalog at the catalog's tag, the original beside it, the
// selected bundle and operator images, and a CatalogSource and
// ClusterCatalog pointing at the filtered catalog by digest.
func TestOperatorsPackUnpack(t *testing.T) {
	ctx := context.Background()
	src := regserver.New(t, regserver.Options{})
	dst := regserver.New(t, regserver.Options{})
	demo := pushDemoCatalog(t, src.Host, 11)
	a2d, opd, b1d, orig := demo.a2d, demo.opd, demo.b1d, demo.orig
	isc := filepath.Join(t.TempDir(), "isc.yaml")
	os.WriteFile(isc, []byte("kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  operators:\n  - catalog: "+src.Host+"/redhat/demo-index:v4.18\n    packages:\n    - name: alpha\n"), 0o644)
	work := t.TempDir()
	dir := filepath.Join(work, "content")
	mustCode(t, pack(t, "-c", isc, "--src-tls-verify=false", "file://"+dir), 0)
	crd := filepath.Join(work, "cluster-resources")
	mustCode(t, unpack(t, "--from", "file://"+dir, "--dest-tls-verify=false", "--receipt", filepath.Join(work, "r.json"), "--cluster-resources", crd, "docker://"+dst.Host+"/mirror"), 0)

	mr := repo(t, dst.Host, "mirror/redhat/demo-index")
	filtered, err := mr.Resolve(ctx, "v4.18")
	if err != nil {
		t.Fatal(err)
	}
	if filtered.Digest == orig.Digest {
		t.Fatal("the catalog tag holds the original catalog, want the filtered one")
	}
	if got, err := mr.Resolve(ctx, imageset.DigestTag(orig.Digest)); err != nil || got.Digest != orig.Digest {
		t.Errorf("original catalog beside it: %v %v", got.Digest, err)
	}
	c, err := catalog.Load(ctx, mr, filtered)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.PackageNames(); !slices.Equal(got, []string{"alpha"}) {
		t.Errorf("filtered catalog holds %v, want [alpha]", got)
	}
	for name, d := range map[string]ocispec.Descriptor{"mirror/demo/alpha-bundle": a2d, "mirror/demo/alpha-operator": opd} {
		if got, err := repo(t, dst.Host, name).Resolve(ctx, imageset.DigestTag(d.Digest)); err != nil || got.Digest != d.Digest {
			t.Errorf("%s: %v %v, want %s", name, got.Digest, err, d.Digest)
		}
	}
	if _, err := repo(t, dst.Host, "mirror/demo/beta-bundle").Resolve(ctx, imageset.DigestTag(b1d.Digest)); err == nil {
		t.Error("a bundle of a package not selected was mirrored")
	}
	css, _ := filepath.Glob(filepath.Join(crd, "catalogsource_openshift-marketplace_*.yaml"))
	ccs, _ := filepath.Glob(filepath.Join(crd, "clustercatalog_*.yaml"))
	if len(css) != 1 || len(ccs) != 1 {
		t.Fatalf("CatalogSource files %v, ClusterCatalog files %v", css, ccs)
	}
	b, _ := os.ReadFile(css[0])
	if !strings.Contains(string(b), "image: "+dst.Host+"/mirror/redhat/demo-index@"+filtered.Digest.String()) || !strings.Contains(string(b), "sourceType: grpc") {
		t.Errorf("CatalogSource:\n%s", b)
	}
	idms, _ := filepath.Glob(filepath.Join(crd, "imagedigestmirrorset_*-operators.yaml"))
	if len(idms) != 1 {
		t.Fatalf("operator IDMS files %v", idms)
	}
	b, _ = os.ReadFile(idms[0])
	if !strings.Contains(string(b), src.Host+"/demo/alpha-bundle") || strings.Contains(string(b), "demo-index") {
		t.Errorf("IDMS must list bundles and related images, not catalogs:\n%s", b)
	}

	// The enclave hop: the source is gone; the same configuration packs
	// from the enterprise mirror through registries.conf, names kept, and
	// the enclave gets the same catalog, bundle and operator images.
	src.Close()
	conf := filepath.Join(work, "registries.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf("[[registry]]\nprefix = %q\nlocation = %q\n[[registry.mirror]]\nlocation = %q\ninsecure = true\n", src.Host, src.Host, dst.Host+"/mirror")), 0o644)
	enclave := regserver.New(t, regserver.Options{})
	dir2 := filepath.Join(work, "enclave-content")
	mustCode(t, pack(t, "-c", isc, "--registries-conf", conf, "file://"+dir2), 0)
	if r := unpack(t, "inspect", "file://"+dir2); !strings.Contains(r.stdout, src.Host+"/redhat/demo-index") {
		t.Errorf("the enclave archive does not keep the catalog's original name:\n%s", r.stdout)
	}
	crd2 := filepath.Join(work, "cluster-resources-enclave")
	mustCode(t, unpack(t, "--from", "file://"+dir2, "--dest-tls-verify=false", "--receipt", filepath.Join(work, "r2.json"), "--cluster-resources", crd2, "docker://"+enclave.Host+"/e"), 0)
	ef, err := repo(t, enclave.Host, "e/redhat/demo-index").Resolve(ctx, "v4.18")
	if err != nil {
		t.Fatal(err)
	}
	ec, err := catalog.Load(ctx, repo(t, enclave.Host, "e/redhat/demo-index"), ef)
	if err != nil {
		t.Fatal(err)
	}
	if got := ec.PackageNames(); !slices.Equal(got, []string{"alpha"}) {
		t.Errorf("the enclave's catalog holds %v, want [alpha]", got)
	}
	for name, d := range map[string]ocispec.Descriptor{"e/demo/alpha-bundle": a2d, "e/demo/alpha-operator": opd} {
		if got, err := repo(t, enclave.Host, name).Resolve(ctx, imageset.DigestTag(d.Digest)); err != nil || got.Digest != d.Digest {
			t.Errorf("enclave %s: %v %v, want %s", name, got.Digest, err, d.Digest)
		}
	}
	css2, _ := filepath.Glob(filepath.Join(crd2, "catalogsource_openshift-marketplace_*.yaml"))
	if len(css2) != 1 {
		t.Fatalf("enclave CatalogSource files %v", css2)
	}
}

// TestOperatorsDelta: the catalog's tag moves to a version with one more
// bundle; the pack cut against the receipt of the first unpack carries the
// new bundle's blobs and not the old one's, and its unpack offers both.
func TestOperatorsDelta(t *testing.T) {
	ctx := context.Background()
	src := regserver.New(t, regserver.Options{})
	dst := regserver.New(t, regserver.Options{})
	img := func(name string, seed uint64) (ocispec.Descriptor, string) {
		d, err := archivetest.Image(ctx, repo(t, src.Host, name), "amd64", archivetest.Blob(seed, 5000, false))
		if err != nil {
			t.Fatal(err)
		}
		return d, src.Host + "/" + name + "@" + d.Digest.String()
	}
	layerOf := func(d ocispec.Descriptor, name string) digest.Digest {
		b, err := content.FetchAll(ctx, repo(t, src.Host, name), d)
		if err != nil {
			t.Fatal(err)
		}
		var m ocispec.Manifest
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return m.Layers[0].Digest
	}
	a1d, a1 := img("demo/alpha-bundle", 41)
	a2d, a2 := img("demo/alpha-bundle", 42)
	cr := repo(t, src.Host, "redhat/demo-index")
	publish := func(files map[string][]byte) ocispec.Descriptor {
		d, err := catalogtest.Image(ctx, cr, "amd64", files)
		if err != nil {
			t.Fatal(err)
		}
		if err := cr.Tag(ctx, d, "v4.18"); err != nil {
			t.Fatal(err)
		}
		return d
	}
	publish(map[string][]byte{"alpha/catalog.json": []byte(catalogtest.Package("alpha", "stable", "alpha.v1") + "\n" + catalogtest.Bundle("alpha", "alpha.v1", "1.0.0", a1))})
	isc := filepath.Join(t.TempDir(), "isc.yaml")
	os.WriteFile(isc, []byte("kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  operators:\n  - catalog: "+src.Host+"/redhat/demo-index:v4.18\n    full: true\n    packages:\n    - name: alpha\n"), 0o644)
	work := t.TempDir()
	rec := filepath.Join(work, "receipt.json")
	dest := "docker://" + dst.Host + "/mirror"
	a := filepath.Join(work, "a")
	mustCode(t, pack(t, "-c", isc, "--src-tls-verify=false", "file://"+a), 0)
	mustCode(t, unpack(t, "--from", "file://"+a, "--dest-tls-verify=false", "--receipt", rec, "--cluster-resources", filepath.Join(work, "cr"), dest), 0)

	publish(map[string][]byte{"alpha/catalog.json": []byte(catalogtest.Package("alpha", "stable", "alpha.v1", "alpha.v2") + "\n" +
		catalogtest.Bundle("alpha", "alpha.v1", "1.0.0", a1) + "\n" + catalogtest.Bundle("alpha", "alpha.v2", "2.0.0", a2))})
	b := filepath.Join(work, "b")
	mustCode(t, pack(t, "-c", isc, "--src-tls-verify=false", "--base", rec, "file://"+b), 0)
	rb, err := archive.Open(b)
	if err != nil {
		t.Fatal(err)
	}
	_, hasOld := rb.Format().Lookup(layerOf(a1d, "demo/alpha-bundle"))
	_, hasNew := rb.Format().Lookup(layerOf(a2d, "demo/alpha-bundle"))
	rb.Close()
	if hasOld || !hasNew {
		t.Fatalf("delta archive: old bundle's layer inside %v (want false), new bundle's %v (want true)", hasOld, hasNew)
	}
	mustCode(t, unpack(t, "--from", "file://"+b, "--dest-tls-verify=false", "--receipt", rec, "--cluster-resources", filepath.Join(work, "cr2"), dest), 0)
	mr := repo(t, dst.Host, "mirror/redhat/demo-index")
	filtered, err := mr.Resolve(ctx, "v4.18")
	if err != nil {
		t.Fatal(err)
	}
	c, err := catalog.Load(ctx, mr, filtered)
	if err != nil {
		t.Fatal(err)
	}
	if p := c.Package("alpha"); p == nil || p.Bundle("alpha.v1") == nil || p.Bundle("alpha.v2") == nil {
		t.Fatalf("catalog after the delta: %+v, want alpha.v1 and alpha.v2", p)
	}
	if got, err := repo(t, dst.Host, "mirror/demo/alpha-bundle").Resolve(ctx, imageset.DigestTag(a2d.Digest)); err != nil || got.Digest != a2d.Digest {
		t.Errorf("new bundle: %v %v", got.Digest, err)
	}
}

// demoCatalog is a catalog of two packages pushed to a source registry as
// redhat/demo-index:v4.18: alpha (alpha.v1 with its bundle; alpha.v2 with
// its bundle and an operator image) and beta (beta.v1), every image a real
// one in the same registry, named by digest.
type demoCatalog struct {
	a2d, opd, b1d, orig ocispec.Descriptor
}

// pushDemoCatalog pushes the demo catalog and its images to host, the
// images' content drawn from seed, seed+1, ... (tests that share a registry
// get different digests).
func pushDemoCatalog(t *testing.T, host string, seed uint64) demoCatalog {
	t.Helper()
	ctx := context.Background()
	img := func(name string, seed uint64) (ocispec.Descriptor, string) {
		d, err := archivetest.Image(ctx, repo(t, host, name), "amd64", archivetest.Blob(seed, 3000, false))
		if err != nil {
			t.Fatal(err)
		}
		return d, host + "/" + name + "@" + d.Digest.String()
	}
	var c demoCatalog
	_, a1 := img("demo/alpha-bundle", seed)
	var a2, op, b1 string
	c.a2d, a2 = img("demo/alpha-bundle", seed+1)
	c.opd, op = img("demo/alpha-operator", seed+2)
	c.b1d, b1 = img("demo/beta-bundle", seed+3)
	files := map[string][]byte{
		"alpha/catalog.json": []byte(catalogtest.Package("alpha", "stable", "alpha.v1", "alpha.v2") + "\n" +
			catalogtest.Bundle("alpha", "alpha.v1", "1.0.0", a1) + "\n" + catalogtest.Bundle("alpha", "alpha.v2", "2.0.0", a2, op)),
		"beta/catalog.json": []byte(catalogtest.Package("beta", "stable", "beta.v1") + "\n" + catalogtest.Bundle("beta", "beta.v1", "1.0.0", b1)),
	}
	cr := repo(t, host, "redhat/demo-index")
	var err error
	if c.orig, err = catalogtest.Image(ctx, cr, "amd64", files); err != nil {
		t.Fatal(err)
	}
	if err := cr.Tag(ctx, c.orig, "v4.18"); err != nil {
		t.Fatal(err)
	}
	return c
}
