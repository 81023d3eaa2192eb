package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	"go.yaml.in/yaml/v3"
	"oras.land/oras-go/v2/content/oci"

	"github.com/enclave-mirror/enclave/archive"
	"github.com/enclave-mirror/enclave/archive/archivetest"
	"github.com/enclave-mirror/enclave/clusterres"
	"github.com/enclave-mirror/enclave/internal/testing/regserver"
	"github.com/enclave-mirror/enclave/mirror"
	"github.com/enclave-mirror/enclave/release"
)

// mirrorSetFile is an IDMS or ITMS as written in cluster-resources.
type mirrorSetFile struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Spec struct {
		Digest []mirrorSetEntry `yaml:"imageDigestMirrors"`
		Tag    []mirrorSetEntry `yaml:"imageTagMirrors"`
	} `yaml:"spec"`
}

type mirrorSetEntry struct {
	Source  string   `yaml:"source"`
	Mirrors []string `yaml:"mirrors"`
}

// readMirrorSet reads the one file of dir matching glob as an IDMS or ITMS
// and returns its entries, source -> mirrors.
func readMirrorSet(t *testing.T, dir, glob string) (string, map[string][]string) {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, glob))
	if len(m) != 1 {
		t.Fatalf("%s in %s: %v", glob, dir, m)
	}
	b, err := os.ReadFile(m[0])
	if err != nil {
		t.Fatal(err)
	}
	var ms mirrorSetFile
	if err := yaml.Unmarshal(b, &ms); err != nil {
		t.Fatalf("%s: %v", m[0], err)
	}
	out := map[string][]string{}
	for _, e := range append(ms.Spec.Digest, ms.Spec.Tag...) {
		out[e.Source] = e.Mirrors
	}
	return filepath.Base(m[0]), out
}

// fileNames lists the files of dir, sorted.
func fileNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

// sameApartFromNames asserts that the files of dir a and dir b (from a
// mirror to mirror and from an unpack) pair up one to one and hold the
// same objects once each file's object name is replaced by its pair's.
func sameApartFromNames(t *testing.T, a, aName, b, bName string) {
	t.Helper()
	fa, fb := fileNames(t, a), fileNames(t, b)
	if len(fa) != len(fb) || len(fa) == 0 {
		t.Fatalf("mirror to mirror wrote %v, unpack %v", fa, fb)
	}
	for _, f := range fa {
		g := strings.ReplaceAll(f, aName, bName)
		if !slices.Contains(fb, g) {
			t.Fatalf("mirror to mirror wrote %s, unpack no %s (it wrote %v)", f, g, fb)
		}
		x, _ := os.ReadFile(filepath.Join(a, f))
		y, _ := os.ReadFile(filepath.Join(b, g))
		if x := bytes.ReplaceAll(x, []byte(aName), []byte(bName)); !bytes.Equal(x, y) {
			t.Errorf("%s differs from unpack's %s:\n%s\n---\n%s", f, g, x, y)
		}
	}
}

// archiveName is the name unpack gives the cluster resources of the
// archive in dir.
func archiveName(t *testing.T, dir string) string {
	t.Helper()
	ar, err := archive.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ar.Close()
	return clusterres.ArchiveName(ar.Digest())
}

