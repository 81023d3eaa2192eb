package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"github.com/enclave-mirror/enclave/archive"
	"github.com/enclave-mirror/enclave/internal/testing/regserver"
	"github.com/enclave-mirror/enclave/release"
	"github.com/enclave-mirror/enclave/release/releasetest"
)

// TestPlatformPlatformsSparse: mirror.platform.platforms: [linux/amd64]
// selects the multi payload and copies it sparse, as oc-mirror v2 does. The
// archive holds the payload index unchanged with its amd64 manifest only
// (the arm64 one omitted); unpacked into a registry that accepts sparse
// indexes, the payload keeps its digest (its signature stays valid), the
// amd64 manifest is there and the arm64 one is not, and every component is
// mirrored.
func TestPlatformPlatformsSparse(t *testing.T) {
	ctx := context.Background()
	inet := regserver.New(t, regserver.Options{})
	gen := &releasetest.Generator{
		Payloads: repo(t, inet.Host, "openshift-release-dev/ocp-release"), PayloadRepo: release.OCPReleaseRepo,
		Components: repo(t, inet.Host, "openshift-release-dev/ocp-v4.0-art-dev"), ComponentRepo: release.OCPComponentRepo,
		Seed: 11,
	}
	p, err := gen.Push(ctx, releasetest.ReleaseSpec{Version: "4.15.6", Arch: "multi"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := content.FetchAll(ctx, repo(t, inet.Host, "openshift-release-dev/ocp-release"), p.Descriptor)
	if err != nil {
		t.Fatal(err)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(b, &idx); err != nil || len(idx.Manifests) != 2 {
		t.Fatalf("the multi payload is no two-platform index: %v", err)
	}
	amd, arm := idx.Manifests[0], idx.Manifests[1]
	if amd.Platform.Architecture != "amd64" || arm.Platform.Architecture != "arm64" {
		t.Fatalf("payload platforms %v %v", amd.Platform, arm.Platform)
	}
	key, err := releasetest.NewKey("release signing key")
	if err != nil {
		t.Fatal(err)
	}
	sigs := releasetest.NewSignatureServer(nil)
	t.Cleanup(sigs.Close)
	s, err := key.SignRelease(release.OCPReleaseRepo+":"+p.Tag, p.Descriptor.Digest)
	if err != nil {
		t.Fatal(err)
	}
	sigs.Add(p.Descriptor.Digest, s)
	pub, err := key.ArmoredPublicKey()
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	keyFile := writeFile(t, work, "release-key.asc", string(pub))
	t.Setenv(release.EnvSignatureKey, "")
	t.Setenv(release.EnvUpdateURL, "")
	t.Setenv(release.EnvSignatureURL, sigs.URL)
	conf := writeFile(t, work, "registries.conf", fmt.Sprintf(
		"[[registry]]\nprefix = \"quay.io/openshift-release-dev\"\nlocation = \"%s/openshift-release-dev\"\ninsecure = true\n", inet.Host))
	isc := writeFile(t, work, "isc.yaml", "kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  platform:\n    release: "+p.Reference+"\n    platforms:\n      - os: linux\n        architecture: amd64\n")

	a := filepath.Join(work, "a")
	res := pack(t, "-c", isc, "--registries-conf", conf, "--release-key", keyFile, "file://"+a)
	mustCode(t, res, 0)
	if !strings.Contains(res.stderr, "mirror.platform.platforms: releases are selected from the multi-architecture graph and their images copied sparse") {
		t.Errorf("no warning about the sparse copy:\n%s", res.stderr)
	}
	ar, err := archive.Open(a)
	if err != nil {
		t.Fatal(err)
	}
	if o := ar.Omitted(p.Descriptor.Digest); len(o) != 1 || o[0].Digest != arm.Digest {
		t.Errorf("the payload omits %v, want its arm64 manifest", o)
	}
	if ok, _ := ar.Exists(ctx, amd); !ok {
		t.Error("the payload's amd64 manifest is not in the archive")
	}
	ar.Close()
	res = unpack(t, "inspect", "file://"+a)
	mustCode(t, res, 0)
	if !strings.Contains(res.stdout, "platforms linux/amd64 (omitted: linux/arm64)") {
		t.Errorf("inspect does not show the payload's platforms:\n%s", res.stdout)
	}

	dst := regserver.New(t, regserver.Options{SparseIndexes: true})
	mustCode(t, unpack(t, "--from", "file://"+a, "--dest-tls-verify=false", "--receipt", filepath.Join(work, "r.json"),
		"--cluster-resources", filepath.Join(work, "cr"), "docker://"+dst.Host+"/m"), 0)
	payloads := repo(t, dst.Host, "m/"+release.ReleaseImagesRepo)
	got, err := payloads.Resolve(ctx, p.Tag)
	if err != nil || got.Digest != p.Descriptor.Digest {
		t.Fatalf("payload at the destination: %v %v, want %s (unchanged)", got.Digest, err, p.Descriptor.Digest)
	}
	if _, err := payloads.Resolve(ctx, amd.Digest.String()); err != nil {
		t.Errorf("amd64 manifest of the payload: %v", err)
	}
	if _, err := payloads.Resolve(ctx, arm.Digest.String()); err == nil {
		t.Error("the arm64 manifest of the payload was mirrored")
	}
	comps := repo(t, dst.Host, "m/"+release.ComponentsRepo)
	for name, ref := range p.Components {
		d := ref[strings.LastIndex(ref, "@")+1:]
		if got, err := comps.Resolve(ctx, p.Tag+"-"+name); err != nil || got.Digest.String() != d {
			t.Errorf("component %s: %v %v, want %s", name, got.Digest, err, d)
		}
	}
}
