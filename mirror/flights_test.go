package mirror

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

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
