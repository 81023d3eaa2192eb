package helm

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"
)

// The real helm client, built from the module proxy at the version go.mod
// requires and cached in os.UserCacheDir()/enclave/bin/helm-<version>/.
// TestMain starts the build in the background, so the first run builds
// while the other tests run; tests that need helm wait for it and skip,
// saying why, only if it cannot be built.
var helmBin struct {
	once sync.Once
	done chan struct{}
	path string
	err  error
	took time.Duration
}

func TestMain(m *testing.M) {
	helmBin.done = make(chan struct{})
	go buildHelm()
	os.Exit(m.Run())
}

// helmVersion is the helm.sh/helm/v4 version go.mod requires.
func helmVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "helm.sh/helm/v4" {
				return d.Version
			}
		}
	}
	// Test binaries carry no module list: ask the go command.
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", "helm.sh/helm/v4").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

func buildHelm() {
	defer close(helmBin.done)
	v := helmVersion()
	if v == "" {
		helmBin.err = fmt.Errorf("cannot tell which helm.sh/helm/v4 version go.mod requires")
		return
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		helmBin.err = err
		return
	}
	dir := filepath.Join(cache, "enclave", "bin", "helm-"+v)
	bin := filepath.Join(dir, "helm")
	if fi, err := os.Stat(bin); err == nil && fi.Mode().IsRegular() {
		helmBin.path = bin
		return
	}
	if os.Getenv("ENCLAVE_NO_HELM_BUILD") != "" {
		helmBin.err = fmt.Errorf("ENCLAVE_NO_HELM_BUILD is set and %s does not exist", bin)
		return
	}
	// Build into a temporary directory and rename, so that parallel test
	// processes never run a half-written binary.
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		helmBin.err = err
		return
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".helm-build-")
	if err != nil {
		helmBin.err = err
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
		helmBin.err = fmt.Errorf("go install helm.sh/helm/v4/cmd/helm@%s: %v\n%s", v, err, out)
		return
	}
	helmBin.took = time.Since(start)
	if err := os.Rename(tmp, dir); err != nil {
		if _, serr := os.Stat(bin); serr != nil {
			helmBin.err = err
			return
		}
	}
	helmBin.path = bin
}

// helmCLI returns the path of the real helm binary, waiting for the
// background build; it skips the test if helm cannot be built.
func helmCLI(t *testing.T) string {
	t.Helper()
	<-helmBin.done
	if helmBin.err != nil {
		t.Skipf("the real helm client could not be built, so this test cannot run: %v", helmBin.err)
	}
	if helmBin.took > 0 {
		t.Logf("built helm in %s", helmBin.took.Round(time.Second))
	}
	return helmBin.path
}

// runHelm runs helm with its configuration, cache and data under home,
// and fails the test if helm fails.
func runHelm(t *testing.T, home string, args ...string) string {
	t.Helper()
	out, err := helmCmd(t, home, args...)
	if err != nil {
		t.Fatalf("helm %v: %v\n%s", args, err, out)
	}
	return out
}

func helmCmd(t *testing.T, home string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, helmCLI(t), args...)
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
