package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"go.yaml.in/yaml/v3"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/enclave-mirror/enclave/archive/archivetest"
	"github.com/enclave-mirror/enclave/imageset"
	"github.com/enclave-mirror/enclave/internal/testing/regserver"
)

// TestUnpackSubsetMapping pins issue 22's first bug: unpack -c must place
// each image where the entry that names it says, by the rule that decided
// the mapping at pack (an entry with a digest matches by digest, one without
// by tag, one reference one mapping). Each case packs with its own
// configuration, unpacks the archive with -c of that same configuration and
// without -c, and compares the tags and repositories at a real destination
// and the IDMS/ITMS written.
func TestUnpackSubsetMapping(t *testing.T) {
	ctx := context.Background()
	src := regserver.New(t, regserver.Options{})
	app := repo(t, src.Host, "org/app")
	a, err := archivetest.Image(ctx, app, "amd64", archivetest.Blob(101, 2000, false))
	if err != nil {
		t.Fatal(err)
	}
	b, err := archivetest.Image(ctx, app, "amd64", archivetest.Blob(102, 2000, false))
	if err != nil {
		t.Fatal(err)
	}
	for tag, d := range map[string]ocispec.Descriptor{"a": a, "b": b} {
		if err := app.Tag(ctx, d, tag); err != nil {
			t.Fatal(err)
		}
	}
	at := func(d ocispec.Descriptor) string { return "@" + d.Digest.String() }
	dt := func(d ocispec.Descriptor) string { return imageset.DigestTag(d.Digest) }
	h := src.Host

	type want struct {
		// tags are "repo:tag" at the destination, each holding digest.
		tags map[string]digest.Digest
		// idms and itms are the "source -> mirror" pairs written.
		idms, itms []string
	}
	tests := []struct {
		name     string
		entries  string // additionalImages entries of the pack (and -c) configuration
		withC    want   // unpack -c isc.yaml
		withoutC want   // unpack of the whole archive
	}{
		{
			name: "tag only",
			entries: `
    - name: ` + h + `/org/app:a`,
			withC:    want{tags: map[string]digest.Digest{"org/app:a": a.Digest}, idms: []string{h + "/org/app -> org/app"}, itms: []string{h + "/org/app -> org/app"}},
			withoutC: want{tags: map[string]digest.Digest{"org/app:a": a.Digest}, idms: []string{h + "/org/app -> org/app"}, itms: []string{h + "/org/app -> org/app"}},
		},
		{
			name: "digest only",
			entries: `
    - name: ` + h + `/org/app` + at(a),
			withC:    want{tags: map[string]digest.Digest{"org/app:" + dt(a): a.Digest}, idms: []string{h + "/org/app -> org/app"}},
			withoutC: want{tags: map[string]digest.Digest{"org/app:" + dt(a): a.Digest}, idms: []string{h + "/org/app -> org/app"}},
		},
		{
			name: "tag and digest",
			entries: `
    - name: ` + h + `/org/app:a` + at(a) + `
      targetRepo: team/app`,
			withC:    want{tags: map[string]digest.Digest{"team/app:a": a.Digest}, idms: []string{h + "/org/app -> team/app"}, itms: []string{h + "/org/app -> team/app"}},
			withoutC: want{tags: map[string]digest.Digest{"org/app:a": a.Digest}, idms: []string{h + "/org/app -> org/app"}, itms: []string{h + "/org/app -> org/app"}},
		},
		{
			name: "two digest-only images of one repository",
			entries: `
    - name: ` + h + `/org/app` + at(a) + `
    - name: ` + h + `/org/app` + at(b),
			withC:    want{tags: map[string]digest.Digest{"org/app:" + dt(a): a.Digest, "org/app:" + dt(b): b.Digest}, idms: []string{h + "/org/app -> org/app"}},
			withoutC: want{tags: map[string]digest.Digest{"org/app:" + dt(a): a.Digest, "org/app:" + dt(b): b.Digest}, idms: []string{h + "/org/app -> org/app"}},
		},
		{
			name: "one image by tag and by digest under different targetRepos",
			entries: `
    - name: ` + h + `/org/app:a
      targetRepo: team-x/app
    - name: ` + h + `/org/app` + at(a) + `
      targetRepo: team-y/app`,
			withC: want{
				tags: map[string]digest.Digest{"team-x/app:a": a.Digest, "team-y/app:" + dt(a): a.Digest},
				idms: []string{h + "/org/app -> team-x/app", h + "/org/app -> team-y/app"},
				itms: []string{h + "/org/app -> team-x/app"},
			},
			withoutC: want{tags: map[string]digest.Digest{"org/app:a": a.Digest, "org/app:" + dt(a): a.Digest}, idms: []string{h + "/org/app -> org/app"}, itms: []string{h + "/org/app -> org/app"}},
		},
		{
			name: "the same image twice under different targetRepos",
			entries: `
    - name: ` + h + `/org/app:b
      targetRepo: one/app
    - name: ` + h + `/org/app:b
      targetRepo: two/app`,
			withC: want{
				tags: map[string]digest.Digest{"one/app:b": b.Digest, "two/app:b": b.Digest},
				idms: []string{h + "/org/app -> one/app", h + "/org/app -> two/app"},
				itms: []string{h + "/org/app -> one/app", h + "/org/app -> two/app"},
			},
			withoutC: want{tags: map[string]digest.Digest{"org/app:b": b.Digest}, idms: []string{h + "/org/app -> org/app"}, itms: []string{h + "/org/app -> org/app"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			work := t.TempDir()
			isc := filepath.Join(work, "isc.yaml")
			cfg := "kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  additionalImages:" + tt.entries + "\n"
			if err := os.WriteFile(isc, []byte(cfg), 0o644); err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(work, "content")
			mustCode(t, pack(t, "-c", isc, "--src-tls-verify=false", "file://"+dir), 0)
			for _, withC := range []bool{true, false} {
				dst := regserver.New(t, regserver.Options{})
				cr := filepath.Join(work, fmt.Sprintf("cr-%v", withC))
				args := []string{"--from", "file://" + dir, "--dest-tls-verify=false", "--cluster-resources", cr, "--receipt", cr + ".receipt.json", "docker://" + dst.Host + "/m"}
				w := tt.withoutC
				if withC {
					args = append([]string{"-c", isc}, args...)
					w = tt.withC
				}
				mustCode(t, unpack(t, args...), 0)
				if got := destinationTags(t, dst); !equalTags(got, w.tags) {
					t.Errorf("-c=%v: destination holds\n%v\nwant\n%v", withC, got, w.tags)
				}
				mirrors := func(kind string) []string {
					return mirrorPairs(t, cr, kind, dst.Host+"/m/")
				}
				if got := mirrors("imagedigestmirrorset"); !slices.Equal(got, sorted(w.idms)) {
					t.Errorf("-c=%v: IDMS %v, want %v", withC, got, sorted(w.idms))
				}
				if got := mirrors("imagetagmirrorset"); !slices.Equal(got, sorted(w.itms)) {
					t.Errorf("-c=%v: ITMS %v, want %v", withC, got, sorted(w.itms))
				}
			}
		})
	}
}

// destinationTags lists every "repo:tag" under the destination's "m/" root
// with the digest it resolves to.
func destinationTags(t *testing.T, dst *regserver.Registry) map[string]digest.Digest {
	t.Helper()
	ctx := context.Background()
	reg := registryClient(t, dst.Host)
	got := map[string]digest.Digest{}
	err := reg.Repositories(ctx, "", func(repos []string) error {
		for _, name := range repos {
			r := repo(t, dst.Host, name)
			if err := r.Tags(ctx, "", func(tags []string) error {
				for _, tag := range tags {
					d, err := r.Resolve(ctx, tag)
					if err != nil {
						return err
					}
					got[strings.TrimPrefix(name, "m/")+":"+tag] = d.Digest
				}
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func equalTags(a, b map[string]digest.Digest) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// mirrorPairs reads the mirror set of kind written in dir as sorted
// "source -> mirror" pairs, the mirror relative to prefix.
func mirrorPairs(t *testing.T, dir, kind, prefix string) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, kind+"_*.yaml"))
	if len(files) > 1 {
		t.Fatalf("%d %s files: %v", len(files), kind, files)
	}
	var pairs []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var obj struct {
			Spec struct {
				Digest []struct {
					Source  string   `yaml:"source"`
					Mirrors []string `yaml:"mirrors"`
				} `yaml:"imageDigestMirrors"`
				Tag []struct {
					Source  string   `yaml:"source"`
					Mirrors []string `yaml:"mirrors"`
				} `yaml:"imageTagMirrors"`
			} `yaml:"spec"`
		}
		if err := yaml.Unmarshal(b, &obj); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, m := range append(obj.Spec.Digest, obj.Spec.Tag...) {
			for _, mirror := range m.Mirrors {
				pairs = append(pairs, m.Source+" -> "+strings.TrimPrefix(mirror, prefix))
			}
		}
	}
	return sorted(pairs)
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func registryClient(t *testing.T, host string) *remote.Registry {
	t.Helper()
	r, err := remote.NewRegistry(host)
	if err != nil {
		t.Fatal(err)
	}
	r.PlainHTTP = true
	return r
}
