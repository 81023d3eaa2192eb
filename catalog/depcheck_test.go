package catalog

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps the layering honest (STYLE.md): the catalog
// packages are libraries below the mirror sections and the tools.
func TestDependencies(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	forbidden := []string{
		"github.com/enclave-mirror/enclave/mirror",
		"github.com/enclave-mirror/enclave/tools/internal/cli",
		"github.com/enclave-mirror/enclave/tools",
		"github.com/urfave/cli",
		"helm",
	}
	for _, pkg := range []string{"github.com/enclave-mirror/enclave/catalog", "github.com/enclave-mirror/enclave/ocigraph", "github.com/enclave-mirror/enclave/clusterres"} {
		out, err := exec.Command("go", "list", "-deps", pkg).Output()
		if err != nil {
			t.Skipf("go list: %v", err)
		}
		for dep := range strings.Lines(string(out)) {
			dep = strings.TrimSpace(dep)
			for _, f := range forbidden {
				if strings.HasPrefix(dep, f) || (f == "helm" && strings.Contains(dep, f)) {
					t.Errorf("%s depends on %s", pkg, dep)
				}
			}
		}
	}
}
