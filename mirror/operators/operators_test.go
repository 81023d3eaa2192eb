package operators_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/enclave-mirror/enclave/archive"
	"github.com/enclave-mirror/enclave/archive/archivetest"
	"github.com/enclave-mirror/enclave/catalog"
	"github.com/enclave-mirror/enclave/catalog/catalogtest"
	"github.com/enclave-mirror/enclave/imageset"
	"github.com/enclave-mirror/enclave/internal/testing/regserver"
	"github.com/enclave-mirror/enclave/mirror"
	"github.com/enclave-mirror/enclave/mirror/additional"
	"github.com/enclave-mirror/enclave/mirror/operators"
	"github.com/enclave-mirror/enclave/mirror/section"
	"github.com/enclave-mirror/enclave/ocistore"
)

func repo(t *testing.T, host, name string) *remote.Repository {
	t.Helper()
	r, err := remote.NewRepository(host + "/" + name)
	if err != nil {
		t.Fatal(err)
	}
	r.PlainHTTP = true
	return r
}

func image(t *testing.T, host, name string, seed uint64) ocispec.Descriptor {
	t.Helper()
	d, err := archivetest.Image(context.Background(), repo(t, host, name), "amd64", archivetest.Blob(seed, 2000, false))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestPackUnpack: a catalog of two packages in a source registry, with
// real bundle and operator images; packed with one package selected,
// unpacked to another registry: the filtered catalog at the catalog's tag
// holds only the selection, the original sits beside it, the selected
// bundles and operator images are placed, the others are not carried, and
// a CatalogSource and ClusterCatalog point at the filtered catalog.
func TestPackUnpack(t *testing.T) {
	ctx := context.Background()
	src := regserver.New(t, regserver.Options{})
	dst := regserver.New(t, regserver.Options{})
	ref := func(name string, d ocispec.Descriptor) string { return src.Host + "/" + name + "@" + d.Digest.String() }
	a1, a2 := image(t, src.Host, "demo/alpha-bundle", 1), image(t, src.Host, "demo/alpha-bundle", 2)
	op2 := image(t, src.Host, "demo/alpha-operator", 3)
	b1 := image(t, src.Host, "demo/beta-bundle", 4)
	files := map[string][]byte{
		"alpha/catalog.json": []byte(catalogtest.Package("alpha", "stable", "alpha.v1", "alpha.v2") + "\n" +
			catalogtest.Bundle("alpha", "alpha.v1", "1.0.0", ref("demo/alpha-bundle", a1)) + "\n" +
			catalogtest.Bundle("alpha", "alpha.v2", "2.0.0", ref("demo/alpha-bundle", a2), ref("demo/alpha-operator", op2))),
		"beta/catalog.json": []byte(catalogtest.Package("beta", "stable", "beta.v1") + "\n" +
			catalogtest.Bundle("beta", "beta.v1", "1.0.0", ref("demo/beta-bundle", b1))),
	}
	cr := repo(t, src.Host, "redhat/demo-index")
	orig, err := catalogtest.Image(ctx, cr, "amd64", files)
	if err != nil {
		t.Fatal(err)
	}
	if err := cr.Tag(ctx, orig, "v4.18"); err != nil {
		t.Fatal(err)
	}
	cfg, err := imageset.Load(strings.NewReader("kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  operators:\n  - catalog: "+src.Host+"/redhat/demo-index:v4.18\n    packages:\n    - name: alpha\n"), "isc.yaml")
	if err != nil {
		t.Fatal(err)
	}
	kinds := []section.Kind{operators.New(), additional.New()}
	dir := filepath.Join(t.TempDir(), "archive")
	res, err := mirror.Pack(ctx, mirror.PackOptions{Config: cfg, Archive: dir, Source: ocistore.Options{SkipTLSVerify: true}, Kinds: kinds})
	if err != nil {
		t.Fatal(err)
	}
	var packed []digest.Digest
	for _, img := range res.Images {
		packed = append(packed, img.Digest)
	}
	// Heads only: alpha.v2 and its operator image; not alpha.v1, not beta.
	for _, d := range []digest.Digest{orig.Digest, a2.Digest, op2.Digest} {
		if !slices.Contains(packed, d) {
			t.Errorf("%s not packed (packed %v)", d, packed)
		}
	}
	for _, d := range []digest.Digest{a1.Digest, b1.Digest} {
		if slices.Contains(packed, d) {
			t.Errorf("%s packed although not selected", d)
		}
	}
	r, err := archive.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()

	crDir := filepath.Join(t.TempDir(), "cluster-resources")
	ures, err := mirror.Unpack(ctx, mirror.UnpackOptions{Archive: dir, Registry: dst.Host + "/m", Dest: ocistore.Options{SkipTLSVerify: true}, Kinds: kinds,
		ClusterResources: crDir, Receipt: filepath.Join(t.TempDir(), "r.json")})
	if err != nil {
		t.Fatal(err)
	}
	mr := repo(t, dst.Host, "m/redhat/demo-index")
	filtered, err := mr.Resolve(ctx, "v4.18")
	if err != nil {
		t.Fatal(err)
	}
	if filtered.Digest == orig.Digest {
		t.Fatal("the catalog's tag holds the original catalog, want the filtered one")
	}
	if got, err := mr.Resolve(ctx, imageset.DigestTag(orig.Digest)); err != nil || got.Digest != orig.Digest {
		t.Errorf("original catalog: %v %v", got.Digest, err)
	}
	c, err := catalog.Load(ctx, mr, filtered)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.PackageNames(); !slices.Equal(got, []string{"alpha"}) {
		t.Errorf("filtered catalog holds %v, want [alpha]", got)
	}
	for name, d := range map[string]ocispec.Descriptor{"m/demo/alpha-bundle": a2, "m/demo/alpha-operator": op2} {
		if got, err := repo(t, dst.Host, name).Resolve(ctx, imageset.DigestTag(d.Digest)); err != nil || got.Digest != d.Digest {
			t.Errorf("%s: %v %v, want %s", name, got.Digest, err, d.Digest)
		}
	}
	var names []string
	for _, p := range ures.ClusterResources {
		names = append(names, filepath.Base(p))
	}
	var cs string
	for _, n := range names {
		if strings.HasPrefix(n, "catalogsource_openshift-marketplace_") {
			b, _ := os.ReadFile(filepath.Join(crDir, n))
			cs = string(b)
		}
	}
	if !strings.Contains(cs, "image: "+dst.Host+"/m/redhat/demo-index@"+filtered.Digest.String()) {
		t.Errorf("CatalogSource does not point at the filtered catalog by digest:\n%s\n(files %v)", cs, names)
	}
	if !slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, "clustercatalog_") }) {
		t.Errorf("no ClusterCatalog among %v", names)
	}

	// With OriginalCatalogSource, the same archive unpacked elsewhere points
	// the cluster at the original catalog as published, by digest.
	dst2 := regserver.New(t, regserver.Options{})
	crDir2 := filepath.Join(t.TempDir(), "cluster-resources")
	okinds := []section.Kind{operators.NewWithOptions(operators.Options{OriginalCatalogSource: true}), additional.New()}
	ures2, err := mirror.Unpack(ctx, mirror.UnpackOptions{Archive: dir, Registry: dst2.Host + "/m", Dest: ocistore.Options{SkipTLSVerify: true}, Kinds: okinds,
		ClusterResources: crDir2, Receipt: filepath.Join(t.TempDir(), "r.json")})
	if err != nil {
		t.Fatal(err)
	}
	var cs2, cc2 string
	for _, p := range ures2.ClusterResources {
		b, _ := os.ReadFile(p)
		switch n := filepath.Base(p); {
		case strings.HasPrefix(n, "catalogsource_"):
			cs2 = string(b)
		case strings.HasPrefix(n, "clustercatalog_"):
			cc2 = string(b)
		}
	}
	want := dst2.Host + "/m/redhat/demo-index@" + orig.Digest.String()
	if !strings.Contains(cs2, "image: "+want) || !strings.Contains(cc2, want) {
		t.Errorf("with OriginalCatalogSource, CatalogSource and ClusterCatalog do not point at the original %s:\n%s\n%s", want, cs2, cc2)
	}
}

