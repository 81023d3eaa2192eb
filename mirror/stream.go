package mirror

import (
	"context"
	"io"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/enclave-mirror/enclave/archive"
	"github.com/enclave-mirror/enclave/internal/progress"
	"github.com/enclave-mirror/enclave/mirror/section"
)

// streamHeads bounds the HEAD requests at once that find which blobs the
// destination lacks before the blobs are streamed.
const streamHeads = 8

// streamed is a blob the pushes need, with where it goes first.
type streamed struct {
	desc ocispec.Descriptor
	push int // the first push (in pushAll's order) whose graph has it
}

// streamBlobs uploads, before any manifest, the blobs of the archive that
// the pushes need and the destination lacks, reading the volumes once,
// front to back (archive.Stream): a blob is uploaded when the read reaches
// it, into the repository of the first image that needs it (the others
// mount it), at most maxUploads at a time. Each is checked on its way
// (chunks, then its digest before its last bytes are sent), so a damaged
// blob is never committed: its upload is abandoned and recorded (failed),
// and the images that need it fail in the copy that follows. That copy
// (pushOne) then finds every blob in place, pushes the manifests and tags,
// and does whatever the stream could not (a blob whose upload failed for
// the registry's sake is tried again, read on its own).
//
// graphs are the pushes' graphs (graphOf), order the order of pushAll, and
// meters count each image's bytes.
//
// It returns, by push, the error of each image one of whose blobs failed
// to upload (the image has failed: its other blobs are not read), and an
// error only when it could not stream at all.
func (u *unpacker) streamBlobs(ctx context.Context, pushes []section.Push, graphs [][]ocispec.Descriptor, order []int, meters []*meter) (map[int]error, error) {
	var want []streamed
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
			want = append(want, streamed{desc: d, push: i})
		}
	}
	if len(want) == 0 {
		return nil, nil
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
	var descs []ocispec.Descriptor
	var size int64
	first := map[digest.Digest]int{}
	for k, w := range want {
		if missing[k] {
			descs = append(descs, w.desc)
			first[w.desc.Digest] = w.push
			size += w.desc.Size
		}
	}
	if len(descs) == 0 {
		return nil, nil
	}
	u.opts.Progress.Logf("streaming %d blobs (%s) from the archive into the registry, reading the volumes front to back", len(descs), progress.HumanBytes(size))
	var mu sync.Mutex
	failed := map[int]error{}
	err := u.r.Stream(ctx, descs, archive.StreamOptions{Concurrency: maxUploads}, func(ctx context.Context, desc ocispec.Descriptor, rc io.ReadCloser) error {
		i := first[desc.Digest]
		p := pushes[i]
		if err := u.idx.tripped(desc.Digest); err != nil {
			rc.Close()
			mu.Lock()
			if failed[i] == nil {
				failed[i] = err
			}
			mu.Unlock()
			return err
		}
		mu.Lock()
		gone := failed[i] != nil
		mu.Unlock()
		if gone {
			rc.Close() // left to the copy of the images that still need it
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
		if err != nil && ctx.Err() == nil {
			// The upload tried what it could: the image fails, and so
			// does every image that needs the blob if it is damaged, or
			// in the same repository, without reading it again; images
			// in other repositories try their own upload.
			u.idx.fail(desc.Digest, p.Dest.Repository, err)
			mu.Lock()
			if failed[i] == nil {
				failed[i] = err
			}
			mu.Unlock()
		}
		return err
	})
	return failed, err
}
