package mirror

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/errcode"

	"github.com/enclave-mirror/enclave/imageset"
	"github.com/enclave-mirror/enclave/mirror/section"
)

// sparsePlatforms returns the platforms to copy of m's index desc: m's
// platforms (additionalImages[].platforms and the like), nil for a copy of
// every platform.
func sparsePlatforms(m imageset.Mapping, desc ocispec.Descriptor) []imageset.PlatformFilter {
	if len(m.Platforms) == 0 || !isIndexType(desc.MediaType) {
		return nil
	}
	return m.Platforms
}

// announceSparse tells an archive being written which children of index
// desc this copy leaves out (none for a copy of every platform), before
// the copy: the archive records them (spec/FORMAT.md 7.3.1) and knows
// whether a base holding the index sparsely holds what the copy wants.
// Other destinations need no notice. through reports that a base holds
// the index without children this copy wants: the copy must start at the
// index, not at a referrer the base holds.
func announceSparse(ctx context.Context, dst packDest, src content.Fetcher, desc ocispec.Descriptor, platforms []imageset.PlatformFilter) (through bool, err error) {
	a, ok := dst.(*archiveDest)
	if !ok || !isIndexType(desc.MediaType) {
		return false, nil
	}
	var omitted []ocispec.Descriptor
	if len(platforms) > 0 {
		idx, err := readIndex(ctx, src, desc)
		if err != nil {
			return false, err
		}
		kept, err := sparseChildren(desc, idx, platforms)
		if err != nil {
			return false, err
		}
		omitted = omittedChildren(idx, kept)
	}
	if err := a.w.Omit(desc, omitted); err != nil {
		return false, err
	}
	return a.w.HeldSparsely(desc.Digest), nil
}

// omittedChildren are the manifests idx lists that kept does not hold.
func omittedChildren(idx ocispec.Index, kept []ocispec.Descriptor) []ocispec.Descriptor {
	var out []ocispec.Descriptor
	for _, m := range idx.Manifests {
		if !slices.ContainsFunc(kept, func(k ocispec.Descriptor) bool { return k.Digest == m.Digest }) &&
			!slices.ContainsFunc(out, func(o ocispec.Descriptor) bool { return o.Digest == m.Digest }) {
			out = append(out, m)
		}
	}
	return out
}

// readIndex reads and parses index desc from f.
func readIndex(ctx context.Context, f content.Fetcher, desc ocispec.Descriptor) (ocispec.Index, error) {
	var idx ocispec.Index
	if desc.Size > maxManifestBytes {
		return idx, fmt.Errorf("index %s is %d bytes, above %d", desc.Digest, desc.Size, maxManifestBytes)
	}
	b, err := content.FetchAll(ctx, f, desc)
	if err != nil {
		return idx, err
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		return idx, fmt.Errorf("index %s: %w", desc.Digest, err)
	}
	return idx, nil
}

// sparseRefused explains a destination's refusal of a sparse index, which
// holds only the platforms kept: a registry that checks every child of an
// index answers MANIFEST_BLOB_UNKNOWN for the children left out.
func sparseRefused(err error, index ocispec.Descriptor, kept []string) error {
	if len(kept) == 0 {
		return err
	}
	var er *errcode.ErrorResponse
	if !errors.As(err, &er) || !slicesContainsCode(er.Errors, errcode.ErrorCodeManifestBlobUnknown) {
		return err
	}
	return fmt.Errorf("%w: index %s with only %s of its platforms: the registry requires every platform's manifest. Allow indexes with absent children there (CNCF distribution: validation.manifests.indexes.platforms: none), or remove platforms: from this entry to copy every platform: %w",
		ErrSparseRefused, index.Digest, strings.Join(kept, ", "), err)
}

// filterNames names platform filters as sparseRefused prints them.
func filterNames(platforms []imageset.PlatformFilter) []string {
	var names []string
	for _, p := range platforms {
		names = append(names, p.String())
	}
	return names
}

