// Package e2e runs enclave-pack and enclave-unpack, in-process, against real
// CNCF distribution registries on loopback: the workflows users run.
package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/enclave-mirror/enclave/archive"
	"github.com/enclave-mirror/enclave/archive/archivetest"
	"github.com/enclave-mirror/enclave/internal/testing/faultproxy"
	"github.com/enclave-mirror/enclave/internal/testing/regserver"
	"github.com/enclave-mirror/enclave/mirror"
	"github.com/enclave-mirror/enclave/tools/internal/cli"
)

type run struct {
	code           int
	stdout, stderr string
}

func pack(t *testing.T, args ...string) run {
	t.Helper()
	return runApp(t, "pack", args)
}

func unpack(t *testing.T, args ...string) run {
	t.Helper()
	return runApp(t, "unpack", args)
}

func runApp(t *testing.T, which string, args []string) run {
	t.Helper()
	args = clusterResourcesInTemp(t, which, args)
	var out, errb bytes.Buffer
	app := cli.PackApp()
	if which == "unpack" {
		app = cli.UnpackApp()
	}
	code := cli.Run(context.Background(), app, append([]string{app.Name}, args...), &out, &errb)
	r := run{code, out.String(), errb.String()}
	if testing.Verbose() {
		t.Logf("enclave-%s %s -> %d\nstdout:\n%s\nstderr:\n%s", which, strings.Join(args, " "), code, r.stdout, r.stderr)
	}
	return r
}

// clusterResourcesInTemp gives a pack into a registry that names no
// --cluster-resources directory a temporary one, so that the tests never
// write the cluster resources into the source tree (the default is
// ./cluster-resources).
func clusterResourcesInTemp(t *testing.T, which string, args []string) []string {
	t.Helper()
	n := len(args)
	if which != "pack" || n == 0 || !strings.HasPrefix(args[n-1], "docker://") {
		return args
	}
	for _, a := range args {
		if a == "list" || strings.HasPrefix(a, "--cluster-resources") {
			return args
		}
	}
	return append(append(args[:n-1:n-1], "--cluster-resources", t.TempDir()), args[n-1])
}

func mustCode(t *testing.T, r run, want int) {
	t.Helper()
	if r.code != want {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, want, r.stdout, r.stderr)
	}
}

func repo(t *testing.T, host, name string) *remote.Repository {
	t.Helper()
	r, err := remote.NewRepository(host + "/" + name)
	if err != nil {
		t.Fatal(err)
	}
	r.PlainHTTP = true
	return r
}

func repoFunc(t *testing.T, host string) archivetest.RepoFunc {
	return func(name string) (oras.Target, error) { return repo(t, host, name), nil }
}

// seed pushes a sample set into a new registry and writes an isc.yaml naming
// its tagged images by srcName (the registry host, or a name mapped by
// registries.conf).
func seed(t *testing.T, reg *regserver.Registry, variant uint64, srcName string) (*archivetest.Sample, string) {
	t.Helper()
	s, err := archivetest.SampleSet(context.Background(), repoFunc(t, reg.Host), variant, 300<<10)
	if err != nil {
		t.Fatal(err)
	}
	return s, writeISC(t, s, srcName)
}

