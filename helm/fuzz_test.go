package helm

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseIndex feeds index.yaml variants to the parser: it must never
// panic, and what it accepts must be consistent with its limits.
func FuzzParseIndex(f *testing.F) {
	for _, p := range []string{"testdata/repo/index.yaml", "testdata/repo/service-binding-operator-index.yaml", "testdata/golden/repository-index.yaml"} {
		if b, err := os.ReadFile(filepath.FromSlash(p)); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("apiVersion: v1\nentries:\n  a:\n  - version: 1.0.0\n    urls: [a.tgz]\n"))
	limits := Limits{MaxIndexBytes: 1 << 20, MaxIndexEntries: 1000}
	f.Fuzz(func(t *testing.T, data []byte) {
		idx, err := parseIndex(data, "fuzz", limits.withDefaults(), nil)
		if err != nil {
			return
		}
		n := 0
		for name, vs := range idx.Entries {
			n += len(vs)
			_, _ = idx.Get(name, "")
			_, _ = idx.Get(name, ">=1")
		}
		if n > limits.MaxIndexEntries {
			t.Fatalf("%d entries accepted over the limit", n)
		}
	})
}
