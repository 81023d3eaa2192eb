package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content/oci"

	"github.com/enclave-mirror/enclave/archive"
	"github.com/enclave-mirror/enclave/archive/archivetest"
	"github.com/enclave-mirror/enclave/catalog"
	"github.com/enclave-mirror/enclave/catalog/catalogtest"
	"github.com/enclave-mirror/enclave/imageset"
	"github.com/enclave-mirror/enclave/internal/testing/regserver"
)

// twoChannelCatalog pushes to src a catalog, tagged redhat/demo-index:v4.18,
// whose bundles are real images of src: package alpha with channels stable
// (1.0.0, 2.0.0; the default) and fast (1.0.0 to 3.0.0), package beta with
// stable (1.0.0). It returns the catalog's reference and digest.
func twoChannelCatalog(t *testing.T, src *regserver.Registry) (string, ocispec.Descriptor) {
	t.Helper()
	ctx := context.Background()
	img := func(name string, seed uint64) string {
		d, err := archivetest.Image(ctx, repo(t, src.Host, name), "amd64", archivetest.Blob(seed, 2000, false))
		if err != nil {
			t.Fatal(err)
		}
		return src.Host + "/" + name + "@" + d.Digest.String()
	}
	a1, a2, a3 := img("demo/alpha-bundle", 21), img("demo/alpha-bundle", 22), img("demo/alpha-bundle", 23)
	b1 := img("demo/beta-bundle", 24)
	fast := catalogtest.Package("alpha", "fast", "alpha.v1", "alpha.v2", "alpha.v3")
	fast = fast[strings.Index(fast, "\n")+1:] // the channel document only
	files := map[string][]byte{
		"alpha/catalog.json": []byte(catalogtest.Package("alpha", "stable", "alpha.v1", "alpha.v2") + "\n" + fast + "\n" +
			catalogtest.Bundle("alpha", "alpha.v1", "1.0.0", a1) + "\n" + catalogtest.Bundle("alpha", "alpha.v2", "2.0.0", a2) + "\n" +
			catalogtest.Bundle("alpha", "alpha.v3", "3.0.0", a3)),
		"beta/catalog.json": []byte(catalogtest.Package("beta", "stable", "beta.v1") + "\n" + catalogtest.Bundle("beta", "beta.v1", "1.0.0", b1)),
	}
	cr := repo(t, src.Host, "redhat/demo-index")
	d, err := catalogtest.Image(ctx, cr, "amd64", files)
	if err != nil {
		t.Fatal(err)
	}
	if err := cr.Tag(ctx, d, "v4.18"); err != nil {
		t.Fatal(err)
	}
	return src.Host + "/redhat/demo-index:v4.18", d
}

// TestListOperators lists a catalog's packages, then one package, through
// enclave-pack list operators; a package the catalog lacks is a usage
// error naming what it offers, and a registry that needs TLS verification
// turned off says so.
func TestListOperators(t *testing.T) {
	src := regserver.New(t, regserver.Options{})
	cat, d := twoChannelCatalog(t, src)

	r := pack(t, "list", "operators", "--catalog", cat, "--src-tls-verify=false")
	mustCode(t, r, 0)
	want := "catalog " + cat + " (" + d.Digest.String() + ")\n" +
		"alpha  default channel stable\n" +
		"  fast  head alpha.v3 (3.0.0)  versions 1.0.0, 2.0.0, 3.0.0\n" +
		"  stable  head alpha.v2 (2.0.0)  versions 1.0.0, 2.0.0\n" +
		"beta  default channel stable\n" +
		"  stable  head beta.v1 (1.0.0)  versions 1.0.0\n"
	if r.stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, want)
	}

	// The flag before the subcommand's name reaches it too.
	r = pack(t, "--src-tls-verify=false", "list", "operators", "--package", "beta", "--catalog", cat)
	mustCode(t, r, 0)
	want = "catalog " + cat + " (" + d.Digest.String() + ")\n" +
		"beta  default channel stable\n" +
		"  stable  head beta.v1 (1.0.0)  versions 1.0.0\n"
	if r.stdout != want {
		t.Errorf("--package beta stdout:\n%s\nwant:\n%s", r.stdout, want)
	}

	r = pack(t, "list", "operators", "--catalog", cat, "--src-tls-verify=false", "--package", "gamma")
	mustCode(t, r, 2)
	if !strings.Contains(r.stderr, `has no package "gamma" (it offers alpha, beta)`) || r.stdout != "" {
		t.Errorf("unknown package: stdout %q stderr:\n%s", r.stdout, r.stderr)
	}

	r = pack(t, "list", "operators", "--src-tls-verify=false")
	mustCode(t, r, 2)
	if !strings.Contains(r.stderr, `Required flag "catalog" not set`) {
		t.Errorf("without --catalog: stderr:\n%s", r.stderr)
	}
	if r := pack(t, "list", "operators", "--catalog", cat); r.code != 4 {
		t.Errorf("plain HTTP registry with TLS verification: exit %d, want 4\n%s", r.code, r.stderr)
	}
	if r := pack(t, "list", "operators", "--catalog", src.Host+"/redhat/absent:v1", "--src-tls-verify=false"); r.code != 4 {
		t.Errorf("absent catalog: exit %d, want 4\n%s", r.code, r.stderr)
	}
}

