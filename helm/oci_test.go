package helm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/enclave-mirror/enclave/internal/testing/regserver"
	"github.com/enclave-mirror/enclave/ocistore"
)

func testClient(t *testing.T) *ocistore.Client {
	t.Helper()
	kc, err := ocistore.LoadKeychain("")
	if err != nil {
		t.Fatal(err)
	}
	c, err := ocistore.NewClient(ocistore.Options{SkipTLSVerify: true, Keychain: kc, Registries: &ocistore.RegistriesConf{}, Probes: &ocistore.ProbeCache{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func remoteRepo(t *testing.T, c *ocistore.Client, ref string) *remote.Repository {
	t.Helper()
	r, err := ocistore.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	repo, err := c.Repository(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	return repo
}

func manifestOf(t *testing.T, raw []byte) ocispec.Manifest {
	t.Helper()
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestChartArtifact checks the synthesized artifact of an HTTP chart: the
// chart layer is the archive byte for byte (its digest is the index.yaml
// digest), the config is Chart.yaml metadata, the provenance file is a
// second layer, created comes from the index, and pushing twice gives one
// digest.
func TestChartArtifact(t *testing.T) {
	s := newRepoServer(t, false)
	r, _ := NewRepository("fixtures", s.URL+"/charts", HTTPOptions{}, Limits{})
	c, err := r.Pull(context.Background(), "podinfo", "")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	store := memory.New()
	desc, err := c.Push(ctx, store)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := content.FetchAll(ctx, store, desc)
	if err != nil {
		t.Fatal(err)
	}
	m := manifestOf(t, raw)
	if m.MediaType != "" || m.ArtifactType != "" || m.SchemaVersion != 2 {
		t.Errorf("manifest header %+v (helm push writes neither mediaType nor artifactType)", m)
	}
	if len(m.Layers) != 1 || m.Layers[0].MediaType != ChartLayerMediaType || m.Layers[0].Digest != fileDigest(t, "podinfo-5.0.0.tgz") || m.Layers[0].Size != int64(len(c.Archive)) {
		t.Errorf("layers %+v", m.Layers)
	}
	if m.Config.MediaType != ConfigMediaType {
		t.Errorf("config %+v", m.Config)
	}
	cfg, _ := content.FetchAll(ctx, store, m.Config)
	if want := `{"name":"podinfo","home":"https://github.com/stefanprodan/podinfo","sources":["https://github.com/stefanprodan/podinfo"],"version":"5.0.0","description":"Podinfo Helm chart for Kubernetes","maintainers":[{"name":"stefanprodan","email":"stefanprodan@users.noreply.github.com"}],"apiVersion":"v1","appVersion":"5.0.0"}`; string(cfg) != want {
		t.Errorf("config\n got %s\nwant %s", cfg, want)
	}
	for k, v := range map[string]string{
		ocispec.AnnotationCreated: "2020-09-05T08:00:00Z", ocispec.AnnotationTitle: "podinfo", ocispec.AnnotationVersion: "5.0.0",
		ocispec.AnnotationSource: "https://github.com/stefanprodan/podinfo", ocispec.AnnotationAuthors: "stefanprodan (stefanprodan@users.noreply.github.com)",
	} {
		if m.Annotations[k] != v {
			t.Errorf("annotation %s = %q, want %q", k, m.Annotations[k], v)
		}
	}
	if got, _ := store.Resolve(ctx, "5.0.0"); got.Digest != desc.Digest {
		t.Errorf("tag 5.0.0 -> %s", got.Digest)
	}
	again, err := c.Push(ctx, memory.New())
	if err != nil || again.Digest != desc.Digest {
		t.Errorf("second push %s %v, want %s", again.Digest, err, desc.Digest)
	}

	// With a provenance file: two layers, sorted by digest.
	c.Provenance = []byte("-----BEGIN PGP SIGNED MESSAGE-----\nnot checked here\n")
	desc2, err := c.Push(ctx, store)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ = content.FetchAll(ctx, store, desc2)
	m = manifestOf(t, raw)
	if len(m.Layers) != 2 || m.Layers[0].Digest > m.Layers[1].Digest || desc2.Digest == desc.Digest {
		t.Fatalf("layers with prov %+v", m.Layers)
	}
	for _, l := range m.Layers {
		b, _ := content.FetchAll(ctx, store, l)
		if l.MediaType == ProvLayerMediaType && string(b) != string(c.Provenance) || l.MediaType == ChartLayerMediaType && digest.FromBytes(b) != c.Digest() {
			t.Errorf("layer %s %s holds other bytes", l.MediaType, l.Digest)
		}
	}
}

// TestOCIRepository serves charts from the project's in-process CNCF
// distribution registry: versions are tags ("+" as "_"), the latest
// stable one is chosen by default, and a pulled chart keeps its manifest
// and blobs byte for byte.
func TestOCIRepository(t *testing.T) {
	reg := regserver.New(t, regserver.Options{})
	cl := testClient(t)
	ctx := context.Background()
	demo, err := LoadLocal("testdata/chartdir/demo", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	sbo := fixture(t, "service-binding-operator-1.4.1.tgz")
	sbo133 := fixture(t, "service-binding-operator-1.3.3.tgz")
	want := map[string]digest.Digest{}
	for _, c := range []*Chart{demo, sbo, sbo133} {
		desc, err := c.Push(ctx, remoteRepo(t, cl, reg.Host+"/charts/"+c.Name))
		if err != nil {
			t.Fatal(err)
		}
		want[c.Name+"@"+c.Version] = desc.Digest
	}
	o, err := NewOCIRepository("reg", "oci://"+reg.Host+"/charts", cl, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if o.URL() != "oci://"+reg.Host+"/charts" {
		t.Errorf("URL %s", o.URL())
	}
	for _, tt := range []struct{ chart, version, want string }{
		{"service-binding-operator", "", "1.4.1"},
		{"service-binding-operator", "~1.3.0", "1.3.3"},
		{"demo", "", "1.2.3+build.5"},
		{"demo", "1.2.3+build.5", "1.2.3+build.5"},
	} {
		c, err := o.Pull(ctx, tt.chart, tt.version)
		if err != nil {
			t.Fatalf("%s %q: %v", tt.chart, tt.version, err)
		}
		raw, desc, err := c.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		if c.Version != tt.want || desc.Digest != want[tt.chart+"@"+tt.want] || digest.FromBytes(raw) != desc.Digest || c.Kind != SourceOCI {
			t.Errorf("%s %q: got %s %s, want %s %s", tt.chart, tt.version, c.Version, desc.Digest, tt.want, want[tt.chart+"@"+tt.want])
		}
		// Copied on, the digest stays.
		store := memory.New()
		got, err := c.Push(ctx, store)
		if err != nil || got.Digest != desc.Digest {
			t.Errorf("copy: %s %v", got.Digest, err)
		}
		if tag, _ := store.Resolve(ctx, OCITag(tt.want)); tag.Digest != desc.Digest {
			t.Errorf("copy tag %s", OCITag(tt.want))
		}
	}
	if _, err := o.Pull(ctx, "service-binding-operator", "2.x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing version: %v", err)
	}
	if _, err := o.Pull(ctx, "absent", ""); !errors.Is(err, ErrFetch) || !strings.Contains(err.Error(), "absent") {
		t.Errorf("missing chart: %v", err)
	}
	if _, err := o.Pull(ctx, "a/b", ""); !errors.Is(err, ErrInvalid) {
		t.Errorf("chart name with a slash: %v", err)
	}
	// A container image is not a chart.
	imgRepo := remoteRepo(t, cl, reg.Host+"/charts/notachart")
	cfg := []byte("{}")
	cfgDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(cfg), Size: 2}
	if err := imgRepo.Push(ctx, cfgDesc, bytes.NewReader(cfg)); err != nil {
		t.Fatal(err)
	}
	imgDesc, err := oras.PackManifest(ctx, imgRepo, oras.PackManifestVersion1_1, "", oras.PackManifestOptions{ConfigDescriptor: &cfgDesc})
	if err != nil {
		t.Fatal(err)
	}
	if err := imgRepo.Tag(ctx, imgDesc, "1.0.0"); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Pull(ctx, "notachart", ""); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "notachart:1.0.0") {
		t.Errorf("image as chart: %v", err)
	}
	if _, err := NewOCIRepository("bad", "https://"+reg.Host, cl, Limits{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("https URL: %v", err)
	}
	if _, err := NewOCIRepository("bad", "oci://user:pw@"+reg.Host+"/x", cl, Limits{}); !errors.Is(err, ErrInvalid) || strings.Contains(err.Error(), "pw") {
		t.Errorf("credentials in the URL: %v", err)
	}
	small, _ := NewOCIRepository("reg", "oci://"+reg.Host+"/charts", cl, Limits{MaxChartBytes: 1000})
	if _, err := small.Pull(ctx, "service-binding-operator", ""); !errors.Is(err, ErrTooLarge) {
		t.Errorf("limit: %v", err)
	}
}
