package helm

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"
)

// mirroredCharts are the charts the repository-directory tests write: an
// HTTP chart with its index created time, a signed local chart directory
// with a build-metadata version, and two versions of a real chart.
func mirroredCharts(t *testing.T, s *repoServer) ([]*Chart, []byte) {
	t.Helper()
	r, _ := NewRepository("fixtures", s.URL+"/charts", HTTPOptions{}, Limits{})
	podinfo, err := r.Pull(context.Background(), "podinfo", "")
	if err != nil {
		t.Fatal(err)
	}
	demo, err := LoadLocal("testdata/chartdir/demo", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	key := newKey(t, "enclave test")
	demo.Provenance = provFor(t, demo, key, demo.Digest().String())
	keyring, _ := publicKeyring(t, key)
	return []*Chart{podinfo, demo, fixture(t, "service-binding-operator-1.3.3.tgz"), fixture(t, "service-binding-operator-1.4.1.tgz")}, keyring
}

func TestWriteRepository(t *testing.T) {
	charts, _ := mirroredCharts(t, newRepoServer(t, false))
	dir := t.TempDir()
	if err := WriteRepository(dir, charts); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "index.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// Written again (same charts, other order): the same bytes.
	dir2 := t.TempDir()
	if err := WriteRepository(dir2, []*Chart{charts[3], charts[2], charts[1], charts[0], charts[0]}); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(filepath.Join(dir2, "index.yaml")); string(again) != string(data) {
		t.Errorf("index.yaml differs between two writes:\n%s\n---\n%s", data, again)
	}
	idx, err := ParseIndex(bytesReader(data), "written index", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range charts {
		cv, err := idx.Get(c.Name, c.Version)
		if err != nil {
			t.Fatal(err)
		}
		if cv.Digest != c.Digest().Encoded() || len(cv.URLs) != 1 || cv.URLs[0] != ArchiveName(c) {
			t.Errorf("%s %s: entry %+v", c.Name, c.Version, cv)
		}
		b, err := os.ReadFile(filepath.Join(dir, ArchiveName(c)))
		if err != nil || digest.FromBytes(b) != c.Digest() {
			t.Errorf("%s: archive %v", ArchiveName(c), err)
		}
		if _, err := os.Stat(filepath.Join(dir, ArchiveName(c)+".prov")); (err == nil) != (c.Provenance != nil) {
			t.Errorf("%s: prov file present = %v", ArchiveName(c), err == nil)
		}
	}
	if cv, _ := idx.Get("service-binding-operator", ""); cv.Version != "1.4.1" {
		t.Errorf("latest sbo %s", cv.Version)
	}
	golden(t, "repository-index.yaml", data)

	other := fixture(t, "service-binding-operator-1.4.1.tgz")
	other.Archive = append([]byte(nil), charts[2].Archive...) // same name and version, other bytes
	if err := WriteRepository(t.TempDir(), []*Chart{charts[3], other}); !errors.Is(err, ErrCollision) {
		t.Errorf("two archives for one version: %v", err)
	}
}
