package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"oras.land/oras-go/v2/content/oci"

	"github.com/enclave-mirror/enclave/archive/archivetest"
	"github.com/enclave-mirror/enclave/internal/testing/regserver"
	"github.com/enclave-mirror/enclave/mirror"
)

// An oci:// source: an image in an OCI image layout on disk is packed, then
// unpacked to targetRepo at the destination, digest preserved.
func TestOCILayoutSource(t *testing.T) {
	ctx := context.Background()
	work := t.TempDir()
	layoutDir := filepath.Join(work, "layout")
	store, err := oci.New(layoutDir)
	if err != nil {
		t.Fatal(err)
	}
	img, err := archivetest.Image(ctx, store, "amd64", archivetest.Blob(7, 200<<10, true), archivetest.Blob(8, 50<<10, false))
	if err != nil {
		t.Fatal(err)
	}
	img.Platform = nil
	if err := store.Tag(ctx, img, "v1"); err != nil {
		t.Fatal(err)
	}
	isc := filepath.Join(work, "isc.yaml")
	os.WriteFile(isc, []byte(fmt.Sprintf("kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  additionalImages:\n  - name: oci://%s:v1\n    targetRepo: team/from-layout\n", layoutDir)), 0o644)

	dst := regserver.New(t, regserver.Options{})
	dir := filepath.Join(work, "content")
	mustCode(t, pack(t, "-c", isc, "file://"+dir), 0)
	crd := filepath.Join(work, "cr")
	mustCode(t, unpack(t, "--from", "file://"+dir, "--dest-tls-verify=false", "--receipt", filepath.Join(work, "r.json"), "--cluster-resources", crd, "docker://"+dst.Host+"/mirror"), 0)
	d := repo(t, dst.Host, "mirror/team/from-layout")
	got, err := d.Resolve(ctx, "v1")
	if err != nil || got.Digest != img.Digest {
		t.Fatalf("destination has %v (%v), want %s", got.Digest, err, img.Digest)
	}
	if err := archivetest.SameGraph(ctx, store, d, img); err != nil {
		t.Fatal(err)
	}
	skopeoCheck(t, dst.Host+"/mirror/team/from-layout:v1", img.Digest)
	// No mirror set redirects a registry that does not exist.
	if files, _ := filepath.Glob(filepath.Join(crd, "*.yaml")); len(files) != 0 {
		t.Fatalf("cluster resources written for a layout source: %v", files)
	}

	// Mirror to mirror from the layout.
	mustCode(t, pack(t, "-c", isc, "--dest-tls-verify=false", "docker://"+dst.Host+"/m2m"), 0)
	if got, err := repo(t, dst.Host, "m2m/team/from-layout").Resolve(ctx, "v1"); err != nil || got.Digest != img.Digest {
		t.Fatalf("mirror to mirror: %v (%v)", got.Digest, err)
	}

	// A layout that does not exist: the image fails, named.
	os.WriteFile(isc, []byte("kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  additionalImages:\n  - name: oci:///nonexistent/layout:v1\n    targetRepo: team/x\n"), 0o644)
	r := pack(t, "-c", isc, "file://"+filepath.Join(work, "none"))
	if r.code != mirror.ExitLocalIO || !strings.Contains(r.stdout+r.stderr, "/nonexistent/layout") {
		t.Fatalf("missing layout: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
