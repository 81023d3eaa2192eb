package mirror

import (
	"context"
	"io"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/enclave-mirror/enclave/archive"
	"github.com/enclave-mirror/enclave/format"
	"github.com/enclave-mirror/enclave/internal/progress"
	"github.com/enclave-mirror/enclave/mirror/section"
)

// streamHeads bounds the HEAD requests at once that find which blobs the
// destination lacks before the blobs are streamed.
const streamHeads = 8

// blobStream is the first half of an unpack's push: the blobs of the
// archive that the pushes need and the destination lacks, uploaded while
// one reader goes through the volumes once, front to back
// (archive.Reader.Stream). A blob is uploaded when the read reaches it,
// into the repository of the first image that needs it (the others mount
// it), at most maxUploads at a time. Each is checked on its way (chunks,
// then its digest before its last bytes are sent), so a damaged blob is
// never committed: its upload is abandoned and recorded, and the images
// that need it fail. An image's own copy (pushOne: manifests, tags, mounts
// into its repository, and whatever the stream could not do) starts once
// every streamed blob of its graph is done (ready), so images complete,
// and their tags appear, as the read goes on.
type blobStream struct {
	u      *unpacker
	pushes []section.Push
	descs  []ocispec.Descriptor    // to stream, in pushAll's order
	first  map[digest.Digest]int   // the push a streamed blob goes up for
	users  map[digest.Digest][]int // the pushes whose graph has a streamed blob
	size   int64

	mu      sync.Mutex
	waiting []int         // by push: streamed blobs of its graph not done yet
	failed  map[int]error // by push: why one of its streamed blobs failed
}

// planStream finds the blobs to stream: those of the pushes' graphs
// (graphOf) in the archive, not under a tag that already points at its
// root, that no other repository of the destination is known to hold
// (the copy mounts those), and that a HEAD does not find in place. order
// is pushAll's.
func (u *unpacker) planStream(ctx context.Context, pushes []section.Push, graphs [][]ocispec.Descriptor, order []int) (*blobStream, error) {
	s := &blobStream{u: u, pushes: pushes, first: map[digest.Digest]int{}, users: map[digest.Digest][]int{},
		waiting: make([]int, len(pushes)), failed: map[int]error{}}
	type candidate struct {
		desc ocispec.Descriptor
		push int
	}
	var want []candidate
	seen := map[digest.Digest]bool{}
	for _, i := range order {
		p := pushes[i]
		if dst, err := u.repo(ctx, p.Dest.Repository); err == nil {
			if cur, err := dst.Resolve(ctx, p.Tag); err == nil && cur.Digest == p.Root.Descriptor.Digest {
				continue // pushOne finds it tagged: nothing to read
			}
		}
		for _, d := range graphs[i] {
			if seen[d.Digest] || isManifest(d.MediaType) {
				continue
			}
			seen[d.Digest] = true
			if _, ok := u.r.Format().Lookup(d.Digest); !ok {
				continue // a prerequisite
			}
			if len(u.idx.others(d.Digest, p.Dest.Repository)) > 0 {
				continue // mounted by the copy
			}
			want = append(want, candidate{desc: d, push: i})
		}
	}
	// What the destination holds already is left to the copy, which
	// counts it as skipped.
	missing := make([]bool, len(want))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(streamHeads)
	for k, w := range want {
		g.Go(func() error {
			repo := pushes[w.push].Dest.Repository
			dst, err := u.repo(gctx, repo)
			if err != nil {
				return nil // the copy says why
			}
			ok, err := dst.Exists(gctx, w.desc)
			switch {
			case err != nil:
			case ok:
				u.idx.add(w.desc.Digest, repo)
				u.idx.confirm(w.desc.Digest, repo)
			default:
				missing[k] = true
			}
			return nil
		})
	}
	g.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for k, w := range want {
		if missing[k] {
			s.descs = append(s.descs, w.desc)
			s.first[w.desc.Digest] = w.push
			s.size += w.desc.Size
		}
	}
	for i, graph := range graphs {
		counted := map[digest.Digest]bool{}
		for _, d := range graph {
			if _, ok := s.first[d.Digest]; ok && !counted[d.Digest] {
				counted[d.Digest] = true
				s.waiting[i]++
				s.users[d.Digest] = append(s.users[d.Digest], i)
			}
		}
	}
	return s, nil
}

// waits reports whether push i waits for streamed blobs.
func (s *blobStream) waits(i int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.waiting[i] > 0
}

// failure returns why a streamed blob of push i failed, or nil.
func (s *blobStream) failure(i int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed[i]
}

// run streams the blobs, calls ready with each push whose streamed blobs
// are all done (each push once, and only those that waited), and returns
// the error of the stream itself (an interruption).
func (s *blobStream) run(ctx context.Context, meters []*meter, ready func(int)) error {
	if len(s.descs) == 0 {
		return nil
	}
	u := s.u
	u.opts.Progress.Logf("streaming %d blobs (%s) from the archive into the registry, reading the volumes front to back", len(s.descs), progress.HumanBytes(s.size))
	return u.r.Stream(ctx, s.descs, archive.StreamOptions{Concurrency: maxUploads}, func(ctx context.Context, desc ocispec.Descriptor, rc io.ReadCloser) error {
		err := s.upload(ctx, desc, rc, meters)
		// A damaged blob fails every image that needs it, and so does a
		// destination that keeps failing; a refusal fails the images of
		// the repository that refused (the others try their own upload).
		everywhere := format.IsIntegrity(err) || u.idx.tripped(desc.Digest) != nil
		repo := s.pushes[s.first[desc.Digest]].Dest.Repository
		s.mu.Lock()
		var now []int
		for _, j := range s.users[desc.Digest] {
			if err != nil && ctx.Err() == nil && s.failed[j] == nil && (everywhere || s.pushes[j].Dest.Repository == repo) {
				s.failed[j] = err
			}
			if s.waiting[j]--; s.waiting[j] == 0 {
				now = append(now, j)
			}
		}
		s.mu.Unlock()
		for _, j := range now {
			ready(j)
		}
		return err
	})
}

// upload pushes one streamed blob, read from rc, into the repository of
// the first push that needs it.
func (s *blobStream) upload(ctx context.Context, desc ocispec.Descriptor, rc io.ReadCloser, meters []*meter) error {
	u := s.u
	i := s.first[desc.Digest]
	p := s.pushes[i]
	if err := u.idx.tripped(desc.Digest); err != nil {
		rc.Close()
		return err
	}
	if err := s.failure(i); err != nil {
		rc.Close() // its image failed: the copy of the images that still need it tries
		return nil
	}
	dst, err := u.repo(ctx, p.Dest.Repository)
	if err != nil {
		rc.Close()
		return err
	}
	t := u.target(dst, p, meters[i])
	fed := countReads(rc, meters[i])
	err = t.upload(ctx, desc, func(off int64) (io.ReadCloser, error) {
		if fed != nil && off == 0 {
			r := fed
			fed = nil
			return r, nil
		}
		return t.open(ctx, desc, off) // a restart: read on its own
	})
	if fed != nil {
		fed.Close()
	}
	if err == nil {
		u.idx.markStreamed(desc.Digest, pushKey(p))
	}
	if err != nil && ctx.Err() == nil {
		// The upload tried what it could: later copies of the blob fail
		// at once if it is damaged, or go to the same repository,
		// without reading it again; copies into other repositories try
		// their own upload.
		u.idx.fail(desc.Digest, p.Dest.Repository, err)
	}
	return err
}
