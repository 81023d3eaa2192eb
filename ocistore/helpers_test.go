package ocistore

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content/memory"
)

func TestMain(m *testing.M) {
	// Options.Logger defaults to slog.Default(); keep test output quiet.
	slog.SetDefault(slog.New(slog.DiscardHandler))
	os.Exit(m.Run())
}

// makeImage builds a one-layer image in memory and returns the store and
// its manifest descriptor.
func makeImage(t *testing.T, layer string) (*memory.Store, ocispec.Descriptor) {
	t.Helper()
	ctx := context.Background()
	store := memory.New()
	data := []byte(layer)
	ld, err := oras.PushBytes(ctx, store, "application/vnd.oci.image.layer.v1.tar", data)
	if err != nil {
		t.Fatal(err)
	}
	md, err := oras.PackManifest(ctx, store, oras.PackManifestVersion1_1, "application/vnd.enclave.test",
		oras.PackManifestOptions{Layers: []ocispec.Descriptor{ld}, ManifestAnnotations: map[string]string{ocispec.AnnotationCreated: "2026-01-01T00:00:00Z"}})
	if err != nil {
		t.Fatal(err)
	}
	return store, md
}

// counter is a regserver Wrap that counts requests.
type counter struct {
	n      atomic.Int64
	mu     sync.Mutex
	status []int
}

func (c *counter) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.n.Add(1)
		rec := &statusRecorder{ResponseWriter: w, code: 200}
		h.ServeHTTP(rec, r)
		c.mu.Lock()
		c.status = append(c.status, rec.code)
		c.mu.Unlock()
	})
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) { s.code = code; s.ResponseWriter.WriteHeader(code) }

// schemeRecorder is a WrapTransport that records every request's scheme and
// Authorization header.
type schemeRecorder struct {
	mu      sync.Mutex
	schemes []string
	auths   []string
}

func (s *schemeRecorder) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		s.mu.Lock()
		s.schemes = append(s.schemes, r.URL.Scheme)
		s.auths = append(s.auths, r.Header.Get("Authorization"))
		s.mu.Unlock()
		return rt.RoundTrip(r)
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testLogger(buf *syncBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
