// Package helm_test runs enclave-pack and enclave-unpack, in-process, on a
// configuration with mirror.helm: charts from a classic HTTP repository, an
// oci:// repository and a local directory, whose images live in a loopback
// CNCF distribution registry; then the real helm client pulls the charts
// from the mirror.
package helm_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/enclave-mirror/enclave/archive"
	"github.com/enclave-mirror/enclave/archive/archivetest"
	"github.com/enclave-mirror/enclave/format"
	"github.com/enclave-mirror/enclave/helm"
	"github.com/enclave-mirror/enclave/helm/helmtest"
	"github.com/enclave-mirror/enclave/internal/testing/regserver"
	"github.com/enclave-mirror/enclave/mirror"
	mhelm "github.com/enclave-mirror/enclave/mirror/helm"
	"github.com/enclave-mirror/enclave/mirror/kinds"
	"github.com/enclave-mirror/enclave/ocistore"
	"github.com/enclave-mirror/enclave/tools/internal/cli"
)

func TestMain(m *testing.M) {
	helmtest.Start()
	os.Exit(m.Run())
}

type run struct {
	code           int
	stdout, stderr string
}

func runApp(t *testing.T, which string, args ...string) run {
	t.Helper()
	args = clusterResourcesInTemp(t, which, args)
	var out, errb bytes.Buffer
	app := cli.PackApp()
	if which == "unpack" {
		app = cli.UnpackApp()
	}
	code := cli.Run(context.Background(), app, append([]string{app.Name}, args...), &out, &errb)
	r := run{code, out.String(), errb.String()}
	if testing.Verbose() {
		t.Logf("enclave-%s %s -> %d\nstdout:\n%s\nstderr:\n%s", which, strings.Join(args, " "), code, r.stdout, r.stderr)
	}
	return r
}

// clusterResourcesInTemp gives a pack into a registry that names no
// --cluster-resources directory a temporary one, so that the tests never
// write the cluster resources into the source tree (the default is
// ./cluster-resources).
func clusterResourcesInTemp(t *testing.T, which string, args []string) []string {
	t.Helper()
	n := len(args)
	if which != "pack" || n == 0 || !strings.HasPrefix(args[n-1], "docker://") {
		return args
	}
	for _, a := range args {
		if a == "list" || strings.HasPrefix(a, "--cluster-resources") {
			return args
		}
	}
	return append(append(args[:n-1:n-1], "--cluster-resources", t.TempDir()), args[n-1])
}

func mustCode(t *testing.T, r run, want int) {
	t.Helper()
	if r.code != want {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, want, r.stdout, r.stderr)
	}
}

func repo(t *testing.T, host, name string) *remote.Repository {
	t.Helper()
	r, err := remote.NewRepository(host + "/" + name)
	if err != nil {
		t.Fatal(err)
	}
	r.PlainHTTP = true
	return r
}

func resolve(t *testing.T, host, name, tag string) digest.Digest {
	t.Helper()
	d, err := repo(t, host, name).Resolve(context.Background(), tag)
	if err != nil {
		t.Fatalf("%s/%s:%s: %v", host, name, tag, err)
	}
	return d.Digest
}

