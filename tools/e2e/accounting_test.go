package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/enclave-mirror/enclave/archive"
	"github.com/enclave-mirror/enclave/format"
	"github.com/enclave-mirror/enclave/internal/progress"
	"github.com/enclave-mirror/enclave/internal/testing/corpus"
	"github.com/enclave-mirror/enclave/internal/testing/faultproxy"
	"github.com/enclave-mirror/enclave/internal/testing/regserver"
)

// sharedCorpus pushes a corpus of 12 images sharing most of their layers
// (a base under every component) into a new registry behind a byte-counting
// proxy, and writes an isc.yaml naming every image.
func sharedCorpus(t *testing.T) (*regserver.Registry, *faultproxy.Proxy, *corpus.Manifest, string) {
	t.Helper()
	p := faultproxy.New()
	src := regserver.New(t, regserver.Options{RootDir: t.TempDir(), Wrap: p.Wrap})
	target := func(name string) (oras.Target, error) {
		r, err := remote.NewRepository(src.Host + "/" + name)
		if err != nil {
			return nil, err
		}
		r.PlainHTTP = true
		return r, nil
	}
	m, err := corpus.Generate(context.Background(), target, corpus.Options{Seed: 16, Scale: 0.004, Images: 12, Release: 1})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  additionalImages:\n")
	for _, im := range m.Images {
		fmt.Fprintf(&b, "  - name: %s\n", im.Reference(src.Host))
	}
	isc := filepath.Join(t.TempDir(), "isc.yaml")
	if err := os.WriteFile(isc, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	p.WaitIdle(10 * time.Second)
	return src, p, m, isc
}

// manifestBytes is the size of the manifests and indexes of m, each once.
func manifestBytes(m *corpus.Manifest) (n int64) {
	for _, b := range m.Blobs {
		if strings.Contains(b.MediaType, "manifest") || strings.Contains(b.MediaType, "index") {
			n += b.Size
		}
	}
	return n
}

// countingRegistry starts an empty registry behind a proxy that records
// every request.
func countingRegistry(t *testing.T) (*regserver.Registry, *faultproxy.Proxy) {
	t.Helper()
	p := faultproxy.New()
	return regserver.New(t, regserver.Options{RootDir: t.TempDir(), Wrap: p.Wrap}), p
}

// servedContent adds up the response bytes of the GETs of blobs and of
// manifests by digest since record skip: the content a source served.
// Referrer listings (the sha256-<hex> tags of the fallback schema) are
// returned apart.
func servedContent(p *faultproxy.Proxy, skip int) (content, listings int64) {
	p.WaitIdle(10 * time.Second)
	for _, r := range p.Records()[skip:] {
		switch {
		case r.Method != http.MethodGet:
		case strings.Contains(r.Path, "/blobs/sha256:"), strings.Contains(r.Path, "/manifests/sha256:"):
			content += r.ResponseBytes
		default:
			listings += r.ResponseBytes
		}
	}
	return content, listings
}

// uploaded adds up the content a destination took: the bytes of blob
// uploads and of manifests pushed by digest, and counts them. Pushes of a
// manifest again by its tag, and of the referrers index under a
// sha256-<hex> tag (the fallback schema), are not content of their own.
func uploaded(p *faultproxy.Proxy) (bytes int64, blobs, manifests int) {
	p.WaitIdle(10 * time.Second)
	for _, r := range p.Records() {
		switch {
		case strings.Contains(r.Path, "/blobs/uploads/"):
			bytes += r.RequestBytes
			if r.Method == http.MethodPut && r.Status == http.StatusCreated {
				blobs++
			}
		case r.Method == http.MethodPut && strings.Contains(r.Path, "/manifests/sha256:") && r.Status == http.StatusCreated:
			bytes += r.RequestBytes
			manifests++
		}
	}
	return
}

// archiveContent returns the bytes and blobs an archive holds.
func archiveContent(t *testing.T, dir string) (int64, int) {
	t.Helper()
	ar, err := archive.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ar.Close()
	var n int64
	ar.Format().Blobs(func(b format.Blob) bool { n += b.Size; return true })
	return n, ar.Format().NumBlobs()
}

// summaryLine returns the text after label on the summary's line, "" if
// there is none.
func summaryLine(out, label string) string {
	m := regexp.MustCompile(`(?m)^  ` + label + ` +(.*)$`).FindStringSubmatch(out)
	if m == nil {
		return ""
	}
	return m[1]
}

// checkSummary asserts that a summary's total is total bytes exactly, that
// it moved total bytes in blobs blobs, and that it skipped nothing.
func checkSummary(t *testing.T, what, out string, total int64, blobs int) {
	t.Helper()
	if got, want := summaryLine(out, "total"), fmt.Sprintf("%s (%d bytes), each blob counted once", progress.HumanBytes(total), total); got != want {
		t.Errorf("%s: total %q, want %q\n%s", what, got, want, out)
	}
	if got, want := summaryLine(out, "moved"), fmt.Sprintf("%s in %d blobs (", progress.HumanBytes(total), blobs); !strings.HasPrefix(got, want) {
		t.Errorf("%s: moved %q, want %q...\n%s", what, got, want, out)
	}
	for _, l := range []string{"skipped", "not moved"} {
		if got := summaryLine(out, l); got != "" {
			t.Errorf("%s: %s %q, want no such line\n%s", what, l, got, out)
		}
	}
}

// TestSummaryAddsUpToWhatTheArchiveAndRegistriesHold packs a corpus whose
// images share layers into an archive, unpacks it, and copies it mirror to
// mirror: each summary's total is the unique bytes (each blob once, however
// many images share it), it moved exactly what the archive or the
// destination registry took, and the source served each blob and manifest
// once (issue 16: 411 MB served for 397 MB, 650.7 MiB "moved" into a
// 378.7 MiB archive).
func TestSummaryAddsUpToWhatTheArchiveAndRegistriesHold(t *testing.T) {
	_, srcProxy, m, isc := sharedCorpus(t)
	unique := m.UniqueBytes()
	shared := map[digest.Digest]int{}
	for _, im := range m.Images {
		for _, d := range im.Blobs {
			shared[d]++
		}
	}
	if n := len(shared); n >= len(m.Blobs)+len(m.Images) { // sanity: the corpus shares layers
		t.Fatalf("corpus shares nothing")
	}

	// Pack to an archive.
	skip := len(srcProxy.Records())
	dir := filepath.Join(t.TempDir(), "content")
	r := pack(t, "-c", isc, "--src-tls-verify=false", "file://"+dir)
	mustCode(t, r, 0)
	held, blobs := archiveContent(t, dir)
	if held != unique || blobs != len(m.Blobs) {
		t.Fatalf("archive holds %d bytes in %d blobs, the corpus %d in %d", held, blobs, unique, len(m.Blobs))
	}
	checkSummary(t, "pack", r.stdout, held, blobs)
	if !strings.Contains(summaryLine(r.stdout, "shared"), "shared with another image of this run") {
		t.Errorf("pack: no shared line\n%s", r.stdout)
	}
	served, listings := servedContent(srcProxy, skip)
	t.Logf("pack: the source served %d bytes of content (+%d of referrer listings) for %d unique", served, listings, unique)
	if served > unique {
		t.Errorf("pack: the source served %d bytes of blobs and manifests for %d unique (%.4fx)", served, unique, float64(served)/float64(unique))
	}

	// A delta against that archive: every blob is in the base, counted so,
	// and none is read.
	skip = len(srcProxy.Records())
	r = pack(t, "-c", isc, "--src-tls-verify=false", "--base", dir, "file://"+filepath.Join(t.TempDir(), "delta"))
	mustCode(t, r, 0)
	if got, want := summaryLine(r.stdout, "skipped"), fmt.Sprintf("%s in %d blobs already in a base", progress.HumanBytes(held), blobs); got != want {
		t.Errorf("delta: skipped %q, want %q\n%s", got, want, r.stdout)
	}
	if got := summaryLine(r.stdout, "moved"); !strings.HasPrefix(got, "0 B in 0 blobs") {
		t.Errorf("delta: moved %q, want nothing\n%s", got, r.stdout)
	}
	if served, _ := servedContent(srcProxy, skip); served > manifestBytes(m) {
		t.Errorf("delta: the source served %d bytes, more than the manifests (%d)", served, manifestBytes(m))
	}

	// Unpack into an empty registry.
	dst, dstProxy := countingRegistry(t)
	work := t.TempDir()
	r = unpack(t, "--from", "file://"+dir, "--dest-tls-verify=false", "--receipt", filepath.Join(work, "r.json"),
		"--cluster-resources", filepath.Join(work, "cr"), "docker://"+dst.Host+"/mirror")
	mustCode(t, r, 0)
	took, upBlobs, upManifests := uploaded(dstProxy)
	if took != held || upBlobs+upManifests != blobs {
		t.Errorf("unpack: the registry took %d bytes in %d blobs and %d manifests, the archive holds %d in %d", took, upBlobs, upManifests, held, blobs)
	}
	checkSummary(t, "unpack", r.stdout, held, blobs)

	// Again: everything is at the destination, every blob counted so.
	r = unpack(t, "--from", "file://"+dir, "--dest-tls-verify=false", "--receipt", filepath.Join(work, "r.json"),
		"--cluster-resources", filepath.Join(work, "cr"), "docker://"+dst.Host+"/mirror")
	mustCode(t, r, 0)
	if got, want := summaryLine(r.stdout, "skipped"), fmt.Sprintf("%s in %d blobs already at the destination", progress.HumanBytes(held), blobs); got != want {
		t.Errorf("second unpack: skipped %q, want %q\n%s", got, want, r.stdout)
	}
	if got := summaryLine(r.stdout, "moved"); !strings.HasPrefix(got, "0 B in 0 blobs") {
		t.Errorf("second unpack: moved %q, want nothing\n%s", got, r.stdout)
	}

	// Mirror to mirror.
	dst2, dst2Proxy := countingRegistry(t)
	skip = len(srcProxy.Records())
	r = pack(t, "-c", isc, "--src-tls-verify=false", "--dest-tls-verify=false", "docker://"+dst2.Host+"/m2m")
	mustCode(t, r, 0)
	took, upBlobs, upManifests = uploaded(dst2Proxy)
	if took != unique || upBlobs+upManifests != len(m.Blobs) {
		t.Errorf("mirror to mirror: the registry took %d bytes in %d blobs and %d manifests, want %d in %d", took, upBlobs, upManifests, unique, len(m.Blobs))
	}
	checkSummary(t, "mirror to mirror", r.stdout, unique, len(m.Blobs))
	if served, _ := servedContent(srcProxy, skip); served > unique {
		t.Errorf("mirror to mirror: the source served %d bytes of blobs and manifests for %d unique", served, unique)
	}

	// Again: every blob is at the destination, counted so; no blob is read.
	skip = len(srcProxy.Records())
	r = pack(t, "-c", isc, "--src-tls-verify=false", "--dest-tls-verify=false", "docker://"+dst2.Host+"/m2m")
	mustCode(t, r, 0)
	if got, want := summaryLine(r.stdout, "skipped"), fmt.Sprintf("%s in %d blobs already at the destination", progress.HumanBytes(unique), len(m.Blobs)); got != want {
		t.Errorf("second mirror to mirror: skipped %q, want %q\n%s", got, want, r.stdout)
	}
	if served, _ := servedContent(srcProxy, skip); served > manifestBytes(m) {
		t.Errorf("second mirror to mirror: the source served %d bytes, more than the manifests (%d)", served, manifestBytes(m))
	}
}
