package release_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/enclave-mirror/enclave/internal/testing/regserver"
	"github.com/enclave-mirror/enclave/release"
	"github.com/enclave-mirror/enclave/release/releasetest"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content/memory"
)

func newGenerator(t *testing.T, reg *regserver.Registry) *releasetest.Generator {
	t.Helper()
	return &releasetest.Generator{
		Payloads: newRepo(t, reg, "openshift-release-dev/ocp-release"), PayloadRepo: reg.Host + "/openshift-release-dev/ocp-release",
		Components: newRepo(t, reg, "openshift-release-dev/ocp-v4.0-art-dev"), ComponentRepo: reg.Host + "/openshift-release-dev/ocp-v4.0-art-dev",
		Seed: 1,
	}
}

func TestReadPayload(t *testing.T) {
	reg := regserver.New(t, regserver.Options{})
	gen := newGenerator(t, reg)
	ctx := context.Background()
	tests := []struct {
		name string
		spec releasetest.ReleaseSpec
		arch release.Arch
	}{
		{"gzip", releasetest.ReleaseSpec{Version: "4.15.3", Arch: "amd64"}, ""},
		{"zstd with filler layer", releasetest.ReleaseSpec{Version: "4.15.5", Arch: "amd64", Compression: releasetest.Zstd, Filler: 300 << 10}, ""},
		{"uncompressed", releasetest.ReleaseSpec{Version: "4.16.0-rc.2", Arch: "arm64", Compression: releasetest.None}, release.ArchARM64},
		{"multi default arch", releasetest.ReleaseSpec{Version: "4.16.1", Arch: "multi", Components: []string{"etcd", "cli"}}, ""},
		{"multi pick arm64", releasetest.ReleaseSpec{Version: "4.16.2", Arch: "multi"}, release.ArchARM64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pushed, err := gen.Push(ctx, tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			p, err := release.ReadPayload(ctx, gen.Payloads, pushed.Descriptor, release.ReadOptions{Arch: tt.arch, ExpectVersion: tt.spec.Version})
			if err != nil {
				t.Fatal(err)
			}
			if p.Version.String() != tt.spec.Version || p.Metadata.Kind != "cincinnati-metadata-v0" {
				t.Fatalf("version %s kind %s", p.Version, p.Metadata.Kind)
			}
			if len(p.Components) != len(pushed.Components) {
				t.Fatalf("%d components, want %d", len(p.Components), len(pushed.Components))
			}
			for _, c := range p.Components {
				if pushed.Components[c.Name] != c.Image || c.Digest.String() != c.Image[strings.Index(c.Image, "@")+1:] {
					t.Fatalf("component %s = %s (%s), want %s", c.Name, c.Image, c.Digest, pushed.Components[c.Name])
				}
			}
			if !slices.IsSortedFunc(p.Components, func(a, b release.Component) int { return strings.Compare(a.Name, b.Name) }) {
				t.Fatal("components not sorted")
			}
			if tt.spec.Arch == "multi" {
				if p.Manifest.Digest == pushed.Descriptor.Digest {
					t.Fatal("multi: read the index as a manifest")
				}
				want := "amd64"
				if tt.arch != "" {
					want = string(tt.arch)
				}
				if p.Manifest.Platform == nil || p.Manifest.Platform.Architecture != want {
					t.Fatalf("multi: picked %+v, want %s", p.Manifest.Platform, want)
				}
			}
			// the payload is tagged as users expect
			if pushed.Tag != tt.spec.Version+"-"+release.Arch(tt.spec.Arch).ReleaseArch() {
				t.Fatalf("tag %s", pushed.Tag)
			}
		})
	}
}

