package helm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/enclave-mirror/enclave/imageset"
	"github.com/enclave-mirror/enclave/internal/testing/regserver"
)

// TestPlan plans a configuration with every kind of source, as
// imageset.Load reads it: an HTTP repository needing credentials from
// helm's repositories.yaml, the same repository listing no charts, an
// oci:// repository in the in-process registry, and a local chart
// directory with values files and inline values.
func TestPlan(t *testing.T) {
	s := newRepoServer(t, false)
	s.user, s.pass = "bob", "hunter2-secret"
	reg := regserver.New(t, regserver.Options{})
	cl := testClient(t)
	ctx := context.Background()
	for _, f := range []string{"service-binding-operator-1.3.3.tgz", "service-binding-operator-1.4.1.tgz"} {
		if _, err := fixture(t, f).Push(ctx, remoteRepo(t, cl, reg.Host+"/charts/service-binding-operator")); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	copyDir(t, "testdata/chartdir/demo", filepath.Join(dir, "charts", "demo"), PackageEpoch)
	if err := os.WriteFile(filepath.Join(dir, "demo-values.yaml"), []byte("extra:\n  enabled: true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	repos := filepath.Join(dir, "repositories.yaml")
	if err := os.WriteFile(repos, []byte(fmt.Sprintf("apiVersion: \"\"\nrepositories:\n- name: whatever\n  url: %s/charts/\n  username: bob\n  password: hunter2-secret\n", s.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	isc := fmt.Sprintf(`kind: ImageSetConfiguration
apiVersion: mirror.openshift.io/v2alpha1
mirror:
  helm:
    repositories:
      - name: fixtures
        url: %[1]s/charts
        charts:
          - name: podinfo
          - name: ingress-nginx
            version: "~4.12"
          - name: podinfo
            version: "9.9.9"
      - name: everything
        url: %[1]s/charts/
      - name: oci
        url: oci://%[2]s/charts
        charts:
          - name: service-binding-operator
            version: "<1.4"
            platforms: [{os: linux, architecture: amd64}]
    local:
      - name: demo
        path: charts/demo
        valuesFiles: [demo-values.yaml]
        values:
          metrics:
            enabled: true
        imagePaths:
          - "{.spec.template.spec.containers[*].env[?(@.name==\"PLAIN\")].value}"
`, s.URL, reg.Host)
	cfg, err := imageset.Load(strings.NewReader(isc), "isc.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rf, err := LoadRepositoriesFile(repos, true)
	if err != nil {
		t.Fatal(err)
	}
	plan := Plan(ctx, cfg.Mirror.Helm, PlanOptions{Client: cl, Repositories: rf, ConfigDir: dir})

	type row struct{ repo, name, version, dst, err string }
	var got []row
	for _, p := range plan {
		r := row{repo: p.Repository, name: p.Name}
		if p.Chart != nil {
			r.version = p.Chart.Version
		}
		if p.Err != nil {
			r.err = p.Err.Error()
			if strings.Contains(r.err, "hunter2") {
				t.Errorf("error shows the password: %v", p.Err)
			}
		} else {
			r.dst = p.Destination.String()
		}
		got = append(got, r)
	}
	host := strings.ReplaceAll(strings.TrimPrefix(s.URL, "http://"), ":", "__")
	regHost := strings.ReplaceAll(reg.Host, ":", "__")
	want := []row{
		{"fixtures", "podinfo", "5.0.0", host + "/charts/podinfo:5.0.0", ""},
		{"fixtures", "ingress-nginx", "4.12.1", host + "/charts/ingress-nginx:4.12.1", ""},
		{"fixtures", "podinfo", "", "", `repository "fixtures"`},
		{"everything", "podinfo", "5.0.0", host + "/charts/podinfo:5.0.0", ""},
		{"everything", "ingress-nginx", "4.12.1", host + "/charts/ingress-nginx:4.12.1", ""},
		{"everything", "my-chart-with-subchart-alias", "0.1.0", host + "/charts/my-chart-with-subchart-alias:0.1.0", ""},
		{"everything", "broken", "", "", "digest mismatch"},
		{"oci", "service-binding-operator", "1.3.3", regHost + "/charts/service-binding-operator:1.3.3", ""},
		{"", "demo", "1.2.3+build.5", "local/demo:1.2.3_build.5", ""},
	}
	if len(got) != len(want) {
		t.Fatalf("%d planned charts, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.repo != w.repo || g.name != w.name || g.version != w.version || g.dst != w.dst || (w.err == "") != (g.err == "") || !strings.Contains(g.err, w.err) {
			t.Errorf("chart %d: got %+v, want %+v", i, g, w)
		}
	}
	if !errors.Is(plan[2].Err, ErrNotFound) || !strings.Contains(plan[2].Err.Error(), `"9.9.9"`) {
		t.Errorf("missing version: %v", plan[2].Err)
	}
	if p := plan[7]; len(p.Platforms) != 1 || p.Platforms[0].String() != "linux/amd64" || refs(p.Discovery.Images)[0] != "quay.io/redhat-developer/servicebinding-operator@sha256:e4259939a496f292a31b5e57760196d63a8182b999164d93a446da48c4ea24eb" {
		t.Errorf("oci chart: platforms %v images %q", p.Platforms, refs(p.Discovery.Images))
	}
	if imgs := refs(plan[1].Discovery.Images); len(imgs) != 2 || !strings.Contains(imgs[1], "kube-webhook-certgen") {
		t.Errorf("ingress-nginx images %q", imgs)
	}
	demo := refs(plan[8].Discovery.Images)
	for _, w := range []string{"docker.io/demo/extra:9.9", "quay.io/demo/metrics:1.0", "quay.io/demo/by-image-path:1"} {
		if !slices.Contains(demo, w) {
			t.Errorf("local chart with values: %s missing from %q", w, demo)
		}
	}

	// A keyring makes provenance mandatory: these charts have none.
	key := newKey(t, "k")
	bin, _ := publicKeyring(t, key)
	el, _ := ReadKeyring(bin)
	cfg.Mirror.Helm.Repositories = cfg.Mirror.Helm.Repositories[:1]
	for _, p := range Plan(ctx, cfg.Mirror.Helm, PlanOptions{Client: cl, Repositories: rf, ConfigDir: dir, Keyring: el}) {
		if !errors.Is(p.Err, ErrProvenance) && !errors.Is(p.Err, ErrNotFound) {
			t.Errorf("%s %s with a keyring and no .prov: %v", p.Name, p.Version, p.Err)
		}
	}
	// Without repositories.yaml the private repository refuses.
	for _, p := range Plan(ctx, &imageset.Helm{Repositories: cfg.Mirror.Helm.Repositories}, PlanOptions{}) {
		if !errors.Is(p.Err, ErrFetch) || !strings.Contains(p.Err.Error(), "401") {
			t.Errorf("no credentials: %v", p.Err)
		}
	}
}