// TestUnpackSubset: packed with two packages, unpacked with -c naming one:
// the filtered catalog pushed holds that package only (built at unpack
// from the original the archive carries), the other package's images are
// not pushed, and the CatalogSource points at the catalog built.
func TestUnpackSubset(t *testing.T) {
	ctx := context.Background()
	src := regserver.New(t, regserver.Options{})
	dst := regserver.New(t, regserver.Options{})
	ref := func(name string, d ocispec.Descriptor) string { return src.Host + "/" + name + "@" + d.Digest.String() }
	a := image(t, src.Host, "demo/alpha-bundle", 21)
	b := image(t, src.Host, "demo/beta-bundle", 22)
	files := map[string][]byte{
		"alpha/catalog.json": []byte(catalogtest.Package("alpha", "stable", "alpha.v1") + "\n" + catalogtest.Bundle("alpha", "alpha.v1", "1.0.0", ref("demo/alpha-bundle", a))),
		"beta/catalog.json":  []byte(catalogtest.Package("beta", "stable", "beta.v1") + "\n" + catalogtest.Bundle("beta", "beta.v1", "1.0.0", ref("demo/beta-bundle", b))),
	}
	cr := repo(t, src.Host, "redhat/demo-index")
	orig, err := catalogtest.Image(ctx, cr, "amd64", files)
	if err != nil {
		t.Fatal(err)
	}
	if err := cr.Tag(ctx, orig, "v4.18"); err != nil {
		t.Fatal(err)
	}
	isc := func(pkgs string) *imageset.Config {
		c, err := imageset.Load(strings.NewReader("kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  operators:\n  - catalog: "+src.Host+"/redhat/demo-index:v4.18\n    packages:\n"+pkgs), "isc.yaml")
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	kinds := []section.Kind{operators.New(), additional.New()}
	dir := filepath.Join(t.TempDir(), "archive")
	if _, err := mirror.Pack(ctx, mirror.PackOptions{Config: isc("    - name: alpha\n    - name: beta\n"), Archive: dir, Source: ocistore.Options{SkipTLSVerify: true}, Kinds: kinds}); err != nil {
		t.Fatal(err)
	}
	crDir := filepath.Join(t.TempDir(), "cr")
	if _, err := mirror.Unpack(ctx, mirror.UnpackOptions{Archive: dir, Registry: dst.Host + "/m", Dest: ocistore.Options{SkipTLSVerify: true}, Kinds: kinds,
		Config: isc("    - name: beta\n"), ClusterResources: crDir, Receipt: filepath.Join(t.TempDir(), "r.json")}); err != nil {
		t.Fatal(err)
	}
	mr := repo(t, dst.Host, "m/redhat/demo-index")
	filtered, err := mr.Resolve(ctx, "v4.18")
	if err != nil {
		t.Fatal(err)
	}
	c, err := catalog.Load(ctx, mr, filtered)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.PackageNames(); !slices.Equal(got, []string{"beta"}) {
		t.Errorf("catalog pushed holds %v, want the -c subset [beta]", got)
	}
	if _, err := repo(t, dst.Host, "m/demo/beta-bundle").Resolve(ctx, imageset.DigestTag(b.Digest)); err != nil {
		t.Errorf("beta bundle: %v", err)
	}
	if _, err := repo(t, dst.Host, "m/demo/alpha-bundle").Resolve(ctx, imageset.DigestTag(a.Digest)); err == nil {
		t.Error("alpha bundle pushed although -c leaves alpha out")
	}
	css, _ := filepath.Glob(filepath.Join(crDir, "catalogsource_*.yaml"))
	if len(css) != 1 {
		t.Fatalf("CatalogSources %v", css)
	}
	body, _ := os.ReadFile(css[0])
	if !strings.Contains(string(body), "@"+filtered.Digest.String()) {
		t.Errorf("CatalogSource does not point at the catalog built at unpack (%s):\n%s", filtered.Digest, body)
	}
}

// TestUnpackLeavesOutBrokenBundles: a related image that cannot be read at
// pack fails its image, not the run; the catalog pushed at unpack does not
// offer the bundle that needs it.
func TestUnpackLeavesOutBrokenBundles(t *testing.T) {
	ctx := context.Background()
	src := regserver.New(t, regserver.Options{})
	dst := regserver.New(t, regserver.Options{})
	a1, absent, cfg := brokenBundleCatalog(t, src.Host, 31)
	kinds := []section.Kind{operators.New(), additional.New()}
	dir := filepath.Join(t.TempDir(), "archive")
	var logs lockedLines
	_, err := mirror.Pack(ctx, mirror.PackOptions{Config: cfg, Archive: dir, Source: ocistore.Options{SkipTLSVerify: true}, Kinds: kinds, Progress: logObserver{&logs}})
	if err == nil || !strings.Contains(err.Error(), "1 of") {
		t.Fatalf("pack: %v, want one image failed", err)
	}
	if !slices.ContainsFunc(logs.lines, func(l string) bool {
		return strings.Contains(l, "bundle alpha.v2 is incomplete: its image "+absent+" could not be copied; unpack will not offer it")
	}) {
		t.Errorf("pack does not name the incomplete bundle: %q", logs.lines)
	}
	if _, err := mirror.Unpack(ctx, mirror.UnpackOptions{Archive: dir, Registry: dst.Host + "/m", Dest: ocistore.Options{SkipTLSVerify: true}, Kinds: kinds,
		ClusterResources: filepath.Join(t.TempDir(), "cr"), Receipt: filepath.Join(t.TempDir(), "r.json")}); err != nil {
		t.Fatal(err)
	}
	mr := repo(t, dst.Host, "m/redhat/demo-index")
	filtered, err := mr.Resolve(ctx, "v1")
	if err != nil {
		t.Fatal(err)
	}
	c, err := catalog.Load(ctx, mr, filtered)
	if err != nil {
		t.Fatal(err)
	}
	p := c.Package("alpha")
	if p == nil || p.Bundle("alpha.v2") != nil || p.Bundle("alpha.v1") == nil {
		t.Fatalf("catalog pushed offers %+v, want alpha.v1 only (alpha.v2 lacks %s)", p, absent)
	}
	if _, err := repo(t, dst.Host, "m/demo/alpha-bundle").Resolve(ctx, imageset.DigestTag(a1.Digest)); err != nil {
		t.Errorf("alpha.v1 bundle: %v", err)
	}
}

// TestMirrorToMirrorLeavesOutBrokenBundles: mirror to mirror, a related
// image that cannot be read fails its image, not the run; the catalog at
// the destination's tag, and the one the CatalogSource names by digest,
// no longer offers the bundle that needs it.
func TestMirrorToMirrorLeavesOutBrokenBundles(t *testing.T) {
	ctx := context.Background()
	src := regserver.New(t, regserver.Options{})
	dst := regserver.New(t, regserver.Options{})
	a1, absent, cfg := brokenBundleCatalog(t, src.Host, 51)
	crd := filepath.Join(t.TempDir(), "cr")
	var logs lockedLines
	res, err := mirror.Pack(ctx, mirror.PackOptions{Config: cfg, Registry: dst.Host + "/m", ClusterResources: crd,
		Source: ocistore.Options{SkipTLSVerify: true}, Dest: ocistore.Options{SkipTLSVerify: true},
		Kinds: []section.Kind{operators.New(), additional.New()}, Progress: logObserver{&logs}})
	if err == nil || !strings.Contains(err.Error(), "1 of") || !strings.Contains(err.Error(), absent) {
		t.Fatalf("pack: %v, want %s failed", err, absent)
	}
	if !slices.ContainsFunc(logs.lines, func(l string) bool {
		return strings.Contains(l, "bundle alpha.v2 is left out: its image "+absent+" could not be copied")
	}) {
		t.Errorf("no line names the bundle left out and why: %q", logs.lines)
	}
	mr := repo(t, dst.Host, "m/redhat/demo-index")
	served, err := mr.Resolve(ctx, "v1")
	if err != nil {
		t.Fatal(err)
	}
	c, err := catalog.Load(ctx, mr, served)
	if err != nil {
		t.Fatal(err)
	}
	p := c.Package("alpha")
	if p == nil || p.Bundle("alpha.v2") != nil || p.Bundle("alpha.v1") == nil || p.Channel("stable") == nil {
		t.Fatalf("catalog at the tag offers %+v, want alpha.v1 only (alpha.v2 lacks %s)", p, absent)
	}
	var cs string
	for _, f := range res.ClusterResources {
		if strings.Contains(filepath.Base(f), "catalogsource") {
			b, _ := os.ReadFile(f)
			cs = string(b)
		}
	}
	if want := dst.Host + "/m/redhat/demo-index@" + served.Digest.String(); !strings.Contains(cs, want) {
		t.Errorf("CatalogSource does not name %s (files %v):\n%s", want, res.ClusterResources, cs)
	}
	if _, err := repo(t, dst.Host, "m/demo/alpha-bundle").Resolve(ctx, imageset.DigestTag(a1.Digest)); err != nil {
		t.Errorf("alpha.v1 bundle: %v", err)
	}
}

// logObserver keeps the lines a run logs and ignores the rest.
type logObserver struct{ lines *lockedLines }

type lockedLines struct {
	mu    sync.Mutex
	lines []string
}

func (o logObserver) Logf(format string, args ...any) {
	o.lines.mu.Lock()
	defer o.lines.mu.Unlock()
	o.lines.lines = append(o.lines.lines, fmt.Sprintf(format, args...))
}
func (logObserver) SetTotals(int, int64)             {}
func (logObserver) Start()                           {}
func (logObserver) Stop()                            {}
func (logObserver) ImageStarted(string)              {}
func (logObserver) ImageDone(string, int64, error)   {}
func (logObserver) Transferred(int64)                {}
func (logObserver) BlobDone(int64)                   {}
func (logObserver) Skipped(mirror.SkipReason, int64) {}

// TestMirrorToMirrorUnfiltered: full: true without packages mirrors the
// catalog as published; mirror to mirror it is placed at its tag and the
// CatalogSource names it, by tag or by digest alike.
func TestMirrorToMirrorUnfiltered(t *testing.T) {
	ctx := context.Background()
	src := regserver.New(t, regserver.Options{})
	b1 := image(t, src.Host, "demo/alpha-bundle", 71)
	files := map[string][]byte{"alpha/catalog.json": []byte(catalogtest.Package("alpha", "stable", "alpha.v1") + "\n" +
		catalogtest.Bundle("alpha", "alpha.v1", "1.0.0", src.Host+"/demo/alpha-bundle@"+b1.Digest.String()))}
	cr := repo(t, src.Host, "redhat/demo-index")
	orig, err := catalogtest.Image(ctx, cr, "amd64", files)
	if err != nil {
		t.Fatal(err)
	}
	if err := cr.Tag(ctx, orig, "v1"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, catalog, tag string }{
		{"by tag", src.Host + "/redhat/demo-index:v1", "v1"},
		{"by digest", src.Host + "/redhat/demo-index@" + orig.Digest.String(), imageset.DigestTag(orig.Digest)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := regserver.New(t, regserver.Options{})
			cfg, err := imageset.Load(strings.NewReader("kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  operators:\n  - catalog: "+tc.catalog+"\n    full: true\n"), "isc.yaml")
			if err != nil {
				t.Fatal(err)
			}
			res, err := mirror.Pack(ctx, mirror.PackOptions{Config: cfg, Registry: dst.Host + "/m", ClusterResources: filepath.Join(t.TempDir(), "cr"),
				Source: ocistore.Options{SkipTLSVerify: true}, Dest: ocistore.Options{SkipTLSVerify: true},
				Kinds: []section.Kind{operators.New(), additional.New()}})
			if err != nil {
				t.Fatal(err)
			}
			if got, err := repo(t, dst.Host, "m/redhat/demo-index").Resolve(ctx, tc.tag); err != nil || got.Digest != orig.Digest {
				t.Errorf("catalog at %s: %v %v, want %s", tc.tag, got.Digest, err, orig.Digest)
			}
			var cs string
			for _, f := range res.ClusterResources {
				if strings.Contains(filepath.Base(f), "catalogsource") {
					b, _ := os.ReadFile(f)
					cs = string(b)
				}
			}
			if want := dst.Host + "/m/redhat/demo-index@" + orig.Digest.String(); !strings.Contains(cs, want) {
				t.Errorf("CatalogSource does not name %s (files %v):\n%s", want, res.ClusterResources, cs)
			}
		})
	}
}

