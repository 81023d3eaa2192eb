package mirror

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/enclave-mirror/enclave/archive"
	"github.com/enclave-mirror/enclave/imageset"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
)

// maxManifestBytes bounds a manifest read whole (oras-go's
// MaxMetadataBytes).
const maxManifestBytes = 4 << 20

type copySettings struct {
	concurrency int
	referrers   bool
	// ledger counts what happens to each blob (and prints).
	ledger     *ledger
	skipReason func(ocispec.Descriptor) SkipReason
	// counted, when set, names the blobs this copy finds in place because
	// the run put them there for it (unpack's stream): the ledger counted
	// them as moved already, and they are not reported again.
	counted func(ocispec.Descriptor) bool
	// graph reads the manifests below one the destination holds, so that
	// the blobs oras-go skips with it are counted too (nil: not counted).
	graph     content.Fetcher
	mountFrom func(ctx context.Context, desc ocispec.Descriptor) ([]string, error)

	// dropSignatures leaves the referrers that are signatures behind
	// (--remove-signatures; see withoutSignatures).
	dropSignatures bool
	// platforms, when set, makes the copy sparse (see sparseChildren).
	platforms []imageset.PlatformFilter
	// omitted, when set, are the children of an index the source (an
	// archive) leaves out on purpose: they are not copied.
	omitted omittedIn
}

// copyGraph copies desc's graph (and its referrers) from src to dst, blobs
// before the manifests that name them.
func copyGraph(ctx context.Context, src oras.ReadOnlyGraphTarget, dst oras.Target, desc ocispec.Descriptor, s copySettings) error {
	if len(s.platforms) > 0 && s.graph != nil {
		// What a base or the destination holds is counted as the copy
		// would have copied it: without the platforms left out.
		s.graph = sparseGraph{Fetcher: s.graph, root: desc.Digest, platforms: s.platforms}
	}
	cg := oras.CopyGraphOptions{
		Concurrency:      s.concurrency,
		MaxMetadataBytes: maxManifestBytes,
		FindSuccessors:   boundedSuccessors(desc, s.ledger, s.platforms, s.omitted),
		MountFrom:        s.mountFrom,
		// A blob another image of the run wrote meanwhile comes here too
		// (the archive's Push waited for it): the ledger counts it as
		// shared.
		PostCopy: func(ctx context.Context, d ocispec.Descriptor) error {
			s.ledger.moved(d)
			return nil
		},
		OnCopySkipped: func(ctx context.Context, d ocispec.Descriptor) error {
			if s.counted != nil && s.counted(d) {
				return nil
			}
			s.ledger.skippedGraph(ctx, s.graph, s.skipReason(d), d)
			return nil
		},
		OnMounted: func(ctx context.Context, d ocispec.Descriptor) error {
			s.ledger.skipped(SkipMounted, d)
			return nil
		},
	}
	if t, ok := dst.(*repoTarget); ok && t.open != nil {
		cg.PreCopy = t.pushBlob
	}
	if !s.referrers {
		return oras.CopyGraph(ctx, src, dst, desc, cg)
	}
	findPredecessors := verifiedPredecessors
	if s.dropSignatures {
		findPredecessors = withoutSignatures(findPredecessors)
	}
	return oras.ExtendedCopyGraph(ctx, src, dst, desc, oras.ExtendedCopyGraphOptions{CopyGraphOptions: cg, Depth: 4, FindPredecessors: findPredecessors})
}

// verifiedPredecessors returns the referrers of desc among the predecessors
// src lists: those whose content names desc as its subject. A registry
// without the referrers API answers from a tag (sha256-<hex>, the fallback
// schema) that whoever can push may set to anything: a cycle of such tags
// left oras-go no root to copy from, so the image itself was never copied,
// and a tag listing unrelated images would pull them in. An archive lists
// the indexes that name desc as well, which are other roots, pushed on their
// own (and perhaps elsewhere). Subjects are content addresses, which cannot
// make a cycle. Each predecessor costs one manifest read.
func verifiedPredecessors(ctx context.Context, src content.ReadOnlyGraphStorage, desc ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	preds, err := src.Predecessors(ctx, desc)
	if err != nil {
		return nil, err
	}
	var out []ocispec.Descriptor
	for _, p := range preds {
		if !isManifest(p.MediaType) || p.Size > maxManifestBytes {
			continue
		}
		b, err := content.FetchAll(ctx, src, p)
		if err != nil {
			return nil, fmt.Errorf("read %s, listed as referring to %s: %w", p.Digest, desc.Digest, err)
		}
		var m struct {
			Subject *ocispec.Descriptor `json:"subject"`
		}
		if json.Unmarshal(b, &m) == nil && m.Subject != nil && m.Subject.Digest == desc.Digest {
			out = append(out, p)
		}
	}
	return out, nil
}

