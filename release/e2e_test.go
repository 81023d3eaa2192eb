package release_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/enclave-mirror/enclave/internal/testing/regserver"
	"github.com/enclave-mirror/enclave/release"
	"github.com/enclave-mirror/enclave/release/releasetest"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestEndToEnd walks the pack-side flow: graph -> selection -> payloads ->
// components -> signatures -> cluster resources, against a real registry
// and fake update-graph and signature servers.
func TestEndToEnd(t *testing.T) {
	ctx := context.Background()
	reg := regserver.New(t, regserver.Options{})
	gen := newGenerator(t, reg)
	key := newKey(t, "release key")

	// Push a release for every amd64 version of stable-4.15, then serve a
	// graph whose payloads are those digests.
	var vs []string
	for _, ch := range releasetest.RealisticChannels("amd64") {
		if ch.Name == "stable-4.15" {
			vs = ch.Versions
		}
	}
	pushed, err := gen.PushAll(ctx, "amd64", vs)
	if err != nil {
		t.Fatal(err)
	}
	sigs := releasetest.NewSignatureServer(nil)
	defer sigs.Close()
	for _, p := range pushed {
		s, err := key.SignRelease(release.OCPReleaseRepo+":"+p.Tag, p.Descriptor.Digest)
		if err != nil {
			t.Fatal(err)
		}
		sigs.Add(p.Descriptor.Digest, s)
	}
	graphs := releasetest.RealisticGraphs(func(v, arch string) string {
		if p, ok := pushed[v]; ok && arch == "amd64" {
			return p.Reference
		}
		return releasetest.FakePayload(v, arch)
	})
	gs := releasetest.NewGraphServer(graphs)
	defer gs.Close()

	client := fastClient(t, release.ProductOCP, release.WithGetenv(func(k string) string {
		if k == release.EnvUpdateURL {
			return gs.URL
		}
		return ""
	}))
	g, err := client.Graph(ctx, "stable-4.15", release.ArchAMD64)
	if err != nil {
		t.Fatal(err)
	}
	// What the archive carries is g.Raw; the enclave side re-parses it.
	carried, err := release.ParseGraph(g.Raw)
	if err != nil {
		t.Fatal(err)
	}
	rels, err := release.Select([]release.ChannelGraph{{
		Spec:  release.ChannelSpec{Name: "stable-4.15", MinVersion: "4.14.20", ShortestPath: true},
		Arch:  release.ArchAMD64,
		Graph: carried,
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got := versions(rels); !slices.Equal(got, []string{"4.14.20", "4.15.0", "4.15.3", "4.15.6"}) {
		t.Fatalf("selected %v", got)
	}

	sc, err := release.NewSignatureClient(release.WithSignatureURL(sigs.URL), release.WithSignatureRetries(1, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	kr, _ := key.PublicKeyring()
	ver, _ := release.NewVerifier(kr)
	var cmSigs []release.ReleaseSignature
	var payloadRefs []string
	var comps []release.Component
	for _, r := range rels {
		p := pushed[r.Version.String()]
		if r.Digest != p.Descriptor.Digest {
			t.Fatalf("%s: graph digest %s, pushed %s", r.Version, r.Digest, p.Descriptor.Digest)
		}
		pl, err := release.ReadPayload(ctx, gen.Payloads, p.Descriptor, release.ReadOptions{Arch: r.Arch, ExpectVersion: r.Version.String()})
		if err != nil {
			t.Fatal(err)
		}
		comps = append(comps, pl.Components...)
		payloadRefs = append(payloadRefs, r.Payload)
		for _, c := range pl.Components {
			if ok, err := gen.Components.Exists(ctx, descFor(c.Digest)); err != nil || !ok {
				t.Fatalf("component %s not in the registry: %v", c.Image, err)
			}
		}
		raw, err := sc.Fetch(ctx, r.Digest)
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range raw {
			info, err := ver.Verify(s, r.Digest)
			if err != nil {
				t.Fatal(err)
			}
			tag, _ := release.PayloadTag(r.Version, r.Arch)
			if info.DockerReference != release.OCPReleaseRepo+":"+tag {
				t.Fatalf("identity %s", info.DockerReference)
			}
			cmSigs = append(cmSigs, release.ReleaseSignature{Digest: r.Digest, Index: i + 1, Data: s})
		}
	}
	cm, err := release.SignatureConfigMapYAML("", cmSigs)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(cm), "\n  sha256-"); n != 4 {
		t.Fatalf("ConfigMap has %d signatures, want 4", n)
	}
	mirrors, err := release.ReleaseMirrors("mirror.internal", payloadRefs, comps)
	if err != nil {
		t.Fatal(err)
	}
	if len(mirrors) != 2 || mirrors[0].Source != gen.PayloadRepo || mirrors[1].Source != gen.ComponentRepo {
		t.Fatalf("mirrors %v", mirrors)
	}
}

func descFor(d digest.Digest) (desc ocispec.Descriptor) {
	desc.Digest = d
	desc.MediaType = "application/vnd.oci.image.manifest.v1+json"
	return desc
}