// TestAdditionalImagesMirrorToMirrorResources: enclave-pack into a
// docker:// destination writes, for mirror.additionalImages, the IDMS (every
// image that arrived) and ITMS (those named by tag) that unpack writes for
// the same images: each source repository mirrored to the repository that
// holds the image at the destination, no entry for the image that failed
// nor for the one read from an OCI layout. The same pack again writes the
// same files; an unpack of an archive of the same images writes the same
// objects under the archive's name.
func TestAdditionalImagesMirrorToMirrorResources(t *testing.T) {
	ctx := context.Background()
	src := regserver.New(t, regserver.Options{})
	dst := regserver.New(t, regserver.Options{})
	app, err := archivetest.Image(ctx, repo(t, src.Host, "org/app"), "amd64", archivetest.Blob(61, 2000, false))
	if err != nil {
		t.Fatal(err)
	}
	if err := repo(t, src.Host, "org/app").Tag(ctx, app, "v1"); err != nil {
		t.Fatal(err)
	}
	tool, err := archivetest.Image(ctx, repo(t, src.Host, "org/tool"), "amd64", archivetest.Blob(62, 2000, false))
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	layoutDir := filepath.Join(work, "layout")
	store, err := oci.New(layoutDir)
	if err != nil {
		t.Fatal(err)
	}
	li, err := archivetest.Image(ctx, store, "amd64", archivetest.Blob(63, 2000, false))
	if err != nil {
		t.Fatal(err)
	}
	li.Platform = nil
	if err := store.Tag(ctx, li, "v1"); err != nil {
		t.Fatal(err)
	}
	isc := writeFile(t, work, "isc.yaml", fmt.Sprintf(`kind: ImageSetConfiguration
apiVersion: mirror.openshift.io/v2alpha1
mirror:
  additionalImages:
  - name: %[1]s/org/app:v1
  - name: %[1]s/org/tool@%[2]s
  - name: %[1]s/org/missing:v1
  - name: oci://%[3]s:v1
    targetRepo: team/from-layout
`, src.Host, tool.Digest, layoutDir))

	m2m := func(dir string) {
		t.Helper()
		r := pack(t, "-c", isc, "--src-tls-verify=false", "--dest-tls-verify=false", "--cluster-resources", dir, "docker://"+dst.Host+"/m")
		mustCode(t, r, mirror.ExitFailure) // org/missing
		if !strings.Contains(r.stderr+r.stdout, "org/missing") {
			t.Fatalf("the failed image is not named:\n%s\n%s", r.stdout, r.stderr)
		}
	}
	cr := filepath.Join(work, "cr")
	m2m(cr)
	idmsFile, idms := readMirrorSet(t, cr, "imagedigestmirrorset_enclave-*.yaml")
	itmsFile, itms := readMirrorSet(t, cr, "imagetagmirrorset_enclave-*.yaml")
	want := map[string]string{src.Host + "/org/app": dst.Host + "/m/org/app", src.Host + "/org/tool": dst.Host + "/m/org/tool"}
	if len(idms) != len(want) {
		t.Errorf("IDMS %s mirrors %v, want %v (not the failed image, not the layout)", idmsFile, idms, want)
	}
	for s, m := range want {
		if !slices.Equal(idms[s], []string{m}) {
			t.Errorf("IDMS: %s -> %v, want [%s]", s, idms[s], m)
		}
	}
	// The mirror each entry names holds the image, by digest.
	for s, d := range map[string]digest.Digest{src.Host + "/org/app": app.Digest, src.Host + "/org/tool": tool.Digest} {
		for _, m := range idms[s] {
			if got, err := repo(t, dst.Host, strings.TrimPrefix(m, dst.Host+"/")).Resolve(ctx, d.String()); err != nil || got.Digest != d {
				t.Errorf("%s does not hold %s: %v", m, d, err)
			}
		}
	}
	if len(itms) != 1 || !slices.Equal(itms[src.Host+"/org/app"], []string{dst.Host + "/m/org/app"}) {
		t.Errorf("ITMS %s mirrors %v, want only the tagged org/app", itmsFile, itms)
	}
	name := strings.TrimSuffix(strings.TrimPrefix(idmsFile, "imagedigestmirrorset_"), ".yaml")
	if got := fileNames(t, cr); !slices.Equal(got, []string{idmsFile, itmsFile}) {
		t.Errorf("cluster resources %v", got)
	}

	// The same pack again: the same files, byte for byte.
	cr2 := filepath.Join(work, "cr2")
	m2m(cr2)
	if a, b := fileNames(t, cr), fileNames(t, cr2); !slices.Equal(a, b) {
		t.Fatalf("a second run wrote %v, the first %v", b, a)
	}
	for _, f := range fileNames(t, cr) {
		a, _ := os.ReadFile(filepath.Join(cr, f))
		b, _ := os.ReadFile(filepath.Join(cr2, f))
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between two identical runs", f)
		}
	}

	// Other images: other objects.
	other := writeFile(t, work, "other.yaml", "kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  additionalImages:\n  - name: "+src.Host+"/org/app:v1\n")
	cr3 := filepath.Join(work, "cr3")
	mustCode(t, pack(t, "-c", other, "--src-tls-verify=false", "--dest-tls-verify=false", "--cluster-resources", cr3, "docker://"+dst.Host+"/m"), 0)
	if f, _ := readMirrorSet(t, cr3, "imagedigestmirrorset_*.yaml"); f == idmsFile {
		t.Errorf("two runs of different images share %s", f)
	}

	// Through an archive: unpack writes the same objects.
	a := filepath.Join(work, "archive")
	mustCode(t, pack(t, "-c", isc, "--src-tls-verify=false", "file://"+a), mirror.ExitFailure)
	cru := filepath.Join(work, "cr-unpack")
	mustCode(t, unpack(t, "--from", "file://"+a, "--dest-tls-verify=false", "--receipt", filepath.Join(work, "r.json"), "--cluster-resources", cru, "docker://"+dst.Host+"/m"), 0)
	sameApartFromNames(t, cr, name, cru, archiveName(t, a))
}

