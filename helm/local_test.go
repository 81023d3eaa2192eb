package helm

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// copyDir copies a directory tree, giving every file the modification time
// mtime.
func copyDir(t *testing.T, src, dst string, mtime time.Time) {
	t.Helper()
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if fi.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.WriteFile(target, b, 0o600); err != nil {
			return err
		}
		return os.Chtimes(target, mtime, mtime)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestLoadLocalDeterministic packages a chart directory twice, from copies
// with other timestamps and modes, and gets the same bytes.
func TestLoadLocalDeterministic(t *testing.T) {
	a, err := LoadLocal("testdata/chartdir/demo", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "demo")
	copyDir(t, "testdata/chartdir/demo", dir, time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC))
	b, err := LoadLocal(dir, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if a.Digest() != b.Digest() || a.Name != "demo" || a.Version != "1.2.3+build.5" || a.Kind != SourceLocal || !a.Created.Equal(PackageEpoch) {
		t.Fatalf("packaged %s %s %s, copy %s", a.Name, a.Version, a.Digest(), b.Digest())
	}
	golden(t, "demo.digest", []byte(a.Digest().String()+"\n"))

	// The packaged archive loads back as a .tgz, byte for byte.
	tgz := filepath.Join(t.TempDir(), ArchiveName(a))
	if err := os.WriteFile(tgz, a.Archive, 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := LoadLocal(tgz, Limits{})
	if err != nil || c.Digest() != a.Digest() {
		t.Fatalf("reload: %v %s", err, c.Digest())
	}
	d, err := FindImages(context.Background(), c, RenderOptions{})
	if err != nil || len(d.Images) == 0 {
		t.Fatalf("render packaged chart: %v", err)
	}

	if _, err := LoadLocal(filepath.Join(t.TempDir(), "absent"), Limits{}); !errors.Is(err, ErrChart) {
		t.Errorf("absent: %v", err)
	}
	if _, err := LoadLocal("testdata/repo/index.yaml", Limits{}); !errors.Is(err, ErrChart) {
		t.Errorf("not a chart: %v", err)
	}
	if _, err := LoadLocal("testdata/repo/podinfo-5.0.0.tgz", Limits{MaxChartBytes: 100}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("limit: %v", err)
	}
}
