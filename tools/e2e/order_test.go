package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"github.com/enclave-mirror/enclave/archive"
	"github.com/enclave-mirror/enclave/internal/testing/regserver"
)

// pushEvent is content that reached a repository: a blob (uploaded or
// mounted) or a manifest (by digest or by tag).
type pushEvent struct {
	repo   string
	digest digest.Digest // blob or manifest digest
	tag    string        // manifest PUT by tag
	body   []byte        // manifest bytes
	mount  bool          // a blob mounted from another repository
}

type orderRecorder struct {
	mu     sync.Mutex
	events []pushEvent
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(s int) { w.status = s; w.ResponseWriter.WriteHeader(s) }

func (o *orderRecorder) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body []byte
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") {
			body, _ = io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		sw := &statusWriter{ResponseWriter: w, status: 200}
		h.ServeHTTP(sw, r)
		if sw.status != http.StatusCreated {
			return
		}
		p := strings.TrimPrefix(r.URL.Path, "/v2/")
		var ev pushEvent
		switch {
		case strings.Contains(p, "/blobs/uploads/") && r.Method == http.MethodPut:
			ev = pushEvent{repo: p[:strings.Index(p, "/blobs/")], digest: digest.Digest(r.URL.Query().Get("digest"))}
		case strings.Contains(p, "/blobs/uploads/") && r.Method == http.MethodPost && r.URL.Query().Get("mount") != "":
			ev = pushEvent{repo: p[:strings.Index(p, "/blobs/")], digest: digest.Digest(r.URL.Query().Get("mount")), mount: true}
		case strings.Contains(p, "/manifests/") && r.Method == http.MethodPut:
			i := strings.Index(p, "/manifests/")
			ref := p[i+len("/manifests/"):]
			ev = pushEvent{repo: p[:i], digest: digest.FromBytes(body), body: body}
			if !strings.Contains(ref, ":") {
				ev.tag = ref
			}
		default:
			return
		}
		o.mu.Lock()
		o.events = append(o.events, ev)
		o.mu.Unlock()
	})
}

// Blobs go before the manifests that name them, manifests before the
// indexes (and referrers) that name them, tags last: a registry that does
// not check (unlike distribution) still never holds a dangling reference.
func TestPushOrder(t *testing.T) {
	ctx := context.Background()
	src := regserver.New(t, regserver.Options{})
	var rec orderRecorder
	dst := regserver.New(t, regserver.Options{Wrap: rec.wrap})
	_, isc := seed(t, src, 1, src.Host)
	work := t.TempDir()
	dir := filepath.Join(work, "content")
	mustCode(t, pack(t, "-c", isc, "--src-tls-verify=false", "file://"+dir), 0)
	mustCode(t, unpack(t, "--from", "file://"+dir, "--dest-tls-verify=false", "--receipt", filepath.Join(work, "r.json"), "--cluster-resources", filepath.Join(work, "cr"), "docker://"+dst.Host+"/mirror"), 0)

	ar, err := archive.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ar.Close()
	present := map[string]map[digest.Digest]int{} // repo -> digest -> first event index
	manifests := 0
	for i, ev := range rec.events {
		if present[ev.repo] == nil {
			present[ev.repo] = map[digest.Digest]int{}
		}
		if ev.tag != "" {
			if _, ok := present[ev.repo][ev.digest]; ok {
				continue
			}
			// Pushed by tag only: the referrers index oras maintains under
			// the tag schema (sha256-<subject>) on registries without the
			// referrers API. Whatever it lists must be there already.
			var idx ocispec.Index
			if err := json.Unmarshal(ev.body, &idx); err != nil || !strings.HasPrefix(ev.tag, "sha256-") {
				t.Errorf("event %d: tag %s:%s before its manifest %s", i, ev.repo, ev.tag, ev.digest)
				continue
			}
			for _, m := range idx.Manifests {
				if _, ok := present[ev.repo][m.Digest]; !ok {
					t.Errorf("event %d: referrers index %s:%s lists %s before it was pushed", i, ev.repo, ev.tag, m.Digest)
				}
			}
			present[ev.repo][ev.digest] = i
			continue
		}
		if desc, ok, _ := ar.Descriptor(ctx, ev.digest); ok && strings.Contains(desc.MediaType, "manifest") || ok && strings.Contains(desc.MediaType, "index") {
			manifests++
			succ, err := content.Successors(ctx, ar, desc)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range succ {
				if _, ok := present[ev.repo][c.Digest]; !ok {
					t.Errorf("event %d: manifest %s in %s pushed before its child %s (%s)", i, ev.digest, ev.repo, c.Digest, c.MediaType)
				}
			}
		}
		if _, ok := present[ev.repo][ev.digest]; !ok {
			present[ev.repo][ev.digest] = i
		}
	}
	if manifests < 4 {
		t.Fatalf("only %d manifest pushes recorded of %d events: the recorder missed them", manifests, len(rec.events))
	}
	checkPushedOnce(t, rec.events)
}

// checkPushedOnce: every blob is uploaded once in all (a diamond, the base
// layer that the index's two images share, costs one upload), a blob that
// a second repository needs is mounted there, never uploaded again, and no
// repository receives the same blob or manifest twice.
func checkPushedOnce(t *testing.T, events []pushEvent) {
	t.Helper()
	uploads := map[digest.Digest]int{}
	perRepo := map[string]int{}
	repos := map[digest.Digest]map[string]bool{}
	mounts := 0
	for _, ev := range events {
		if ev.tag != "" {
			continue
		}
		if ev.body == nil && !ev.mount {
			uploads[ev.digest]++
		}
		if ev.mount {
			mounts++
		}
		perRepo[ev.repo+"@"+ev.digest.String()]++
		if repos[ev.digest] == nil {
			repos[ev.digest] = map[string]bool{}
		}
		repos[ev.digest][ev.repo] = true
	}
	for d, n := range uploads {
		if n > 1 {
			t.Errorf("blob %s uploaded %d times (in %d repositories)", d, n, len(repos[d]))
		}
	}
	for k, n := range perRepo {
		if n > 1 {
			t.Errorf("%s pushed %d times", k, n)
		}
	}
	shared := 0
	for d, in := range repos {
		if len(in) > 1 && uploads[d] > 0 {
			shared++
		}
	}
	if shared == 0 || mounts < shared {
		t.Errorf("%d blobs in several repositories, %d mounts: a blob another repository held was uploaded again", shared, mounts)
	}
}
