package e2e

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/enclave-mirror/enclave/catalog"
	"github.com/enclave-mirror/enclave/imageset"
	"github.com/enclave-mirror/enclave/internal/testing/regserver"
)

// TestOperatorsMirrorToMirror: enclave-pack into a docker:// destination
// pushes the filtered catalog at the catalog's tag, its bundles and
// operator images, and writes in --cluster-resources, as oc-mirror v2 does
// for a mirror to mirror, a CatalogSource and a ClusterCatalog pointing at
// that catalog by digest and an IDMS for the bundles and operator images
// (not the catalog). --catalog-source original points them at the catalog
// as published; both flags are refused for an archive, whose cluster
// resources unpack writes.
func TestOperatorsMirrorToMirror(t *testing.T) {
	ctx := context.Background()
	src := regserver.New(t, regserver.Options{})
	dst := regserver.New(t, regserver.Options{})
	demo := pushDemoCatalog(t, src.Host, 41)
	a2d, opd, orig := demo.a2d, demo.opd, demo.orig
	work := t.TempDir()
	isc := filepath.Join(work, "isc.yaml")
	os.WriteFile(isc, []byte("kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  operators:\n  - catalog: "+src.Host+"/redhat/demo-index:v4.18\n    packages:\n    - name: alpha\n"), 0o644)
	crd := filepath.Join(work, "cluster-resources")
	r := pack(t, "-c", isc, "--src-tls-verify=false", "--dest-tls-verify=false", "--cluster-resources", crd, "docker://"+dst.Host+"/mirror")
	mustCode(t, r, 0)

	mr := repo(t, dst.Host, "mirror/redhat/demo-index")
	filtered, err := mr.Resolve(ctx, "v4.18")
	if err != nil {
		t.Fatal(err)
	}
	if filtered.Digest == orig.Digest {
		t.Fatal("the catalog tag holds the original catalog, want the filtered one")
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

	css, _ := filepath.Glob(filepath.Join(crd, "catalogsource_openshift-marketplace_*.yaml"))
	ccs, _ := filepath.Glob(filepath.Join(crd, "clustercatalog_*.yaml"))
	if len(css) != 1 || len(ccs) != 1 {
		t.Fatalf("CatalogSource files %v, ClusterCatalog files %v (stdout:\n%s)", css, ccs, r.stdout)
	}
	want := dst.Host + "/mirror/redhat/demo-index@" + filtered.Digest.String()
	for _, f := range []string{css[0], ccs[0]} {
		b, _ := os.ReadFile(f)
		if !strings.Contains(string(b), want) {
			t.Errorf("%s does not point at the pushed filtered catalog %s:\n%s", filepath.Base(f), want, b)
		}
		if !strings.Contains(r.stdout, "wrote "+f) {
			t.Errorf("the pack does not say it wrote %s:\n%s", f, r.stdout)
		}
	}
	idms, _ := filepath.Glob(filepath.Join(crd, "imagedigestmirrorset_*-operators.yaml"))
	if len(idms) != 1 {
		t.Fatalf("operator IDMS files %v", idms)
	}
	b, _ := os.ReadFile(idms[0])
	if !strings.Contains(string(b), src.Host+"/demo/alpha-bundle") || !strings.Contains(string(b), dst.Host+"/mirror/demo/alpha-operator") || strings.Contains(string(b), "demo-index") {
		t.Errorf("IDMS must list bundles and related images, not catalogs:\n%s", b)
	}

	// The same run again writes the same objects (same names), and
	// --catalog-source original points them at the catalog as published,
	// which sits beside the filtered one under its digest tag.
	crd2 := filepath.Join(work, "cluster-resources-original")
	mustCode(t, pack(t, "-c", isc, "--src-tls-verify=false", "--dest-tls-verify=false", "--catalog-source", "original", "--cluster-resources", crd2, "docker://"+dst.Host+"/mirror"), 0)
	css2, _ := filepath.Glob(filepath.Join(crd2, "catalogsource_openshift-marketplace_*.yaml"))
	if len(css2) != 1 || filepath.Base(css2[0]) != filepath.Base(css[0]) {
		t.Fatalf("CatalogSource files %v, want the same name as %s", css2, css[0])
	}
	b, _ = os.ReadFile(css2[0])
	if !strings.Contains(string(b), dst.Host+"/mirror/redhat/demo-index@"+orig.Digest.String()) {
		t.Errorf("--catalog-source original: CatalogSource:\n%s", b)
	}
	if got, err := mr.Resolve(ctx, orig.Digest.String()); err != nil || got.Digest != orig.Digest {
		t.Errorf("original catalog at the destination: %v %v", got.Digest, err)
	}

	for _, flag := range []string{"--cluster-resources=" + crd, "--catalog-source=original"} {
		r := pack(t, "-c", isc, "--src-tls-verify=false", flag, "file://"+filepath.Join(work, "archive"))
		mustCode(t, r, 2)
		if !strings.Contains(r.stderr, "docker:// destination") {
			t.Errorf("%s into an archive: %s", flag, r.stderr)
		}
	}
}