func writeISC(t *testing.T, s *archivetest.Sample, srcName string, extra ...string) string {
	var b strings.Builder
	b.WriteString("kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  additionalImages:\n")
	for ref := range s.Tags {
		fmt.Fprintf(&b, "  - name: %s/%s\n", srcName, ref)
	}
	for _, e := range extra {
		fmt.Fprintf(&b, "  - name: %s\n", e)
	}
	p := filepath.Join(t.TempDir(), "isc.yaml")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// checkMirrored asserts every sample image is at dst/prefix/<repo>:<tag>
// with the source's digest and every blob fetchable.
func checkMirrored(t *testing.T, src *regserver.Registry, s *archivetest.Sample, dst *regserver.Registry, prefix string) {
	t.Helper()
	ctx := context.Background()
	for ref, root := range s.Tags {
		name, tag, _ := strings.Cut(ref, ":")
		d := repo(t, dst.Host, prefix+"/"+name)
		got, err := d.Resolve(ctx, tag)
		if err != nil {
			t.Fatalf("%s at destination: %v", ref, err)
		}
		if got.Digest != root.Digest {
			t.Fatalf("%s: destination digest %s, source %s", ref, got.Digest, root.Digest)
		}
		if err := archivetest.SameGraph(ctx, repo(t, src.Host, name), d, root); err != nil {
			t.Fatalf("%s: %v", ref, err)
		}
		skopeoCheck(t, dst.Host+"/"+prefix+"/"+name+":"+tag, root.Digest)
	}
}

// skopeoCheck uses skopeo, an independent client, when installed: the
// manifest it reads must have the source's digest, and copying the image to a
// directory fetches (and verifies) every blob.
func skopeoCheck(t *testing.T, ref string, want digest.Digest) {
	t.Helper()
	if _, err := exec.LookPath("skopeo"); err != nil {
		return
	}
	raw, err := exec.Command("skopeo", "inspect", "--raw", "--tls-verify=false", "docker://"+ref).Output()
	if err != nil {
		t.Fatalf("skopeo inspect %s: %v", ref, err)
	}
	if got := digest.FromBytes(raw); got != want {
		t.Fatalf("skopeo reads %s as %s, want %s", ref, got, want)
	}
	dir := t.TempDir()
	if out, err := exec.Command("skopeo", "copy", "--all", "--src-tls-verify=false", "docker://"+ref, "dir:"+dir).CombinedOutput(); err != nil {
		t.Fatalf("skopeo copy %s: %v\n%s", ref, err, out)
	}
}

// checkReceiptTrue asserts that every repository the receipt says holds a
// digest does hold it at dst (a manifest by digest, a blob by HEAD): a
// later delta is cut against these claims.
func checkReceiptTrue(t *testing.T, rec *archive.Receipt, dst *regserver.Registry, ar *archive.Reader) {
	t.Helper()
	ctx := context.Background()
	for _, e := range rec.Content {
		desc, ok, err := ar.Descriptor(ctx, e.Digest)
		if err != nil || !ok {
			desc = ocispec.Descriptor{Digest: e.Digest, Size: e.Size, MediaType: e.MediaType}
		}
		for _, name := range e.Repositories {
			if ok, err := repo(t, dst.Host, name).Exists(ctx, desc); err != nil || !ok {
				t.Errorf("the receipt says %s holds %s (%s), the registry says %v %v", name, e.Digest, desc.MediaType, ok, err)
			}
		}
	}
}

// checkDoneSizes asserts each image's "done" line gives the size it moved
// (the line has none when nothing was counted).
func checkDoneSizes(t *testing.T, r run, verb, host string, s *archivetest.Sample) {
	t.Helper()
	for ref := range s.Tags {
		line := verb + ": done " + host + "/" + ref + " ("
		if !strings.Contains(r.stderr, line) {
			t.Errorf("no %q line with a size:\n%s", line, r.stderr)
		}
	}
}

// writeCounter counts requests that write to a registry.
type writeCounter struct{ n atomic.Int64 }

func (c *writeCounter) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut || r.Method == http.MethodPost || r.Method == http.MethodPatch {
			c.n.Add(1)
		}
		h.ServeHTTP(w, r)
	})
}

