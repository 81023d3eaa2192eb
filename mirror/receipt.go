package mirror

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/enclave-mirror/enclave/archive"
	"github.com/enclave-mirror/enclave/mirror/section"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// walkKnown records every digest a push of root put into repo as held
// there (mount candidates for the pushes after it, and the receipt).
func (u *unpacker) walkKnown(ctx context.Context, root ocispec.Descriptor, repo string) {
	graph := u.graphOf(ctx, root)
	for _, d := range graph {
		u.idx.add(d.Digest, repo)
	}
	u.mu.Lock()
	u.pushed[root.Digest.String()+"@"+repo] = graph
	u.mu.Unlock()
}

// graphOf is what a push of root puts into its repository, as copyGraph
// copies it: root's graph and, unless --no-referrers, the graphs of the
// manifests naming one of its manifests as their subject. Not the images
// that share a layer with it or the indexes that list it (Predecessors):
// other pushes, to other repositories, that may have failed. Foreign layers
// are left out (no registry holds them); a prerequisite's own graph is at
// the destination already (preflight checked it) and not in the archive.
func (u *unpacker) graphOf(ctx context.Context, root ocispec.Descriptor) []ocispec.Descriptor {
	var out []ocispec.Descriptor
	seen := map[digest.Digest]bool{}
	var walk func(d ocispec.Descriptor)
	walk = func(d ocispec.Descriptor) {
		if seen[d.Digest] || archive.IsForeignLayer(d) {
			return
		}
		seen[d.Digest] = true
		out = append(out, d)
		if !isManifest(d.MediaType) {
			return
		}
		if ok, _ := u.r.Exists(ctx, d); ok {
			succ, _ := u.r.Successors(ctx, d) // omitted children are not pushed
			for _, s := range succ {
				walk(s)
			}
		}
		if !u.opts.NoReferrers {
			refs, _ := u.r.ReferrersOf(ctx, d)
			for _, rf := range refs {
				if !u.opts.RemoveSignatures || !isSignatureReferrer(ctx, u.r, rf) {
					walk(rf)
				}
			}
		}
	}
	walk(root)
	return out
}

func loadReceiptFor(path, dest string) (*archive.Receipt, error) {
	rec, _, err := archive.LoadReceipt(path)
	if errors.Is(err, os.ErrNotExist) {
		return &archive.Receipt{Destination: dest}, nil
	}
	if err != nil {
		return nil, err
	}
	if rec.Destination != dest {
		return nil, fmt.Errorf("%w: receipt %s is for %s, not %s; give another --receipt", ErrUsage, path, rec.Destination, dest)
	}
	return rec, nil
}

// writeReceipt records what the destination holds now: everything the
// pushed roots reach, by repository, and this archive as applied.
func (u *unpacker) writeReceipt(ctx context.Context, pushes []section.Push, results []ImageResult) error {
	rec := u.receipt
	rec.Destination = u.opts.Registry
	rec.Created = time.Now().UTC().Truncate(time.Second)
	for i, p := range pushes {
		if results[i].Err != nil {
			continue
		}
		u.mu.Lock()
		graph, ok := u.pushed[p.Root.Descriptor.Digest.String()+"@"+p.Dest.Repository]
		u.mu.Unlock()
		if !ok {
			graph = u.graphOf(ctx, p.Root.Descriptor)
		}
		for _, a := range u.attachedFor(ctx, p) {
			graph = append(graph, u.graphOf(ctx, a.desc)...)
		}
		for _, d := range graph {
			var omitted []digest.Digest
			for _, o := range u.r.Omitted(d.Digest) {
				omitted = append(omitted, o.Digest)
			}
			rec.Add(d.Digest, d.Size, d.MediaType, p.Dest.Repository, omitted...)
		}
	}
	m := u.r.Manifest()
	applied := archive.AppliedArchive{Archive: u.r.ID().String(), Digest: u.r.Digest(), Lineage: m.Lineage, Sequence: m.Sequence, Applied: rec.Created}
	dup := false
	for _, a := range rec.Archives {
		if a.Archive == applied.Archive {
			dup = true
		}
	}
	if !dup {
		rec.Archives = append(rec.Archives, applied)
	}
	if dir := filepath.Dir(u.opts.Receipt); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	_, err := archive.WriteReceipt(u.opts.Receipt, rec)
	return err
}