// TestInspectOperators packs one package of a two-channel catalog and
// inspects the archive: the catalog, the filtered catalog's digest, and the
// package with both its channels and their heads are printed; an archive
// without catalogs prints no catalog line.
func TestInspectOperators(t *testing.T) {
	src := regserver.New(t, regserver.Options{})
	cat, _ := twoChannelCatalog(t, src)
	isc := filepath.Join(t.TempDir(), "isc.yaml")
	os.WriteFile(isc, []byte("kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  operators:\n  - catalog: "+cat+"\n    packages:\n    - name: alpha\n"), 0o644)
	dir := filepath.Join(t.TempDir(), "content")
	mustCode(t, pack(t, "-c", isc, "--src-tls-verify=false", "file://"+dir), 0)

	ar, err := archive.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	var recs []struct {
		Filtered string `json:"filtered"`
	}
	b, err := ar.Attachment(context.Background(), "operators/catalogs.json", 0)
	ar.Close()
	if err != nil || json.Unmarshal(b, &recs) != nil || len(recs) != 1 {
		t.Fatalf("catalogs.json: %v %s", err, b)
	}

	r := unpack(t, "inspect", "file://"+dir)
	mustCode(t, r, 0)
	want := "catalog   " + cat + "  filtered " + recs[0].Filtered + "\n" +
		"  alpha  default stable  channels fast (head alpha.v3), stable (head alpha.v2)\n"
	if !strings.Contains(r.stdout, want) {
		t.Errorf("inspect stdout:\n%s\nwant it to hold:\n%s", r.stdout, want)
	}
	if strings.Contains(r.stdout, "beta") {
		t.Errorf("inspect lists a package not selected:\n%s", r.stdout)
	}

	// No catalogs, no catalog lines.
	_, isc2 := seed(t, src, 3, src.Host)
	dir2 := filepath.Join(t.TempDir(), "content")
	mustCode(t, pack(t, "-c", isc2, "--src-tls-verify=false", "file://"+dir2), 0)
	r = unpack(t, "inspect", "file://"+dir2)
	mustCode(t, r, 0)
	if strings.Contains(r.stdout, "catalog ") {
		t.Errorf("inspect of an archive without catalogs:\n%s", r.stdout)
	}
}