func TestFullPackUnpack(t *testing.T) {
	src := regserver.New(t, regserver.Options{})
	var writes writeCounter
	dst := regserver.New(t, regserver.Options{Wrap: writes.wrap})
	s, isc := seed(t, src, 1, src.Host)
	work := t.TempDir()
	dir := filepath.Join(work, "content")

	r := pack(t, "-c", isc, "--src-tls-verify=false", "--volume-size", "300KiB", "--chunk-size", "64KiB", "file://"+dir)
	mustCode(t, r, 0)
	if !strings.Contains(r.stdout, "archive "+dir) {
		t.Fatalf("pack output does not name the archive:\n%s", r.stdout)
	}
	checkDoneSizes(t, r, "pack", src.Host, s)
	r = unpack(t, "inspect", "file://"+dir)
	mustCode(t, r, 0)
	for ref := range s.Tags {
		if !strings.Contains(r.stdout, src.Host+"/"+ref) {
			t.Fatalf("inspect does not list %s:\n%s", ref, r.stdout)
		}
	}
	mustCode(t, unpack(t, "verify", "file://"+dir), 0)

	rec := filepath.Join(work, "receipt.json")
	crd := filepath.Join(work, "cluster-resources")
	args := []string{"--from", "file://" + dir, "--dest-tls-verify=false", "--receipt", rec, "--cluster-resources", crd, "docker://" + dst.Host + "/mirror"}
	r = unpack(t, args...)
	mustCode(t, r, 0)
	checkDoneSizes(t, r, "unpack", src.Host, s)
	checkMirrored(t, src, s, dst, "mirror")

	// Receipt: every blob of the archive is recorded in its repository.
	receipt, _, err := archive.LoadReceipt(rec)
	if err != nil {
		t.Fatal(err)
	}
	ar, err := archive.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ar.Close()
	if len(receipt.Archives) != 1 || receipt.Archives[0].Digest != ar.Digest() {
		t.Fatalf("receipt archives = %+v", receipt.Archives)
	}
	if len(receipt.Content) < ar.Format().NumBlobs() {
		t.Fatalf("receipt lists %d digests, the archive holds %d blobs", len(receipt.Content), ar.Format().NumBlobs())
	}
	checkReceiptTrue(t, receipt, dst, ar)
	// Cluster resources name the mirror for each source repository.
	idms, _ := filepath.Glob(filepath.Join(crd, "imagedigestmirrorset*.yaml"))
	if len(idms) != 1 {
		t.Fatalf("IDMS files: %v", idms)
	}
	b, _ := os.ReadFile(idms[0])
	for ref := range s.Tags {
		name, _, _ := strings.Cut(ref, ":")
		if !strings.Contains(string(b), src.Host+"/"+name) || !strings.Contains(string(b), dst.Host+"/mirror/"+name) {
			t.Fatalf("IDMS lacks %s:\n%s", name, b)
		}
	}

	// A second identical run writes nothing and succeeds.
	before := writes.n.Load()
	mustCode(t, unpack(t, args...), 0)
	if n := writes.n.Load() - before; n != 0 {
		t.Fatalf("second unpack made %d write requests, want 0", n)
	}
}

