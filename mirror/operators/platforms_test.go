package operators_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/enclave-mirror/enclave/archive"
	"github.com/enclave-mirror/enclave/archive/archivetest"
	"github.com/enclave-mirror/enclave/catalog/catalogtest"
	"github.com/enclave-mirror/enclave/imageset"
	"github.com/enclave-mirror/enclave/internal/testing/regserver"
	"github.com/enclave-mirror/enclave/mirror"
	"github.com/enclave-mirror/enclave/mirror/additional"
	"github.com/enclave-mirror/enclave/mirror/operators"
	"github.com/enclave-mirror/enclave/mirror/section"
	"github.com/enclave-mirror/enclave/ocistore"
)

// TestOperatorPlatforms: operators[].platforms makes the catalog's bundle
// and related images sparse copies, as oc-mirror filters them: the
// two-platform operator image goes into the archive with its amd64
// manifest only (arm64 omitted) and reaches a registry that accepts
// sparse indexes with its digest unchanged; the catalog image stays whole.
func TestOperatorPlatforms(t *testing.T) {
	ctx := context.Background()
	src := regserver.New(t, regserver.Options{})
	dst := regserver.New(t, regserver.Options{SparseIndexes: true})
	bundle := image(t, src.Host, "demo/alpha-bundle", 1)
	or := repo(t, src.Host, "demo/alpha-operator")
	amd, err := archivetest.Image(ctx, or, "amd64", archivetest.Blob(2, 2000, false))
	if err != nil {
		t.Fatal(err)
	}
	arm, err := archivetest.Image(ctx, or, "arm64", archivetest.Blob(3, 2000, false))
	if err != nil {
		t.Fatal(err)
	}
	op, err := archivetest.Index(ctx, or, amd, arm)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"alpha/catalog.json": []byte(catalogtest.Package("alpha", "stable", "alpha.v1") + "\n" +
		catalogtest.Bundle("alpha", "alpha.v1", "1.0.0", src.Host+"/demo/alpha-bundle@"+bundle.Digest.String(), src.Host+"/demo/alpha-operator@"+op.Digest.String()))}
	cr := repo(t, src.Host, "redhat/demo-index")
	cat, err := catalogtest.Image(ctx, cr, "amd64", files)
	if err != nil {
		t.Fatal(err)
	}
	if err := cr.Tag(ctx, cat, "v4.18"); err != nil {
		t.Fatal(err)
	}
	cfg, err := imageset.Load(strings.NewReader("kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  operators:\n  - catalog: "+src.Host+"/redhat/demo-index:v4.18\n    platforms:\n    - {os: linux, architecture: amd64}\n    packages:\n    - name: alpha\n"), "isc.yaml")
	if err != nil {
		t.Fatal(err)
	}
	kinds := []section.Kind{operators.New(), additional.New()}
	dir := filepath.Join(t.TempDir(), "archive")
	if _, err := mirror.Pack(ctx, mirror.PackOptions{Config: cfg, Archive: dir, Source: ocistore.Options{SkipTLSVerify: true}, Kinds: kinds}); err != nil {
		t.Fatal(err)
	}
	r, err := archive.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if o := r.Omitted(op.Digest); len(o) != 1 || o[0].Digest != arm.Digest {
		t.Errorf("the operator image omits %v, want its arm64 manifest", o)
	}
	if ok, _ := r.Exists(ctx, arm); ok {
		t.Error("the arm64 manifest is in the archive")
	}
	if ok, _ := r.Exists(ctx, cat); !ok {
		t.Error("the catalog image is not in the archive")
	}
	r.Close()
	if _, err := mirror.Unpack(ctx, mirror.UnpackOptions{Archive: dir, Registry: dst.Host + "/m", Dest: ocistore.Options{SkipTLSVerify: true}, Kinds: kinds,
		ClusterResources: filepath.Join(t.TempDir(), "cr"), Receipt: filepath.Join(t.TempDir(), "r.json")}); err != nil {
		t.Fatal(err)
	}
	d := repo(t, dst.Host, "m/demo/alpha-operator")
	if got, err := d.Resolve(ctx, op.Digest.String()); err != nil || got.Digest != op.Digest {
		t.Fatalf("operator image at the destination: %v %v", got.Digest, err)
	}
	if _, err := d.Resolve(ctx, amd.Digest.String()); err != nil {
		t.Errorf("amd64 manifest: %v", err)
	}
	if _, err := d.Resolve(ctx, arm.Digest.String()); err == nil {
		t.Error("the arm64 manifest was mirrored")
	}
}
