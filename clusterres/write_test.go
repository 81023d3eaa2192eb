package clusterres

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cluster-resources")
	rs, err := MirrorSets("enclave-0123456789ab", byDigest, byTag)
	if err != nil {
		t.Fatal(err)
	}
	paths, err := WriteDir(dir, rs...)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		filepath.Join(dir, "imagedigestmirrorset_enclave-0123456789ab.yaml"),
		filepath.Join(dir, "imagetagmirrorset_enclave-0123456789ab.yaml"),
	}
	if strings.Join(paths, " ") != strings.Join(want, " ") {
		t.Fatalf("paths = %v, want %v", paths, want)
	}
	for i, p := range paths {
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		enc, _ := rs[i].Encode()
		if string(got) != string(enc) {
			t.Errorf("%s: content differs from Encode", p)
		}
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm() != 0o644 {
			t.Errorf("%s: mode %v, %v", p, fi.Mode(), err)
		}
	}
	// Writing again replaces the files and leaves no temporary files behind.
	if _, err := WriteDir(dir, rs...); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("directory holds %v, want only the two files", names)
	}
}

func TestWriteDirErrors(t *testing.T) {
	ok, err := ImageTagMirrorSet("a", byTag)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		rs      []Resource
		wantErr error
		want    string
	}{
		{name: "same file twice", rs: []Resource{ok, ok}, wantErr: ErrConflict, want: "imagetagmirrorset_a.yaml"},
		{name: "bad name", rs: []Resource{ok, {Kind: "ConfigMap", Name: "Bad", Object: map[string]string{}}}, wantErr: ErrInvalidName},
		{name: "bad namespace", rs: []Resource{{Kind: "ConfigMap", Name: "a", Namespace: "x_y", Object: map[string]string{}}}, wantErr: ErrInvalidName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := WriteDir(dir, tt.rs...)
			if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %v containing %q", err, tt.wantErr, tt.want)
			}
			// Validation happens before anything is written.
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Fatalf("files written despite the error: %v", entries)
			}
		})
	}
	if _, err := (Resource{Kind: "a/b", Name: "x"}).Encode(); err == nil || !strings.Contains(err.Error(), "invalid kind") {
		t.Fatalf("bad kind: %v", err)
	}
}

// TestWriteDirRenameFails makes the rename fail (the target is a directory)
// and checks that the error is reported and no temporary file is left.
func TestWriteDirRenameFails(t *testing.T) {
	dir := t.TempDir()
	rs, err := MirrorSets("a", byDigest, byTag)
	if err != nil {
		t.Fatal(err)
	}
	blocker := filepath.Join(dir, rs[1].FileName())
	if err := os.MkdirAll(filepath.Join(blocker, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	paths, err := WriteDir(dir, rs...)
	if err == nil || !strings.HasPrefix(err.Error(), "clusterres: ") {
		t.Fatalf("err = %v, want a clusterres rename error", err)
	}
	if len(paths) != 1 || paths[0] != filepath.Join(dir, rs[0].FileName()) {
		t.Fatalf("paths = %v, want only the first file", paths)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
}

func TestResourceFileName(t *testing.T) {
	r := Resource{Kind: "ConfigMap", Namespace: "openshift-config-managed", Name: "sha256-abc"}
	if got := r.FileName(); got != "configmap_openshift-config-managed_sha256-abc.yaml" {
		t.Fatalf("FileName = %q", got)
	}
}
