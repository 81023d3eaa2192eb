package e2e

// The real cosign, built from the Go module proxy into the user's cache
// (os.UserCacheDir()/enclave/bin) in the background while the other tests
// run, signs an image in the source registry; after pack and unpack,
// `cosign verify --key` accepts the mirrored image at the destination.

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/enclave-mirror/enclave/archive/archivetest"
	"github.com/enclave-mirror/enclave/internal/testing/regserver"
)

// cosignModule is the cosign built for the test, at a pinned version.
const (
	cosignModule  = "github.com/sigstore/cosign/v2/cmd/cosign"
	cosignVersion = "v2.6.5"
	cosignTest    = "TestCosignVerifiesMirroredImage"
)

// cosignBuild is the background build TestMain starts.
var cosignBuild struct {
	done chan struct{}
	path string
	err  error
	log  string
}

// cosignPath is where the binary is cached.
func cosignPath() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "enclave", "bin", "cosign-"+cosignVersion, "cosign"), nil
}

// startCosignBuild starts building cosign in the background when this run
// includes cosignTest and the binary is not cached yet. It is not with
// -short, nor with ENCLAVE_NO_COSIGN set. The build may outlive the test
// binary: it then finishes for the next run.
func startCosignBuild() {
	if !flag.Parsed() {
		flag.Parse()
	}
	cosignBuild.done = make(chan struct{})
	path, err := cosignPath()
	cosignBuild.path, cosignBuild.err = path, err
	if err != nil || testing.Short() || os.Getenv("ENCLAVE_NO_COSIGN") != "" || !runsTest(cosignTest) {
		close(cosignBuild.done)
		return
	}
	if _, err := os.Stat(path); err == nil {
		close(cosignBuild.done)
		return
	}
	go func() {
		defer close(cosignBuild.done)
		cosignBuild.err = buildCosign(path)
	}()
}

// buildCosign runs go install into a temporary GOBIN next to path, then
// renames the binary into place, so a cached binary is always complete.
func buildCosign(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".cosign-build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	cmd := exec.Command("go", "install", cosignModule+"@"+cosignVersion)
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOFLAGS=-buildvcs=false", "GOTOOLCHAIN=local", "CGO_ENABLED=0")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	cosignBuild.log = lastLines(out.String(), 5)
	if err != nil {
		return fmt.Errorf("go install %s@%s: %w", cosignModule, cosignVersion, err)
	}
	return os.Rename(filepath.Join(tmp, "cosign"), path)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// runsTest reports whether -test.run and -test.skip let name run.
func runsTest(name string) bool {
	match := func(flagName string, empty bool) bool {
		f := flag.Lookup(flagName)
		if f == nil || f.Value.String() == "" {
			return empty
		}
		top, _, _ := strings.Cut(f.Value.String(), "/")
		re, err := regexp.Compile(top)
		return err != nil || re.MatchString(name)
	}
	return match("test.run", true) && !match("test.skip", false)
}

// maxCosignWait bounds how long the test waits for the build once the
// other tests are done (a first build fetches and compiles some 300
// modules: about 15 minutes on two busy cores).
const maxCosignWait = 12 * time.Minute

// cosignBinary returns the cosign binary, waiting for the background build
// (maxCosignWait at most, and until shortly before the test's deadline); it skips the test, saying why,
// when cosign cannot be had.
func cosignBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() || os.Getenv("ENCLAVE_NO_COSIGN") != "" {
		t.Skip("cosign: skipped (-short or ENCLAVE_NO_COSIGN)")
	}
	wait := maxCosignWait
	if d, ok := t.Deadline(); ok {
		wait = min(wait, time.Until(d)-2*time.Minute)
	}
	select {
	case <-cosignBuild.done:
	case <-time.After(max(wait, 0)):
		t.Skipf("cosign: still building %s@%s in the background into %s; run the test again once it is there", cosignModule, cosignVersion, cosignBuild.path)
	}
	if cosignBuild.err != nil {
		t.Skipf("cosign: cannot be had (%v); %s", cosignBuild.err, cosignBuild.log)
	}
	if _, err := os.Stat(cosignBuild.path); err != nil {
		t.Skipf("cosign: %v", err)
	}
	return cosignBuild.path
}

// cosignCmd runs cosign in dir with a home of its own (no keys, no TUF
// cache, no credentials of the user's), the key's password set, and no way
// out of loopback.
func cosignCmd(t *testing.T, bin, dir string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir, "DOCKER_CONFIG="+filepath.Join(dir, ".docker"), "TUF_ROOT="+filepath.Join(dir, ".sigstore"),
		"COSIGN_PASSWORD=enclave-test-password", "COSIGN_YES=true", "SIGSTORE_NO_CACHE=true",
		// Nothing beyond loopback: cosign asks the public TUF repository for
		// a trusted root even when verifying with a key, and gets a refused
		// connection from a proxy that does not exist (loopback registries
		// are never proxied).
		"HTTPS_PROXY=http://127.0.0.1:9", "HTTP_PROXY=http://127.0.0.1:9", "NO_PROXY=", "https_proxy=", "http_proxy=", "no_proxy=")
	out, err := cmd.CombinedOutput()
	if testing.Verbose() {
		t.Logf("cosign %s\n%s", strings.Join(args, " "), out)
	}
	return string(out), err
}