func TestDeltaChainThroughReceipts(t *testing.T) {
	src := regserver.New(t, regserver.Options{})
	dst := regserver.New(t, regserver.Options{})
	s1, isc1 := seed(t, src, 1, src.Host)
	work := t.TempDir()
	rec := filepath.Join(work, "receipt.json")
	dest := "docker://" + dst.Host + "/mirror"
	a := filepath.Join(work, "a")
	mustCode(t, pack(t, "-c", isc1, "--src-tls-verify=false", "file://"+a), 0)
	mustCode(t, unpack(t, "--from", "file://"+a, "--dest-tls-verify=false", "--receipt", rec, "--cluster-resources", filepath.Join(work, "cr"), dest), 0)

	// The second release shares the base layers; cut against the receipt.
	s2, err := archivetest.SampleSet(context.Background(), repoFunc(t, src.Host), 2, 300<<10)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range s1.Tags {
		s2.Tags[k] = v
	}
	isc2 := writeISC(t, s2, src.Host)
	b := filepath.Join(work, "b")
	r := pack(t, "-c", isc2, "--src-tls-verify=false", "--base", rec, "file://"+b)
	mustCode(t, r, 0)
	ra, _ := archive.Open(a)
	rb, _ := archive.Open(b)
	defer ra.Close()
	defer rb.Close()
	if rb.Delta() == nil || len(rb.Delta().Prerequisites) == 0 {
		t.Fatal("the archive cut against a receipt has no prerequisites")
	}
	if rb.Format().NumBlobs() >= ra.Format().NumBlobs()+8 {
		t.Fatalf("delta archive holds %d blobs (full one %d): nothing was left out", rb.Format().NumBlobs(), ra.Format().NumBlobs())
	}
	for _, p := range rb.Delta().Prerequisites {
		if _, ok := rb.Format().Lookup(p.Digest); ok {
			t.Fatalf("prerequisite %s is inside the archive", p.Digest)
		}
	}

	// Unpacking B into an empty registry is refused before anything is
	// written, naming what is missing.
	var writes writeCounter
	empty := regserver.New(t, regserver.Options{Wrap: writes.wrap})
	r = unpack(t, "--from", "file://"+b, "--dest-tls-verify=false", "--receipt", filepath.Join(work, "other.json"), "--cluster-resources", filepath.Join(work, "cr2"), "docker://"+empty.Host+"/mirror")
	mustCode(t, r, mirror.ExitIntegrity)
	if !strings.Contains(r.stderr, "lacks") || writes.n.Load() != 0 {
		t.Fatalf("preflight: %d writes, stderr:\n%s", writes.n.Load(), r.stderr)
	}

	mustCode(t, unpack(t, "--from", "file://"+b, "--dest-tls-verify=false", "--receipt", rec, "--cluster-resources", filepath.Join(work, "cr"), dest), 0)
	checkMirrored(t, src, s2, dst, "mirror")

	// C against the receipt that now records A and B: nothing left to pack.
	c := filepath.Join(work, "c")
	mustCode(t, pack(t, "-c", isc2, "--src-tls-verify=false", "--base", rec, "file://"+c), 0)
	rc, _ := archive.Open(c)
	defer rc.Close()
	if n := rc.Format().NumBlobs(); n != 0 {
		t.Fatalf("archive cut against a complete receipt holds %d blobs", n)
	}
}

func TestSubsetUnpackAndMirrorToMirror(t *testing.T) {
	src := regserver.New(t, regserver.Options{})
	dst := regserver.New(t, regserver.Options{})
	s, isc := seed(t, src, 1, src.Host)
	work := t.TempDir()
	dir := filepath.Join(work, "content")
	mustCode(t, pack(t, "-c", isc, "--src-tls-verify=false", "file://"+dir), 0)

	// -c names one image of the two.
	one := &archivetest.Sample{Tags: map[string]ocispec.Descriptor{"team/tool:v1": s.Tags["team/tool:v1"]}}
	sub := writeISC(t, one, src.Host)
	mustCode(t, unpack(t, "-c", sub, "--from", "file://"+dir, "--dest-tls-verify=false", "--receipt", filepath.Join(work, "r.json"), "--cluster-resources", filepath.Join(work, "cr"), "docker://"+dst.Host+"/enclave1"), 0)
	checkMirrored(t, src, one, dst, "enclave1")
	if _, err := repo(t, dst.Host, "enclave1/library/app").Resolve(context.Background(), "v1"); err == nil {
		t.Fatal("an image the subset does not name was pushed")
	}

	// Mirror to mirror.
	mustCode(t, pack(t, "-c", isc, "--src-tls-verify=false", "--dest-tls-verify=false", "docker://"+dst.Host+"/m2m"), 0)
	checkMirrored(t, src, s, dst, "m2m")
}

