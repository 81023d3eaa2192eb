package helm

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

// forbidden are the import path prefixes only this package may bring in.
var forbidden = []string{"helm.sh/", "k8s.io/", "sigs.k8s.io/"}

// core packages never reach this package: backup tools that import the
// library compile none of Helm or Kubernetes.
var core = []string{"format", "archive", "ocistore", "imageset"}

func isForbidden(p string) bool {
	for _, f := range forbidden {
		if strings.HasPrefix(p, f) {
			return true
		}
	}
	return false
}

// TestDependencies walks `go list -deps` of every other package of the
// module (tests included) and fails if one imports Helm or Kubernetes
// itself, reaches them other than through this package, or is a core
// package that reaches this package at all.
func TestDependencies(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list over the module")
	}
	self := "github.com/enclave-mirror/enclave/helm"
	module := strings.TrimSuffix(self, "/helm")
	cmd := exec.Command("go", "list", "-test", "-f", "{{.ImportPath}}\t{{join .Imports \" \"}}\t{{join .Deps \" \"}}", module+"/...")
	cmd.Dir = ".."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), "\t")
		if len(fields) != 3 {
			continue
		}
		pkg := fields[0]
		name, _, _ := strings.Cut(pkg, " ") // "p [p.test]" is p's test variant
		name = strings.TrimSuffix(name, ".test")
		name = strings.TrimSuffix(name, "_test")
		if name == self || !strings.HasPrefix(name, module+"/") {
			continue
		}
		n++
		for _, imp := range strings.Fields(fields[1]) {
			if isForbidden(imp) {
				t.Errorf("%s imports %s: only %s may import Helm or Kubernetes packages", pkg, imp, self)
			}
		}
		deps := strings.Fields(fields[2])
		viaSelf := false
		for _, d := range deps {
			if d == self || strings.HasPrefix(d, self+" ") {
				viaSelf = true
			}
		}
		for _, c := range core {
			if (name == module+"/"+c || strings.HasPrefix(name, module+"/"+c+"/")) && viaSelf {
				t.Errorf("core package %s depends on %s (and so on Helm and Kubernetes)", pkg, self)
			}
		}
		if viaSelf {
			continue
		}
		for _, d := range deps {
			if isForbidden(d) {
				t.Errorf("%s reaches %s without going through %s", pkg, d, self)
				break
			}
		}
	}
	if n < 10 {
		t.Fatalf("only %d packages listed; is the module layout what this test expects?", n)
	}
}
