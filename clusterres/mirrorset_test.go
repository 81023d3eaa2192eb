package clusterres

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	"go.yaml.in/yaml/v3"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

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

const archiveDigest = digest.Digest("sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")

// pairs lists mirrors out of order, with a duplicate and a source with two
// mirrors, to show grouping and sorting.
var (
	byDigest = []Mirror{
		{"registry.redhat.io/ubi9/ubi", "registry.internal:5000/ubi9/ubi"},
		{"quay.io/org/db", "registry.internal:5000/db/postgres"},
		{"quay.io/org/app", "registry.internal:5000/org/app"},
		{"quay.io/org/app", "backup.internal/org/app"},
		{"quay.io/org/db", "registry.internal:5000/db/postgres"},
	}
	byTag = []Mirror{
		{"docker.io/library/nginx", "registry.internal:5000/library/nginx"},
		{"quay.io/org/app", "registry.internal:5000/org/app"},
	}
)

func TestMirrorSetsGolden(t *testing.T) {
	rs, err := MirrorSets(ArchiveName(archiveDigest), byDigest, byTag)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 {
		t.Fatalf("%d resources, want 2", len(rs))
	}
	for _, r := range rs {
		b, err := r.Encode()
		if err != nil {
			t.Fatal(err)
		}
		golden(t, r.FileName()+".golden", b)
	}
}

// TestMirrorSetsContent checks the decoded structure, so that the golden
// files cannot drift unnoticed.
func TestMirrorSetsContent(t *testing.T) {
	r, err := ImageDigestMirrorSet("enclave-0123456789ab", byDigest)
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.Encode()
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Metadata   struct {
			Name   string            `yaml:"name"`
			Labels map[string]string `yaml:"labels"`
		} `yaml:"metadata"`
		Spec struct {
			ImageDigestMirrors []struct {
				Source  string   `yaml:"source"`
				Mirrors []string `yaml:"mirrors"`
			} `yaml:"imageDigestMirrors"`
		} `yaml:"spec"`
	}
	if err := yaml.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.APIVersion != "config.openshift.io/v1" || got.Kind != "ImageDigestMirrorSet" || got.Metadata.Name != "enclave-0123456789ab" || got.Metadata.Labels[ManagedByLabel] != "enclave" {
		t.Fatalf("header = %+v", got)
	}
	var lines []string
	for _, e := range got.Spec.ImageDigestMirrors {
		lines = append(lines, e.Source+" <- "+strings.Join(e.Mirrors, ","))
	}
	want := []string{
		"quay.io/org/app <- registry.internal:5000/org/app,backup.internal/org/app",
		"quay.io/org/db <- registry.internal:5000/db/postgres",
		"registry.redhat.io/ubi9/ubi <- registry.internal:5000/ubi9/ubi",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("entries:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if r.FileName() != "imagedigestmirrorset_enclave-0123456789ab.yaml" {
		t.Errorf("FileName = %q", r.FileName())
	}
}

func TestMirrorSetsDeterministic(t *testing.T) {
	// Sources in another order, each source's mirrors in the same order:
	// the output must not change.
	shuffled := []Mirror{byDigest[4], byDigest[0], byDigest[2], byDigest[1], byDigest[3]}
	a, err1 := ImageTagMirrorSet("x", byDigest)
	b, err2 := ImageTagMirrorSet("x", shuffled)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	ea, err1 := a.Encode()
	eb, err2 := b.Encode()
	if err1 != nil || err2 != nil || !bytes.Equal(ea, eb) {
		t.Fatalf("input order changed the output (%v, %v):\n%s\n%s", err1, err2, ea, eb)
	}
}

func TestMirrorSetsOmitEmpty(t *testing.T) {
	rs, err := MirrorSets("n", nil, byTag)
	if err != nil || len(rs) != 1 || rs[0].Kind != KindImageTagMirrorSet {
		t.Fatalf("got %+v, %v", rs, err)
	}
	rs, err = MirrorSets("n", nil, nil)
	if err != nil || len(rs) != 0 {
		t.Fatalf("got %+v, %v", rs, err)
	}
}

func TestMirrorSetErrors(t *testing.T) {
	tests := []struct {
		name    string
		id      string
		pairs   []Mirror
		wantErr error
		want    string
	}{
		{name: "upper-case name", id: "Enclave-1", pairs: byTag, wantErr: ErrInvalidName, want: `"Enclave-1" is not a DNS-1123 subdomain`},
		{name: "empty name", id: "", pairs: byTag, wantErr: ErrInvalidName},
		{name: "trailing dash", id: "enclave-", pairs: byTag, wantErr: ErrInvalidName},
		{name: "underscore", id: "enclave_1", pairs: byTag, wantErr: ErrInvalidName},
		{name: "too long", id: strings.Repeat("a", 254), pairs: byTag, wantErr: ErrInvalidName, want: "longer than 253"},
		{name: "no pairs", id: "n", wantErr: ErrInvalidMirror, want: "no mirrors"},
		{name: "empty source", id: "n", pairs: []Mirror{{"", "r.io/a"}}, wantErr: ErrInvalidMirror, want: "empty source"},
		{name: "tagged mirror", id: "n", pairs: []Mirror{{"quay.io/a", "r.io:5000/a:1"}}, wantErr: ErrInvalidMirror, want: "not a tagged reference"},
		{name: "digest source", id: "n", pairs: []Mirror{{"quay.io/a@sha256:00", "r.io/a"}}, wantErr: ErrInvalidMirror, want: "not a digest reference"},
		{name: "scheme", id: "n", pairs: []Mirror{{"quay.io/a", "docker://r.io/a"}}, wantErr: ErrInvalidMirror, want: "no scheme"},
		{name: "space", id: "n", pairs: []Mirror{{"quay.io/a b", "r.io/a"}}, wantErr: ErrInvalidMirror, want: "whitespace"},
		{name: "empty component", id: "n", pairs: []Mirror{{"quay.io//a", "r.io/a"}}, wantErr: ErrInvalidMirror, want: "empty path component"},
		{name: "itself", id: "n", pairs: []Mirror{{"r.io/a", "r.io/a"}}, wantErr: ErrInvalidMirror, want: "mirrors itself"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, f := range []func(string, []Mirror) (Resource, error){ImageDigestMirrorSet, ImageTagMirrorSet} {
				_, err := f(tt.id, tt.pairs)
				if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("err = %v, want %v containing %q", err, tt.wantErr, tt.want)
				}
			}
		})
	}
}

func TestArchiveName(t *testing.T) {
	got := ArchiveName(archiveDigest)
	if got != "enclave-0123456789ab" {
		t.Fatalf("ArchiveName = %q", got)
	}
	if err := ValidateName(got); err != nil {
		t.Fatal(err)
	}
}
