// Package helmtest builds and runs the real helm client for tests: built
// from the module proxy at the helm.sh/helm/v4 version go.mod requires,
// cached in os.UserCacheDir()/enclave/bin/helm-<version>/ (a first build
// takes minutes on a small machine; later runs find it). It imports
// nothing of Helm: it runs the go command.
package helmtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var build struct {
	once sync.Once
	done chan struct{}
	path string
	err  error
	took time.Duration
}

func init() { build.done = make(chan struct{}) }

// Start begins building (or finding) helm in the background; call it from
// TestMain so the build overlaps the other tests. Binary calls it too.
func Start() {
	build.once.Do(func() { go buildHelm() })
}

// Version is the helm.sh/helm/v4 version go.mod requires ("" if the go
// command cannot tell).
func Version() string {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", "helm.sh/helm/v4").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

func buildHelm() {
	defer close(build.done)
	v := Version()
	if v == "" {
		build.err = fmt.Errorf("cannot tell which helm.sh/helm/v4 version go.mod requires")
		return
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		build.err = err
		return
	}
	dir := filepath.Join(cache, "enclave", "bin", "helm-"+v)
	bin := filepath.Join(dir, "helm")
	if fi, err := os.Stat(bin); err == nil && fi.Mode().IsRegular() {
		build.path = bin
		return
	}
	if os.Getenv("ENCLAVE_NO_HELM_BUILD") != "" {
		build.err = fmt.Errorf("ENCLAVE_NO_HELM_BUILD is set and %s does not exist", bin)
		return
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		build.err = err
		return
	}
	// Build into a temporary directory and rename it into place, so that
	// test processes running in parallel never run a half-written binary.
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".helm-build-")
	if err != nil {
		build.err = err
		return
	}
	defer os.RemoveAll(tmp)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "install", "helm.sh/helm/v4/cmd/helm@"+v)
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOFLAGS=-buildvcs=false", "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		build.err = fmt.Errorf("go install helm.sh/helm/v4/cmd/helm@%s: %v\n%s", v, err, out)
		return
	}
	build.took = time.Since(start)
	if err := os.Rename(tmp, dir); err != nil {
		if _, serr := os.Stat(bin); serr != nil {
			build.err = err
			return
		}
	}
	build.path = bin
}

// Binary returns the path of the real helm client, waiting for the build;
// it skips the test, saying why, if helm cannot be built.
func Binary(t testing.TB) string {
	t.Helper()
	Start()
	<-build.done
	if build.err != nil {
		t.Skipf("the real helm client could not be built, so this test cannot run: %v", build.err)
	}
	if build.took > 0 {
		t.Logf("built helm in %s", build.took.Round(time.Second))
	}
	return build.path
}

// Run runs helm with its configuration, cache and data under home, and
// fails the test if helm fails.
func Run(t testing.TB, home string, args ...string) string {
	t.Helper()
	out, err := Cmd(t, home, args...)
	if err != nil {
		t.Fatalf("helm %v: %v\n%s", args, err, out)
	}
	return out
}

// Cmd runs helm like Run and returns its output and error.
func Cmd(t testing.TB, home string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, Binary(t), args...)
	cmd.Env = append(os.Environ(),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
		"HELM_REGISTRY_CONFIG="+filepath.Join(home, "registry.json"),
		"HELM_REPOSITORY_CONFIG="+filepath.Join(home, "repositories.yaml"),
		"HELM_REPOSITORY_CACHE="+filepath.Join(home, "repository"),
		"HOME="+home,
	)
	out, err := cmd.CombinedOutput()
	return string(out), err
}
