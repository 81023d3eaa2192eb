package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/enclave-mirror/enclave/archive/archivetest"
	"github.com/enclave-mirror/enclave/internal/testing/regserver"
	"github.com/enclave-mirror/enclave/mirror"
)

// TestSparseAdditionalImage copies a two-platform index with platforms:
// [{os: linux, architecture: amd64}] mirror to mirror. Into a registry that
// accepts sparse indexes the original index arrives unchanged (same digest)
// with only the amd64 manifest, and the index's signature (a referrer)
// still names it; a registry that requires
// every child refuses it, and that image fails with a message that says
// so. Into an archive every platform is carried, with a log line.
func TestSparseAdditionalImage(t *testing.T) {
	ctx := context.Background()
	src := regserver.New(t, regserver.Options{})
	r := repo(t, src.Host, "org/multi")
	amd, err := archivetest.Image(ctx, r, "amd64", archivetest.Blob(1, 300, false))
	if err != nil {
		t.Fatal(err)
	}
	arm, err := archivetest.Image(ctx, r, "arm64", archivetest.Blob(2, 300, false))
	if err != nil {
		t.Fatal(err)
	}
	idx, err := archivetest.Index(ctx, r, amd, arm)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Tag(ctx, idx, "v1"); err != nil {
		t.Fatal(err)
	}
	sig, err := archivetest.Referrer(ctx, r, idx, "application/vnd.example.signature", []byte("index signature"))
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	isc := writeFile(t, work, "isc.yaml", "kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  additionalImages:\n    - name: docker://"+src.Host+"/org/multi:v1\n      platforms:\n        - os: linux\n          architecture: amd64\n")

	t.Run("accepting registry", func(t *testing.T) {
		dst := regserver.New(t, regserver.Options{SparseIndexes: true})
		res := pack(t, "-c", isc, "--src-tls-verify=false", "--dest-tls-verify=false", "docker://"+dst.Host+"/m")
		mustCode(t, res, 0)
		d := repo(t, dst.Host, "m/org/multi")
		got, err := d.Resolve(ctx, "v1")
		if err != nil || got.Digest != idx.Digest {
			t.Fatalf("index at the destination: %v %v, want %s (unchanged)", got.Digest, err, idx.Digest)
		}
		for _, c := range []struct {
			name string
			d    string
			want bool
		}{{"amd64 manifest", amd.Digest.String(), true}, {"the index's referrer", sig.Digest.String(), true}, {"arm64 manifest", arm.Digest.String(), false}} {
			_, err := d.Resolve(ctx, c.d)
			if (err == nil) != c.want {
				t.Errorf("%s present = %v, want %v", c.name, err == nil, c.want)
			}
		}
	})

	t.Run("refusing registry", func(t *testing.T) {
		dst := regserver.New(t, regserver.Options{})
		res := pack(t, "-c", isc, "--src-tls-verify=false", "--dest-tls-verify=false", "docker://"+dst.Host+"/m")
		if res.code == 0 {
			t.Fatalf("a registry that requires every child accepted a sparse index:\n%s", res.stderr)
		}
		for _, s := range []string{"the destination refused a sparse index", "with only linux/amd64 of its platforms", "validation.manifests.indexes.platforms: none", "remove platforms:"} {
			if !strings.Contains(res.stderr, s) {
				t.Fatalf("the failure does not say %q:\n%s", s, res.stderr)
			}
		}
		if res.code != mirror.ExitRegistry {
			t.Errorf("exit %d, want %d (registry)", res.code, mirror.ExitRegistry)
		}
	})

	t.Run("into an archive", func(t *testing.T) {
		a := filepath.Join(work, "a")
		res := pack(t, "-c", isc, "--src-tls-verify=false", "file://"+a)
		mustCode(t, res, 0)
		if !strings.Contains(res.stderr, "platforms: not applied into an archive yet") {
			t.Fatalf("no log line:\n%s", res.stderr)
		}
	})
}