// boundedSuccessors finds a node's successors as oras-go does by default,
// refusing manifests nested more than archive.MaxGraphDepth below root (a
// hostile source's index nested 1,000 deep costs 17 manifest reads, and an
// archive that unpack would refuse is never written), and reporting the
// foreign layers oras-go leaves out of every copy. Their urls are never
// fetched: only their hosts are named, since a url may carry a signature.
//
// With platforms, the root's children are only those sparseChildren keeps;
// with omitted, an index's children are those the archive does not omit.
func boundedSuccessors(root ocispec.Descriptor, l *ledger, platforms []imageset.PlatformFilter, omitted omittedIn) func(context.Context, content.Fetcher, ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	var mu sync.Mutex
	depth := map[digest.Digest]int{root.Digest: 0}
	return func(ctx context.Context, f content.Fetcher, desc ocispec.Descriptor) ([]ocispec.Descriptor, error) {
		mu.Lock()
		d := depth[desc.Digest] // 0 for roots oras-go finds itself (referrers)
		mu.Unlock()
		if d > archive.MaxGraphDepth && isManifest(desc.MediaType) {
			return nil, fmt.Errorf("%w: manifests nested more than %d deep below %s (at %s)", archive.ErrGraphTooDeep, archive.MaxGraphDepth, root.Digest, desc.Digest)
		}
		var succ []ocispec.Descriptor
		var err error
		if len(platforms) > 0 && desc.Digest == root.Digest && isIndexType(desc.MediaType) {
			succ, err = sparseSuccessors(ctx, f, desc, platforms)
		} else {
			succ, err = content.Successors(ctx, f, desc)
		}
		if err != nil {
			return nil, err
		}
		if omitted != nil {
			succ = withoutDigests(succ, omitted(desc.Digest))
		}
		mu.Lock()
		defer mu.Unlock()
		for _, s := range succ {
			if archive.IsForeignLayer(s) {
				if l.skipped(SkipForeign, s) {
					l.Logf("layer %s of %s is non-distributable (%s): not carried; nodes pull it from %s", s.Digest, desc.Digest, s.MediaType, urlHosts(s.URLs))
				}
				continue
			}
			if _, seen := depth[s.Digest]; !seen {
				depth[s.Digest] = d + 1
			}
		}
		return succ, nil
	}
}

// urlHosts names the hosts of urls, nothing else of them.
func urlHosts(urls []string) string {
	var hosts []string
	for _, u := range urls {
		if pu, err := url.Parse(u); err == nil && pu.Host != "" && !slices.Contains(hosts, pu.Host) {
			hosts = append(hosts, pu.Host)
		}
	}
	if len(hosts) == 0 {
		return "no url (the image cannot be pulled where its registry is unreachable)"
	}
	return strings.Join(hosts, ", ")
}

// sparseSuccessors returns the successors of index desc that a sparse copy
// keeps (see sparseChildren).
func sparseSuccessors(ctx context.Context, f content.Fetcher, desc ocispec.Descriptor, platforms []imageset.PlatformFilter) ([]ocispec.Descriptor, error) {
	idx, err := readIndex(ctx, f, desc)
	if err != nil {
		return nil, err
	}
	return sparseChildren(desc, idx, platforms)
}

// sparseChildren keeps, of an index's successors, its subject and the
// manifests of the listed platforms (os and architecture; any variant), as
// containers/image copies a list with specific platforms; entries without a
// platform (attestations) are left out with the others. An index with none
// of the platforms is an error.
func sparseChildren(index ocispec.Descriptor, idx ocispec.Index, platforms []imageset.PlatformFilter) ([]ocispec.Descriptor, error) {
	var out []ocispec.Descriptor
	for _, s := range idx.Manifests {
		if s.Platform != nil && slices.ContainsFunc(platforms, func(p imageset.PlatformFilter) bool {
			return p.OS == s.Platform.OS && p.Architecture == s.Platform.Architecture
		}) {
			out = append(out, s)
		}
	}
	kept := len(out)
	if idx.Subject != nil {
		out = append(out, *idx.Subject)
	}
	if kept == 0 {
		var names []string
		for _, p := range platforms {
			names = append(names, p.String())
		}
		return nil, fmt.Errorf("%w: index %s has no manifest for %s (platforms:)", ErrNoPlatform, index.Digest, strings.Join(names, ", "))
	}
	return out, nil
}

func isManifest(mt string) bool {
	return strings.Contains(mt, "manifest") || strings.Contains(mt, "image.index")
}
