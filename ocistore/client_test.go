package ocistore

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"
	"oras.land/oras-go/v2/registry/remote/errcode"

	"github.com/enclave-mirror/enclave/internal/testing/regserver"
)

// insecureConf marks the given hosts insecure (they are plain-HTTP test
// registries).
func insecureConf(t *testing.T, extra string, hosts ...string) *RegistriesConf {
	t.Helper()
	var b strings.Builder
	for _, h := range hosts {
		b.WriteString("[[registry]]\nlocation = \"" + h + "\"\ninsecure = true\n")
	}
	b.WriteString(extra)
	conf, err := ParseRegistriesConf("test.conf", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return conf
}

func TestRepositoryPushResolvePlainHTTPWarns(t *testing.T) {
	isolateEnv(t)
	reg := regserver.New(t, regserver.Options{})
	var logs syncBuffer
	ctx := context.Background()
	c, err := NewClient(Options{SkipTLSVerify: true, Registries: &RegistriesConf{}, Logger: testLogger(&logs), Probes: &ProbeCache{}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ref := mustRef(t, reg.Host+"/org/app:1.0")
	repo, err := c.Repository(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	store, md := makeImage(t, "layer one")
	if err := oras.CopyGraph(ctx, store, repo, md, oras.DefaultCopyGraphOptions); err != nil {
		t.Fatal(err)
	}
	if err := repo.Tag(ctx, md, ref.Tag); err != nil {
		t.Fatal(err)
	}
	got, err := repo.Resolve(ctx, ref.Tag)
	if err != nil || got.Digest != md.Digest {
		t.Fatalf("Resolve = %v, %v; want %s", got.Digest, err, md.Digest)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "plain HTTP") || !strings.Contains(logs.String(), reg.Host) {
		t.Fatalf("no plain-HTTP warning logged; logs:\n%s", logs.String())
	}
	// The probe is cached: a second repository does not warn again.
	before := strings.Count(logs.String(), "plain HTTP")
	if _, err := c.Repository(ctx, mustRef(t, reg.Host+"/org/other")); err != nil {
		t.Fatal(err)
	}
	if after := strings.Count(logs.String(), "plain HTTP"); after != before {
		t.Errorf("probe not cached: %d warnings, then %d", before, after)
	}
}

func TestPlainHTTPRefusedWhenVerifying(t *testing.T) {
	isolateEnv(t)
	reg := regserver.New(t, regserver.Options{})
	var rec schemeRecorder
	repo, err := Repository(context.Background(), mustRef(t, reg.Host+"/a/b:1"), Options{Registries: &RegistriesConf{}, WrapTransport: rec.wrap, Probes: &ProbeCache{}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = repo.Resolve(context.Background(), "1")
	if Classify(err) != KindTLS {
		t.Fatalf("Resolve against a plain-HTTP registry with verification on: %v (kind %v), want TLS", err, Classify(err))
	}
	if !errors.Is(err, ErrPlainHTTPRefused) {
		t.Fatalf("err = %v, want ErrPlainHTTPRefused", err)
	}
	for _, s := range rec.schemes {
		if s != "https" {
			t.Fatalf("a request went out over %s: %v", s, rec.schemes)
		}
	}
}

func TestTLSRegistry(t *testing.T) {
	isolateEnv(t)
	var cnt counter
	reg := regserver.New(t, regserver.Options{TLS: true, Wrap: cnt.wrap})
	ctx := context.Background()
	ref := mustRef(t, reg.Host+"/org/app:1")

	t.Run("verify without CA fails, never HTTP", func(t *testing.T) {
		var rec schemeRecorder
		repo, err := Repository(ctx, ref, Options{Registries: &RegistriesConf{}, WrapTransport: rec.wrap, Probes: &ProbeCache{}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = repo.Resolve(ctx, "1")
		if Classify(err) != KindTLS {
			t.Fatalf("err = %v (kind %v), want TLS", err, Classify(err))
		}
		if len(rec.schemes) == 0 {
			t.Fatal("no request recorded")
		}
		for _, s := range rec.schemes {
			if s != "https" {
				t.Fatalf("fell back to %s: %v", s, rec.schemes)
			}
		}
		if n := cnt.n.Load(); n != 0 {
			t.Fatalf("%d requests reached the registry handler despite the TLS failure", n)
		}
	})

	t.Run("CA file", func(t *testing.T) {
		der, err := reg.Certificate()
		if err != nil {
			t.Fatal(err)
		}
		ca := filepath.Join(t.TempDir(), "ca.pem")
		if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		repo, err := Repository(ctx, ref, Options{Registries: &RegistriesConf{}, CAFile: ca})
		if err != nil {
			t.Fatal(err)
		}
		store, md := makeImage(t, "tls layer")
		if err := oras.CopyGraph(ctx, store, repo, md, oras.DefaultCopyGraphOptions); err != nil {
			t.Fatal(err)
		}
		ok, err := repo.Exists(ctx, md)
		if err != nil || !ok {
			t.Fatalf("Exists = %v, %v", ok, err)
		}
	})

	t.Run("skip verify uses https", func(t *testing.T) {
		var logs syncBuffer
		var rec schemeRecorder
		repo, err := Repository(ctx, ref, Options{Registries: &RegistriesConf{}, SkipTLSVerify: true, WrapTransport: rec.wrap, Logger: testLogger(&logs), Probes: &ProbeCache{}})
		if err != nil {
			t.Fatal(err)
		}
		if repo.PlainHTTP {
			t.Fatal("PlainHTTP set for a TLS registry")
		}
		_, err = repo.Resolve(ctx, "1")
		if Classify(err) != KindNotFound {
			t.Fatalf("Resolve of a missing tag: %v (kind %v), want not-found", err, Classify(err))
		}
		if strings.Contains(logs.String(), "plain HTTP") {
			t.Errorf("warned about plain HTTP for a TLS registry: %s", logs.String())
		}
	})
}

func TestAuthFileAgainstHtpasswd(t *testing.T) {
	home := isolateEnv(t)
	var cnt counter
	reg := regserver.New(t, regserver.Options{Username: "alice", Password: "s3cret-pw", Wrap: cnt.wrap})
	ctx := context.Background()
	conf := insecureConf(t, "", reg.Host)
	ref := mustRef(t, reg.Host+"/team/app:1")
	authFile := filepath.Join(home, "auth.json")

	writeFile(t, authFile, `{"auths":{"`+reg.Host+`":{"auth":"`+b64("alice:s3cret-pw")+`"}}}`)
	repo, err := Repository(ctx, ref, Options{AuthFile: authFile, Registries: conf})
	if err != nil {
		t.Fatal(err)
	}
	store, md := makeImage(t, "auth layer")
	if err := oras.CopyGraph(ctx, store, repo, md, oras.DefaultCopyGraphOptions); err != nil {
		t.Fatalf("push with good credentials: %v", err)
	}
	if err := repo.Tag(ctx, md, "1"); err != nil {
		t.Fatal(err)
	}

	// Podman repository-scoped keys: the most specific one wins.
	writeFile(t, authFile, `{"auths":{"`+reg.Host+`":{"auth":"`+b64("alice:wrong")+`"},"`+reg.Host+`/team":{"auth":"`+b64("alice:s3cret-pw")+`"}}}`)
	repo, err = Repository(ctx, ref, Options{AuthFile: authFile, Registries: conf})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := repo.Resolve(ctx, "1"); err != nil || got.Digest != md.Digest {
		t.Fatalf("repository-scoped credential: %v, %v", got.Digest, err)
	}

	writeFile(t, authFile, `{"auths":{"`+reg.Host+`":{"auth":"`+b64("alice:wrong-pw")+`"}}}`)
	repo, err = Repository(ctx, ref, Options{AuthFile: authFile, Registries: conf})
	if err != nil {
		t.Fatal(err)
	}
	cnt.n.Store(0)
	_, err = repo.Resolve(ctx, "1")
	if Classify(err) != KindAuth {
		t.Fatalf("wrong password: %v (kind %v), want auth", err, Classify(err))
	}
	var resp *errcode.ErrorResponse
	if !errors.As(err, &resp) || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password: %v, want a 401 ErrorResponse", err)
	}
	// One anonymous attempt, one with the credential: no retry storm.
	if n := cnt.n.Load(); n > 2 {
		t.Fatalf("%d requests for one failed resolve, want at most 2", n)
	}
	if strings.Contains(err.Error(), "wrong-pw") || strings.Contains(err.Error(), b64("alice:wrong-pw")) {
		t.Fatalf("error leaks the password: %v", err)
	}
}

func TestRedirectDropsAuthorization(t *testing.T) {
	isolateEnv(t)
	blobs := map[digest.Digest][]byte{}
	var sawAuth []string
	cdn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sawAuth = append(sawAuth, r.Header.Get("Authorization"))
		d := digest.Digest(strings.TrimPrefix(r.URL.Path, "/blob/"))
		data, ok := blobs[d]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(data)
	}))
	defer cdn.Close()
	cdnURL := strings.Replace(cdn.URL, "127.0.0.1", "localhost", 1) // another host name, not only another port

	redirectBlobs := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if i := strings.Index(r.URL.Path, "/blobs/sha256:"); r.Method == http.MethodGet && i >= 0 && r.Header.Get("Authorization") != "" {
				http.Redirect(w, r, cdnURL+"/blob/"+r.URL.Path[i+len("/blobs/"):], http.StatusTemporaryRedirect)
				return
			}
			h.ServeHTTP(w, r)
		})
	}
	reg := regserver.New(t, regserver.Options{Username: "bob", Password: "hunter2-pw", Wrap: redirectBlobs})
	ctx := context.Background()
	kc := writeFile(t, filepath.Join(t.TempDir(), "auth.json"), `{"auths":{"`+reg.Host+`":{"username":"bob","password":"hunter2-pw"}}}`)
	var rec schemeRecorder
	repo, err := Repository(ctx, mustRef(t, reg.Host+"/r/app"), Options{AuthFile: kc, Registries: insecureConf(t, "", reg.Host), WrapTransport: rec.wrap})
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("redirected blob content")
	desc := content.NewDescriptorFromBytes("application/octet-stream", data)
	if err := repo.Push(ctx, desc, strings.NewReader(string(data))); err != nil {
		t.Fatal(err)
	}
	blobs[desc.Digest] = data
	rc, err := repo.Fetch(ctx, desc)
	if err != nil {
		t.Fatal(err)
	}
	got, err := content.ReadAll(rc, desc)
	rc.Close()
	if err != nil || string(got) != string(data) {
		t.Fatalf("fetch through redirect: %q, %v", got, err)
	}
	if len(sawAuth) == 0 {
		t.Fatal("the redirect target was never contacted")
	}
	for _, a := range sawAuth {
		if a != "" {
			t.Fatalf("Authorization %q forwarded to the redirect target", a)
		}
	}
	// The registry itself did get credentials (so the test is meaningful).
	sent := false
	for _, a := range rec.auths {
		sent = sent || strings.HasPrefix(a, "Basic ")
	}
	if !sent {
		t.Fatal("no Authorization was ever sent to the registry")
	}
}

func TestSourceMirrors(t *testing.T) {
	isolateEnv(t)
	origin := regserver.New(t, regserver.Options{}) // stays empty
	mirror := regserver.New(t, regserver.Options{})
	ctx := context.Background()

	// Push the image only to the mirror, under its mirror name.
	store, md := makeImage(t, "mirrored layer")
	c0, err := NewClient(Options{Registries: insecureConf(t, "", origin.Host, mirror.Host)})
	if err != nil {
		t.Fatal(err)
	}
	mrepo, err := c0.Repository(ctx, mustRef(t, mirror.Host+"/mirror/org/app"))
	if err != nil {
		t.Fatal(err)
	}
	if err := oras.CopyGraph(ctx, store, mrepo, md, oras.DefaultCopyGraphOptions); err != nil {
		t.Fatal(err)
	}
	if err := mrepo.Tag(ctx, md, "1.0"); err != nil {
		t.Fatal(err)
	}

	mirrorTable := func(extra string) string {
		return "[[registry]]\nprefix = \"" + origin.Host + "/org\"\ninsecure = true\n" + extra +
			"[[registry.mirror]]\nlocation = \"" + mirror.Host + "/mirror/org\"\ninsecure = true\n"
	}
	newSource := func(t *testing.T, conf, ref string, events *[]ServeEvent) (*SourceTarget, error) {
		t.Helper()
		rc, err := ParseRegistriesConf("mirrors.conf", []byte(conf))
		if err != nil {
			t.Fatal(err)
		}
		opts := Options{Registries: rc}
		if events != nil {
			var mu sync.Mutex // OnServe is called from oras.Copy's goroutines
			opts.OnServe = func(e ServeEvent) { mu.Lock(); *events = append(*events, e); mu.Unlock() }
		}
		return Source(ctx, mustRef(t, ref), opts)
	}

	t.Run("served from mirror under the original name", func(t *testing.T) {
		var events []ServeEvent
		src, err := newSource(t, mirrorTable(""), origin.Host+"/org/app:1.0", &events)
		if err != nil {
			t.Fatal(err)
		}
		dst := memory.New()
		got, err := oras.Copy(ctx, src, "1.0", dst, "1.0", oras.DefaultCopyOptions)
		if err != nil {
			t.Fatalf("copy: %v", err)
		}
		if got.Digest != md.Digest {
			t.Fatalf("copied %s, want %s", got.Digest, md.Digest)
		}
		from, ok := src.ServedBy(md.Digest)
		if !ok || !from.Mirror || from.Reference.Registry != mirror.Host {
			t.Fatalf("ServedBy = %v, %v; want the mirror", from, ok)
		}
		if len(events) == 0 {
			t.Fatal("OnServe never called")
		}
		for _, e := range events {
			if !e.From.Mirror {
				t.Errorf("%s %s served by %s, want the mirror", e.Op, e.Descriptor.Digest, e.From)
			}
		}
		// Every blob is really there with the right bytes.
		ok, err = dst.Exists(ctx, md)
		if err != nil || !ok {
			t.Fatalf("manifest missing in destination: %v", err)
		}
		ok, err = src.Exists(ctx, ocispec.Descriptor{Digest: digest.FromString("absent"), Size: 6, MediaType: "application/octet-stream"})
		if err != nil || ok {
			t.Fatalf("Exists(absent) = %v, %v; want false, nil", ok, err)
		}
	})

	t.Run("referrers listed from the mirror", func(t *testing.T) {
		sig, err := oras.PackManifest(ctx, mrepo, oras.PackManifestVersion1_1, "application/vnd.enclave.signature",
			oras.PackManifestOptions{Subject: &md, ManifestAnnotations: map[string]string{ocispec.AnnotationCreated: "2026-01-01T00:00:00Z"}})
		if err != nil {
			t.Fatal(err)
		}
		src, err := newSource(t, mirrorTable(""), origin.Host+"/org/app:1.0", nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := src.Resolve(ctx, ""); err != nil {
			t.Fatal(err)
		}
		var found []digest.Digest
		err = src.Referrers(ctx, md, "", func(refs []ocispec.Descriptor) error {
			for _, r := range refs {
				found = append(found, r.Digest)
			}
			return nil
		})
		if err != nil || len(found) != 1 || found[0] != sig.Digest {
			t.Fatalf("Referrers = %v, %v; want [%s]", found, err, sig.Digest)
		}
		preds, err := src.Predecessors(ctx, md)
		if err != nil || len(preds) != 1 || preds[0].Digest != sig.Digest {
			t.Fatalf("Predecessors = %v, %v", preds, err)
		}
	})

	t.Run("mirror-by-digest-only ignores mirror for tag", func(t *testing.T) {
		src, err := newSource(t, mirrorTable("mirror-by-digest-only = true\n"), origin.Host+"/org/app:1.0", nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = src.Resolve(ctx, "1.0")
		if Classify(err) != KindNotFound {
			t.Fatalf("tag through digest-only mirror: %v (kind %v), want not-found from the origin", err, Classify(err))
		}
		src, err = newSource(t, mirrorTable("mirror-by-digest-only = true\n"), origin.Host+"/org/app@"+md.Digest.String(), nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := src.Resolve(ctx, md.Digest.String())
		if err != nil || got.Digest != md.Digest {
			t.Fatalf("digest through digest-only mirror: %v, %v", got.Digest, err)
		}
	})

	t.Run("mirror down falls through to origin", func(t *testing.T) {
		dead := httptest.NewServer(http.NotFoundHandler())
		deadHost := strings.TrimPrefix(dead.URL, "http://")
		dead.Close() // connection refused from now on
		conf := "[[registry]]\nprefix = \"" + mirror.Host + "/mirror\"\ninsecure = true\n" +
			"[[registry.mirror]]\nlocation = \"" + deadHost + "/x\"\ninsecure = true\n"
		src, err := newSource(t, conf, mirror.Host+"/mirror/org/app:1.0", nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := src.Resolve(ctx, "")
		if err != nil || got.Digest != md.Digest {
			t.Fatalf("Resolve = %v, %v", got.Digest, err)
		}
		if from, _ := src.ServedBy(md.Digest); from.Mirror {
			t.Fatalf("served by %v, want the origin", from)
		}
	})

	t.Run("blocked", func(t *testing.T) {
		conf := "[[registry]]\nprefix = \"" + origin.Host + "/org/app\"\nblocked = true\n"
		_, err := newSource(t, conf, origin.Host+"/org/app:1.0", nil)
		if !errors.Is(err, ErrBlocked) {
			t.Fatalf("err = %v, want ErrBlocked", err)
		}
	})
}

func TestOCILayout(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "catalog")
	store, md := makeImage(t, "catalog layer")
	w, err := CreateOCILayout(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := oras.CopyGraph(ctx, store, w, md, oras.DefaultCopyGraphOptions); err != nil {
		t.Fatal(err)
	}
	if err := w.Tag(ctx, md, "v1"); err != nil {
		t.Fatal(err)
	}
	r, err := OpenOCILayout(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.Resolve(ctx, "v1")
	if err != nil || got.Digest != md.Digest {
		t.Fatalf("Resolve = %v, %v", got.Digest, err)
	}
	rc, err := r.Fetch(ctx, got)
	if err != nil {
		t.Fatal(err)
	}
	b, err := content.ReadAll(rc, got)
	rc.Close()
	if err != nil || digest.FromBytes(b) != md.Digest {
		t.Fatalf("fetch: %v", err)
	}
	if _, err := OpenOCILayout(ctx, filepath.Join(t.TempDir(), "missing")); Classify(err) != KindNotFound {
		t.Fatalf("missing layout: %v", err)
	}
}

// Images start in parallel: concurrent first uses of a plain-HTTP registry
// probe it once and warn once.
func TestConcurrentProbesWarnOnce(t *testing.T) {
	isolateEnv(t)
	reg := regserver.New(t, regserver.Options{})
	var logs syncBuffer
	c, err := NewClient(Options{SkipTLSVerify: true, Registries: &RegistriesConf{}, Logger: testLogger(&logs), Probes: &ProbeCache{}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			if _, err := c.Repository(context.Background(), mustRef(t, fmt.Sprintf("%s/org/app%d:1", reg.Host, i))); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := strings.Count(logs.String(), "plain HTTP"); n != 1 {
		t.Fatalf("%d plain-HTTP warnings for 8 concurrent first uses, want 1:\n%s", n, logs.String())
	}
}
