package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/enclave-mirror/enclave/archive"
	"github.com/enclave-mirror/enclave/clusterres"
	"github.com/enclave-mirror/enclave/format"
	"github.com/enclave-mirror/enclave/internal/testing/regserver"
	"github.com/enclave-mirror/enclave/mirror"
	"github.com/enclave-mirror/enclave/release"
	"github.com/enclave-mirror/enclave/release/releasetest"
)

// releaseWorld is the internet side of the enclave flow: a registry standing
// in for quay.io, an update graph API, a signature server and a graph-data
// tarball, all on loopback.
type releaseWorld struct {
	inet      *regserver.Registry
	pushed    map[string]*releasetest.PushedRelease // stable-4.15 amd64, by version
	graphs    map[releasetest.GraphKey][]byte
	graph     *releasetest.GraphServer
	sigs      *releasetest.SignatureServer
	graphData *httptest.Server
	dataHits  *atomic.Int64
	keyFile   string
}

func newReleaseWorld(t *testing.T) *releaseWorld {
	t.Helper()
	ctx := context.Background()
	w := &releaseWorld{inet: regserver.New(t, regserver.Options{}), dataHits: &atomic.Int64{}}
	gen := &releasetest.Generator{
		Payloads: repo(t, w.inet.Host, "openshift-release-dev/ocp-release"), PayloadRepo: release.OCPReleaseRepo,
		Components: repo(t, w.inet.Host, "openshift-release-dev/ocp-v4.0-art-dev"), ComponentRepo: release.OCPComponentRepo,
		Seed: 7, KubeVirt: true,
	}
	var versions []string
	for _, ch := range releasetest.RealisticChannels("amd64") {
		if ch.Name == "stable-4.15" {
			versions = ch.Versions
		}
	}
	var err error
	if w.pushed, err = gen.PushAll(ctx, "amd64", versions); err != nil {
		t.Fatal(err)
	}
	w.graphs = releasetest.RealisticGraphs(func(v, arch string) string {
		if p, ok := w.pushed[v]; ok && arch == "amd64" {
			return p.Reference
		}
		return releasetest.FakePayload(v, arch)
	})
	w.graph = releasetest.NewGraphServer(w.graphs)
	t.Cleanup(w.graph.Close)

	key, err := releasetest.NewKey("release signing key")
	if err != nil {
		t.Fatal(err)
	}
	w.sigs = releasetest.NewSignatureServer(nil)
	t.Cleanup(w.sigs.Close)
	for _, p := range w.pushed {
		s, err := key.SignRelease(release.OCPReleaseRepo+":"+p.Tag, p.Descriptor.Digest)
		if err != nil {
			t.Fatal(err)
		}
		w.sigs.Add(p.Descriptor.Digest, s)
	}
	pub, err := key.ArmoredPublicKey()
	if err != nil {
		t.Fatal(err)
	}
	w.keyFile = filepath.Join(t.TempDir(), "release-key.asc")
	if err := os.WriteFile(w.keyFile, pub, 0o644); err != nil {
		t.Fatal(err)
	}

	tarball := graphDataTarball(t)
	w.graphData = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.dataHits.Add(1)
		rw.Write(tarball)
	}))
	t.Cleanup(w.graphData.Close)
	return w
}