// platformNames names the platforms descs are for ("linux/arm/v7"), each
// once, in order; descriptors without a platform are left out.
func platformNames(descs []ocispec.Descriptor) []string {
	var names []string
	for _, d := range descs {
		if p := d.Platform; p != nil {
			n := p.OS + "/" + p.Architecture
			if p.Variant != "" {
				n += "/" + p.Variant
			}
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	return names
}

// withoutDigests drops from succ the descriptors whose digest is in drop.
func withoutDigests(succ, drop []ocispec.Descriptor) []ocispec.Descriptor {
	if len(drop) == 0 {
		return succ
	}
	return slices.DeleteFunc(succ, func(s ocispec.Descriptor) bool {
		return slices.ContainsFunc(drop, func(d ocispec.Descriptor) bool { return d.Digest == s.Digest })
	})
}

// omittedIn is what an archive omits of an index's children (see
// archive.Reader.Omitted).
type omittedIn func(digest.Digest) []ocispec.Descriptor

func slicesContainsCode(errs errcode.Errors, code string) bool {
	for _, e := range errs {
		if e.Code == code {
			return true
		}
	}
	return false
}

// sparseRefused explains err, the failed push of root, when the archive
// omits some of root's children and the destination refused the index for
// it.
func (u *unpacker) sparseRefused(ctx context.Context, err error, root ocispec.Descriptor) error {
	if len(u.r.Omitted(root.Digest)) == 0 {
		return err
	}
	kept, serr := u.r.Successors(ctx, root)
	if serr != nil {
		return err
	}
	return sparseRefused(err, root, platformNames(kept))
}

// absentChildren returns the manifests of index root that the archive
// holds and dst, which holds root itself, lacks: root was pushed sparse
// before (an archive that omitted them), and a copy of root would skip
// them with it. Nil when root is no index of the archive or dst lacks it
// (a copy of root then pushes its children first).
func (u *unpacker) absentChildren(ctx context.Context, dst *remote.Repository, root ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	if !isIndexType(root.MediaType) {
		return nil, nil
	}
	if ok, _ := u.r.Exists(ctx, root); !ok {
		return nil, nil
	}
	if ok, err := dst.Exists(ctx, root); err != nil || !ok {
		return nil, err
	}
	succ, err := u.r.Successors(ctx, root)
	if err != nil {
		return nil, err
	}
	var out []ocispec.Descriptor
	for _, s := range succ {
		if ok, _ := u.r.Exists(ctx, s); !ok {
			continue // a prerequisite: checked at the destination already
		}
		ok, err := dst.Exists(ctx, s)
		if err != nil {
			return nil, err
		}
		if !ok {
			out = append(out, s)
		}
	}
	return out, nil
}

// completeChildren pushes the manifests of p's index that the destination
// lacks although it holds the index (see absentChildren).
func (u *unpacker) completeChildren(ctx context.Context, p section.Push, dst *remote.Repository, mt *meter) error {
	absent, err := u.absentChildren(ctx, dst, p.Root.Descriptor)
	if err != nil {
		return err
	}
	for _, c := range absent {
		if err := copyGraph(ctx, counted(u.r, mt), u.target(dst, p, mt), c, u.settings(p, !u.opts.NoReferrers)); err != nil {
			return err
		}
	}
	return nil
}

// sparseGraph is a source graph as a sparse copy of root sees it: root's
// successors are those sparseChildren keeps (see graphSuccessors).
type sparseGraph struct {
	content.Fetcher
	root      digest.Digest
	platforms []imageset.PlatformFilter
}

// Successors returns desc's successors, root's filtered by platform.
func (g sparseGraph) Successors(ctx context.Context, desc ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	if desc.Digest == g.root && isIndexType(desc.MediaType) {
		return sparseSuccessors(ctx, g.Fetcher, desc, g.platforms)
	}
	return content.Successors(ctx, g.Fetcher, desc)
}