func TestRegistriesConfKeepsNames(t *testing.T) {
	mirrorReg := regserver.New(t, regserver.Options{})
	dst := regserver.New(t, regserver.Options{})
	// The images live only on the mirror; the config names them by their
	// original registry, which does not exist here.
	s, isc := seed(t, mirrorReg, 1, "quay.example.com")
	work := t.TempDir()
	conf := filepath.Join(work, "registries.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf("[[registry]]\nprefix = \"quay.example.com\"\nlocation = \"quay.example.com\"\n[[registry.mirror]]\nlocation = %q\ninsecure = true\n", mirrorReg.Host)), 0o644)
	dir := filepath.Join(work, "content")
	mustCode(t, pack(t, "-c", isc, "--registries-conf", conf, "file://"+dir), 0)
	r := unpack(t, "inspect", "file://"+dir)
	if !strings.Contains(r.stdout, "quay.example.com/library/app:v1") {
		t.Fatalf("archive does not keep the original names:\n%s", r.stdout)
	}
	mustCode(t, unpack(t, "--from", "file://"+dir, "--dest-tls-verify=false", "--receipt", filepath.Join(work, "r.json"), "--cluster-resources", filepath.Join(work, "cr"), "docker://"+dst.Host+"/mirror"), 0)
	checkMirrored(t, mirrorReg, s, dst, "mirror")
	idms, _ := filepath.Glob(filepath.Join(work, "cr", "imagedigestmirrorset*.yaml"))
	b, _ := os.ReadFile(idms[0])
	if !strings.Contains(string(b), "quay.example.com/library/app") {
		t.Fatalf("IDMS does not map the original name:\n%s", b)
	}
}

func TestAuthFile(t *testing.T) {
	src := regserver.New(t, regserver.Options{Username: "alice", Password: "s3cret-pass"})
	ctx := context.Background()
	authRepo := func(name string) (oras.Target, error) {
		r := repo(t, src.Host, name)
		r.Client = authClient(src.Host, "alice", "s3cret-pass")
		return r, nil
	}
	s, err := archivetest.SampleSet(ctx, authRepo, 1, 1000)
	if err != nil {
		t.Fatal(err)
	}
	isc := writeISC(t, s, src.Host)
	work := t.TempDir()
	good := filepath.Join(work, "auth.json")
	os.WriteFile(good, []byte(fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, src.Host, base64.StdEncoding.EncodeToString([]byte("alice:s3cret-pass")))), 0o600)
	mustCode(t, pack(t, "-c", isc, "--src-tls-verify=false", "--authfile", good, "file://"+filepath.Join(work, "ok")), 0)

	bad := filepath.Join(work, "bad.json")
	os.WriteFile(bad, []byte(fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, src.Host, base64.StdEncoding.EncodeToString([]byte("alice:wrong-pass")))), 0o600)
	r := pack(t, "-c", isc, "--src-tls-verify=false", "--authfile", bad, "--log-level", "debug", "file://"+filepath.Join(work, "bad"))
	mustCode(t, r, mirror.ExitRegistry) // every image failed on auth
	for _, secret := range []string{"wrong-pass", "s3cret-pass", base64.StdEncoding.EncodeToString([]byte("alice:wrong-pass"))} {
		if strings.Contains(r.stdout+r.stderr, secret) {
			t.Fatalf("output contains a credential (%q)", secret)
		}
	}
}

func TestFailingImageAmongGood(t *testing.T) {
	src := regserver.New(t, regserver.Options{})
	s, _ := seed(t, src, 1, src.Host)
	isc := writeISC(t, s, src.Host, src.Host+"/library/app:does-not-exist")
	dir := filepath.Join(t.TempDir(), "content")
	r := pack(t, "-c", isc, "--src-tls-verify=false", "file://"+dir)
	mustCode(t, r, mirror.ExitFailure) // partly failed
	if !strings.Contains(r.stdout+r.stderr, "does-not-exist") {
		t.Fatalf("the failure is not named:\n%s\n%s", r.stdout, r.stderr)
	}
	// The archive holds what succeeded.
	ar, err := archive.Open(dir)
	if err != nil {
		t.Fatalf("no archive written after one failure: %v", err)
	}
	defer ar.Close()
	tagged := 0
	for _, root := range ar.Roots() {
		if len(root.References) > 0 {
			tagged++
		}
	}
	if tagged != len(s.Tags) {
		t.Fatalf("archive holds %d images, want %d", tagged, len(s.Tags))
	}
}

