package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/enclave-mirror/enclave/archive"
	"github.com/enclave-mirror/enclave/internal/testing/regserver"
	"github.com/enclave-mirror/enclave/mirror"
)

// TestInspectIncompleteArchive: inspect shows what the final volume lists,
// names the volume that is missing, swapped or foreign, and exits 3 (issue
// 20: a missing volume once passed without a word).
func TestInspectIncompleteArchive(t *testing.T) {
	src := regserver.New(t, regserver.Options{})
	s, isc := seed(t, src, 1, src.Host)
	packTo := func(variant string) string {
		dir := filepath.Join(t.TempDir(), variant)
		mustCode(t, pack(t, "-c", isc, "--src-tls-verify=false", "--volume-size", "300KiB", "--chunk-size", "64KiB", "file://"+dir), 0)
		return dir
	}
	good := packTo("a")
	other := packTo("b") // same content, another archive identity
	r, err := archive.Open(good)
	if err != nil {
		t.Fatal(err)
	}
	n := len(r.Volumes())
	r.Close()
	if n < 2 {
		t.Fatalf("the archive has %d volumes; the test needs 2 or more", n)
	}
	v1, v2 := archive.VolumeName(1), archive.VolumeName(2)
	for _, tc := range []struct {
		name   string
		damage func(dir string)
		want   string
	}{
		{"missing", func(dir string) { os.Remove(filepath.Join(dir, v1)) }, v1 + " is missing"},
		{"swapped", func(dir string) {
			os.Rename(filepath.Join(dir, v1), filepath.Join(dir, "tmp"))
			os.Rename(filepath.Join(dir, v2), filepath.Join(dir, v1))
			os.Rename(filepath.Join(dir, "tmp"), filepath.Join(dir, v2))
		}, v1},
		{"foreign", func(dir string) {
			b, err := os.ReadFile(filepath.Join(other, v1))
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(dir, v1), b, 0o644)
		}, v1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyArchive(t, good)
			tc.damage(dir)
			res := inspectRun(t, dir)
			mustCode(t, res, mirror.ExitIntegrity)
			for ref := range s.Tags {
				if !strings.Contains(res.stdout, ref) {
					t.Errorf("the listing lacks %s:\n%s", ref, res.stdout)
				}
			}
			if !strings.Contains(res.stdout, "PROBLEM") || !strings.Contains(res.stdout+res.stderr, tc.want) || !strings.Contains(res.stderr, "incomplete or inconsistent") {
				t.Errorf("want a PROBLEM line naming %q and an error saying the archive is incomplete:\nstdout:\n%s\nstderr:\n%s", tc.want, res.stdout, res.stderr)
			}
		})
	}
	mustCode(t, inspectRun(t, good), 0)
}

func inspectRun(t *testing.T, dir string) run {
	t.Helper()
	return unpack(t, "inspect", "file://"+dir)
}
