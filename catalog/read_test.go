package catalog

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content/memory"
)

func TestLoadDemo(t *testing.T) {
	c := load(t, catalogImage(t, "testdata/demo"))
	if got, want := c.PackageNames(), []string{"alpha", "beta", "gamma"}; !slices.Equal(got, want) {
		t.Fatalf("packages %v, want %v (the stale package of the base layer must be whited out)", got, want)
	}
	alpha := c.Package("alpha")
	if alpha.DefaultChannel != "stable" || !slices.Equal(alpha.ChannelNames(), []string{"candidate", "fast", "stable"}) {
		t.Errorf("alpha: default %q channels %v", alpha.DefaultChannel, alpha.ChannelNames())
	}
	heads := map[string]string{"stable": "alpha.v2.0.0", "fast": "alpha.v2.1.0", "candidate": "alpha.v2.2.0-rc.1"}
	for ch, want := range heads {
		if got, err := alpha.Channel(ch).Head(); err != nil || got != want {
			t.Errorf("alpha %s head %q, %v; want %q", ch, got, err, want)
		}
	}
	st := alpha.Channel("stable")
	if e := st.Entries[4]; e.Name != "alpha.v2.0.0" || e.Replaces != "alpha.v1.2.0" || e.SkipRange != ">=1.0.0 <2.0.0" {
		t.Errorf("stable entry 4 = %+v", e)
	}
	if e := st.Entries[3]; !slices.Equal(e.Skips, []string{"alpha.v1.1.1"}) {
		t.Errorf("stable entry 3 skips %v", e.Skips)
	}
	if len(alpha.Bundles) != 7 {
		t.Errorf("alpha has %d bundles, want 7", len(alpha.Bundles))
	}
	b := alpha.Bundle("alpha.v2.2.0-rc.1")
	if b.Version != "2.2.0-rc.1" || !strings.HasPrefix(b.Image, "quay.example/demo/alpha-bundle@sha256:") || len(b.Images()) != 2 {
		t.Errorf("bundle %+v images %v", b, b.Images())
	}
	beta := c.Package("beta") // from YAML
	if beta.DefaultChannel != "v2" || len(beta.Bundles) != 4 || beta.Deprecations == nil || len(beta.Deprecations.Entries) != 3 {
		t.Fatalf("beta: %+v", beta)
	}
	if d := beta.Deprecations.Entries[2]; d.Schema != SchemaBundle || d.Name != "beta.v1.0.0" || d.Message == "" {
		t.Errorf("beta deprecation %+v", d)
	}
	var others []string
	for _, o := range c.Others {
		others = append(others, o.Schema+"/"+o.Package+"/"+o.Name)
	}
	if want := []string{"example.custom/beta/notes", "example.global//settings"}; !slices.Equal(others, want) {
		t.Errorf("others %v, want %v (in file path order)", others, want)
	}
	if c.Dir != "/configs" || c.Manifest.Digest != c.Image.Digest {
		t.Errorf("dir %q manifest %s image %s", c.Dir, c.Manifest.Digest, c.Image.Digest)
	}
}

func TestLoadIndexDockerAndLabel(t *testing.T) {
	img := catalogImage(t, "testdata/demo")
	for i := range img.layers {
		for j := range img.layers[i] {
			img.layers[i][j].name = strings.Replace(img.layers[i][j].name, "configs", "srv/fbc", 1)
		}
	}
	img.labels = map[string]string{ConfigsLabel: "/srv/fbc"}
	img.docker, img.index = true, true
	store := memory.New()
	desc := img.push(t, store)
	c, err := Load(context.Background(), store, desc)
	if err != nil {
		t.Fatal(err)
	}
	if c.Dir != "/srv/fbc" || len(c.Packages) != 3 {
		t.Fatalf("dir %q packages %v", c.Dir, c.PackageNames())
	}
	if c.Image.Digest != desc.Digest || c.Manifest.Digest == desc.Digest || c.Manifest.Platform.Architecture != "amd64" {
		t.Errorf("image %s manifest %+v: want the amd64 manifest of the index", c.Image.Digest, c.Manifest)
	}
}

