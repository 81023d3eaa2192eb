//go:build linux

package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/enclave-mirror/enclave/internal/testing/corpus"
)

// A measurement is bytes moved in a wall time.
type measurement struct {
	bytes int64
	wall  time.Duration
}

func (m measurement) rate() float64 { return float64(m.bytes) / m.wall.Seconds() }

// largestFirst orders blobs for even load on the workers.
func largestFirst(blobs []corpus.Blob) []corpus.Blob {
	s := slices.Clone(blobs)
	slices.SortStableFunc(s, func(a, b corpus.Blob) int { return cmp.Compare(b.Size, a.Size) })
	return s
}

// measureGET fetches every blob from the registry at host with workers
// parallel plain-HTTP GETs and discards the bodies (hashing them with
// SHA-256 when hash is set): the fastest any tool can read the source.
func measureGET(ctx context.Context, host string, blobs []corpus.Blob, workers int, hash bool) (measurement, error) {
	client := &http.Client{Transport: &http.Transport{
		MaxIdleConnsPerHost: workers, DisableCompression: true, ForceAttemptHTTP2: false,
	}}
	defer client.CloseIdleConnections()
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
	start := time.Now()
	var total int64
	for _, b := range largestFirst(blobs) {
		total += b.Size
		g.Go(func() error {
			url := fmt.Sprintf("http://%s/v2/%s/blobs/%s", host, b.Repository, b.Digest)
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return err
			}
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("GET %s: %s", url, resp.Status)
			}
			var w io.Writer = io.Discard
			h := sha256.New()
			if hash {
				w = h
			}
			n, err := io.Copy(w, resp.Body)
			if err != nil {
				return fmt.Errorf("GET %s: %w", url, err)
			}
			if n != b.Size {
				return fmt.Errorf("GET %s: %d bytes, want %d", url, n, b.Size)
			}
			if hash && fmt.Sprintf("sha256:%x", h.Sum(nil)) != b.Digest.String() {
				return fmt.Errorf("GET %s: digest mismatch", url)
			}
			return nil
		})
	}
	err := g.Wait()
	return measurement{total, time.Since(start)}, err
}

// blobPath is where the distribution filesystem driver keeps a blob.
func blobPath(root string, b corpus.Blob) string {
	hex := b.Digest.Encoded()
	return filepath.Join(root, "docker/registry/v2/blobs", b.Digest.Algorithm().String(), hex[:2], hex, "data")
}

// measurePUT uploads every blob, read from the source registry's storage
// (as a tool reads an archive on disk), to the empty registry at host with
// workers parallel monolithic uploads (POST then PUT, oras-go's
// Repository.Push): the fastest any tool can write the destination. With
// hash, each blob's SHA-256 is computed as it is sent and checked: the
// least a tool that verifies what it pushes does, on the same cores as the
// registry.
func measurePUT(ctx context.Context, host, srcRoot string, blobs []corpus.Blob, workers int, hash bool) (measurement, error) {
	repos := map[string]*remote.Repository{}
	for _, b := range blobs {
		if repos[b.Repository] == nil {
			r, err := remote.NewRepository(host + "/" + b.Repository)
			if err != nil {
				return measurement{}, err
			}
			r.PlainHTTP = true
			repos[b.Repository] = r
		}
	}
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
	start := time.Now()
	var total int64
	for _, b := range largestFirst(blobs) {
		total += b.Size
		g.Go(func() error {
			f, err := os.Open(blobPath(srcRoot, b))
			if err != nil {
				return err
			}
			defer f.Close()
			desc := ocispec.Descriptor{MediaType: b.MediaType, Digest: b.Digest, Size: b.Size}
			var body io.Reader = f
			h := sha256.New()
			if hash {
				body = io.TeeReader(f, h)
			}
			if err := repos[b.Repository].Push(ctx, desc, body); err != nil {
				return fmt.Errorf("PUT %s to %s: %w", b.Digest, b.Repository, err)
			}
			if hash && fmt.Sprintf("sha256:%x", h.Sum(nil)) != b.Digest.String() {
				return fmt.Errorf("PUT %s: digest mismatch", b.Digest)
			}
			return nil
		})
	}
	err := g.Wait()
	return measurement{total, time.Since(start)}, err
}

// measureDisk writes size bytes of random data sequentially to a file in
// dir, in 4 MiB writes, and fsyncs it: how fast an archive can land.
func measureDisk(ctx context.Context, dir string, size int64) (measurement, error) {
	buf := make([]byte, 4<<20)
	rand.Read(buf)
	f, err := os.CreateTemp(dir, "disk-speed-*.tmp")
	if err != nil {
		return measurement{}, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	start := time.Now()
	var n int64
	for n < size {
		if err := ctx.Err(); err != nil {
			return measurement{}, err
		}
		w, err := f.Write(buf[:min(int64(len(buf)), size-n)])
		n += int64(w)
		if err != nil {
			return measurement{}, err
		}
	}
	if err := f.Sync(); err != nil {
		return measurement{}, err
	}
	if err := f.Close(); err != nil {
		return measurement{}, err
	}
	return measurement{n, time.Since(start)}, nil
}