// writeChart writes a chart directory whose deployment uses image and
// whose post-install hook uses hookImage.
func writeChart(t *testing.T, dir, name, version, image, hookImage string) string {
	t.Helper()
	d := filepath.Join(dir, name)
	files := map[string]string{
		"Chart.yaml":  fmt.Sprintf("apiVersion: v2\nname: %s\nversion: %s\n", name, version),
		"values.yaml": fmt.Sprintf("image: %s\nhookImage: %s\n", image, hookImage),
		"templates/deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  template:
    spec:
      containers:
        - name: app
          image: {{ .Values.image }}
`,
		"templates/hook.yaml": `apiVersion: batch/v1
kind: Job
metadata:
  name: {{ .Release.Name }}-setup
  annotations:
    helm.sh/hook: post-install
spec:
  template:
    spec:
      containers:
        - name: setup
          image: {{ .Values.hookImage }}
`,
	}
	for f, body := range files {
		p := filepath.Join(d, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

func TestHelmPackUnpack(t *testing.T) {
	ctx := context.Background()
	src := regserver.New(t, regserver.Options{})
	dst := regserver.New(t, regserver.Options{})
	s, err := archivetest.SampleSet(ctx, func(name string) (oras.Target, error) { return repo(t, src.Host, name), nil }, 1, 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	var app, tool string
	for ref := range s.Tags {
		if strings.HasPrefix(ref, "library/app:") {
			app = src.Host + "/" + ref
		} else if strings.HasPrefix(ref, "team/tool:") {
			tool = src.Host + "/" + ref
		}
	}
	work := t.TempDir()
	charts := filepath.Join(work, "charts")

	// An oci:// chart repository in the source registry.
	ociChart, err := helm.LoadLocal(writeChart(t, charts, "app", "1.0.0", app, tool), helm.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	ociDesc, err := ociChart.Push(ctx, repo(t, src.Host, "charts/app"))
	if err != nil {
		t.Fatal(err)
	}
	// A signature on the OCI chart, as cosign attaches one.
	sig, err := archivetest.Referrer(ctx, repo(t, src.Host, "charts/app"), ociDesc, "application/vnd.dev.cosign.artifact.sig.v1+json", []byte("signature"))
	if err != nil {
		t.Fatal(err)
	}
	// A classic HTTP chart repository, two versions.
	webDir := filepath.Join(work, "web-repo")
	var web []*helm.Chart
	for _, v := range []string{"0.9.0", "1.0.0"} {
		c, err := helm.LoadLocal(writeChart(t, filepath.Join(work, "web-"+v), "web", v, tool, app), helm.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		web = append(web, c)
	}
	if err := helm.WriteRepository(webDir, web); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(webDir)))
	t.Cleanup(srv.Close)
	// A local chart.
	localDir := writeChart(t, charts, "loc", "0.1.0", app, app)
	local, err := helm.LoadLocal(localDir, helm.Limits{})
	if err != nil {
		t.Fatal(err)
	}

	isc := filepath.Join(work, "isc.yaml")
	writeFile(t, isc, fmt.Sprintf(`kind: ImageSetConfiguration
apiVersion: mirror.openshift.io/v2alpha1
mirror:
  helm:
    repositories:
      - name: web
        url: %s
        charts:
          - name: web
      - name: oci
        url: oci://%s/charts
        charts:
          - name: app
            version: ">=1.0.0"
    local:
      - name: loc
        path: charts/loc
`, srv.URL, src.Host))

	// Dry run: each chart, its version, its images.
	r := runApp(t, "pack", "-c", isc, "--src-tls-verify=false", "--dry-run", "file://"+filepath.Join(work, "dry"))
	mustCode(t, r, 0)
	for _, want := range []string{"chart web 1.0.0", "chart app 1.0.0", "chart loc 0.1.0", app, tool} {
		if !strings.Contains(r.stdout+r.stderr, want) {
			t.Errorf("dry run does not mention %q:\n%s\n%s", want, r.stdout, r.stderr)
		}
	}

	dir := filepath.Join(work, "archive")
	mustCode(t, runApp(t, "pack", "-c", isc, "--src-tls-verify=false", "file://"+dir), 0)
	crd := filepath.Join(work, "cr")
	mustCode(t, runApp(t, "unpack", "--from", "file://"+dir, "--dest-tls-verify=false", "--receipt", filepath.Join(work, "receipt.json"), "--cluster-resources", crd, "docker://"+dst.Host+"/mirror"), 0)

	hostPath := func(host string) string { return strings.ReplaceAll(host, ":", "__") }
	srcHost := hostPath(src.Host)
	webHost := hostPath(strings.TrimPrefix(srv.URL, "http://"))
	// The OCI chart keeps its digest.
	if got := resolve(t, dst.Host, "mirror/"+srcHost+"/charts/app", "1.0.0"); got != ociDesc.Digest {
		t.Errorf("oci chart at the mirror %s, source %s", got, ociDesc.Digest)
	}
	// ... and its signature came along.
	var referrers []ocispec.Descriptor
	if err := repo(t, dst.Host, "mirror/"+srcHost+"/charts/app").Referrers(ctx, ociDesc, "", func(r []ocispec.Descriptor) error {
		referrers = append(referrers, r...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(referrers) != 1 || referrers[0].Digest != sig.Digest {
		t.Errorf("referrers of the chart at the mirror: %+v, want %s", referrers, sig.Digest)
	}
	// The HTTP and local charts are helm push's manifests of their archives.
	for _, c := range []struct {
		chart *helm.Chart
		path  string
	}{{web[1], "mirror/" + webHost + "/web"}, {local, "mirror/local/loc"}} {
		_, want, err := c.chart.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		if got := resolve(t, dst.Host, c.path, c.chart.Tag()); got != want.Digest {
			t.Errorf("%s: %s, want %s", c.path, got, want.Digest)
		}
	}
	if _, err := repo(t, dst.Host, "mirror/"+webHost+"/web").Resolve(ctx, "0.9.0"); err == nil {
		t.Errorf("web 0.9.0 was carried: only the latest was asked for")
	}
	// Images keep their source host in the path, hooks included.
	for ref, root := range s.Tags {
		name, tag, _ := strings.Cut(ref, ":")
		if got := resolve(t, dst.Host, "mirror/"+srcHost+"/"+name, tag); got != root.Digest {
			t.Errorf("%s at the mirror: %s, want %s", ref, got, root.Digest)
		}
	}
	idms, _ := filepath.Glob(filepath.Join(crd, "imagedigestmirrorset*helm*.yaml"))
	if len(idms) != 1 {
		t.Fatalf("helm IDMS files: %v", idms)
	}
	b, _ := os.ReadFile(idms[0])
	if !strings.Contains(string(b), src.Host+"/library/app") || !strings.Contains(string(b), dst.Host+"/mirror/"+srcHost+"/library/app") {
		t.Errorf("IDMS:\n%s", b)
	}

	// The real helm client pulls the charts from the mirror, byte for byte.
	home := t.TempDir()
	for _, c := range []struct {
		chart *helm.Chart
		path  string
	}{{ociChart, srcHost + "/charts/app"}, {web[1], webHost + "/web"}, {local, "local/loc"}} {
		out := t.TempDir()
		helmtest.Run(t, home, "pull", "oci://"+dst.Host+"/mirror/"+c.path, "--version", c.chart.Version, "--plain-http", "-d", out)
		got, err := os.ReadFile(filepath.Join(out, helm.ArchiveName(c.chart)))
		if err != nil {
			t.Fatal(err)
		}
		if digest.FromBytes(got) != c.chart.Digest() {
			t.Errorf("helm pull %s: %s, want %s", c.path, digest.FromBytes(got), c.chart.Digest())
		}
	}

	// The same archive, unpacked through the library with a chart
	// repository directory: helm repo add and helm pull work against it,
	// byte for byte, with the chart sources gone.
	repoDir := filepath.Join(work, "chart-repo")
	_, err = mirror.Unpack(ctx, mirror.UnpackOptions{
		Archive: dir, Registry: dst.Host + "/mirror", Receipt: filepath.Join(work, "receipt.json"),
		ClusterResources: filepath.Join(work, "cr-lib"), Dest: ocistore.Options{SkipTLSVerify: true},
		Kinds: kinds.All(kinds.Options{Helm: mhelm.Options{RepositoryDir: repoDir}}),
	})
	if err != nil {
		t.Fatal(err)
	}
	files := httptest.NewServer(http.FileServer(http.Dir(repoDir)))
	t.Cleanup(files.Close)
	helmtest.Run(t, home, "repo", "add", "enclave", files.URL)
	for _, c := range []*helm.Chart{ociChart, web[1], local} {
		out := t.TempDir()
		helmtest.Run(t, home, "pull", "enclave/"+c.Name, "--version", c.Version, "-d", out)
		got, err := os.ReadFile(filepath.Join(out, helm.ArchiveName(c)))
		if err != nil {
			t.Fatal(err)
		}
		if digest.FromBytes(got) != c.Digest() {
			t.Errorf("helm pull enclave/%s: %s, want %s", c.Name, digest.FromBytes(got), c.Digest())
		}
	}

	// -c at unpack selects charts: only the local one goes to a second
	// mirror, with its images; the record alone decides (the chart
	// sources are gone).
	srv.Close()
	dst2 := regserver.New(t, regserver.Options{})
	sub := filepath.Join(work, "sub.yaml")
	writeFile(t, sub, "kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  helm:\n    local:\n      - name: loc\n        path: /nowhere\n")
	rec2 := filepath.Join(work, "receipt2.json")
	mustCode(t, runApp(t, "unpack", "--from", "file://"+dir, "-c", sub, "--dest-tls-verify=false", "--receipt", rec2, "--cluster-resources", filepath.Join(work, "cr2"), "docker://"+dst2.Host+"/m"), 0)
	resolve(t, dst2.Host, "m/local/loc", "0.1.0")
	if _, err := repo(t, dst2.Host, "m/"+srcHost+"/charts/app").Resolve(ctx, "1.0.0"); err == nil {
		t.Errorf("-c selected only loc, app was pushed too")
	}
	if got := resolve(t, dst2.Host, "m/"+srcHost+"/library/app", strings.SplitN(app, ":", 3)[2]); got == "" {
		t.Errorf("loc's image missing")
	}
	// Asking for a chart the archive does not hold is refused.
	writeFile(t, sub, "kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  helm:\n    local:\n      - name: other\n        path: /nowhere\n")
	r = runApp(t, "unpack", "--from", "file://"+dir, "-c", sub, "--dest-tls-verify=false", "--receipt", rec2, "--cluster-resources", filepath.Join(work, "cr2"), "docker://"+dst2.Host+"/m")
	if r.code == 0 || !strings.Contains(r.stderr, "local chart other") {
		t.Errorf("missing chart: exit %d\n%s", r.code, r.stderr)
	}
}

// TestHelmDelta: a delta that adds a chart version carries only its new
// blobs (its manifest, config and archive) and the record; the images it
// shares with the base stay behind.
func TestHelmDelta(t *testing.T) {
	ctx := context.Background()
	src := regserver.New(t, regserver.Options{})
	s, err := archivetest.SampleSet(ctx, func(name string) (oras.Target, error) { return repo(t, src.Host, name), nil }, 2, 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	var img string
	for ref := range s.Tags {
		img = src.Host + "/" + ref
		break
	}
	work := t.TempDir()
	var versions []*helm.Chart
	for _, v := range []string{"1.0.0", "1.1.0"} {
		c, err := helm.LoadLocal(writeChart(t, filepath.Join(work, v), "app", v, img, img), helm.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Push(ctx, repo(t, src.Host, "charts/app")); err != nil {
			t.Fatal(err)
		}
		versions = append(versions, c)
	}
	isc := func(entries string) string {
		p := filepath.Join(t.TempDir(), "isc.yaml")
		writeFile(t, p, fmt.Sprintf("kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  helm:\n    repositories:\n      - name: oci\n        url: oci://%s/charts\n        charts:\n%s", src.Host, entries))
		return p
	}
	a, b := filepath.Join(work, "a"), filepath.Join(work, "b")
	mustCode(t, runApp(t, "pack", "-c", isc("          - name: app\n            version: 1.0.0\n"), "--src-tls-verify=false", "file://"+a), 0)
	mustCode(t, runApp(t, "pack", "-c", isc("          - name: app\n            version: 1.0.0\n          - name: app\n            version: 1.1.0\n"), "--src-tls-verify=false", "--base", a, "file://"+b), 0)
	ar, err := archive.Open(b)
	if err != nil {
		t.Fatal(err)
	}
	defer ar.Close()
	raw, desc, err := versions[1].Manifest()
	if err != nil {
		t.Fatal(err)
	}
	m := manifestOf(t, raw)
	want := map[digest.Digest]bool{desc.Digest: true, m.Config.Digest: true, versions[1].Digest(): true}
	for _, at := range ar.Manifest().Attachments {
		want[at.Digest] = true
	}
	got := map[digest.Digest]bool{}
	ar.Format().Blobs(func(bl format.Blob) bool {
		got[bl.Digest] = true
		return true
	})
	if len(got) != len(want) {
		t.Errorf("delta holds %d blobs, want %d (the new chart version and the record)", len(got), len(want))
	}
	for d := range want {
		if !got[d] {
			t.Errorf("delta lacks %s", d)
		}
	}
}

// TestHelmMirrorToMirror: pack straight into a registry places charts and
// their images by the same rule as unpack, and a chart's platforms make
// the copy of its multi-platform images sparse, mirror to mirror and
// through an archive.
func TestHelmMirrorToMirror(t *testing.T) {
	ctx := context.Background()
	src := regserver.New(t, regserver.Options{})
	dst := regserver.New(t, regserver.Options{SparseIndexes: true})
	s, err := archivetest.SampleSet(ctx, func(name string) (oras.Target, error) { return repo(t, src.Host, name), nil }, 3, 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	var img string
	for ref := range s.Tags {
		if strings.HasPrefix(ref, "library/app:") { // a two-platform index
			img = ref
		}
	}
	work := t.TempDir()
	c, err := helm.LoadLocal(writeChart(t, work, "m2m", "2.0.0", src.Host+"/"+img, src.Host+"/"+img), helm.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	desc, err := c.Push(ctx, repo(t, src.Host, "charts/m2m"))
	if err != nil {
		t.Fatal(err)
	}
	isc := filepath.Join(work, "isc.yaml")
	writeFile(t, isc, fmt.Sprintf("kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  helm:\n    repositories:\n      - name: oci\n        url: oci://%s/charts\n        charts:\n          - name: m2m\n            platforms:\n              - os: linux\n                architecture: amd64\n", src.Host))
	mustCode(t, runApp(t, "pack", "-c", isc, "--src-tls-verify=false", "--dest-tls-verify=false", "docker://"+dst.Host+"/m"), 0)
	srcHost := strings.ReplaceAll(src.Host, ":", "__")
	if got := resolve(t, dst.Host, "m/"+srcHost+"/charts/m2m", "2.0.0"); got != desc.Digest {
		t.Errorf("chart %s, want %s", got, desc.Digest)
	}
	name, tag, _ := strings.Cut(img, ":")
	if got := resolve(t, dst.Host, "m/"+srcHost+"/"+name, tag); got != s.Tags[img].Digest {
		t.Errorf("image %s, want %s", got, s.Tags[img].Digest)
	}
	// The chart's platforms made the copy sparse: only the amd64 child.
	raw, err := content.FetchAll(ctx, repo(t, src.Host, name), s.Tags[img])
	if err != nil {
		t.Fatal(err)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(raw, &idx); err != nil {
		t.Fatal(err)
	}
	for _, m := range idx.Manifests {
		ok, err := repo(t, dst.Host, "m/"+srcHost+"/"+name).Exists(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		if want := m.Platform != nil && m.Platform.Architecture == "amd64"; ok != want {
			t.Errorf("%s child %s at the mirror: %v, want %v", m.Platform.Architecture, m.Digest, ok, want)
		}
	}

	// Into an archive, the same: the archive omits the other children,
	// and unpack pushes the index unchanged with the amd64 child alone.
	a := filepath.Join(work, "a")
	mustCode(t, runApp(t, "pack", "-c", isc, "--src-tls-verify=false", "file://"+a), 0)
	ar, err := archive.Open(a)
	if err != nil {
		t.Fatal(err)
	}
	omitted := map[digest.Digest]bool{}
	for _, o := range ar.Omitted(s.Tags[img].Digest) {
		omitted[o.Digest] = true
	}
	ar.Close()
	dst2 := regserver.New(t, regserver.Options{SparseIndexes: true})
	mustCode(t, runApp(t, "unpack", "--from", "file://"+a, "--dest-tls-verify=false", "--receipt", filepath.Join(work, "r.json"), "--cluster-resources", filepath.Join(work, "cr"), "docker://"+dst2.Host+"/m"), 0)
	if got := resolve(t, dst2.Host, "m/"+srcHost+"/"+name, tag); got != s.Tags[img].Digest {
		t.Errorf("image from the archive %s, want %s", got, s.Tags[img].Digest)
	}
	for _, m := range idx.Manifests {
		amd := m.Platform != nil && m.Platform.Architecture == "amd64"
		if omitted[m.Digest] == amd {
			t.Errorf("child %s (%v) omitted from the archive: %v", m.Digest, m.Platform, omitted[m.Digest])
		}
		ok, err := repo(t, dst2.Host, "m/"+srcHost+"/"+name).Exists(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		if ok != amd {
			t.Errorf("child %s (%v) at the destination: %v, want %v", m.Digest, m.Platform, ok, amd)
		}
	}
}

// TestHelmChartFails: a chart that cannot be resolved fails, named, and the
// others are carried.
func TestHelmChartFails(t *testing.T) {
	ctx := context.Background()
	src := regserver.New(t, regserver.Options{})
	work := t.TempDir()
	c, err := helm.LoadLocal(writeChart(t, work, "app", "1.0.0", "docker.io/library/busybox:1", "docker.io/library/busybox:1"), helm.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Push(ctx, repo(t, src.Host, "charts/app")); err != nil {
		t.Fatal(err)
	}
	ok := writeChart(t, work, "ok", "1.0.0", src.Host+"/none:1", src.Host+"/none:1")
	isc := filepath.Join(work, "isc.yaml")
	writeFile(t, isc, fmt.Sprintf("kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  helm:\n    repositories:\n      - name: oci\n        url: oci://%s/charts\n        charts:\n          - name: app\n            version: 9.9.9\n    local:\n      - name: ok\n        path: %s\n", src.Host, ok))
	r := runApp(t, "pack", "-c", isc, "--src-tls-verify=false", "--dry-run", "file://"+filepath.Join(work, "a"))
	if r.code == 0 || !strings.Contains(r.stdout+r.stderr, `chart app 9.9.9 of repository "oci"`) {
		t.Errorf("exit %d, want a failure naming the chart:\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout+r.stderr, "chart ok 1.0.0") {
		t.Errorf("the other chart was not planned:\n%s\n%s", r.stdout, r.stderr)
	}
}

func manifestOf(t *testing.T, raw []byte) ocispec.Manifest {
	t.Helper()
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func writeFile(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}
