package imageset

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// golden compares got with testdata/name, rewriting it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from golden file (run go test -update after checking):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestLoadValid(t *testing.T) {
	files, err := filepath.Glob("testdata/valid/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			c, err := LoadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			out, err := json.MarshalIndent(c, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden(t, strings.TrimSuffix(f[len("testdata/"):], ".yaml")+".golden.json", append(out, '\n'))
		})
	}
}

// TestLoadValidValues spells out the defaults and conversions the golden
// files also show, so a careless -update cannot hide a change in them.
func TestLoadValidValues(t *testing.T) {
	c, err := LoadFile("testdata/valid/v2alpha1-full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.APIVersion != APIVersionV2Alpha1 || c.ArchiveSizeGiB != 4 || c.ArchiveSizeBytes() != 4<<30 {
		t.Errorf("apiVersion/archiveSize = %q %d %d", c.APIVersion, c.ArchiveSizeGiB, c.ArchiveSizeBytes())
	}
	p := c.Mirror.Platform
	if p == nil || len(p.Channels) != 3 || !p.Graph || strings.Join(p.Architectures, ",") != "amd64,arm64" {
		t.Fatalf("platform = %+v", p)
	}
	if ch := p.Channels[0]; ch.Type != ChannelTypeOCP || ch.MinVersion.String() != "4.15.3" || ch.MaxVersion.String() != "4.15.10" || !ch.ShortestPath || ch.Line != 8 {
		t.Errorf("channel 0 = %+v", ch)
	}
	if ch := p.Channels[2]; ch.Type != ChannelTypeOKD || !ch.Full || ch.MinVersion != nil {
		t.Errorf("channel 2 = %+v", ch)
	}
	if n := len(c.Mirror.Operators); n != 2 {
		t.Fatalf("%d operators", n)
	}
	op := c.Mirror.Operators[0]
	if op.TargetCatalog != "my-org/redhat-operator-index" || op.TargetTag != "v4.15-enclave" || len(op.Packages) != 3 {
		t.Errorf("operator 0 = %+v", op)
	}
	if ch := op.Packages[1].Channels[0]; ch.Name != "threescale-2.13" || ch.MaxVersion.String() != "0.11.0" {
		t.Errorf("package channel = %+v", ch)
	}
	if op := c.Mirror.Operators[1]; op.Catalog != "oci:///home/user/catalogs/rhop" || !op.Full || !op.SkipDependencies {
		t.Errorf("operator 1 = %+v", op)
	}
	if img := c.Mirror.AdditionalImages[2]; img.Name.String() != "docker.io/library/nginx:1.25.3" || img.TargetTag != "stable" {
		t.Errorf("image 2 = %+v", img)
	}
	if h := c.Mirror.Helm; len(h.Repositories[0].Charts) != 2 || h.Local[0].Path != "/home/user/charts/podinfo-5.0.0.tar.gz" {
		t.Errorf("helm = %+v", h)
	}
	if b := c.Mirror.BlockedImages; len(b) != 2 || b[0].Pattern.String() != `^registry\.redhat\.io/ubi8/ubi-minimal` {
		t.Errorf("blocked = %+v", b)
	}

	c, err = LoadFile("testdata/valid/v1alpha2-full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.APIVersion != APIVersionV1Alpha2 || c.Mirror.Platform.Architectures[0] != "multi" {
		t.Errorf("v1alpha2 = %+v", c)
	}
}

func TestLoadDefaultArchitecture(t *testing.T) {
	c, err := Load(strings.NewReader("kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  platform:\n    release: quay.io/openshift-release-dev/ocp-release:4.15.3-x86_64\n"), "isc.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Mirror.Platform.Architectures; len(got) != 1 || got[0] != "amd64" {
		t.Fatalf("architectures = %v, want [amd64]", got)
	}
}