// brokenBundleCatalog pushes to host redhat/demo-index:v1, a catalog of one
// package alpha whose alpha.v1 bundle is a real image and whose alpha.v2
// names, besides its bundle, an operator image that was never pushed; the
// images' content is drawn from seed and seed+1. It returns alpha.v1's
// bundle, the absent image, and a configuration selecting the package.
func brokenBundleCatalog(t *testing.T, host string, seed uint64) (a1 ocispec.Descriptor, absent string, cfg *imageset.Config) {
	t.Helper()
	ctx := context.Background()
	ref := func(name string, d ocispec.Descriptor) string { return host + "/" + name + "@" + d.Digest.String() }
	a1, a2 := image(t, host, "demo/alpha-bundle", seed), image(t, host, "demo/alpha-bundle", seed+1)
	absent = host + "/demo/alpha-operator@" + digest.FromString("never pushed").String()
	files := map[string][]byte{
		"alpha/catalog.json": []byte(catalogtest.Package("alpha", "stable", "alpha.v1", "alpha.v2") + "\n" +
			catalogtest.Bundle("alpha", "alpha.v1", "1.0.0", ref("demo/alpha-bundle", a1)) + "\n" +
			catalogtest.Bundle("alpha", "alpha.v2", "2.0.0", ref("demo/alpha-bundle", a2), absent)),
	}
	cr := repo(t, host, "redhat/demo-index")
	orig, err := catalogtest.Image(ctx, cr, "amd64", files)
	if err != nil {
		t.Fatal(err)
	}
	if err := cr.Tag(ctx, orig, "v1"); err != nil {
		t.Fatal(err)
	}
	cfg, err = imageset.Load(strings.NewReader("kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  operators:\n  - catalog: "+host+"/redhat/demo-index:v1\n    full: true\n    packages:\n    - name: alpha\n"), "isc.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return a1, absent, cfg
}
