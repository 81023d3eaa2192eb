package release_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"slices"
	"testing"

	"github.com/enclave-mirror/enclave/internal/testing/regserver"
	"github.com/enclave-mirror/enclave/release"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestUpdateServiceYAML(t *testing.T) {
	dest := "registry.internal:5000/mirror"
	got, err := release.UpdateServiceYAML(release.UpdateServiceOptions{
		GraphDataImage: release.Join(dest, release.GraphImageRepo) + ":" + release.GraphImageTag,
		Releases:       release.Join(dest, release.ReleaseImagesRepo),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `apiVersion: updateservice.operator.openshift.io/v1
kind: UpdateService
metadata:
  name: update-service-oc-mirror
  namespace: openshift-update-service
spec:
  graphDataImage: "registry.internal:5000/mirror/openshift/graph-image:latest"
  releases: "registry.internal:5000/mirror/openshift/release-images"
  replicas: 2
`
	if string(got) != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	for name, o := range map[string]release.UpdateServiceOptions{
		"releases with tag": {GraphDataImage: "r/g:latest", Releases: "r:5000/openshift/release-images:4.15.3"},
		"releases digest":   {GraphDataImage: "r/g:latest", Releases: "r/openshift/release-images@" + d1},
		"no graph image":    {Releases: "r/openshift/release-images"},
		"yaml injection":    {GraphDataImage: "r/g\nkind: Secret", Releases: "r/x"},
		"bad name":          {Name: "Update_Service", GraphDataImage: "r/g", Releases: "r/x"},
		"negative replicas": {Replicas: -1, GraphDataImage: "r/g", Releases: "r/x"},
	} {
		if _, err := release.UpdateServiceYAML(o); !errors.Is(err, release.ErrInvalidArgument) {
			t.Errorf("%s: error = %v", name, err)
		}
	}
}

type entry struct {
	name    string
	typ     byte
	content string
}

func tarGz(t *testing.T, entries []entry) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: 0o600, Size: int64(len(e.content)), Uid: 1000, Uname: "dev"}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		if e.typ == tar.TypeSymlink {
			h.Linkname = "/etc/passwd"
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		io.WriteString(tw, e.content)
	}
	tw.Close()
	zw.Close()
	return b.Bytes()
}

func TestBuildGraphDataImage(t *testing.T) {
	input := tarGz(t, []entry{
		{"./", tar.TypeDir, ""},
		{"./channels/", tar.TypeDir, ""},
		{"./channels/stable-4.15.yaml", tar.TypeReg, "name: stable-4.15\nversions:\n- 4.15.3\n"},
		{"blocked-edges/4.15.1.yaml", tar.TypeReg, "to: 4.15.1\nfrom: .*\n"},
		{"version", tar.TypeReg, "1.2.0\n"},
	})
	img, err := release.BuildGraphDataImage(bytes.NewReader(input), release.GraphDataImageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	again, _ := release.BuildGraphDataImage(bytes.NewReader(input), release.GraphDataImageOptions{})
	if again.Manifest.Digest != img.Manifest.Digest {
		t.Fatalf("not deterministic: %s vs %s", img.Manifest.Digest, again.Manifest.Digest)
	}
	if len(img.Blobs) != 3 || img.Blobs[2].Descriptor.Digest != img.Manifest.Digest {
		t.Fatalf("blobs %v", img.Blobs)
	}

	// Push to a real registry and read it back through the manifest.
	reg := regserver.New(t, regserver.Options{})
	repo := newRepo(t, reg, "mirror/"+release.GraphImageRepo)
	ctx := context.Background()
	if err := img.Push(ctx, repo, release.GraphImageTag); err != nil {
		t.Fatal(err)
	}
	if err := img.Push(ctx, repo, release.GraphImageTag); err != nil { // idempotent
		t.Fatal(err)
	}
	desc, err := repo.Resolve(ctx, release.GraphImageTag)
	if err != nil || desc.Digest != img.Manifest.Digest {
		t.Fatalf("resolve: %v %v", desc.Digest, err)
	}
	var m ocispec.Manifest
	raw, _ := readAll(ctx, repo, desc)
	mustJSON(t, raw, &m)
	var cfg ocispec.Image
	raw, _ = readAll(ctx, repo, m.Config)
	mustJSON(t, raw, &cfg)
	if !slices.Equal(cfg.Config.Cmd, release.GraphDataCmd) || len(cfg.RootFS.DiffIDs) != 1 || len(m.Layers) != 1 {
		t.Fatalf("config %+v, layers %d", cfg, len(m.Layers))
	}
	layer, _ := readAll(ctx, repo, m.Layers[0])
	zr, err := gzip.NewReader(bytes.NewReader(layer))
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(zr)
	if digest.FromBytes(plain) != cfg.RootFS.DiffIDs[0] {
		t.Fatal("diff_id does not match the layer")
	}
	tr := tar.NewReader(bytes.NewReader(plain))
	var names []string
	files := map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Uid != 0 || h.Uname != "" || !h.ModTime.IsZero() && h.ModTime.Unix() != 0 {
			t.Fatalf("%s: owner/time not normalized: %d %q %v", h.Name, h.Uid, h.Uname, h.ModTime)
		}
		names = append(names, h.Name)
		b, _ := io.ReadAll(tr)
		files[h.Name] = string(b)
	}
	wantNames := []string{
		"var/", "var/lib/", "var/lib/cincinnati-graph-data/",
		"var/lib/cincinnati-graph-data/channels/", "var/lib/cincinnati-graph-data/channels/stable-4.15.yaml",
		"var/lib/cincinnati-graph-data/blocked-edges/", "var/lib/cincinnati-graph-data/blocked-edges/4.15.1.yaml",
		"var/lib/cincinnati-graph-data/version",
	}
	if !slices.Equal(names, wantNames) {
		t.Fatalf("entries %v\nwant %v", names, wantNames)
	}
	if files["var/lib/cincinnati-graph-data/version"] != "1.2.0\n" {
		t.Fatalf("version file = %q", files["var/lib/cincinnati-graph-data/version"])
	}
}

