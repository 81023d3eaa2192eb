package catalog

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/enclave-mirror/enclave/internal/testing/regserver"
)

// fromRegistry pushes img to a fresh in-process registry and returns the
// repository and the descriptor resolved from the tag.
func fromRegistry(t *testing.T, img image) (*remote.Repository, ocispec.Descriptor) {
	t.Helper()
	ctx := context.Background()
	reg := regserver.New(t, regserver.Options{})
	repo, err := remote.NewRepository(reg.Host + "/demo/catalog")
	if err != nil {
		t.Fatal(err)
	}
	repo.PlainHTTP = true
	store := memory.New()
	desc := img.push(t, store)
	if err := store.Tag(ctx, desc, "v1"); err != nil {
		t.Fatal(err)
	}
	if _, err := oras.Copy(ctx, store, "v1", repo, "v1", oras.DefaultCopyOptions); err != nil {
		t.Fatal(err)
	}
	got, err := repo.Resolve(ctx, "v1")
	if err != nil {
		t.Fatal(err)
	}
	return repo, got
}

// fbcText is the filtered catalog as WriteDir writes it, one "== path"
// header per file.
func fbcText(t *testing.T, s *Selection) []byte {
	t.Helper()
	dir := t.TempDir()
	if err := s.WriteDir(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for _, f := range files(t, dir) {
		data, _ := os.ReadFile(filepath.Join(dir, f))
		b.WriteString("== " + f + "\n")
		b.Write(data)
	}
	return b.Bytes()
}

func TestWriteDirGolden(t *testing.T) {
	c := load(t, catalogImage(t, "testdata/demo"))
	for _, tt := range []struct{ id, isc string }{
		{"G01", ""},
		{"G07", "packages:\n- name: alpha\n  minVersion: 1.1.0"},
		{"G18", "packages:\n- name: beta\n  channels:\n  - name: v2\n    minVersion: 1.0.0"},
	} {
		t.Run(tt.id, func(t *testing.T) {
			op, _ := operator(t, tt.isc)
			s, err := Filter(c, op)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tt.id+".fbc", fbcText(t, s))
		})
	}
}