func TestLoadCompression(t *testing.T) {
	for _, comp := range []string{"none", "zstd"} {
		img := catalogImage(t, "testdata/demo")
		img.compression = comp
		c := load(t, img)
		if got := c.PackageNames(); !slices.Equal(got, []string{"alpha", "beta", "gamma"}) {
			t.Errorf("%s layers: packages %v", comp, got)
		}
	}
	// A layer whose bytes do not match its digest is refused.
	img := catalogImage(t, "testdata/demo")
	store := memory.New()
	desc := img.push(t, store)
	bad := &corrupt{Store: store}
	if _, err := Load(context.Background(), bad, desc); err == nil || !strings.Contains(err.Error(), "layer") {
		t.Errorf("corrupted layer: %v", err)
	}
}

// corrupt serves layers with their last byte changed.
type corrupt struct{ *memory.Store }

func (c *corrupt) Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	rc, err := c.Store.Fetch(ctx, d)
	if err != nil || !strings.Contains(d.MediaType, "layer") {
		return rc, err
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	b[len(b)-1] ^= 0xff
	return io.NopCloser(bytes.NewReader(b)), nil
}

func TestLoadLayers(t *testing.T) {
	pkg := func(name string) []byte {
		return []byte(`{"schema":"olm.package","name":"` + name + `","defaultChannel":"c"}` +
			`{"schema":"olm.channel","package":"` + name + `","name":"c","entries":[{"name":"` + name + `.v1"}]}` +
			`{"schema":"olm.bundle","package":"` + name + `","name":"` + name + `.v1","image":"r/` + name + `@sha256:00","properties":[{"type":"olm.package","value":{"packageName":"` + name + `","version":"1.0.0"}}]}`)
	}
	tests := []struct {
		name   string
		layers [][]tarEntry
		want   []string
	}{
		{"opaque whiteout hides lower files, keeps its own layer's", [][]tarEntry{
			{{name: "configs/a/catalog.json", body: pkg("a")}, {name: "configs/b/catalog.json", body: pkg("b")}},
			{{name: "configs/"}, {name: "configs/.wh..wh..opq"}, {name: "configs/c/catalog.json", body: pkg("c")}},
		}, []string{"c"}},
		{"whiteout of the configs dir at the root", [][]tarEntry{
			{{name: "configs/a/catalog.json", body: pkg("a")}},
			{{name: ".wh.configs"}, {name: "configs/b/catalog.json", body: pkg("b")}},
		}, []string{"b"}},
		{"file whiteout", [][]tarEntry{
			{{name: "configs/a/catalog.json", body: pkg("a")}, {name: "configs/b/catalog.json", body: pkg("b")}},
			{{name: "configs/a/.wh.catalog.json"}},
		}, []string{"b"}},
		{"directory whiteout, then the directory again in a later layer", [][]tarEntry{
			{{name: "configs/a/catalog.json", body: pkg("a")}, {name: "configs/a/more.json", body: pkg("x")}},
			{{name: "configs/.wh.a"}},
			{{name: "./configs/a/catalog.json", body: pkg("a")}},
		}, []string{"a"}},
		{"an upper file replaces the lower one", [][]tarEntry{
			{{name: "configs/a/catalog.json", body: []byte("not json, replaced above")}},
			{{name: "/configs/a/catalog.json", body: pkg("a")}},
		}, []string{"a"}},
		{"indexignore", [][]tarEntry{
			{{name: "configs/.indexignore", body: []byte("# comment\n*.md\nskip/\n")},
				{name: "configs/README.md", body: []byte("# not FBC")},
				{name: "configs/skip/catalog.json", body: []byte("{broken")},
				{name: "configs/a/catalog.json", body: pkg("a")}},
		}, []string{"a"}},
		{"paths outside the configs dir are ignored", [][]tarEntry{
			{{name: "configs/a/catalog.json", body: pkg("a")}, {name: "configsx/b.json", body: []byte("{")}, {name: "etc/configs/x", body: []byte("{")}},
		}, []string{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := load(t, image{layers: tt.layers})
			if got := c.PackageNames(); !slices.Equal(got, tt.want) {
				t.Errorf("packages %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	const okPkg = `{"schema":"olm.package","name":"p","defaultChannel":"c"}`
	bundle := func(version string) string {
		return `{"schema":"olm.bundle","package":"p","name":"p.v1","image":"r/p@sha256:00","properties":[{"type":"olm.package","value":{"packageName":"p","version":"` + version + `"}}]}`
	}
	one := func(body string) image {
		return image{layers: [][]tarEntry{{{name: "configs/"}, {name: "configs/p/catalog.json", body: []byte(body)}}}}
	}
	tests := []struct {
		name    string
		img     image
		wantErr error
		want    []string // substrings of the message
	}{
		{"broken JSON", one(okPkg + `{"schema":`), ErrInvalidFBC, []string{"layer 0", "configs/p/catalog.json", "offset"}},
		{"missing schema", one(`{"name":"x"}`), ErrInvalidFBC, []string{"missing the root schema field", "configs/p/catalog.json"}},
		{"bundle without olm.package", one(okPkg + `{"schema":"olm.bundle","package":"p","name":"p.v1"}`), ErrInvalidFBC, []string{"0 olm.package properties"}},
		{"version not strict semver", one(okPkg + bundle("1.2")), ErrInvalidFBC, []string{`version "1.2" is not a semantic version`}},
		{"bad skipRange", one(okPkg + `{"schema":"olm.channel","package":"p","name":"c","entries":[{"name":"p.v1","skipRange":"<<1"}]}`), ErrInvalidFBC, []string{"skipRange"}},
		{"package twice", image{layers: [][]tarEntry{{{name: "configs/a.json", body: []byte(okPkg)}, {name: "configs/b.json", body: []byte(okPkg)}}}}, ErrInvalidFBC, []string{`package "p" is defined twice`}},
		{"channel of no package", one(`{"schema":"olm.channel","package":"q","name":"c","entries":[{"name":"q.v1"}]}`), ErrInvalidFBC, []string{`package "q"`}},
		{"sqlite index", image{labels: map[string]string{SQLiteLabel: "/database/index.db"}, layers: [][]tarEntry{{{name: "database/index.db", body: []byte("x")}}}}, ErrInvalidImage, []string{"sqlite"}},
		{"no FBC", image{layers: [][]tarEntry{{{name: "bin/opm", body: []byte("x")}}}}, ErrInvalidImage, []string{"holds no file under /configs"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := memory.New()
			_, err := Load(context.Background(), store, tt.img.push(t, store))
			if tt.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestLoadLimits(t *testing.T) {
	body := `{"schema":"olm.package","name":"p","defaultChannel":"c","description":"` + strings.Repeat("x", 4096) + `"}`
	img := image{layers: [][]tarEntry{{{name: "configs/big/catalog.json", body: []byte(body)}}}}
	t.Run("document size JSON", func(t *testing.T) {
		defer func(n int64) { maxDocumentSize = n }(maxDocumentSize)
		maxDocumentSize = 1000
		store := memory.New()
		_, err := Load(context.Background(), store, img.push(t, store))
		if !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "configs/big/catalog.json") {
			t.Fatalf("error %v, want ErrLimit naming the file", err)
		}
	})
	t.Run("document size YAML", func(t *testing.T) {
		defer func(n int64) { maxDocumentSize = n }(maxDocumentSize)
		maxDocumentSize = 1000
		y := image{layers: [][]tarEntry{{{name: "configs/big/catalog.yaml", body: []byte("schema: olm.package\nname: p\ndescription: " + strings.Repeat("x", 4096) + "\n")}}}}
		store := memory.New()
		_, err := Load(context.Background(), store, y.push(t, store))
		if !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "configs/big/catalog.yaml") {
			t.Fatalf("error %v, want ErrLimit naming the file", err)
		}
	})
	t.Run("document count", func(t *testing.T) {
		defer func(n int) { maxDocuments = n }(maxDocuments)
		maxDocuments = 10
		c := catalogImage(t, "testdata/demo")
		store := memory.New()
		_, err := Load(context.Background(), store, c.push(t, store))
		if !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "more than 10 documents") {
			t.Fatalf("error %v, want ErrLimit", err)
		}
	})
}
