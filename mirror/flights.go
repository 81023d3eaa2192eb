package mirror

import (
	"context"
	"errors"
	"io"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote"
)

// blobFlights lets one goroutine at a time upload a blob to a registry.
// Images copied in parallel share layers (a base image under every
// component): without it, each of them uploads the shared layer to its own
// repository, because none has finished when the others look for a
// repository to mount it from. It also bounds the uploads at once to
// maxUploads.
type blobFlights struct {
	mu      sync.Mutex
	flights map[digest.Digest]chan struct{}
	slots   chan struct{}
}

// maxUploads bounds the blob uploads at once. Reading a blob from an
// archive holds a decoded and a stored chunk (8 MiB at the default chunk
// size); the registry takes no more bytes per second from 24 streams than
// from 4.
const maxUploads = 4

// begin waits while another goroutine uploads d, then returns holder(d)
// when it names a repository to mount d from, or else claims d and waits
// for an upload slot: end must be called once the upload is over, whatever
// its outcome. holder is called without f's lock held.
func (f *blobFlights) begin(ctx context.Context, d digest.Digest, holder func(digest.Digest) string) (from string, end func(), err error) {
	for {
		if from := holder(d); from != "" {
			return from, func() {}, nil
		}
		f.mu.Lock()
		ch, busy := f.flights[d]
		if !busy {
			if f.flights == nil {
				f.flights = map[digest.Digest]chan struct{}{}
			}
			if f.slots == nil {
				f.slots = make(chan struct{}, maxUploads)
			}
			ch = make(chan struct{})
			f.flights[d] = ch
			slots := f.slots
			f.mu.Unlock()
			end := func() {
				f.mu.Lock()
				delete(f.flights, d)
				f.mu.Unlock()
				close(ch)
			}
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				end()
				return "", nil, ctx.Err()
			}
			return "", func() { <-slots; end() }, nil
		}
		f.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return "", nil, ctx.Err()
		}
	}
}

// errNoContent makes a mount that the registry declines fail instead of
// uploading.
var errNoContent = errors.New("mount declined")

// mountOrPush mounts desc into dst from repository from, or pushes r when
// the registry declines the mount. It reports whether it did either; when
// it did not (the mount request itself failed, r untouched), the caller
// pushes as usual.
func mountOrPush(ctx context.Context, dst *remote.Repository, desc ocispec.Descriptor, from string, r io.Reader) (bool, error) {
	used := false
	err := dst.Mount(ctx, desc, from, func() (io.ReadCloser, error) {
		if r == nil {
			return nil, errNoContent
		}
		used = true
		return io.NopCloser(r), nil
	})
	return err == nil || used, err
}
