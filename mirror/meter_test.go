package mirror

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/enclave-mirror/enclave/internal/progress"
)

func desc(s string) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromString(s), Size: int64(len(s))}
}

// Each blob is counted once, by what happened to it first; later
// encounters are shared, outside the total.
func TestLedgerCountsEachBlobOnce(t *testing.T) {
	var out strings.Builder
	f := false
	rep := progress.New(progress.Options{Out: &out, Terminal: &f})
	l := newLedger(rep)
	a, b, c := desc("layer a"), desc("layer bb"), desc("config ccc")
	l.plan(2, a, b)
	l.plan(2, a, b) // a second image naming the same blobs
	l.moved(a)
	l.moved(a) // another image's PostCopy after waiting for the same write
	l.skipped(SkipAtDestination, a)
	l.skipped(SkipInBase, b)
	l.moved(c) // not planned (a referrer): grows the total
	s := rep.Summary()
	if want := a.Size + b.Size + c.Size; s.BytesPlanned != want {
		t.Errorf("total %d, want %d", s.BytesPlanned, want)
	}
	if s.Blobs != 2 || s.Bytes != a.Size+c.Size {
		t.Errorf("moved %d bytes in %d blobs, want %d in 2", s.Bytes, s.Blobs, a.Size+c.Size)
	}
	if got := s.Skipped[SkipInBase]; got.Blobs != 1 || got.Bytes != b.Size {
		t.Errorf("in base %+v", got)
	}
	if got := s.Skipped[SkipShared]; got.Blobs != 2 || got.Bytes != 2*a.Size {
		t.Errorf("shared %+v, want 2 blobs of %d", got, a.Size)
	}
	if bytes, _ := s.Accounted(); bytes != s.BytesPlanned {
		t.Errorf("accounted %d, total %d", bytes, s.BytesPlanned)
	}
}

type countingFetcher struct {
	n    atomic.Int32
	body string
	err  error
}

func (f *countingFetcher) Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	f.n.Add(1)
	if f.err != nil {
		return nil, f.err
	}
	return io.NopCloser(strings.NewReader(f.body)), nil
}

// A manifest is fetched once per run; a failed fetch is not kept.
func TestManifestCacheFetchesOnce(t *testing.T) {
	ctx := context.Background()
	m := `{"schemaVersion":2}`
	d := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString(m), Size: int64(len(m))}
	c := newManifestCache(maxManifestCacheBytes)
	mt := &meter{p: discard{}}
	bad := &countingFetcher{err: errors.New("boom")}
	if _, err := c.get(ctx, d, func() (io.ReadCloser, error) { return bad.Fetch(ctx, d) }, mt); err == nil {
		t.Fatal("no error from a failing fetch")
	}
	f := &countingFetcher{body: m}
	for range 3 {
		b, err := c.get(ctx, d, func() (io.ReadCloser, error) { return f.Fetch(ctx, d) }, mt)
		if err != nil || string(b) != m {
			t.Fatalf("get = %q, %v", b, err)
		}
	}
	if n := f.n.Load(); n != 1 {
		t.Errorf("fetched %d times, want 1", n)
	}
	if mt.n.Load() != int64(len(m)) {
		t.Errorf("counted %d bytes, want %d", mt.n.Load(), len(m))
	}
	// Content that does not match its digest is refused, not kept.
	d2 := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("other"), Size: int64(len(m))}
	if _, err := c.get(ctx, d2, func() (io.ReadCloser, error) { return f.Fetch(ctx, d2) }, mt); err == nil {
		t.Error("a manifest with the wrong digest was kept")
	}
}

// A lazy body sends no request unless it is read.
func TestLazyBodyOpensAtFirstRead(t *testing.T) {
	f := &countingFetcher{body: "blob"}
	open := func() (io.ReadCloser, error) { return f.Fetch(context.Background(), ocispec.Descriptor{}) }
	(&lazyBody{open: open}).Close()
	if f.n.Load() != 0 {
		t.Fatalf("closed unread: %d requests, want 0", f.n.Load())
	}
	b, err := io.ReadAll(&lazyBody{open: open})
	if err != nil || string(b) != "blob" || f.n.Load() != 1 {
		t.Fatalf("read %q, %v, %d requests", b, err, f.n.Load())
	}
}

func TestVerifyStatus(t *testing.T) {
	for _, tc := range []struct {
		read, total int64
		elapsed     time.Duration
		want        string
	}{
		{0, 300 << 30, 0, "verifying: 0 B of 300 GiB read (0%)"},
		{45 << 30, 300 << 30, 100 * time.Second, "verifying: 45 GiB of 300 GiB read (15%), 460.8 MiB/s, 9m27s left"},
		{300 << 30, 300 << 30, 10 * time.Minute, "verifying: 300 GiB of 300 GiB read (100%), 512 MiB/s"},
	} {
		if got := verifyStatus(tc.read, tc.total, tc.elapsed); got != tc.want {
			t.Errorf("verifyStatus(%d, %d, %v) = %q, want %q", tc.read, tc.total, tc.elapsed, got, tc.want)
		}
	}
}

