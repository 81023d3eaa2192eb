package mirror

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/enclave-mirror/enclave/archive/archivetest"
	"github.com/enclave-mirror/enclave/internal/testing/regserver"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote"
)

// streamOnly hides the Seek of what a fetcher returns.
type streamOnly struct{ content.Fetcher }

func (s streamOnly) Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	rc, err := s.Fetcher.Fetch(ctx, d)
	return struct{ io.ReadCloser }{rc}, err
}

// openAt reopens a blob of a real registry at any offset (with a range
// request where the body seeks, by skipping otherwise): the bytes from off
// to the end, exactly.
func TestOpenAt(t *testing.T) {
	ctx := context.Background()
	reg := regserver.New(t, regserver.Options{})
	repo, err := remote.NewRepository(reg.Host + "/a/b")
	if err != nil {
		t.Fatal(err)
	}
	repo.PlainHTTP = true
	blob := archivetest.Blob(4, 300<<10, false)
	desc, err := oras.PushBytes(ctx, repo, "application/octet-stream", blob)
	if err != nil {
		t.Fatal(err)
	}
	for name, src := range map[string]content.Fetcher{"seekable": repo, "stream": streamOnly{repo}} {
		for _, off := range []int64{0, 1, 65536, desc.Size - 1, desc.Size} {
			rc, err := openAt(src)(ctx, desc, off)
			if err != nil {
				t.Fatalf("%s at %d: %v", name, off, err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatalf("%s at %d: read: %v", name, off, err)
			}
			if !bytes.Equal(got, blob[off:]) {
				t.Fatalf("%s at %d: %d bytes, not the blob's last %d", name, off, len(got), desc.Size-off)
			}
		}
	}
}

// TestBlobFlightsUploadOnce: goroutines that want the same blob in
// different repositories upload it once; the others mount it from there.
func TestBlobFlightsUploadOnce(t *testing.T) {
	var f blobFlights
	var mu sync.Mutex
	held := ""
	holder := func(digest.Digest) string { mu.Lock(); defer mu.Unlock(); return held }
	d := digest.FromString("layer")
	var uploads, mounts atomic.Int32
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			from, end, err := f.begin(context.Background(), d, holder)
			if err != nil {
				t.Error(err)
				return
			}
			defer end()
			if from != "" {
				mounts.Add(1)
				return
			}
			uploads.Add(1)
			time.Sleep(10 * time.Millisecond)
			mu.Lock()
			held = string(rune('a' + i))
			mu.Unlock()
		})
	}
	wg.Wait()
	if uploads.Load() != 1 || mounts.Load() != 7 {
		t.Errorf("%d uploads, %d mounts; want 1, 7", uploads.Load(), mounts.Load())
	}
}

// TestBlobFlightsFailedUpload: when the upload fails (nobody holds the
// blob afterwards), the next waiter uploads it; a cancelled wait returns.
func TestBlobFlightsFailedUpload(t *testing.T) {
	var f blobFlights
	none := func(digest.Digest) string { return "" }
	d := digest.FromString("layer")
	_, end, err := f.begin(context.Background(), d, none)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, _, err := f.begin(ctx, d, none); err == nil {
		t.Fatal("begin returned while another upload was in flight")
	}
	end() // failed
	from, end2, err := f.begin(context.Background(), d, none)
	if err != nil || from != "" {
		t.Fatalf("after a failed upload: from %q, %v", from, err)
	}
	end2()
}

// TestBlobFlightsArchiveOrder: with every upload slot taken, a freed slot
// goes to the waiting blob that comes first in the archive, not to the
// first that asked, so that unpack reads the archive front to back; a
// waiter that gives up leaves the queue, and its slot is not lost.
func TestBlobFlightsArchiveOrder(t *testing.T) {
	rank := map[digest.Digest]int64{}
	f := blobFlights{order: func(d digest.Digest) int64 { return rank[d] }}
	none := func(digest.Digest) string { return "" }
	blob := func(i int) digest.Digest { return digest.FromString(fmt.Sprint("blob ", i)) }
	for i := range 20 {
		rank[blob(i)] = int64(i)
	}
	var ends []func()
	for i := range maxUploads {
		_, end, err := f.begin(context.Background(), blob(100+i), none)
		if err != nil {
			t.Fatal(err)
		}
		ends = append(ends, end)
	}
	// Waiters arrive in an order unrelated to the archive's.
	arrive := []int{7, 3, 12, 0, 9, 5}
	granted := make(chan int, len(arrive))
	var wg sync.WaitGroup
	for k, i := range arrive {
		wg.Go(func() {
			_, end, err := f.begin(context.Background(), blob(i), none)
			if err != nil {
				t.Error(err)
				return
			}
			granted <- i
			end()
		})
		for f.queued() != k+1 { // one at a time, so arrival order is known
			time.Sleep(time.Millisecond)
		}
	}
	// One that gives up while waiting.
	ctx, cancel := context.WithCancel(context.Background())
	gaveUp := make(chan error, 1)
	go func() { _, _, err := f.begin(ctx, blob(1), none); gaveUp <- err }()
	for f.queued() != len(arrive)+1 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-gaveUp; err == nil {
		t.Fatal("a cancelled wait got a slot")
	}
	// One slot freed: the waiters go one after the other, in archive
	// order (each frees its slot for the next).
	ends[0]()
	var got []int
	for range arrive {
		got = append(got, <-granted)
	}
	wg.Wait()
	if want := []int{0, 3, 5, 7, 9, 12}; !slices.Equal(got, want) {
		t.Fatalf("slots given in the order %v, want the archive's %v", got, want)
	}
	for _, end := range ends[1:] {
		end()
	}
	if f.busy != 0 || f.queued() != 0 {
		t.Fatalf("after every upload: %d busy, %d waiting", f.busy, f.queued())
	}
}
