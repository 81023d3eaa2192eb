package ocigraph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/enclave-mirror/enclave/internal/testing/regserver"
)

func pushBytes(t *testing.T, s content.Pusher, mt string, b []byte) ocispec.Descriptor {
	t.Helper()
	d := content.NewDescriptorFromBytes(mt, b)
	if err := s.Push(context.Background(), d, bytes.NewReader(b)); err != nil && !strings.Contains(err.Error(), "exists") {
		t.Fatal(err)
	}
	return d
}

// base stores an image (one layer, a config with fields ocispec does not
// model) and returns its manifest descriptor.
func base(t *testing.T, s content.Pusher, docker bool, arch string) ocispec.Descriptor {
	t.Helper()
	mt, lt, ct := ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageLayerGzip, ocispec.MediaTypeImageConfig
	if docker {
		mt, lt, ct = MediaTypeDockerManifest, MediaTypeDockerLayerGzip, "application/vnd.docker.container.image.v1+json"
	}
	l := pushBytes(t, s, lt, []byte("base layer bytes"))
	cfg := `{"architecture":"` + arch + `","os":"linux","created":"2024-01-02T03:04:05Z",` +
		`"config":{"Entrypoint":["/bin/opm"],"Cmd":["serve","/configs","--cache-dir=/tmp/cache"],"Labels":{"a":"<1>"},"Healthcheck":{"Test":["CMD","probe"]}},` +
		`"container_config":{"Hostname":"x"},"rootfs":{"type":"layers","diff_ids":["sha256:` + strings.Repeat("1", 64) + `"]},"history":[{"created_by":"base"}]}`
	c := pushBytes(t, s, ct, []byte(cfg))
	m, _ := json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: mt, Config: c, Layers: []ocispec.Descriptor{l}})
	return pushBytes(t, s, mt, m)
}

func newLayer(b []byte) Layer {
	return Layer{
		Descriptor: content.NewDescriptorFromBytes(ocispec.MediaTypeImageLayerGzip, b),
		DiffID:     digest.FromString("uncompressed " + string(b)),
		Open:       func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil },
		History:    ocispec.History{CreatedBy: "test layer"},
	}
}

var change = Change{
	Layers: []Layer{newLayer([]byte("new layer"))},
	Config: func(c *ocispec.ImageConfig) error {
		c.Cmd = []string{"serve", "/configs"}
		c.Labels["b"] = "2"
		return nil
	},
}