// syncBuffer is a strings.Builder safe to read while a Reporter writes.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
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

// A long verification says how far it is.
func TestShowVerifyLines(t *testing.T) {
	var out syncBuffer
	f := false
	rep := progress.New(progress.Options{Out: &out, Terminal: &f})
	defer func(d time.Duration) { verifyEvery = d }(verifyEvery)
	verifyEvery = 10 * time.Millisecond
	var read atomic.Int64
	read.Store(50)
	stop := showVerify(rep, &read, 100)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "verifying: 50 B of 100 B read (50%)") && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	if !strings.Contains(out.String(), "verifying: 50 B of 100 B read (50%)") {
		t.Errorf("no status line in %q", out.String())
	}
}

// The manifest cache holds at most its bound, however many manifests a run
// reads: the least recently used go first, the ones used last stay, and
// one dropped is fetched again when asked for.
func TestManifestCacheStaysUnderItsBound(t *testing.T) {
	ctx := context.Background()
	const n, bound = 1000, 8 << 10
	mt := &meter{p: discard{}}
	c := newManifestCache(bound)
	manifest := func(i int) (ocispec.Descriptor, *countingFetcher) {
		m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"%s","annotations":{"n":"%06d"}}`, ocispec.MediaTypeImageManifest, i)
		return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString(m), Size: int64(len(m))}, &countingFetcher{body: m}
	}
	fetchers := make([]*countingFetcher, n)
	for i := range n {
		d, f := manifest(i)
		fetchers[i] = f
		for range 2 { // the plan, then the copy
			b, err := c.get(ctx, d, func() (io.ReadCloser, error) { return f.Fetch(ctx, d) }, mt)
			if err != nil || string(b) != f.body {
				t.Fatalf("manifest %d: %q, %v", i, b, err)
			}
		}
		if f.n.Load() != 1 {
			t.Fatalf("manifest %d fetched %d times, want 1", i, f.n.Load())
		}
		if size, _ := c.held(); size > bound {
			t.Fatalf("after %d manifests the cache holds %d bytes, above its bound %d", i+1, size, bound)
		}
	}
	size, kept := c.held()
	if kept == 0 || kept == n || size < bound/2 {
		t.Fatalf("holds %d manifests in %d bytes: want some, not all %d, near the bound %d", kept, size, n, bound)
	}
	if len(c.entries) != kept {
		t.Errorf("%d entries indexed, %d kept", len(c.entries), kept)
	}
	// The last one is still held; the first was dropped, and is fetched
	// again.
	for _, i := range []int{n - 1, 0} {
		d, _ := manifest(i)
		f := fetchers[i]
		if _, err := c.get(ctx, d, func() (io.ReadCloser, error) { return f.Fetch(ctx, d) }, mt); err != nil {
			t.Fatal(err)
		}
	}
	if got := fetchers[n-1].n.Load(); got != 1 {
		t.Errorf("the manifest used last was fetched %d times, want 1", got)
	}
	if got := fetchers[0].n.Load(); got != 2 {
		t.Errorf("a dropped manifest was fetched %d times, want 2", got)
	}
}

// A manifest leaves the cache when the last image whose plan read it is
// copied: at the end of a run the cache holds none of the images' own.
func TestManifestCacheReleasesAnImagesManifests(t *testing.T) {
	ctx := context.Background()
	mt := &meter{p: discard{}}
	c := newManifestCache(maxManifestCacheBytes)
	get := func(body string) ocispec.Descriptor {
		d := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString(body), Size: int64(len(body))}
		if _, err := c.get(ctx, d, func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(body)), nil }, mt); err != nil {
			t.Fatal(err)
		}
		return d
	}
	shared, own := get(`{"shared":1}`), get(`{"own":1}`)
	layer := desc("a layer: never in the cache")
	first := c.pin([]ocispec.Descriptor{shared, own, layer})
	second := c.pin([]ocispec.Descriptor{shared})
	if len(first) != 2 || len(second) != 1 {
		t.Fatalf("pinned %v and %v", first, second)
	}
	c.release(first)
	if _, n := c.held(); n != 1 || c.entries[shared.Digest] == nil {
		t.Fatalf("after the first image: %d manifests held, want the shared one", n)
	}
	c.release(second)
	if size, n := c.held(); n != 0 || size != 0 || len(c.entries) != 0 {
		t.Fatalf("after both images: %d manifests in %d bytes held, %d entries; want none", n, size, len(c.entries))
	}
}
