package layering

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/enclave-mirror/enclave"

type pkg struct {
	ImportPath string
	Imports    []string // direct, production code only
	Deps       []string // transitive, production code only
}

// listPackages returns every package of the module with its production
// imports (go list leaves test files out of Imports and Deps).
func listPackages(t *testing.T) []pkg {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Skipf("go env GOMOD: %v (the go command is needed to list packages)", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	cmd := exec.Command("go", "list", "-json", "./...")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err = cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 10 {
		t.Fatalf("go list found %d packages; the module has more", len(pkgs))
	}
	return pkgs
}

func rel(path string) string { return strings.TrimPrefix(strings.TrimPrefix(path, module), "/") }

func under(path, dir string) bool {
	r := rel(path)
	return r == dir || strings.HasPrefix(r, dir+"/")
}

func isOurs(path string) bool { return path == module || strings.HasPrefix(path, module+"/") }

// contentKinds are the packages that each plan one mirror.* section: they
// must not import one another (nor mirror, which runs them).
var contentKinds = []string{"mirror/platform", "mirror/additional", "mirror/operators", "mirror/helm"}

// TestLayering enforces the layers the README's Layout section describes,
// in the manner of go-containerregistry's cmd/crane/depcheck_test.go.
func TestLayering(t *testing.T) {
	pkgs := listPackages(t)
	for _, p := range pkgs {
		name := rel(p.ImportPath)
		tool := under(p.ImportPath, "tools")
		testInfra := under(p.ImportPath, "internal/testing") || under(p.ImportPath, "archive/archivetest") || under(p.ImportPath, "release/releasetest")
		for _, d := range p.Imports {
			// format: bytes on disk over io.ReaderAt and io.Writer.
			if under(p.ImportPath, "format") && (d == "os" || d == "net" || strings.HasPrefix(d, "net/")) {
				t.Errorf("%s imports %s: format reads and writes bytes, no files or network", name, d)
			}
			// Test infrastructure is for tests and the tools that
			// run registries (bench, demo, regserver).
			if !tool && !testInfra && under(d, "internal/testing") {
				t.Errorf("%s imports %s: test infrastructure only serves tests and tools", name, rel(d))
			}
			// Helm's SDK (and the Kubernetes packages it brings) stays
			// in the one package that renders charts.
			if (strings.HasPrefix(d, "helm.sh/") || strings.HasPrefix(d, "k8s.io/")) && !under(p.ImportPath, "helm") {
				t.Errorf("%s imports %s: only package helm uses Helm's SDK", name, d)
			}
		}
		for _, d := range p.Deps {
			if under(p.ImportPath, "format") && strings.HasPrefix(d, "oras.land/") {
				t.Errorf("%s depends on %s: format knows no oras", name, d)
			}
			if !tool && strings.HasPrefix(d, "github.com/urfave/cli") {
				t.Errorf("%s depends on %s: only the tools parse command lines", name, d)
			}
			// Nothing below mirror runs the workflow.
			if d == module+"/mirror" && !tool {
				t.Errorf("%s depends on mirror: only tools/ may", name)
			}
			for _, k := range contentKinds {
				if !under(p.ImportPath, k) {
					continue
				}
				for _, other := range contentKinds {
					if other != k && under(d, other) {
						t.Errorf("%s depends on %s: kinds of content do not import one another", name, rel(d))
					}
				}
			}
			if isOurs(d) && under(d, "tools") && !tool {
				t.Errorf("%s depends on %s: libraries do not import the tools", name, rel(d))
			}
		}
	}
}