// TestOperatorsFromOCILayout packs a catalog read from an OCI image layout
// (oci://DIR:tag, with targetCatalog) whose bundles are in a registry: the
// enclave gets the filtered catalog at targetCatalog:tag, the selected
// bundles, and a CatalogSource pointing at the catalog. Without
// targetCatalog the configuration is refused (exit 2). list operators
// reads the same layout.
func TestOperatorsFromOCILayout(t *testing.T) {
	ctx := context.Background()
	src := regserver.New(t, regserver.Options{})
	dst := regserver.New(t, regserver.Options{})
	_, d := twoChannelCatalog(t, src)
	// Copy the catalog image into a layout: its bundles stay in src.
	layoutDir := filepath.Join(t.TempDir(), "catalog-layout")
	store, err := oci.New(layoutDir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := oras.Copy(ctx, repo(t, src.Host, "redhat/demo-index"), d.Digest.String(), store, "v4.18", oras.DefaultCopyOptions); err != nil {
		t.Fatal(err)
	}
	isc := func(extra string) string {
		p := filepath.Join(t.TempDir(), "isc.yaml")
		os.WriteFile(p, []byte("kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  operators:\n  - catalog: oci://"+layoutDir+":v4.18\n"+extra+"    packages:\n    - name: beta\n"), 0o644)
		return p
	}
	// list operators reads the layout too.
	r := pack(t, "list", "operators", "--catalog", "oci://"+layoutDir+":v4.18", "--package", "beta")
	mustCode(t, r, 0)
	if want := "catalog oci://" + layoutDir + ":v4.18 (" + d.Digest.String() + ")\n" +
		"beta  default channel stable\n  stable  head beta.v1 (1.0.0)  versions 1.0.0\n"; r.stdout != want {
		t.Errorf("list operators of a layout:\n%s\nwant:\n%s", r.stdout, want)
	}
	mustCode(t, pack(t, "list", "operators", "--catalog", "oci://"+layoutDir), 2)

	work := t.TempDir()
	r = pack(t, "-c", isc(""), "--src-tls-verify=false", "file://"+filepath.Join(work, "refused"))
	mustCode(t, r, 2)
	if !strings.Contains(r.stderr, "give targetCatalog") {
		t.Errorf("without targetCatalog: stderr:\n%s", r.stderr)
	}

	dir := filepath.Join(work, "content")
	mustCode(t, pack(t, "-c", isc("    targetCatalog: my-org/demo-index\n"), "--src-tls-verify=false", "file://"+dir), 0)
	r = unpack(t, "inspect", "file://"+dir)
	mustCode(t, r, 0)
	if !strings.Contains(r.stdout, "catalog   oci://"+layoutDir+":v4.18  filtered sha256:") ||
		!strings.Contains(r.stdout, "  beta  default stable  channels stable (head beta.v1)\n") {
		t.Errorf("inspect:\n%s", r.stdout)
	}
	crd := filepath.Join(work, "cluster-resources")
	mustCode(t, unpack(t, "--from", "file://"+dir, "--dest-tls-verify=false", "--receipt", filepath.Join(work, "r.json"), "--cluster-resources", crd, "docker://"+dst.Host+"/mirror"), 0)

	mr := repo(t, dst.Host, "mirror/my-org/demo-index")
	filtered, err := mr.Resolve(ctx, "v4.18")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := mr.Resolve(ctx, imageset.DigestTag(d.Digest)); err != nil || got.Digest != d.Digest {
		t.Errorf("original catalog beside it: %v %v", got.Digest, err)
	}
	c, err := catalog.Load(ctx, mr, filtered)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.PackageNames(); !slices.Equal(got, []string{"beta"}) {
		t.Errorf("filtered catalog holds %v, want [beta]", got)
	}
	b1 := c.Package("beta").Bundle("beta.v1").Image
	dg := b1[strings.Index(b1, "@")+1:]
	if _, err := repo(t, dst.Host, "mirror/demo/beta-bundle").Resolve(ctx, dg); err != nil {
		t.Errorf("bundle %s not mirrored: %v", b1, err)
	}
	css, _ := filepath.Glob(filepath.Join(crd, "catalogsource_openshift-marketplace_*.yaml"))
	if len(css) != 1 {
		t.Fatalf("CatalogSource files %v", css)
	}
	b, _ := os.ReadFile(css[0])
	if !strings.Contains(string(b), "image: "+dst.Host+"/mirror/my-org/demo-index@"+filtered.Digest.String()) {
		t.Errorf("CatalogSource:\n%s", b)
	}
}
