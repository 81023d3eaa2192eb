package helm_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
	"oras.land/oras-go/v2"

	"github.com/enclave-mirror/enclave/archive"
	"github.com/enclave-mirror/enclave/archive/archivetest"
	"github.com/enclave-mirror/enclave/clusterres"
	"github.com/enclave-mirror/enclave/internal/testing/regserver"
	"github.com/enclave-mirror/enclave/mirror"
)

// TestHelmMirrorToMirrorResources: enclave-pack of a chart into a docker://
// destination writes the IDMS/ITMS ("-helm") unpack writes for its images:
// the chart's image mirrored to the repository that holds it at the
// destination (resolved there by digest), none for its image that could not
// be copied, none for the chart itself. The same pack again writes the same
// files; an unpack of an archive of the same chart writes the same objects
// under the archive's name.
func TestHelmMirrorToMirrorResources(t *testing.T) {
	ctx := context.Background()
	src := regserver.New(t, regserver.Options{})
	dst := regserver.New(t, regserver.Options{})
	s, err := archivetest.SampleSet(ctx, func(name string) (oras.Target, error) { return repo(t, src.Host, name), nil }, 1, 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	var app string
	for ref := range s.Tags {
		if strings.HasPrefix(ref, "library/app:") {
			app = ref
		}
	}
	work := t.TempDir()
	missing := src.Host + "/org/missing:v1"
	chart := writeChart(t, work, "loc", "0.1.0", src.Host+"/"+app, missing)
	isc := filepath.Join(work, "isc.yaml")
	writeFile(t, isc, fmt.Sprintf("kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  helm:\n    local:\n      - name: loc\n        path: %s\n", chart))
	m2m := func(dir string) {
		t.Helper()
		r := runApp(t, "pack", "-c", isc, "--src-tls-verify=false", "--dest-tls-verify=false", "--cluster-resources", dir, "docker://"+dst.Host+"/m")
		mustCode(t, r, mirror.ExitFailure) // org/missing
	}
	cr := filepath.Join(work, "cr")
	m2m(cr)

	srcHost := strings.ReplaceAll(src.Host, ":", "__")
	name, _, _ := strings.Cut(app, ":")
	want := map[string][]string{src.Host + "/" + name: {dst.Host + "/m/" + srcHost + "/" + name}}
	files := names(t, cr)
	if len(files) != 2 {
		t.Fatalf("cluster resources %v, want an IDMS and an ITMS", files)
	}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(cr, f))
		if err != nil {
			t.Fatal(err)
		}
		var ms struct {
			Kind string `yaml:"kind"`
			Spec struct {
				Digest []entry `yaml:"imageDigestMirrors"`
				Tag    []entry `yaml:"imageTagMirrors"`
			} `yaml:"spec"`
		}
		if err := yaml.Unmarshal(b, &ms); err != nil {
			t.Fatal(err)
		}
		got := map[string][]string{}
		for _, e := range append(ms.Spec.Digest, ms.Spec.Tag...) {
			got[e.Source] = e.Mirrors
		}
		if len(got) != 1 || !slices.Equal(got[src.Host+"/"+name], want[src.Host+"/"+name]) || !strings.HasSuffix(f, "-helm.yaml") {
			t.Errorf("%s (%s) mirrors %v, want %v (not the failed image, not the chart)", f, ms.Kind, got, want)
		}
	}
	// The mirror holds the image, by digest.
	if got := resolve(t, dst.Host, "m/"+srcHost+"/"+name, s.Tags[app].Digest.String()); got != s.Tags[app].Digest {
		t.Errorf("image at the mirror %s, want %s", got, s.Tags[app].Digest)
	}

	cr2 := filepath.Join(work, "cr2")
	m2m(cr2)
	if got := names(t, cr2); !slices.Equal(got, files) {
		t.Fatalf("a second run wrote %v, the first %v", got, files)
	}

	// Through an archive: unpack writes the same objects.
	a := filepath.Join(work, "archive")
	mustCode(t, runApp(t, "pack", "-c", isc, "--src-tls-verify=false", "file://"+a), mirror.ExitFailure)
	ar, err := archive.Open(a)
	if err != nil {
		t.Fatal(err)
	}
	aName := clusterres.ArchiveName(ar.Digest())
	ar.Close()
	cru := filepath.Join(work, "cr-unpack")
	mustCode(t, runApp(t, "unpack", "--from", "file://"+a, "--dest-tls-verify=false", "--receipt", filepath.Join(work, "r.json"), "--cluster-resources", cru, "docker://"+dst.Host+"/m"), 0)
	mName := strings.TrimSuffix(strings.TrimPrefix(files[0], "imagedigestmirrorset_"), "-helm.yaml")
	for _, f := range files {
		x, _ := os.ReadFile(filepath.Join(cr, f))
		y, err := os.ReadFile(filepath.Join(cru, strings.ReplaceAll(f, mName, aName)))
		if err != nil {
			t.Fatalf("unpack wrote %v: %v", names(t, cru), err)
		}
		if x := bytes.ReplaceAll(x, []byte(mName), []byte(aName)); !bytes.Equal(x, y) {
			t.Errorf("%s differs from unpack's:\n%s\n---\n%s", f, x, y)
		}
	}
}

type entry struct {
	Source  string   `yaml:"source"`
	Mirrors []string `yaml:"mirrors"`
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}