func TestRebuild(t *testing.T) {
	for _, tt := range []struct {
		name          string
		docker, index bool
	}{
		{"oci image", false, false},
		{"oci index", false, true},
		{"docker manifest list", true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			img := catalogImage(t, "testdata/demo")
			img.docker, img.index = tt.docker, tt.index
			repo, desc := fromRegistry(t, img)
			c, err := Load(ctx, repo, desc)
			if err != nil {
				t.Fatal(err)
			}
			op, _ := operator(t, "packages:\n- name: alpha\n  minVersion: 1.1.0")
			s, err := Filter(c, op)
			if err != nil {
				t.Fatal(err)
			}
			dst := memory.New()
			got, err := s.Rebuild(ctx, dst)
			if err != nil {
				t.Fatal(err)
			}
			// Same input, same digest, into another store too.
			again, err := s.Rebuild(ctx, memory.New())
			if err != nil {
				t.Fatal(err)
			}
			if again.Digest != got.Digest || got.Digest == desc.Digest {
				t.Fatalf("rebuild gave %s then %s (original %s): not deterministic", got.Digest, again.Digest, desc.Digest)
			}
			if got.MediaType != desc.MediaType {
				t.Errorf("media type %s, want the original's %s", got.MediaType, desc.MediaType)
			}
			// The registry accepts it: every blob it references is there.
			if err := dst.Tag(ctx, got, "filtered"); err != nil {
				t.Fatal(err)
			}
			if _, err := oras.Copy(ctx, dst, "filtered", repo, "filtered", oras.DefaultCopyOptions); err != nil {
				t.Fatalf("pushing the rebuilt catalog: %v", err)
			}
			manifests := []ocispec.Descriptor{got}
			if tt.index {
				var idx ocispec.Index
				fetchJSONT(t, dst, got, &idx)
				if len(idx.Manifests) != 2 || idx.Manifests[0].Platform.Architecture != "amd64" || idx.Manifests[1].Platform.Architecture != "arm64" {
					t.Fatalf("index manifests %+v", idx.Manifests)
				}
				manifests = idx.Manifests
			}
			var newLayer ocispec.Descriptor
			for _, md := range manifests {
				var m ocispec.Manifest
				fetchJSONT(t, dst, md, &m)
				if len(m.Layers) != 3 {
					t.Fatalf("%d layers, want the 2 original and 1 new", len(m.Layers))
				}
				if newLayer.Digest != "" && m.Layers[2].Digest != newLayer.Digest {
					t.Errorf("platforms got different FBC layers")
				}
				newLayer = m.Layers[2]
				wantType := ocispec.MediaTypeImageLayerGzip
				if tt.docker {
					wantType = "application/vnd.docker.image.rootfs.diff.tar.gzip"
				}
				if newLayer.MediaType != wantType {
					t.Errorf("new layer type %s, want %s", newLayer.MediaType, wantType)
				}
				var raw map[string]json.RawMessage
				fetchJSONT(t, dst, m.Config, &raw)
				var cfg ocispec.Image
				fetchJSONT(t, dst, m.Config, &cfg)
				if !slices.Equal(cfg.Config.Cmd, []string{"serve", "/configs"}) || !slices.Equal(cfg.Config.Entrypoint, []string{"/bin/opm"}) {
					t.Errorf("entrypoint %q cmd %q, want /bin/opm serve /configs without the cache", cfg.Config.Entrypoint, cfg.Config.Cmd)
				}
				if cfg.Config.Labels[ConfigsLabel] != "/configs" || len(cfg.RootFS.DiffIDs) != 3 || len(cfg.History) != 3 {
					t.Errorf("config labels %v diff_ids %d history %d", cfg.Config.Labels, len(cfg.RootFS.DiffIDs), len(cfg.History))
				}
				if !bytes.Contains(raw["config"], []byte(`"Healthcheck":{"Test":["CMD","/bin/grpc_health_probe","-addr=:50051"]}`)) {
					t.Errorf("the config lost a field it does not model: %s", raw["config"])
				}
			}
			checkLayerHeaders(t, dst, newLayer)
			// What a container sees: the filtered FBC only, no cache.
			root := t.TempDir()
			extract(t, dst, got, root)
			if got, want := files(t, root), []string{"bin/opm", "configs/alpha/catalog.json", "configs/catalog.json"}; !slices.Equal(got, want) {
				t.Errorf("rebuilt filesystem %q, want %q (no stale package, no tmp/cache)", got, want)
			}
			// Reading the rebuilt catalog gives the selection back.
			rc, err := Load(ctx, dst, got)
			if err != nil {
				t.Fatal(err)
			}
			full, _ := operator(t, "full: true")
			rs, err := Filter(rc, full)
			if err != nil {
				t.Fatal(err)
			}
			if a, b := summary(rs), summary(s); a != b {
				t.Errorf("rebuilt catalog holds\n%s\nwant\n%s", a, b)
			}
			if !bytes.Equal(fbcText(t, rs), fbcText(t, s)) {
				t.Errorf("rebuilt catalog's FBC differs from the selection's")
			}
		})
	}
}

func fetchJSONT(t *testing.T, f content.Fetcher, d ocispec.Descriptor, v any) {
	t.Helper()
	b, err := content.FetchAll(context.Background(), f, d)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

// checkLayerHeaders reads the built layer: root-owned, 0755 dirs, 0644
// files, epoch times, the opaque whiteout of configs and the cache
// whiteout (OCPBUGS-61386, OCPBUGS-19060).
func checkLayerHeaders(t *testing.T, f content.Fetcher, l ocispec.Descriptor) {
	t.Helper()
	r, done, err := openLayer(context.Background(), f, l)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(r)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		wantMode := int64(0o644)
		if h.Typeflag == tar.TypeDir {
			wantMode = 0o755
		}
		if h.Mode != wantMode || h.Uid != 0 || h.Gid != 0 || !h.ModTime.Equal(layerTime) {
			t.Errorf("%s: mode %o uid %d gid %d mtime %v", h.Name, h.Mode, h.Uid, h.Gid, h.ModTime)
		}
	}
	if err := done(); err != nil {
		t.Fatal(err)
	}
	want := []string{"configs/", "configs/.wh..wh..opq", "configs/alpha/", "configs/alpha/catalog.json", "configs/catalog.json", "tmp/.wh.cache"}
	if !slices.Equal(names, want) {
		t.Errorf("layer entries %q, want %q", names, want)
	}
}