func TestBuildGraphDataImageWithBase(t *testing.T) {
	base := &release.BaseImage{
		Config: ocispec.Image{Platform: ocispec.Platform{OS: "linux", Architecture: "arm64"},
			RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{d2}}},
		Layers: []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: d1, Size: 10}},
	}
	img, err := release.BuildGraphDataImage(bytes.NewReader(tarGz(t, []entry{{"version", tar.TypeReg, "1"}})), release.GraphDataImageOptions{Base: base})
	if err != nil {
		t.Fatal(err)
	}
	var m ocispec.Manifest
	mustJSON(t, img.Blobs[2].Data, &m)
	var cfg ocispec.Image
	mustJSON(t, img.Blobs[0].Data, &cfg)
	if len(m.Layers) != 2 || m.Layers[0].Digest != d1 || cfg.Architecture != "arm64" || len(cfg.RootFS.DiffIDs) != 2 || cfg.RootFS.DiffIDs[0] != d2 {
		t.Fatalf("manifest %+v config %+v", m, cfg)
	}
	if len(base.Config.RootFS.DiffIDs) != 1 {
		t.Fatal("base config modified")
	}
}

func TestBuildGraphDataImageRejects(t *testing.T) {
	tests := map[string][]entry{
		"traversal": {{"../etc/cron.d/x", tar.TypeReg, "x"}},
		"absolute":  {{"/etc/passwd", tar.TypeReg, "x"}},
		"symlink":   {{"channels", tar.TypeSymlink, ""}},
		"duplicate": {{"version", tar.TypeReg, "1"}, {"./version", tar.TypeReg, "2"}},
		"empty":     {},
	}
	for name, entries := range tests {
		_, err := release.BuildGraphDataImage(bytes.NewReader(tarGz(t, entries)), release.GraphDataImageOptions{})
		if !errors.Is(err, release.ErrInvalidArgument) {
			t.Errorf("%s: error = %v", name, err)
		}
	}
	big := tarGz(t, []entry{{"a", tar.TypeReg, string(make([]byte, 4096))}})
	if _, err := release.BuildGraphDataImage(bytes.NewReader(big), release.GraphDataImageOptions{MaxBytes: 1024}); !errors.Is(err, release.ErrTooLarge) {
		t.Errorf("cap: error = %v", err)
	}
	if _, err := release.BuildGraphDataImage(bytes.NewReader([]byte("not gzip")), release.GraphDataImageOptions{}); err == nil {
		t.Error("not gzip accepted")
	}
}