// TestCosignVerifiesMirroredImage: `cosign sign --key` (no transparency
// log) signs a multi-arch image and each of its platform manifests in the
// source registry; after pack and unpack, `cosign verify --key` accepts
// the image and a platform manifest at the destination, and refuses the
// copy unpacked with --remove-signatures. It also accepts the signatures
// the other tests make by hand, at their destination.
func TestCosignVerifiesMirroredImage(t *testing.T) {
	t.Parallel() // waits for the build while the other tests run
	bin := cosignBinary(t)
	ctx := context.Background()
	src := regserver.New(t, regserver.Options{})
	dst := regserver.New(t, regserver.Options{})
	work := t.TempDir()

	signed := repo(t, src.Host, "team/signed")
	amd, err := archivetest.Image(ctx, signed, "amd64", archivetest.Blob(71, 30<<10, true))
	if err != nil {
		t.Fatal(err)
	}
	arm, err := archivetest.Image(ctx, signed, "arm64", archivetest.Blob(72, 30<<10, true))
	if err != nil {
		t.Fatal(err)
	}
	idx, err := archivetest.Index(ctx, signed, amd, arm)
	if err != nil {
		t.Fatal(err)
	}
	if err := signed.Tag(ctx, idx, "v1"); err != nil {
		t.Fatal(err)
	}
	keys := filepath.Join(work, "keys")
	os.MkdirAll(keys, 0o700)
	if out, err := cosignCmd(t, bin, keys, "generate-key-pair"); err != nil {
		t.Fatalf("cosign generate-key-pair: %v\n%s", err, out)
	}
	ref := src.Host + "/team/signed@" + idx.Digest.String()
	if out, err := cosignCmd(t, bin, keys, "sign", "--key", "cosign.key", "--tlog-upload=false", "--recursive",
		"--allow-http-registry", "--allow-insecure-registry", ref); err != nil {
		t.Fatalf("cosign sign: %v\n%s", err, out)
	}
	// cosign stored its signatures as cosign tags.
	for _, d := range []ocispec.Descriptor{idx, amd} {
		if _, err := signed.Resolve(ctx, cosignTagOf(d.Digest, ".sig")); err != nil {
			t.Fatalf("cosign did not tag %s: %v", cosignTagOf(d.Digest, ".sig"), err)
		}
	}

	isc := filepath.Join(work, "isc.yaml")
	os.WriteFile(isc, []byte("kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  additionalImages:\n  - name: "+src.Host+"/team/signed:v1\n"), 0o644)
	dir := filepath.Join(work, "content")
	mustCode(t, pack(t, "-c", isc, "--src-tls-verify=false", "file://"+dir), 0)
	mustCode(t, unpack(t, "--from", "file://"+dir, "--dest-tls-verify=false", "--receipt", filepath.Join(work, "r.json"), "--cluster-resources", filepath.Join(work, "cr"), "docker://"+dst.Host+"/mirror"), 0)
	verify := func(image string) (string, error) {
		return cosignCmd(t, bin, keys, "verify", "--key", "cosign.pub", "--offline=true", "--insecure-ignore-tlog=true", "--allow-http-registry", "--allow-insecure-registry", image)
	}
	for _, d := range []ocispec.Descriptor{idx, amd} {
		out, err := verify(dst.Host + "/mirror/team/signed@" + d.Digest.String())
		if err != nil {
			t.Fatalf("cosign verify of the mirrored %s: %v\n%s", d.Digest, err, out)
		}
		if !strings.Contains(out, d.Digest.String()) {
			t.Fatalf("cosign verify does not name %s:\n%s", d.Digest, out)
		}
	}

	mustCode(t, unpack(t, "--remove-signatures", "--from", "file://"+dir, "--dest-tls-verify=false", "--receipt", filepath.Join(work, "r2.json"), "--cluster-resources", filepath.Join(work, "cr2"), "docker://"+dst.Host+"/unsigned"), 0)
	if out, err := verify(dst.Host + "/unsigned/team/signed@" + idx.Digest.String()); err == nil {
		t.Fatalf("cosign verify accepted an image unpacked with --remove-signatures:\n%s", out)
	}

	// The hand-made signatures of the other tests verify with cosign too.
	set := newSignedSet(t, 3)
	os.WriteFile(filepath.Join(keys, "handmade.pub"), set.c.publicKeyPEM(t), 0o644)
	dir2 := filepath.Join(work, "handmade")
	mustCode(t, pack(t, "-c", set.isc, "--src-tls-verify=false", "file://"+dir2), 0)
	mustCode(t, unpack(t, "--from", "file://"+dir2, "--dest-tls-verify=false", "--receipt", filepath.Join(work, "r3.json"), "--cluster-resources", filepath.Join(work, "cr3"), "docker://"+dst.Host+"/handmade"), 0)
	for _, image := range []string{"team/tool@" + set.s.Tags["team/tool:v3"].Digest.String(), "library/app@" + set.s.Tags["library/app:v3"].Digest.String()} {
		if out, err := cosignCmd(t, bin, keys, "verify", "--key", "handmade.pub", "--offline=true", "--insecure-ignore-tlog=true", "--allow-http-registry", "--allow-insecure-registry",
			dst.Host+"/handmade/"+image); err != nil {
			t.Fatalf("cosign verify of the hand-made signature of %s: %v\n%s", image, err, out)
		}
	}
}
