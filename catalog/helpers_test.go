package catalog

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"flag"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/golden")

// tarEntry is one entry of a test layer; a name ending in "/" is a
// directory.
type tarEntry struct {
	name string
	body []byte
	mode int64
}

// layer returns a gzip layer holding entries, and its diff id.
func layer(t testing.TB, entries []tarEntry) ([]byte, digest.Digest) {
	t.Helper()
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.body)), ModTime: time.Unix(1700000000, 0), Typeflag: tar.TypeReg}
		if strings.HasSuffix(e.name, "/") {
			h.Typeflag, h.Mode, h.Size = tar.TypeDir, 0o755, 0
		}
		if e.mode != 0 {
			h.Mode = e.mode
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	var gb bytes.Buffer
	gz := gzip.NewWriter(&gb)
	gz.Write(tb.Bytes())
	gz.Close()
	return gb.Bytes(), digest.FromBytes(tb.Bytes())
}

func gunzip(t testing.TB, b []byte) []byte {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// dirEntries returns the files of a testdata tree as entries under prefix
// ("configs/"), directories included, in walk order.
func dirEntries(t testing.TB, dir, prefix string) []tarEntry {
	t.Helper()
	out := []tarEntry{{name: prefix}}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			out = append(out, tarEntry{name: prefix + rel + "/"})
			return nil
		}
		if strings.HasSuffix(rel, ".md") {
			return nil // ORIGIN notes
		}
		b, err := os.ReadFile(p)
		out = append(out, tarEntry{name: prefix + rel, body: b})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// image is how a test catalog image is built.
type image struct {
	// layers, lowest first.
	layers [][]tarEntry
	// labels of the config; nil means the configs label at /configs.
	labels map[string]string
	// cmd, nil means the opm default with the serve cache.
	cmd []string
	// docker builds Docker v2s2 media types.
	docker bool
	// index wraps amd64 and arm64 images in an index.
	index bool
	// compression of the layers: "" (gzip), "zstd" or "none".
	compression string
}

// standardBase is the lower layer of every test catalog image: a stand-in
// opm, a stale file under configs that the FBC layer hides, and a serve
// cache whose digest matches nothing (OPERATORS.md 9.1).
func standardBase() []tarEntry {
	return []tarEntry{
		{name: "bin/"}, {name: "bin/opm", body: []byte("#!/bin/sh\n# stand-in\n"), mode: 0o755},
		{name: "configs/"}, {name: "configs/stale/"},
		{name: "configs/stale/catalog.json", body: []byte(`{"schema":"olm.package","name":"stale","defaultChannel":"x"}`)},
		{name: "tmp/"}, {name: "tmp/cache/"}, {name: "tmp/cache/pogreb.v1/"},
		{name: "tmp/cache/pogreb.v1/digest", body: []byte("bogus-digest")},
	}
}

// catalogImage builds a catalog image of the FBC tree dir: the standard
// base, then a layer with the tree under configs/ that whites out the stale
// package.
func catalogImage(t testing.TB, dir string) image {
	fbc := dirEntries(t, dir, "configs/")
	fbc = append(fbc, tarEntry{name: "configs/.wh.stale"})
	return image{layers: [][]tarEntry{standardBase(), fbc}}
}

// push stores img in store and returns its descriptor.
func (img image) push(t testing.TB, store content.Pusher) ocispec.Descriptor {
	t.Helper()
	ctx := context.Background()
	pushBlob := func(mt string, b []byte) ocispec.Descriptor {
		d := content.NewDescriptorFromBytes(mt, b)
		if err := store.Push(ctx, d, bytes.NewReader(b)); err != nil && !strings.Contains(err.Error(), "already exists") {
			t.Fatal(err)
		}
		return d
	}
	layerType, manType, indexType := ocispec.MediaTypeImageLayerGzip, ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageIndex
	if img.docker {
		layerType = "application/vnd.docker.image.rootfs.diff.tar.gzip"
		manType = "application/vnd.docker.distribution.manifest.v2+json"
		indexType = "application/vnd.docker.distribution.manifest.list.v2+json"
	}
	var layers []ocispec.Descriptor
	var diffIDs []digest.Digest
	for _, es := range img.layers {
		b, id := layer(t, es)
		lt := layerType
		switch img.compression {
		case "none":
			b, lt = gunzip(t, b), ocispec.MediaTypeImageLayer
		case "zstd":
			var zb bytes.Buffer
			zw, _ := zstd.NewWriter(&zb)
			zw.Write(gunzip(t, b))
			zw.Close()
			b, lt = zb.Bytes(), ocispec.MediaTypeImageLayerZstd
		}
		layers = append(layers, pushBlob(lt, b))
		diffIDs = append(diffIDs, id)
	}
	labels := img.labels
	if labels == nil {
		labels = map[string]string{ConfigsLabel: "/configs"}
	}
	cmd := img.cmd
	if cmd == nil {
		cmd = []string{"serve", "/configs", "--cache-dir=/tmp/cache"}
	}
	one := func(arch string) ocispec.Descriptor {
		cfg := map[string]any{
			"architecture": arch, "os": "linux",
			"config": map[string]any{
				"Labels": labels, "Entrypoint": []string{"/bin/opm"}, "Cmd": cmd,
				"ExposedPorts": map[string]any{"50051/tcp": map[string]any{}},
				"Healthcheck":  map[string]any{"Test": []string{"CMD", "/bin/grpc_health_probe", "-addr=:50051"}},
			},
			"rootfs":  map[string]any{"type": "layers", "diff_ids": diffIDs},
			"history": []map[string]any{{"created_by": "base"}, {"created_by": "COPY configs /configs"}},
		}
		cb, _ := json.Marshal(cfg)
		cfgType := ocispec.MediaTypeImageConfig
		if img.docker {
			cfgType = "application/vnd.docker.container.image.v1+json"
		}
		m := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: manType, Config: pushBlob(cfgType, cb), Layers: layers}
		mb, _ := json.Marshal(m)
		d := pushBlob(manType, mb)
		d.Platform = &ocispec.Platform{OS: "linux", Architecture: arch}
		return d
	}
	if !img.index {
		d := one("amd64")
		d.Platform = nil
		return d
	}
	idx := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: indexType, Manifests: []ocispec.Descriptor{one("amd64"), one("arm64")}}
	ib, _ := json.Marshal(idx)
	return pushBlob(indexType, ib)
}

