package mirror

import (
	"context"
	"io"
	"slices"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote"
)

// repoIndex knows which destination repositories hold each digest, so blobs
// are mounted across repositories instead of uploaded again, and lets one
// upload of a blob run at a time (blobFlights). Pack (mirror to mirror) and
// unpack share it. Safe for concurrent use.
type repoIndex struct {
	mu      sync.Mutex
	repos   map[digest.Digest][]string
	flights blobFlights
}

func newRepoIndex() *repoIndex { return &repoIndex{repos: map[digest.Digest][]string{}} }

// add records that repo holds d.
func (x *repoIndex) add(d digest.Digest, repo string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if !slices.Contains(x.repos[d], repo) {
		x.repos[d] = append(x.repos[d], repo)
	}
}

// others returns the repositories other than repo known to hold d.
func (x *repoIndex) others(d digest.Digest, repo string) []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	var out []string
	for _, r := range x.repos[d] {
		if r != repo {
			out = append(out, r)
		}
	}
	return out
}

// holder returns a function naming a repository other than repo known to
// hold a digest ("" for none), for blobFlights.begin.
func (x *repoIndex) holder(repo string) func(digest.Digest) string {
	return func(d digest.Digest) string {
		if o := x.others(d, repo); len(o) > 0 {
			return o[0]
		}
		return ""
	}
}

// mountFrom is oras' CopyGraphOptions.MountFrom for copies into repo.
func (x *repoIndex) mountFrom(repo string) func(context.Context, ocispec.Descriptor) ([]string, error) {
	return func(_ context.Context, desc ocispec.Descriptor) ([]string, error) {
		return x.others(desc.Digest, repo), nil
	}
}

// repoTarget is a destination repository that uploads each blob once (a
// blob another image is uploading elsewhere is waited for and mounted) and
// records in its index what reaches it.
type repoTarget struct {
	*remote.Repository
	idx  *repoIndex
	repo string
}

// Push uploads desc, or mounts it from another repository of the index.
func (t *repoTarget) Push(ctx context.Context, desc ocispec.Descriptor, r io.Reader) error {
	if !isManifest(desc.MediaType) {
		from, end, err := t.idx.flights.begin(ctx, desc.Digest, t.idx.holder(t.repo))
		if err != nil {
			return err
		}
		defer end()
		if from != "" {
			if done, err := mountOrPush(ctx, t.Repository, desc, from, r); done {
				if err == nil {
					t.idx.add(desc.Digest, t.repo)
				}
				return err
			}
		}
	}
	if err := t.Repository.Push(ctx, desc, r); err != nil {
		return err
	}
	t.idx.add(desc.Digest, t.repo)
	return nil
}

// Mount is the cross-repository mount oras uses when MountFrom offers
// candidates.
func (t *repoTarget) Mount(ctx context.Context, desc ocispec.Descriptor, from string, get func() (io.ReadCloser, error)) error {
	if err := t.Repository.Mount(ctx, desc, from, get); err != nil {
		return err
	}
	t.idx.add(desc.Digest, t.repo)
	return nil
}