// TestDamagedArchiveRefusedBeforeWrites: a bit flipped in a volume.
// unpack --verify-first refuses it before any write; the default single
// pass exits 3 as well, having written no tag over missing content.
func TestDamagedArchiveRefusedBeforeWrites(t *testing.T) {
	src := regserver.New(t, regserver.Options{})
	var writes writeCounter
	dst := regserver.New(t, regserver.Options{Wrap: writes.wrap})
	_, isc := seed(t, src, 1, src.Host)
	work := t.TempDir()
	dir := filepath.Join(work, "content")
	mustCode(t, pack(t, "-c", isc, "--src-tls-verify=false", "--volume-size", "300KiB", "--chunk-size", "64KiB", "file://"+dir), 0)
	// Flip one bit in the middle of the first volume.
	p := filepath.Join(dir, archive.VolumeName(1))
	b, _ := os.ReadFile(p)
	b[len(b)/2] ^= 0x10
	os.WriteFile(p, b, 0o644)
	r := unpack(t, "verify", "file://"+dir)
	mustCode(t, r, mirror.ExitIntegrity)
	if !strings.Contains(r.stdout, "volume 1") {
		t.Fatalf("verify does not name the volume:\n%s", r.stdout)
	}
	r = unpack(t, "--from", "file://"+dir, "--dest-tls-verify=false", "--verify-first", "--receipt", filepath.Join(work, "r.json"), "--cluster-resources", filepath.Join(work, "cr"), "docker://"+dst.Host+"/mirror")
	mustCode(t, r, mirror.ExitIntegrity)
	if writes.n.Load() != 0 {
		t.Fatalf("--verify-first: %d write requests reached the registry from a damaged archive", writes.n.Load())
	}
	one := regserver.New(t, regserver.Options{})
	r = unpack(t, "--from", "file://"+dir, "--dest-tls-verify=false", "--receipt", filepath.Join(work, "r1.json"), "--cluster-resources", filepath.Join(work, "cr1"), "docker://"+one.Host+"/mirror")
	mustCode(t, r, mirror.ExitIntegrity)
	checkNoDanglingTags(t, dir, one)
}

// TestReceiptAfterAFailedImage: the destination refuses every write into
// one repository (DENIED). The receipt records what the other image put in
// its repository and nothing of the refused one, although both share the
// base layer: a later delta is cut against it, and would otherwise leave
// out what the destination lacks.
func TestReceiptAfterAFailedImage(t *testing.T) {
	f := packFixture(t, 7)
	dst, _, _ := faulty(t, faultproxy.Rule{Path: `^/v2/mirror/team/tool/(blobs|manifests)/`, Method: http.MethodPost,
		Fault: faultproxy.OCIError(http.StatusForbidden, "DENIED", "requested access to the resource is denied")},
		faultproxy.Rule{Path: `^/v2/mirror/team/tool/(blobs|manifests)/`, Method: http.MethodPut,
			Fault: faultproxy.OCIError(http.StatusForbidden, "DENIED", "requested access to the resource is denied")})
	args := unpackArgs(t, f.dir, dst.Host)
	r := unpack(t, args...)
	mustCode(t, r, mirror.ExitFailure)
	mustSay(t, r, "team/tool:v7", "DENIED")
	var receiptPath string
	for i, a := range args {
		if a == "--receipt" {
			receiptPath = args[i+1]
		}
	}
	rec, _, err := archive.LoadReceipt(receiptPath)
	if err != nil {
		t.Fatal(err)
	}
	ar, err := archive.Open(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ar.Close()
	checkReceiptTrue(t, rec, dst, ar)
	app := 0
	for _, e := range rec.Content {
		for _, name := range e.Repositories {
			switch name {
			case "mirror/team/tool":
				t.Errorf("the receipt says the refused repository holds %s", e.Digest)
			case "mirror/library/app":
				app++
			}
		}
	}
	if app == 0 {
		t.Fatal("the receipt records nothing of the image that was pushed")
	}
}
