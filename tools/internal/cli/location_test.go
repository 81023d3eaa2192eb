package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseArchiveLocation(t *testing.T) {
	abs := filepath.Join(t.TempDir(), "local-disk")
	tests := []struct {
		in, dir, wantErr string
	}{
		{in: abs, dir: abs},
		{in: abs + "/", dir: abs},
		{in: "file://" + abs, dir: abs},
		{in: "docker://registry.enc1.in", wantErr: `--from "docker://registry.enc1.in": --from takes the archive's directory: file://DIR or an absolute path`},
		{in: "local-disk", wantErr: "--from takes the archive's directory"},
	}
	for _, tt := range tests {
		loc, err := ParseArchiveLocation("--from", tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%q: err = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || loc.Dir != tt.dir || loc.Registry != "" {
			t.Errorf("%q = %+v, %v; want dir %s", tt.in, loc, err, tt.dir)
		}
	}
}

// TestUnpackFromBarePathAndWarnings runs the enclave document's last step
// as written (--from /local-disk) with a configuration that has a warning:
// the warning is printed first, and the run gets as far as opening the
// archive (absent here), not refused for the form of --from.
func TestUnpackFromBarePathAndWarnings(t *testing.T) {
	dir := t.TempDir()
	isc := filepath.Join(dir, "isc-enclave.yaml")
	if err := os.WriteFile(isc, []byte("apiVersion: mirror.openshift.io/v1alpha2\nkind: ImageSetConfiguration\nstorageConfig:\n  local:\n    path: /tmp\nmirror:\n  additionalImages:\n    - name: quay.io/org/app:1.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	app := UnpackApp()
	code := Run(context.Background(), app, []string{app.Name, "-c", isc, "--from", filepath.Join(dir, "local-disk"), "docker://127.0.0.1:1/enc1"}, &out, &errb)
	stderr := errb.String()
	if code == 0 || strings.Contains(stderr, "destinations are") || strings.Contains(stderr, "--from takes") {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "archive: stat "+filepath.Join(dir, "local-disk")) {
		t.Errorf("want the run to reach the archive:\n%s", stderr)
	}
	if !strings.HasPrefix(stderr, "warning: imageset: "+isc+":3: storageConfig is ignored") || strings.Count(stderr, "warning:") != 1 {
		t.Fatalf("want one storageConfig warning first:\n%s", stderr)
	}
}

// TestDocumentDestinations parses the destinations the oc-mirror enclave
// document writes, verbatim.
func TestDocumentDestinations(t *testing.T) {
	for in, want := range map[string]string{
		"docker://entreprise-registry.in/": "entreprise-registry.in",
		"docker://registry.enc1.in":        "registry.enc1.in",
	} {
		loc, err := ParseLocation(in)
		if err != nil || loc.Registry != want {
			t.Errorf("%s = %+v, %v; want registry %s", in, loc, err, want)
		}
	}
}
