package helm

import (
	"os"
	"testing"

	"github.com/enclave-mirror/enclave/helm/helmtest"
)

// TestMain starts building the real helm client in the background (see
// package helmtest), so the first run builds while the other tests run.
func TestMain(m *testing.M) {
	helmtest.Start()
	os.Exit(m.Run())
}

func helmCLI(t *testing.T) string { return helmtest.Binary(t) }

func runHelm(t *testing.T, home string, args ...string) string {
	t.Helper()
	return helmtest.Run(t, home, args...)
}

func helmCmd(t *testing.T, home string, args ...string) (string, error) {
	t.Helper()
	return helmtest.Cmd(t, home, args...)
}
