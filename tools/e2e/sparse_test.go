package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/enclave-mirror/enclave/archive"
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
// so. Into an archive: TestSparseIntoArchive.
func TestSparseAdditionalImage(t *testing.T) {
	ctx := context.Background()
	src := regserver.New(t, regserver.Options{})
	amd, arm, idx, sig := signedTwoPlatformIndex(t, src.Host)
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

}

// TestSparseIntoArchive packs a two-platform index with platforms:
// [{os: linux, architecture: amd64}] into an archive beside a plain image.
// The archive holds the index unchanged and the amd64 manifest only, and
// records the arm64 one as omitted (spec/FORMAT.md 7.3.1): verify passes,
// inspect lists both. Unpacked into a registry that accepts sparse indexes,
// the index arrives with its source digest and its signature, the amd64
// manifest is there and the arm64 one is not, and the receipt records the
// index as omitting arm64. A registry that requires every child fails that
// image alone, with the message and exit 1, the plain image pushed. A delta
// against the receipt with the same configuration carries nothing; one
// without platforms carries the arm64 manifest and its blobs (and the index
// again), the amd64 manifest a prerequisite, and completes the image.
func TestSparseIntoArchive(t *testing.T) {
	ctx := context.Background()
	src := regserver.New(t, regserver.Options{})
	amd, arm, idx, sig := signedTwoPlatformIndex(t, src.Host)
	pr := repo(t, src.Host, "org/plain")
	plain, err := archivetest.Image(ctx, pr, "amd64", archivetest.Blob(3, 300, false))
	if err != nil {
		t.Fatal(err)
	}
	if err := pr.Tag(ctx, plain, "v1"); err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	head := "kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  additionalImages:\n    - name: docker://" + src.Host + "/org/plain:v1\n    - name: docker://" + src.Host + "/org/multi:v1\n"
	isc := writeFile(t, work, "isc.yaml", head+"      platforms:\n        - os: linux\n          architecture: amd64\n")
	whole := writeFile(t, work, "whole.yaml", head)

	a := filepath.Join(work, "a")
	res := pack(t, "-c", isc, "--src-tls-verify=false", "file://"+a)
	mustCode(t, res, 0)
	if strings.Contains(res.stderr, "platforms") {
		t.Fatalf("a warning for a sparse copy into an archive:\n%s", res.stderr)
	}
	total := summaryLine(res.stdout+res.stderr, "total")
	ar, err := archive.Open(a)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		d    ocispec.Descriptor
		want bool
	}{{"index", idx, true}, {"amd64 manifest", amd, true}, {"arm64 manifest", arm, false}, {"signature", sig, true}} {
		if ok, _ := ar.Exists(ctx, c.d); ok != c.want {
			t.Errorf("%s in the archive = %v, want %v", c.name, ok, c.want)
		}
	}
	if o := ar.Omitted(idx.Digest); len(o) != 1 || o[0].Digest != arm.Digest {
		t.Errorf("omitted = %v, want the arm64 manifest", o)
	}
	ar.Close()
	mustCode(t, unpack(t, "verify", "file://"+a), 0)
	res = unpack(t, "inspect", "file://"+a)
	mustCode(t, res, 0)
	if !strings.Contains(res.stdout, "platforms linux/amd64 (omitted: linux/arm64)") {
		t.Fatalf("inspect does not list the platforms held and omitted:\n%s", res.stdout)
	}

	unpackTo := func(dst *regserver.Registry, from, receipt string) run {
		return unpack(t, "--from", "file://"+from, "--dest-tls-verify=false", "--receipt", receipt, "--cluster-resources", filepath.Join(work, "cr"), "docker://"+dst.Host+"/m")
	}
	present := func(t *testing.T, host string, want map[string]bool) {
		t.Helper()
		d := repo(t, host, "m/org/multi")
		got, err := d.Resolve(ctx, "v1")
		if err != nil || got.Digest != idx.Digest {
			t.Fatalf("index at the destination: %v %v, want %s (the source's)", got.Digest, err, idx.Digest)
		}
		for name, dg := range map[string]ocispec.Descriptor{"amd64 manifest": amd, "arm64 manifest": arm, "signature": sig} {
			if _, err := d.Resolve(ctx, dg.Digest.String()); (err == nil) != want[name] {
				t.Errorf("%s present = %v, want %v", name, err == nil, want[name])
			}
		}
	}

	dst := regserver.New(t, regserver.Options{SparseIndexes: true})
	receipt := filepath.Join(work, "receipt.json")
	mustCode(t, unpackTo(dst, a, receipt), 0)
	present(t, dst.Host, map[string]bool{"amd64 manifest": true, "signature": true})
	rec, _, err := archive.LoadReceipt(receipt)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range rec.Content {
		if e.Digest == arm.Digest {
			t.Errorf("the receipt says the destination holds the arm64 manifest")
		}
		if e.Digest == idx.Digest && (len(e.Omitted) != 1 || e.Omitted[0] != arm.Digest) {
			t.Errorf("the receipt's index entry omits %v, want the arm64 manifest", e.Omitted)
		}
	}

	t.Run("refusing registry", func(t *testing.T) {
		strict := regserver.New(t, regserver.Options{})
		res := unpackTo(strict, a, filepath.Join(work, "strict.json"))
		for _, s := range []string{"the destination refused a sparse index", "index " + idx.Digest.String() + " with only linux/amd64 of its platforms", "validation.manifests.indexes.platforms: none", "remove platforms:"} {
			if !strings.Contains(res.stderr, s) {
				t.Fatalf("the failure does not say %q:\n%s", s, res.stderr)
			}
		}
		mustCode(t, res, mirror.ExitFailure)
		if got, err := repo(t, strict.Host, "m/org/plain").Resolve(ctx, "v1"); err != nil || got.Digest != plain.Digest {
			t.Fatalf("the plain image was not pushed: %v %v", got.Digest, err)
		}
	})

	t.Run("delta, same platforms", func(t *testing.T) {
		d := filepath.Join(work, "same")
		res := pack(t, "-c", isc, "--src-tls-verify=false", "--base", receipt, "file://"+d)
		mustCode(t, res, 0)
		// The arm64 manifest is neither moved nor counted as in the base.
		if got := summaryLine(res.stdout+res.stderr, "total"); got != total || total == "" {
			t.Errorf("the delta's total is %q, the first pack's %q", got, total)
		}
		dr, err := archive.Open(d)
		if err != nil {
			t.Fatal(err)
		}
		defer dr.Close()
		if n := dr.Format().NumBlobs(); n != 0 {
			t.Fatalf("the delta carries %d blobs, want none", n)
		}
	})

	t.Run("delta, every platform", func(t *testing.T) {
		d := filepath.Join(work, "whole")
		mustCode(t, pack(t, "-c", whole, "--src-tls-verify=false", "--base", receipt, "file://"+d), 0)
		dr, err := archive.Open(d)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			name string
			d    ocispec.Descriptor
			want bool
		}{{"arm64 manifest", arm, true}, {"amd64 manifest", amd, false}} {
			if ok, _ := dr.Exists(ctx, c.d); ok != c.want {
				t.Errorf("%s in the delta = %v, want %v", c.name, ok, c.want)
			}
		}
		dr.Close()
		mustCode(t, unpackTo(dst, d, receipt), 0)
		present(t, dst.Host, map[string]bool{"amd64 manifest": true, "arm64 manifest": true, "signature": true})
		rec, _, err := archive.LoadReceipt(receipt)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range rec.Content {
			if e.Digest == idx.Digest && len(e.Omitted) != 0 {
				t.Errorf("after the whole copy the receipt still says the index omits %v", e.Omitted)
			}
		}
	})
}

// signedTwoPlatformIndex pushes to host org/multi:v1, an index of an amd64
// and an arm64 image, and a signature of the index (a referrer).
func signedTwoPlatformIndex(t *testing.T, host string) (amd, arm, idx, sig ocispec.Descriptor) {
	t.Helper()
	ctx := context.Background()
	r := repo(t, host, "org/multi")
	var err error
	if amd, err = archivetest.Image(ctx, r, "amd64", archivetest.Blob(1, 300, false)); err != nil {
		t.Fatal(err)
	}
	if arm, err = archivetest.Image(ctx, r, "arm64", archivetest.Blob(2, 300, false)); err != nil {
		t.Fatal(err)
	}
	if idx, err = archivetest.Index(ctx, r, amd, arm); err != nil {
		t.Fatal(err)
	}
	if err := r.Tag(ctx, idx, "v1"); err != nil {
		t.Fatal(err)
	}
	if sig, err = archivetest.Referrer(ctx, r, idx, "application/vnd.example.signature", []byte("index signature")); err != nil {
		t.Fatal(err)
	}
	return amd, arm, idx, sig
}