func TestServeCommand(t *testing.T) {
	tests := []struct {
		ep, cmd         []string
		wantEP, wantCmd []string
		wantCaches      string
	}{
		{[]string{"/bin/opm"}, []string{"serve", "/configs", "--cache-dir=/tmp/cache"}, []string{"/bin/opm"}, []string{"serve", "/configs"}, "tmp/cache"},
		{[]string{"/bin/opm"}, []string{"serve", "/configs", "--cache-dir", "/var/cache/x", "--cache-enforce-integrity=true"}, []string{"/bin/opm"}, []string{"serve", "/configs"}, "tmp/cache var/cache/x"},
		{[]string{"/bin/opm", "serve", "/configs", "--cache-dir=/c", "--cache-only"}, []string{"-p", "50051"}, []string{"/bin/opm", "serve", "/configs"}, []string{"-p", "50051"}, "c tmp/cache"},
		{nil, nil, nil, []string{"serve", "/configs"}, "tmp/cache"},
		{nil, []string{"/bin/opm", "serve", "/configs", "--cache-dir=/tmp/cache"}, nil, []string{"/bin/opm", "serve", "/configs"}, "tmp/cache"},
		{[]string{"/bin/sh", "-c"}, []string{"exec something"}, []string{"/bin/sh", "-c"}, []string{"serve", "/configs"}, "tmp/cache"},
	}
	for _, tt := range tests {
		ep, cmd, caches := serveCommand(tt.ep, tt.cmd, "/configs")
		if !slices.Equal(ep, tt.wantEP) || !slices.Equal(cmd, tt.wantCmd) || strings.Join(caches, " ") != tt.wantCaches {
			t.Errorf("serveCommand(%q, %q) = %q, %q, %q; want %q, %q, %q", tt.ep, tt.cmd, ep, cmd, caches, tt.wantEP, tt.wantCmd, tt.wantCaches)
		}
	}
}

// Documents after leading white space or indentation keep their place
// (a regression the fuzzer found: offsets were counted from the first
// non-space byte).
func TestWriteDirLeadingSpace(t *testing.T) {
	b := `{"schema":"olm.bundle","package":"p","name":"p.v1","image":"r/p@sha256:` + strings.Repeat("0", 64) + `","properties":[{"type":"olm.package","value":{"packageName":"p","version":"1.0.0"}}]}`
	for _, body := range []string{
		"\n\n  {\"schema\":\"olm.package\",\"name\":\"p\",\"defaultChannel\":\"c\"}\n {\"schema\":\"olm.channel\",\"package\":\"p\",\"name\":\"c\",\"entries\":[{\"name\":\"p.v1\"}]}\n\t" + b + "\n",
		"\n\n  schema: olm.package\n  name: p\n  defaultChannel: c\n---\nschema: olm.channel\npackage: p\nname: c\nentries:\n- name: p.v1\n---\n" + b + "\n",
	} {
		c := load(t, image{layers: [][]tarEntry{{{name: "configs/p/catalog", body: []byte(body)}}}})
		op, _ := operator(t, "")
		s, err := Filter(c, op)
		if err != nil {
			t.Fatal(err)
		}
		got := string(fbcText(t, s))
		if !strings.Contains(got, "\n"+b+"\n") {
			t.Errorf("bundle document not written back as it was:\n%s", got)
		}
	}
}