func fetchJSON(t *testing.T, f content.Fetcher, d ocispec.Descriptor, v any) []byte {
	t.Helper()
	b, err := content.FetchAll(context.Background(), f, d)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAssembleImage(t *testing.T) {
	ctx := context.Background()
	src := memory.New()
	b := base(t, src, false, "amd64")
	dst := memory.New()
	got, err := Assemble(ctx, src, b, dst, change)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Assemble(ctx, src, b, memory.New(), change)
	if err != nil || again.Digest != got.Digest {
		t.Fatalf("second assembly %s, %v; want %s", again.Digest, err, got.Digest)
	}
	var m ocispec.Manifest
	fetchJSON(t, dst, got, &m)
	if len(m.Layers) != 2 || m.Layers[1].Digest != change.Layers[0].Descriptor.Digest {
		t.Fatalf("layers %+v", m.Layers)
	}
	for _, l := range m.Layers {
		if ok, _ := dst.Exists(ctx, l); !ok {
			t.Errorf("layer %s not pushed to dst", l.Digest)
		}
	}
	var raw map[string]json.RawMessage
	cb := fetchJSON(t, dst, m.Config, &raw)
	var cfg ocispec.Image
	json.Unmarshal(cb, &cfg)
	if !slices.Equal(cfg.Config.Cmd, []string{"serve", "/configs"}) || cfg.Config.Labels["b"] != "2" || cfg.Config.Labels["a"] != "<1>" {
		t.Errorf("config %+v", cfg.Config)
	}
	if len(cfg.RootFS.DiffIDs) != 2 || cfg.RootFS.DiffIDs[1] != change.Layers[0].DiffID || len(cfg.History) != 2 || cfg.History[1].CreatedBy != "test layer" {
		t.Errorf("rootfs %+v history %+v", cfg.RootFS, cfg.History)
	}
	for _, keep := range []string{`"container_config":{"Hostname":"x"}`, `"Healthcheck":{"Test":["CMD","probe"]}`, `"created":"2024-01-02T03:04:05Z"`, `"a":"<1>"`} {
		if !bytes.Contains(cb, []byte(keep)) {
			t.Errorf("config lost %s: %s", keep, cb)
		}
	}
}

func TestAssembleIndexIntoRegistry(t *testing.T) {
	for _, docker := range []bool{false, true} {
		ctx := context.Background()
		src := memory.New()
		amd, arm := base(t, src, docker, "amd64"), base(t, src, docker, "arm64")
		amd.Platform = &ocispec.Platform{OS: "linux", Architecture: "amd64"}
		arm.Platform = &ocispec.Platform{OS: "linux", Architecture: "arm64"}
		att := pushBytes(t, src, ocispec.MediaTypeImageManifest, []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}`))
		att.Platform = &ocispec.Platform{OS: "unknown", Architecture: "unknown"}
		att.Annotations = map[string]string{"vnd.docker.reference.type": "attestation-manifest"}
		it := ocispec.MediaTypeImageIndex
		if docker {
			it = MediaTypeDockerManifestList
		}
		ib, _ := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: it, Manifests: []ocispec.Descriptor{amd, arm, att}, Annotations: map[string]string{"org.example": "kept"}})
		idx := pushBytes(t, src, it, ib)

		reg := regserver.New(t, regserver.Options{})
		repo, err := remote.NewRepository(reg.Host + "/org/catalog")
		if err != nil {
			t.Fatal(err)
		}
		repo.PlainHTTP = true
		got, err := Assemble(ctx, src, idx, repo, change)
		if err != nil {
			t.Fatal(err)
		}
		if got.MediaType != it {
			t.Errorf("index media type %s, want %s", got.MediaType, it)
		}
		var out ocispec.Index
		fetchJSON(t, repo, got, &out)
		if len(out.Manifests) != 2 || out.Annotations["org.example"] != "kept" {
			t.Fatalf("index %+v: want the two images, not the attestation", out)
		}
		for i, arch := range []string{"amd64", "arm64"} {
			d := out.Manifests[i]
			if d.Platform == nil || d.Platform.Architecture != arch {
				t.Errorf("manifest %d platform %+v", i, d.Platform)
			}
			var m ocispec.Manifest
			fetchJSON(t, repo, d, &m)
			want := ocispec.MediaTypeImageLayerGzip
			if docker {
				want = MediaTypeDockerLayerGzip
			}
			if m.Layers[1].MediaType != want || m.MediaType != d.MediaType {
				t.Errorf("docker=%v: layer type %s manifest type %s", docker, m.Layers[1].MediaType, m.MediaType)
			}
			var cfg ocispec.Image
			fetchJSON(t, repo, m.Config, &cfg)
			if cfg.Architecture != arch {
				t.Errorf("config of %s says %s", arch, cfg.Architecture)
			}
		}
	}
}

func TestAssembleErrors(t *testing.T) {
	ctx := context.Background()
	src := memory.New()
	docker := base(t, src, true, "amd64")
	zstdLayer := newLayer([]byte("z"))
	zstdLayer.Descriptor.MediaType = ocispec.MediaTypeImageLayerZstd
	if _, err := Assemble(ctx, src, docker, memory.New(), Change{Layers: []Layer{zstdLayer}}); !errors.Is(err, ErrInvalidLayer) {
		t.Errorf("zstd onto docker: %v", err)
	}
	if _, err := Assemble(ctx, src, docker, memory.New(), Change{Layers: []Layer{{Descriptor: zstdLayer.Descriptor}}}); !errors.Is(err, ErrInvalidLayer) {
		t.Errorf("layer without diff id: %v", err)
	}
	blob := pushBytes(t, src, "application/octet-stream", []byte("x"))
	if _, err := Assemble(ctx, src, blob, memory.New(), change); !errors.Is(err, ErrInvalidBase) {
		t.Errorf("a blob as base: %v", err)
	}
	big := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("big"), Size: MaxManifestSize + 1}
	if _, err := Assemble(ctx, src, big, memory.New(), change); !errors.Is(err, ErrInvalidBase) || !strings.Contains(err.Error(), "limit") {
		t.Errorf("oversized manifest: %v", err)
	}
	failing := Change{Config: func(*ocispec.ImageConfig) error { return errors.New("refused") }}
	if _, err := Assemble(ctx, src, docker, memory.New(), failing); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("config change error: %v", err)
	}
}