func graphDataTarball(t *testing.T) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	tw := tar.NewWriter(zw)
	for name, body := range map[string]string{
		"channels/stable-4.15.yaml":     "name: stable-4.15\nversions:\n- 4.15.3\n- 4.15.5\n",
		"blocked-edges/4.15.4-bug.yaml": "to: 4.15.4\nfrom: .*\n",
	} {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write([]byte(body))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func platformISC(t *testing.T, min, max string, graph bool) string {
	t.Helper()
	s := fmt.Sprintf("kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  platform:\n    graph: %t\n    channels:\n    - name: stable-4.15\n      minVersion: %s\n      maxVersion: %s\n", graph, min, max)
	p := filepath.Join(t.TempDir(), "isc.yaml")
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// checkReleases asserts each version's payload and components are at
// host/prefix/openshift/... by digest and by the oc-mirror tags, and that
// the others are not.
func checkReleases(t *testing.T, w *releaseWorld, host, prefix string, want, absent []string) {
	t.Helper()
	ctx := context.Background()
	payloads := repo(t, host, prefix+"/"+release.ReleaseImagesRepo)
	comps := repo(t, host, prefix+"/"+release.ComponentsRepo)
	for _, v := range want {
		p := w.pushed[v]
		got, err := payloads.Resolve(ctx, p.Tag)
		if err != nil || got.Digest != p.Descriptor.Digest {
			t.Fatalf("%s: payload at %s: %v, %v (want %s)", v, p.Tag, got.Digest, err, p.Descriptor.Digest)
		}
		for name, ref := range p.Components {
			d := digest.Digest(ref[strings.LastIndex(ref, "@")+1:])
			if got, err := comps.Resolve(ctx, d.String()); err != nil || got.Digest != d {
				t.Fatalf("%s: component %s by digest: %v", v, name, err)
			}
			if got, err := comps.Resolve(ctx, p.Tag+"-"+name); err != nil || got.Digest != d {
				t.Fatalf("%s: component %s by tag: %v %v", v, name, got.Digest, err)
			}
		}
	}
	for _, v := range absent {
		if _, err := payloads.Resolve(ctx, w.pushed[v].Tag); err == nil {
			t.Fatalf("%s was mirrored, the configuration does not select it", v)
		}
	}
}

// checkReleaseResources asserts the release IDMS, signature ConfigMap and
// (when graph) UpdateService were written for mirror host/prefix.
func checkReleaseResources(t *testing.T, w *releaseWorld, dir, archiveDir, mirrorRoot string, versions []string, graph bool) {
	t.Helper()
	ar, err := archive.Open(archiveDir)
	if err != nil {
		t.Fatal(err)
	}
	name := clusterres.ArchiveName(ar.Digest())
	ar.Close()
	read := func(glob string) string {
		t.Helper()
		m, _ := filepath.Glob(filepath.Join(dir, glob))
		if len(m) != 1 {
			t.Fatalf("%s in %s: %v", glob, dir, m)
		}
		b, err := os.ReadFile(m[0])
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	idms := read("imagedigestmirrorset_" + name + "-release.yaml")
	for _, s := range []string{release.OCPReleaseRepo, release.OCPComponentRepo, mirrorRoot + "/openshift/release-images", mirrorRoot + "/openshift/release"} {
		if !strings.Contains(idms, s) {
			t.Fatalf("release IDMS lacks %s:\n%s", s, idms)
		}
	}
	cm := read("configmap_openshift-config-managed_" + name + "-release-signatures.yaml")
	if !strings.Contains(cm, release.SignatureConfigMapLabel) {
		t.Fatalf("signature ConfigMap lacks its label:\n%s", cm)
	}
	for _, v := range versions {
		if k := "sha256-" + w.pushed[v].Descriptor.Digest.Encoded() + "-1:"; !strings.Contains(cm, k) {
			t.Fatalf("signature ConfigMap lacks %s (%s):\n%s", k, v, cm)
		}
	}
	if graph {
		us := read("updateservice_*.yaml")
		if !strings.Contains(us, mirrorRoot+"/openshift/graph-image@sha256:") || !strings.Contains(us, mirrorRoot+"/openshift/release-images") {
			t.Fatalf("UpdateService:\n%s", us)
		}
	}
}

// TestPlatformEnclaveFlow is the enclave workflow for OpenShift releases:
// internet -> enterprise registry -> enclave registry, the enclave packed
// from the enterprise registry through registries.conf mirrors (original
// names kept), with an update service inside the air gap, signatures and
// graph data from what the first stage delivered, cut against the
// enclave's receipt.
func TestPlatformEnclaveFlow(t *testing.T) {
	w := newReleaseWorld(t)
	ent := regserver.New(t, regserver.Options{})
	enc := regserver.New(t, regserver.Options{})
	work := t.TempDir()
	t.Setenv(release.EnvUpdateURL, "")
	t.Setenv(release.EnvSignatureKey, "")
	t.Setenv(release.EnvSignatureURL, w.sigs.URL)

	// Stage 1, connected: quay.io is the "internet" registry.
	conf1 := writeFile(t, work, "registries-internet.conf", fmt.Sprintf(
		"[[registry]]\nprefix = \"quay.io/openshift-release-dev\"\nlocation = \"%s/openshift-release-dev\"\ninsecure = true\n", w.inet.Host))
	a1 := filepath.Join(work, "a1")
	r := pack(t, "-c", platformISC(t, "4.15.2", "4.15.6", true), "--registries-conf", conf1, "--update-url", w.graph.URL,
		"--release-key", w.keyFile, "--graph-data-url", w.graphData.URL, "file://"+a1)
	mustCode(t, r, 0)
	r = unpack(t, "inspect", "file://"+a1)
	mustCode(t, r, 0)
	for _, s := range []string{"releases.json", "graph/stable-4.15/amd64.json", "graph-data.tar.gz",
		"signatures/sha256=" + w.pushed["4.15.5"].Descriptor.Digest.Encoded() + "/signature-1", w.pushed["4.15.6"].Reference} {
		if !strings.Contains(r.stdout, s) {
			t.Fatalf("archive lacks %s:\n%s", s, r.stdout)
		}
	}
	crEnt := filepath.Join(work, "cr-enterprise")
	mustCode(t, unpack(t, "--from", "file://"+a1, "--dest-tls-verify=false", "--receipt", filepath.Join(work, "ent.json"),
		"--cluster-resources", crEnt, "docker://"+ent.Host+"/mirror"), 0)
	stage1 := []string{"4.15.2", "4.15.3", "4.15.5", "4.15.6"}
	checkReleases(t, w, ent.Host, "mirror", stage1, []string{"4.15.1", "4.15.0"})
	checkReleaseResources(t, w, crEnt, a1, ent.Host+"/mirror", stage1, true)
	if _, err := repo(t, ent.Host, "mirror/"+release.GraphImageRepo).Resolve(context.Background(), release.GraphImageTag); err != nil {
		t.Fatalf("graph-data image: %v", err)
	}

	// -c at unpack selects releases from the carried graph: one of four.
	one := regserver.New(t, regserver.Options{})
	mustCode(t, unpack(t, "-c", platformISC(t, "4.15.5", "4.15.5", false), "--from", "file://"+a1, "--dest-tls-verify=false",
		"--receipt", filepath.Join(work, "one.json"), "--cluster-resources", filepath.Join(work, "cr-one"), "docker://"+one.Host+"/m"), 0)
	checkReleases(t, w, one.Host, "m", []string{"4.15.5"}, []string{"4.15.2", "4.15.3", "4.15.6"})
	r = unpack(t, "-c", platformISC(t, "4.15.0", "4.15.1", false), "--from", "file://"+a1, "--dest-tls-verify=false",
		"--receipt", filepath.Join(work, "none.json"), "--cluster-resources", filepath.Join(work, "cr-none"), "docker://"+one.Host+"/none")
	mustCode(t, r, mirror.ExitIntegrity)
	if !strings.Contains(r.stderr, "does not hold") {
		t.Fatalf("a subset the archive lacks:\n%s", r.stderr)
	}

	// Stage 2, inside: nothing may reach the internet side any more.
	sigHits, graphReqs, dataHits := w.sigs.Hits(), len(w.graph.Requests()), w.dataHits.Load()
	osus := releasetest.NewGraphServer(w.graphs) // the enterprise's Update Service
	defer osus.Close()
	t.Setenv(release.EnvUpdateURL, osus.URL)
	conf2 := writeFile(t, work, "registries-enterprise.conf", fmt.Sprintf(`[[registry]]
prefix = "quay.io/openshift-release-dev/ocp-release"
location = "quay.io/openshift-release-dev/ocp-release"
[[registry.mirror]]
location = "%[1]s/mirror/openshift/release-images"
insecure = true
[[registry]]
prefix = "quay.io/openshift-release-dev/ocp-v4.0-art-dev"
location = "quay.io/openshift-release-dev/ocp-v4.0-art-dev"
[[registry.mirror]]
location = "%[1]s/mirror/openshift/release"
insecure = true
`, ent.Host))
	recEnc := filepath.Join(work, "enclave.json")
	crEnc := filepath.Join(work, "cr-enclave")
	toEnclave := func(dir string) {
		t.Helper()
		mustCode(t, unpack(t, "--from", "file://"+dir, "--dest-tls-verify=false", "--receipt", recEnc,
			"--cluster-resources", crEnc, "docker://"+enc.Host+"/mirror"), 0)
	}
	// The enclave already received 4.15.3.
	e0 := filepath.Join(work, "e0")
	mustCode(t, pack(t, "-c", platformISC(t, "4.15.3", "4.15.3", false), "--registries-conf", conf2,
		"--release-data", "file://"+a1, "--release-key", w.keyFile, "file://"+e0), 0)
	toEnclave(e0)
	checkReleases(t, w, enc.Host, "mirror", []string{"4.15.3"}, []string{"4.15.5"})

	// Now 4.15.3 to 4.15.5 with the graph, cut against the enclave's receipt.
	e1 := filepath.Join(work, "e1")
	mustCode(t, pack(t, "-c", platformISC(t, "4.15.3", "4.15.5", true), "--registries-conf", conf2,
		"--release-data", "file://"+a1, "--release-key", w.keyFile, "--base", recEnc, "file://"+e1), 0)
	receipt, _, err := archive.LoadReceipt(recEnc)
	if err != nil {
		t.Fatal(err)
	}
	had := map[digest.Digest]bool{}
	for _, e := range receipt.Content {
		had[e.Digest] = true
	}
	ar, err := archive.Open(e1)
	if err != nil {
		t.Fatal(err)
	}
	defer ar.Close()
	n := 0
	ar.Format().Blobs(func(b format.Blob) bool {
		n++
		if had[b.Digest] {
			t.Errorf("%s was packed, the enclave's receipt already records it", b.Digest)
		}
		return true
	})
	if _, ok := ar.Format().Lookup(w.pushed["4.15.5"].Descriptor.Digest); !ok {
		t.Fatal("the 4.15.5 payload is not in the enclave archive")
	}
	if ar.Delta() == nil || len(ar.Delta().Prerequisites) == 0 {
		t.Fatal("the enclave archive has no prerequisites")
	}
	t.Logf("enclave archive: %d blobs, %d prerequisites", n, len(ar.Delta().Prerequisites))

	toEnclave(e1)
	checkReleases(t, w, enc.Host, "mirror", []string{"4.15.3", "4.15.5"}, []string{"4.15.2", "4.15.6"})
	checkReleaseResources(t, w, crEnc, e1, enc.Host+"/mirror", []string{"4.15.3", "4.15.5"}, true)
	if _, err := repo(t, enc.Host, "mirror/"+release.GraphImageRepo).Resolve(context.Background(), release.GraphImageTag); err != nil {
		t.Fatalf("graph-data image in the enclave: %v", err)
	}

	if w.sigs.Hits() != sigHits || len(w.graph.Requests()) != graphReqs || w.dataHits.Load() != dataHits {
		t.Fatalf("the enclave stage reached the internet side: signatures %d -> %d, graph %d -> %d, graph data %d -> %d",
			sigHits, w.sigs.Hits(), graphReqs, len(w.graph.Requests()), dataHits, w.dataHits.Load())
	}
	if len(osus.Requests()) == 0 {
		t.Fatal("the enclave stage did not ask the update service inside the air gap")
	}
}

// TestPlatformDefaultKeyringRefusesOtherKey packs with no key named: the
// release signatures are checked against Red Hat's release keys (built in,
// as oc-mirror does), so signatures made with the test key are refused, and
// the message says which keyring and how to name another.
func TestPlatformDefaultKeyringRefusesOtherKey(t *testing.T) {
	w := newReleaseWorld(t)
	t.Setenv(release.EnvSignatureKey, "")
	t.Setenv(release.EnvSignatureURL, w.sigs.URL)
	work := t.TempDir()
	conf := writeFile(t, work, "registries.conf", fmt.Sprintf(
		"[[registry]]\nprefix = \"quay.io/openshift-release-dev\"\nlocation = \"%s/openshift-release-dev\"\ninsecure = true\n", w.inet.Host))
	isc := platformISC(t, "4.15.5", "4.15.6", false)
	r := pack(t, "-c", isc, "--registries-conf", conf, "--update-url", w.graph.URL, "file://"+filepath.Join(work, "a"))
	mustCode(t, r, mirror.ExitIntegrity)
	for _, s := range []string{release.DefaultKeyringName, "which is not in the keyring", "--release-key"} {
		if !strings.Contains(r.stderr, s) {
			t.Fatalf("the refusal does not say %q:\n%s", s, r.stderr)
		}
	}
	// Explicitly without signatures: packed, and no ConfigMap at unpack.
	a := filepath.Join(work, "b")
	mustCode(t, pack(t, "-c", isc, "--registries-conf", conf, "--update-url", w.graph.URL, "--skip-release-signatures", "file://"+a), 0)
	dst := regserver.New(t, regserver.Options{})
	cr := filepath.Join(work, "cr")
	mustCode(t, unpack(t, "--from", "file://"+a, "--dest-tls-verify=false", "--receipt", filepath.Join(work, "r.json"), "--cluster-resources", cr, "docker://"+dst.Host+"/m"), 0)
	checkReleases(t, w, dst.Host, "m", []string{"4.15.5", "4.15.6"}, []string{"4.15.3"})
	if m, _ := filepath.Glob(filepath.Join(cr, "configmap_*")); len(m) != 0 {
		t.Fatalf("signature ConfigMap written without signatures: %v", m)
	}
}

func TestListReleases(t *testing.T) {
	gs := releasetest.NewGraphServer(releasetest.RealisticGraphs(nil))
	defer gs.Close()
	r := pack(t, "list", "releases", "--channel", "stable-4.15", "--update-url", gs.URL)
	mustCode(t, r, 0)
	if !strings.HasPrefix(r.stdout, "4.14.20\n") || !strings.Contains(r.stdout, "\n4.15.6 (head)\n") {
		t.Fatalf("list releases:\n%s", r.stdout)
	}
	r = pack(t, "list", "releases", "--channel", "fast-4.16", "--arch", "arm64", "--update-url", gs.URL)
	mustCode(t, r, 0)
	if !strings.Contains(r.stdout, "4.16.2 (head)") || strings.Contains(r.stdout, "4.16.3") {
		t.Fatalf("list releases arm64:\n%s", r.stdout)
	}
	mustCode(t, pack(t, "list", "releases", "--update-url", gs.URL), mirror.ExitUsage)
}

// TestOCMirrorConfigAsWritten runs a configuration written for oc-mirror
// v2 unchanged (v1alpha2 with storageConfig, mirror.platform with
// architectures and no channels, a docker:// image) through pack and unpack,
// --from given as a bare path as the enclave document writes it: the image
// arrives, no release is selected, and the two warnings are printed.
func TestOCMirrorConfigAsWritten(t *testing.T) {
	w := newReleaseWorld(t)
	t.Setenv(release.EnvSignatureKey, "")
	t.Setenv(release.EnvUpdateURL, "")
	work := t.TempDir()
	conf := writeFile(t, work, "registries.conf", fmt.Sprintf(
		"[[registry]]\nprefix = \"quay.io/openshift-release-dev\"\nlocation = \"%s/openshift-release-dev\"\ninsecure = true\n", w.inet.Host))
	p := w.pushed["4.15.5"]
	isc := writeFile(t, work, "isc.yaml", "apiVersion: mirror.openshift.io/v1alpha2\nkind: ImageSetConfiguration\nstorageConfig:\n  local:\n    path: /tmp/metadata\nmirror:\n  platform:\n    architectures:\n      - \"amd64\"\n  additionalImages:\n    - name: docker://"+release.OCPReleaseRepo+":"+p.Tag+"\n")
	a := filepath.Join(work, "local-disk")
	r := pack(t, "-c", isc, "--registries-conf", conf, "file://"+a)
	mustCode(t, r, 0)
	for _, s := range []string{"warning: imageset: " + isc + ":3: storageConfig is ignored", "warning: imageset: " + isc + ":7: mirror.platform selects no release"} {
		if !strings.Contains(r.stderr, s) {
			t.Fatalf("pack did not warn %q:\n%s", s, r.stderr)
		}
	}
	dst := regserver.New(t, regserver.Options{})
	mustCode(t, unpack(t, "-c", isc, "--from", a, "--dest-tls-verify=false", "--receipt", filepath.Join(work, "r.json"),
		"--cluster-resources", filepath.Join(work, "cr"), "docker://"+dst.Host+"/enc1"), 0)
	ocp := strings.TrimPrefix(release.OCPReleaseRepo, "quay.io/")
	if got, err := repo(t, dst.Host, "enc1/"+ocp).Resolve(context.Background(), p.Tag); err != nil || got.Digest != p.Descriptor.Digest {
		t.Fatalf("additional image at the destination: %v %v, want %s", got.Digest, err, p.Descriptor.Digest)
	}
	if _, err := repo(t, dst.Host, "enc1/"+release.ReleaseImagesRepo).Resolve(context.Background(), p.Tag); err == nil {
		t.Fatal("a release was mirrored; the configuration selects none")
	}
}

// TestPlatformKubeVirtContainer packs a release with kubeVirtContainer:
// true. The KubeVirt RHCOS container image its boot-image metadata names is
// carried as the release component kube-virt-container and placed with the
// components at openshift/release:<version>-<arch>-kube-virt-container.
func TestPlatformKubeVirtContainer(t *testing.T) {
	w := newReleaseWorld(t)
	t.Setenv(release.EnvSignatureKey, "")
	t.Setenv(release.EnvUpdateURL, "")
	t.Setenv(release.EnvSignatureURL, w.sigs.URL)
	work := t.TempDir()
	conf := writeFile(t, work, "registries.conf", fmt.Sprintf(
		"[[registry]]\nprefix = \"quay.io/openshift-release-dev\"\nlocation = \"%s/openshift-release-dev\"\ninsecure = true\n", w.inet.Host))
	isc := writeFile(t, work, "isc.yaml", "kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  platform:\n    kubeVirtContainer: true\n    channels:\n    - name: stable-4.15\n      minVersion: 4.15.6\n      maxVersion: 4.15.6\n")
	a := filepath.Join(work, "a")
	mustCode(t, pack(t, "-c", isc, "--registries-conf", conf, "--update-url", w.graph.URL, "--release-key", w.keyFile, "file://"+a), 0)
	dst := regserver.New(t, regserver.Options{})
	mustCode(t, unpack(t, "--from", "file://"+a, "--dest-tls-verify=false", "--receipt", filepath.Join(work, "r.json"),
		"--cluster-resources", filepath.Join(work, "cr"), "docker://"+dst.Host+"/m"), 0)
	p := w.pushed["4.15.6"]
	kv := digest.Digest(p.KubeVirt[strings.LastIndex(p.KubeVirt, "@")+1:])
	got, err := repo(t, dst.Host, "m/"+release.ComponentsRepo).Resolve(context.Background(), p.Tag+"-"+release.KubeVirtName)
	if err != nil || got.Digest != kv {
		t.Fatalf("kube-virt-container at the destination: %v %v, want %s", got.Digest, err, kv)
	}
	checkReleases(t, w, dst.Host, "m", []string{"4.15.6"}, nil)
}