// load builds img into a memory store and loads its catalog.
func load(t testing.TB, img image) *Catalog {
	t.Helper()
	store := memory.New()
	c, err := Load(context.Background(), store, img.push(t, store))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// extract applies the layers of a platform image to a directory, honouring
// whiteouts, as a container runtime would, and returns the image config.
func extract(t testing.TB, src content.Fetcher, desc ocispec.Descriptor, dir string) ocispec.Image {
	t.Helper()
	ctx := context.Background()
	man, err := platformManifest(ctx, src, desc)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range man.Layers {
		r, done, err := openLayer(ctx, src, l)
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(r)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			p := cleanPath(h.Name)
			d, base := path.Split(p)
			target := filepath.Join(dir, filepath.FromSlash(p))
			switch {
			case base == whiteoutOpaque:
				ents, _ := os.ReadDir(filepath.Join(dir, d))
				for _, e := range ents {
					os.RemoveAll(filepath.Join(dir, d, e.Name()))
				}
			case strings.HasPrefix(base, whiteoutPrefix):
				os.RemoveAll(filepath.Join(dir, d, strings.TrimPrefix(base, whiteoutPrefix)))
			case h.Typeflag == tar.TypeDir:
				os.MkdirAll(target, 0o755)
			case h.Typeflag == tar.TypeReg:
				os.MkdirAll(filepath.Dir(target), 0o755)
				b, _ := io.ReadAll(tr)
				if err := os.WriteFile(target, b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := done(); err != nil {
			t.Fatal(err)
		}
	}
	return man.config
}

// files lists the regular files under dir, relative, sorted.
func files(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	slices.Sort(out)
	return out
}

// golden compares got with testdata/golden/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", "golden", name)
	if *update {
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test ./catalog -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run go test ./catalog -update after checking the diff):\n--- got\n%s\n--- want\n%s", p, got, want)
	}
}