// TestPlatformMirrorToMirrorResources: enclave-pack of releases (graph:
// true) into a docker:// destination writes what unpack writes for them:
// the release IDMS mirroring the payload and component repositories to
// where they are, the signature ConfigMap holding each release's verified
// signatures, and the UpdateService naming the graph-data image pushed, by
// digest. The same pack again writes the same files; an unpack of an
// archive of the same releases writes the same objects under the archive's
// name.
func TestPlatformMirrorToMirrorResources(t *testing.T) {
	ctx := context.Background()
	w := newReleaseWorld(t)
	dst := regserver.New(t, regserver.Options{})
	work := t.TempDir()
	t.Setenv(release.EnvUpdateURL, "")
	t.Setenv(release.EnvSignatureKey, "")
	t.Setenv(release.EnvSignatureURL, w.sigs.URL)
	conf := writeFile(t, work, "registries.conf", fmt.Sprintf(
		"[[registry]]\nprefix = \"quay.io/openshift-release-dev\"\nlocation = \"%s/openshift-release-dev\"\ninsecure = true\n", w.inet.Host))
	isc := platformISC(t, "4.15.3", "4.15.5", true)
	versions := []string{"4.15.3", "4.15.5"}
	args := []string{"-c", isc, "--registries-conf", conf, "--update-url", w.graph.URL, "--release-key", w.keyFile, "--graph-data-url", w.graphData.URL}
	m2m := func(dir string) {
		t.Helper()
		mustCode(t, pack(t, append(args, "--dest-tls-verify=false", "--cluster-resources", dir, "docker://"+dst.Host+"/mirror")...), 0)
	}
	cr := filepath.Join(work, "cr")
	m2m(cr)
	checkReleases(t, w, dst.Host, "mirror", versions, []string{"4.15.2", "4.15.6"})

	idmsFile, idms := readMirrorSet(t, cr, "imagedigestmirrorset_enclave-*-release.yaml")
	name := strings.TrimSuffix(strings.TrimPrefix(idmsFile, "imagedigestmirrorset_"), "-release.yaml")
	wantIDMS := map[string]string{release.OCPReleaseRepo: dst.Host + "/mirror/" + release.ReleaseImagesRepo, release.OCPComponentRepo: dst.Host + "/mirror/" + release.ComponentsRepo}
	if len(idms) != len(wantIDMS) {
		t.Errorf("release IDMS %v, want %v", idms, wantIDMS)
	}
	for s, m := range wantIDMS {
		if !slices.Equal(idms[s], []string{m}) {
			t.Errorf("release IDMS: %s -> %v, want [%s]", s, idms[s], m)
		}
	}
	// Each payload and component is where the IDMS sends the cluster.
	for _, v := range versions {
		p := w.pushed[v]
		if _, err := repo(t, dst.Host, "mirror/"+release.ReleaseImagesRepo).Resolve(ctx, p.Descriptor.Digest.String()); err != nil {
			t.Errorf("%s payload at %s: %v", v, idms[release.OCPReleaseRepo], err)
		}
		for c, ref := range p.Components {
			d := ref[strings.LastIndex(ref, "@")+1:]
			if _, err := repo(t, dst.Host, "mirror/"+release.ComponentsRepo).Resolve(ctx, d); err != nil {
				t.Errorf("%s component %s at %s: %v", v, c, idms[release.OCPComponentRepo], err)
			}
		}
	}

	// The signature ConfigMap holds every release's signature, as served.
	b, err := os.ReadFile(filepath.Join(cr, "configmap_openshift-config-managed_"+name+"-release-signatures.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cm struct {
		Metadata struct {
			Namespace string            `yaml:"namespace"`
			Labels    map[string]string `yaml:"labels"`
		} `yaml:"metadata"`
		BinaryData map[string]string `yaml:"binaryData"`
	}
	if err := yaml.Unmarshal(b, &cm); err != nil {
		t.Fatal(err)
	}
	if _, ok := cm.Metadata.Labels[release.SignatureConfigMapLabel]; !ok || cm.Metadata.Namespace != release.SignatureConfigMapNamespace {
		t.Errorf("signature ConfigMap metadata %+v", cm.Metadata)
	}
	if len(cm.BinaryData) != len(versions) {
		t.Errorf("signature ConfigMap holds %d signatures, want %d", len(cm.BinaryData), len(versions))
	}
	// Each verifies against the release key, for its payload.
	ver, err := release.VerifierFromEnv(w.keyFile, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range versions {
		d := w.pushed[v].Descriptor.Digest
		got, err := base64.StdEncoding.DecodeString(cm.BinaryData["sha256-"+d.Encoded()+"-1"])
		if err != nil || len(got) == 0 {
			t.Fatalf("signature of %s: %v", v, err)
		}
		if _, err := ver.Verify(got, d); err != nil {
			t.Errorf("signature of %s in the ConfigMap: %v", v, err)
		}
	}

	// The UpdateService serves the graph-data image that was pushed.
	b, err = os.ReadFile(filepath.Join(cr, "updateservice_"+release.UpdateServiceNamespace+"_"+release.UpdateServiceName+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var us struct {
		Spec struct {
			GraphDataImage string `yaml:"graphDataImage"`
			Releases       string `yaml:"releases"`
		} `yaml:"spec"`
	}
	if err := yaml.Unmarshal(b, &us); err != nil {
		t.Fatal(err)
	}
	gi, err := repo(t, dst.Host, "mirror/"+release.GraphImageRepo).Resolve(ctx, release.GraphImageTag)
	if err != nil {
		t.Fatal(err)
	}
	if us.Spec.GraphDataImage != dst.Host+"/mirror/"+release.GraphImageRepo+"@"+gi.Digest.String() || us.Spec.Releases != dst.Host+"/mirror/"+release.ReleaseImagesRepo {
		t.Errorf("UpdateService %+v, graph-data image %s", us.Spec, gi.Digest)
	}

	// The same pack again: the same files, byte for byte.
	cr2 := filepath.Join(work, "cr2")
	m2m(cr2)
	if a, b := fileNames(t, cr), fileNames(t, cr2); !slices.Equal(a, b) || len(a) != 3 {
		t.Fatalf("a second run wrote %v, the first %v", b, a)
	}
	for _, f := range fileNames(t, cr) {
		a, _ := os.ReadFile(filepath.Join(cr, f))
		b, _ := os.ReadFile(filepath.Join(cr2, f))
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between two identical runs", f)
		}
	}

	// Through an archive: unpack writes the same objects.
	a := filepath.Join(work, "archive")
	mustCode(t, pack(t, append(args, "file://"+a)...), 0)
	cru := filepath.Join(work, "cr-unpack")
	mustCode(t, unpack(t, "--from", "file://"+a, "--dest-tls-verify=false", "--receipt", filepath.Join(work, "r.json"), "--cluster-resources", cru, "docker://"+dst.Host+"/mirror"), 0)
	sameApartFromNames(t, cr, name, cru, archiveName(t, a))
}

// TestPlatformMirrorToMirrorIncompleteRelease: a release one of whose
// components the destination refuses is left out of the cluster resources
// of a mirror to mirror, as unpack leaves it out: its signature is not in
// the ConfigMap, and the pack says why and exits 1; the complete release
// keeps its entries and its signature.
func TestPlatformMirrorToMirrorIncompleteRelease(t *testing.T) {
	w := newReleaseWorld(t)
	t.Setenv(release.EnvUpdateURL, "")
	t.Setenv(release.EnvSignatureKey, "")
	t.Setenv(release.EnvSignatureURL, w.sigs.URL)
	bad := w.pushed["4.15.5"]
	var comp string
	for name, ref := range bad.Components {
		shared := false
		for _, v := range []string{"4.15.3"} {
			for _, r := range w.pushed[v].Components {
				shared = shared || r == ref
			}
		}
		if !shared {
			comp = name
			break
		}
	}
	if comp == "" {
		t.Fatal("every component of 4.15.5 is also 4.15.3's")
	}
	refused := "/manifests/" + bad.Tag + "-" + comp
	dst := regserver.New(t, regserver.Options{Wrap: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, refused) {
				rw.Header().Set("Content-Type", "application/json")
				rw.WriteHeader(http.StatusBadRequest)
				rw.Write([]byte(`{"errors":[{"code":"MANIFEST_INVALID","message":"manifest invalid"}]}`))
				return
			}
			h.ServeHTTP(rw, r)
		})
	}})
	work := t.TempDir()
	conf := writeFile(t, work, "registries.conf", fmt.Sprintf(
		"[[registry]]\nprefix = \"quay.io/openshift-release-dev\"\nlocation = \"%s/openshift-release-dev\"\ninsecure = true\n", w.inet.Host))
	cr := filepath.Join(work, "cr")
	r := pack(t, "-c", platformISC(t, "4.15.3", "4.15.5", false), "--registries-conf", conf, "--update-url", w.graph.URL, "--release-key", w.keyFile,
		"--dest-tls-verify=false", "--cluster-resources", cr, "docker://"+dst.Host+"/mirror")
	mustCode(t, r, mirror.ExitFailure)
	if !strings.Contains(r.stdout+r.stderr, "release 4.15.5 (amd64) is incomplete at the destination: left out of the cluster resources") {
		t.Errorf("the pack does not say 4.15.5 was left out:\n%s\n%s", r.stdout, r.stderr)
	}
	_, idms := readMirrorSet(t, cr, "imagedigestmirrorset_enclave-*-release.yaml")
	if len(idms) != 2 {
		t.Errorf("release IDMS %v, want the payload and component repositories of 4.15.3", idms)
	}
	m, _ := filepath.Glob(filepath.Join(cr, "configmap_*.yaml"))
	if len(m) != 1 {
		t.Fatalf("signature ConfigMaps %v", m)
	}
	b, _ := os.ReadFile(m[0])
	if !strings.Contains(string(b), "sha256-"+w.pushed["4.15.3"].Descriptor.Digest.Encoded()+"-1") {
		t.Errorf("the ConfigMap lacks 4.15.3's signature:\n%s", b)
	}
	if strings.Contains(string(b), bad.Descriptor.Digest.Encoded()) {
		t.Errorf("the ConfigMap holds the signature of 4.15.5, which did not arrive whole:\n%s", b)
	}
}
