package mirror

import (
	"context"
	"errors"
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
	c := newManifestCache()
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