// TestLoadInvalid loads each testdata/invalid file and checks that the error
// contains every "# want:" line of its header.
func TestLoadInvalid(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var wants []string
			sc := bufio.NewScanner(bytes.NewReader(data))
			for sc.Scan() {
				if w, ok := strings.CutPrefix(sc.Text(), "# want: "); ok {
					wants = append(wants, w)
				}
			}
			if len(wants) == 0 {
				t.Fatal("fixture has no # want: line")
			}
			_, err = Load(bytes.NewReader(data), filepath.Base(f))
			if err == nil {
				t.Fatal("Load succeeded")
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("error does not wrap ErrInvalidConfig: %v", err)
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Errorf("error is not a *ConfigError: %v", err)
			}
			for _, w := range wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestLoadErrorKinds(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		wantErr error
		path    string
		line    int
	}{
		{name: "unknown field", file: "storage-config.yaml", wantErr: ErrUnknownField, path: "storageConfig", line: 7},
		{name: "apiVersion", file: "bad-apiversion.yaml", wantErr: ErrUnsupportedVersion, path: "apiVersion", line: 2},
		{name: "reference", file: "uppercase-repo.yaml", wantErr: ErrInvalidReference, path: "mirror.additionalImages[0].name", line: 5},
		{name: "version", file: "bad-semver.yaml", wantErr: ErrInvalidVersion, path: "mirror.platform.channels[0].minVersion", line: 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadFile(filepath.Join("testdata/invalid", tt.file))
			if !errors.Is(err, tt.wantErr) || !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("err = %v, want %v and ErrInvalidConfig", err, tt.wantErr)
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("not a *ConfigError: %v", err)
			}
			if ce.Path != tt.path || ce.Line != tt.line {
				t.Errorf("path, line = %q, %d; want %q, %d", ce.Path, ce.Line, tt.path, tt.line)
			}
		})
	}
}

func TestLoadLimits(t *testing.T) {
	big := strings.Repeat("#", MaxConfigSize+1)
	if _, err := Load(strings.NewReader(big), "big.yaml"); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("oversized input: %v", err)
	}
	var b strings.Builder
	b.WriteString("kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  additionalImages:\n")
	for range maxErrors + 10 {
		b.WriteString("    - name: \"\"\n")
	}
	_, err := Load(strings.NewReader(b.String()), "many.yaml")
	if err == nil || !strings.Contains(err.Error(), "too many errors") {
		t.Fatalf("want too many errors, got %v", err)
	}
	if n := strings.Count(err.Error(), "must not be empty"); n != maxErrors {
		t.Fatalf("%d errors reported, want %d", n, maxErrors)
	}
	if _, err := LoadFile("testdata/does-not-exist.yaml"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

func FuzzLoad(f *testing.F) {
	for _, dir := range []string{"testdata/valid", "testdata/invalid"} {
		files, _ := filepath.Glob(dir + "/*.yaml")
		for _, p := range files {
			data, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Load(bytes.NewReader(data), "fuzz.yaml")
		if err != nil {
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("error without ErrInvalidConfig: %v", err)
			}
			return
		}
		for _, img := range c.Mirror.AdditionalImages {
			if !img.Name.HasVersion() {
				t.Fatalf("loaded unpinned image %q", img.Name)
			}
		}
	})
}

// TestLoadHelmChartOptions pins the oc-mirror per-chart fields that the
// strict loader used to refuse (imagePaths, platforms) and the values
// fields, so real oc-mirror configurations load.
func TestLoadHelmChartOptions(t *testing.T) {
	c, err := LoadFile("testdata/valid/helm-oc-mirror.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ch := c.Mirror.Helm.Repositories[0].Charts[0]
	if ch.Version != ">=6.0.0 <7.0.0" || len(ch.ImagePaths) != 1 || ch.ImagePaths[0] != "{.spec.template.spec.containers[*].env[*].value}" {
		t.Errorf("chart = %+v", ch)
	}
	if len(ch.Platforms) != 2 || ch.Platforms[1].String() != "linux/arm64" || strings.Join(ch.ValuesFiles, ",") != "values/podinfo.yaml" {
		t.Errorf("platforms/valuesFiles = %v %v", ch.Platforms, ch.ValuesFiles)
	}
	redis, _ := ch.Values["redis"].(map[string]any)
	if redis["enabled"] != true || ch.Values["replicaCount"] != 2 {
		t.Errorf("values = %#v", ch.Values)
	}
	if len(c.Warnings) != 0 {
		t.Errorf("warnings = %q", c.Warnings)
	}
	if l := c.Mirror.Helm.Local[0]; len(l.ImagePaths) != 1 || l.ImagePaths[0] != "{.spec.image}" || l.Values != nil {
		t.Errorf("local = %+v", l)
	}
}