func TestReadPayloadErrors(t *testing.T) {
	reg := regserver.New(t, regserver.Options{})
	gen := newGenerator(t, reg)
	ctx := context.Background()
	pushed, err := gen.Push(ctx, releasetest.ReleaseSpec{Version: "4.15.3", Arch: "amd64", Filler: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("version mismatch", func(t *testing.T) {
		_, err := release.ReadPayload(ctx, gen.Payloads, pushed.Descriptor, release.ReadOptions{ExpectVersion: "4.15.2"})
		if !errors.Is(err, release.ErrInvalidPayload) || !strings.Contains(err.Error(), "update graph says 4.15.2") {
			t.Fatalf("error = %v", err)
		}
	})
	t.Run("file cap", func(t *testing.T) {
		_, err := release.ReadPayload(ctx, gen.Payloads, pushed.Descriptor, release.ReadOptions{MaxFileBytes: 100})
		if !errors.Is(err, release.ErrTooLarge) {
			t.Fatalf("error = %v, want ErrTooLarge", err)
		}
	})
	t.Run("decompressed cap", func(t *testing.T) {
		// the top layer is small; a budget below its size trips
		_, err := release.ReadPayload(ctx, gen.Payloads, pushed.Descriptor, release.ReadOptions{MaxDecompressedBytes: 1024})
		if !errors.Is(err, release.ErrTooLarge) {
			t.Fatalf("error = %v, want ErrTooLarge", err)
		}
	})
	t.Run("layer cap", func(t *testing.T) {
		_, err := release.ReadPayload(ctx, gen.Payloads, pushed.Descriptor, release.ReadOptions{MaxLayerBytes: 10})
		if !errors.Is(err, release.ErrTooLarge) {
			t.Fatalf("error = %v, want ErrTooLarge", err)
		}
	})
	t.Run("multi without the arch", func(t *testing.T) {
		m, err := gen.Push(ctx, releasetest.ReleaseSpec{Version: "4.16.0", Arch: "multi"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = release.ReadPayload(ctx, gen.Payloads, m.Descriptor, release.ReadOptions{Arch: release.ArchS390X})
		if !errors.Is(err, release.ErrInvalidPayload) {
			t.Fatalf("error = %v", err)
		}
	})
	t.Run("not an image", func(t *testing.T) {
		d := pushed.Descriptor
		d.MediaType = "application/vnd.oci.image.layer.v1.tar"
		_, err := release.ReadPayload(ctx, gen.Payloads, d, release.ReadOptions{})
		if !errors.Is(err, release.ErrInvalidPayload) {
			t.Fatalf("error = %v", err)
		}
	})
}

// TestReadPayloadTamperedLayer serves a layer whose bytes differ from its
// digest: what was parsed must not be trusted.
func TestReadPayloadTamperedLayer(t *testing.T) {
	ctx := context.Background()
	good := memory.New()
	gen := &releasetest.Generator{Payloads: good, PayloadRepo: "r.example/ocp-release", Components: good, ComponentRepo: "r.example/art", Seed: 2}
	pushed, err := gen.Push(ctx, releasetest.ReleaseSpec{Version: "4.15.3", Arch: "amd64", Compression: releasetest.None})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := readAll(ctx, good, pushed.Descriptor)
	if err != nil {
		t.Fatal(err)
	}
	var m ocispec.Manifest
	mustJSON(t, raw, &m)
	top := m.Layers[len(m.Layers)-1]
	data, _ := readAll(ctx, good, top)
	// Same size, one byte changed after release-manifests: parsing succeeds,
	// the digest must not.
	bad := slices.Clone(data)
	bad[len(bad)-1] ^= 0xff
	evil := &swapStore{Storage: good, swap: map[digest.Digest][]byte{top.Digest: bad}}
	_, err = release.ReadPayload(ctx, evil, pushed.Descriptor, release.ReadOptions{})
	if err == nil || !strings.Contains(err.Error(), "mismatch") {
		t.Fatalf("error = %v, want a digest mismatch", err)
	}
}

func TestParseImageReferences(t *testing.T) {
	ok := `{"kind":"ImageStream","spec":{"tags":[{"name":"etcd","from":{"kind":"DockerImage","name":"quay.io/a/b@` + d1 + `"}}]}}`
	tests := []struct {
		name, in, wantErr string
	}{
		{"ok", ok, ""},
		{"by tag", `{"kind":"ImageStream","spec":{"tags":[{"name":"etcd","from":{"kind":"DockerImage","name":"quay.io/a/b:latest"}}]}}`, "not pinned by digest"},
		{"no from", `{"kind":"ImageStream","spec":{"tags":[{"name":"etcd"}]}}`, "not a DockerImage"},
		{"other kind", `{"kind":"ImageStream","spec":{"tags":[{"name":"etcd","from":{"kind":"ImageStreamTag","name":"x:y"}}]}}`, "not a DockerImage"},
		{"duplicate", `{"kind":"ImageStream","spec":{"tags":[{"name":"etcd","from":{"name":"quay.io/a/b@` + d1 + `"}},{"name":"etcd","from":{"name":"quay.io/a/b@` + d2 + `"}}]}}`, "appears twice"},
		{"bad name", `{"kind":"ImageStream","spec":{"tags":[{"name":"../x","from":{"name":"quay.io/a/b@` + d1 + `"}}]}}`, "invalid name"},
		{"not an image stream", `{"kind":"ConfigMap"}`, "want ImageStream"},
		{"no tags", `{"kind":"ImageStream","spec":{"tags":[]}}`, "0 tags"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs, err := release.ParseImageReferences([]byte(tt.in))
			if tt.wantErr == "" {
				if err != nil || len(cs) != 1 || cs[0].Digest != d1 || cs[0].Name != "etcd" {
					t.Fatalf("got %v, %v", cs, err)
				}
				return
			}
			if !errors.Is(err, release.ErrInvalidPayload) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want %q", err, tt.wantErr)
			}
		})
	}
}
