package mirror

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"

	"github.com/enclave-mirror/enclave/archive"
	"github.com/enclave-mirror/enclave/imageset"
	"github.com/enclave-mirror/enclave/internal/progress"
	"github.com/enclave-mirror/enclave/mirror/kinds"
	"github.com/enclave-mirror/enclave/mirror/section"
	"github.com/enclave-mirror/enclave/ocistore"
)

// Defaults for concurrency: images copied at once, and blobs per image.
const (
	DefaultParallel        = 4
	DefaultBlobConcurrency = 6
)

// PackOptions configure Pack. Exactly one of Archive and Registry is set.
type PackOptions struct {
	Config *imageset.Config
	// Archive is the directory to write the archive into (mirror to disk).
	Archive string
	// Registry is "host[:port][/prefix]" to copy into (mirror to mirror).
	Registry string
	// Bases are receipts or previous archives the archive is cut against.
	Bases []string
	// VolumeSize, ChunkSize, Compression: see package archive; zero values
	// mean its defaults. VolumeSize defaults to the config's archiveSize.
	VolumeSize  int64
	ChunkSize   int
	Compression int
	// Parallel images at once (default DefaultParallel); BlobConcurrency
	// blobs per image (default DefaultBlobConcurrency).
	Parallel        int
	BlobConcurrency int
	// NoReferrers leaves OCI referrers (signatures, SBOMs and
	// attestations naming the image as their subject) behind. Cosign tags
	// still travel: see RemoveSignatures.
	NoReferrers bool
	// RemoveSignatures leaves every cosign tag (sha256-<hex>.sig, .att,
	// .sbom) and the referrers that are signatures behind. Without it,
	// each image carries the cosign tags its source has for its digest
	// and, below an index, for each manifest the index lists.
	RemoveSignatures bool
	// DryRun plans and prints, copies nothing.
	DryRun bool
	// Source and Dest configure registry access on each side.
	Source, Dest ocistore.Options
	// ClusterResources is the directory the cluster resources of a
	// registry destination (mirror to mirror: every kind's mirror sets,
	// the operators' CatalogSource and ClusterCatalog, the releases'
	// signature ConfigMap and UpdateService) are written to (default
	// "cluster-resources"), as unpack writes them for an archive. Into an
	// archive, unpack writes them.
	ClusterResources string
	// Sign, when set, signs the archive with this key file (PEM PKCS#8).
	SignKey string
	// Kinds plan the sections of the configuration (mirror/kinds.All
	// lists them all); nil means kinds.All with default options. A
	// section present in the configuration that no kind plans is an
	// imageset.ErrNotImplemented error.
	Kinds []section.Kind
	// Progress is told what the run does (nil: nothing is).
	Progress Observer
	Log      *slog.Logger
}

func (o *PackOptions) defaults() error {
	if (o.Archive == "") == (o.Registry == "") {
		return fmt.Errorf("%w: give exactly one destination: file://DIR or docker://HOST/PREFIX", ErrUsage)
	}
	if o.Config == nil {
		return fmt.Errorf("%w: -c isc.yaml is required", ErrUsage)
	}
	if o.Parallel <= 0 {
		o.Parallel = DefaultParallel
	}
	if o.BlobConcurrency <= 0 {
		o.BlobConcurrency = DefaultBlobConcurrency
	}
	if o.VolumeSize == 0 {
		o.VolumeSize = o.Config.ArchiveSizeBytes()
	}
	if o.ClusterResources == "" {
		o.ClusterResources = "cluster-resources"
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Progress == nil {
		o.Progress = discard{}
	}
	if o.Kinds == nil {
		o.Kinds = kinds.All(kinds.Options{})
	}
	return nil
}

// Pack copies what the configuration names into an archive or a registry:
// each kind of content plans its images, every image is copied, then each
// kind delivers what is not an image (attachments, built images). One
// failing image does not stop the others: the archive is still written with
// what succeeded, and the error (ErrImagesFailed) names the failures.
func Pack(ctx context.Context, opts PackOptions) (*Result, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	srcClient, err := ocistore.NewClient(opts.Source)
	if err != nil {
		return nil, err
	}
	defer srcClient.Close()
	plans, err := planPack(ctx, opts, srcClient)
	if err != nil {
		return nil, err
	}
	res := &Result{}
	var images []*section.Image // the plans' own, not copies: they are kept for the whole run
	for _, p := range plans {
		for i := range p.Images {
			images = append(images, &p.Images[i])
		}
		res.Blocked = append(res.Blocked, p.Blocked...)
	}
	for _, b := range res.Blocked {
		opts.Progress.Skipped(SkipBlocked, 0)
		opts.Progress.Logf("blocked %s (blockedImages %q, line %d)", b.Source, b.Pattern, b.Line)
	}
	l := newLedger(opts.Progress)
	dst, err := newPackDest(opts, l)
	if err != nil {
		return nil, err
	}
	results, err := copyImages(ctx, opts, srcClient, dst, images, l)
	res.Images = results
	if err != nil {
		dst.abort()
		return res, err
	}
	if f := res.Failed(); len(f) > 0 && len(f) == len(results) {
		// Nothing succeeded: no archive that looks complete and would
		// refuse the obvious rerun.
		dst.abort()
		return res, imagesFailed(f, len(results))
	}
	if err := deliver(ctx, dst, plans, results); err != nil {
		dst.abort()
		return res, err
	}
	if err := dst.finish(ctx, res); err != nil {
		return res, err
	}
	if f := res.Failed(); len(f) > 0 {
		err := imagesFailed(f, len(results))
		if opts.Archive != "" && !opts.DryRun {
			err = fmt.Errorf("%w; the archive holds the others: to carry the missing ones, fix the cause and pack again into a new directory with --base %s (a delta of only what this archive lacks)", err, opts.Archive)
		}
		return res, err
	}
	return res, nil
}

// planPack asks each kind for its plan, in order. A section present in the
// configuration that no kind plans is refused before anything is read.
func planPack(ctx context.Context, opts PackOptions, src *ocistore.Client) ([]*section.PackPlan, error) {
	var have []imageset.Section
	for _, k := range opts.Kinds {
		have = append(have, k.Section())
	}
	if err := opts.Config.CheckSections(have); err != nil {
		return nil, err
	}
	env := &section.PackEnv{Config: opts.Config, Source: src, IntoArchive: opts.Archive != "", Parallel: opts.Parallel, Logf: opts.Progress.Logf}
	if !opts.DryRun {
		env.Registry = opts.Registry
	}
	var plans []*section.PackPlan
	for _, k := range opts.Kinds {
		p, err := k.Pack(ctx, env)
		if err != nil {
			return nil, err
		}
		if p != nil {
			plans = append(plans, p)
		}
	}
	return plans, nil
}

// newPackDest opens the destination: an archive, a registry, or a dry run
// of either. l counts what reaches a registry.
func newPackDest(opts PackOptions, l *ledger) (packDest, error) {
	switch {
	case opts.DryRun:
		return newDryRunDest(opts)
	case opts.Archive != "":
		return newArchiveDest(opts)
	default:
		return newRegistryDest(opts, l)
	}
}

// copyImages copies every image, opts.Parallel at a time, and returns what
// happened to each. Only an interruption stops the others (and is the
// error). Every root is resolved and every manifest read first (each once:
// the copy reads them from the run's manifest cache), so the display has
// its byte total before the first layer moves.
func copyImages(ctx context.Context, opts PackOptions, src *ocistore.Client, dst packDest, images []*section.Image, l *ledger) ([]ImageResult, error) {
	l.plan(len(images))
	opts.Progress.Start()
	cache := newManifestCache(maxManifestCacheBytes)
	// An archive's Push of a blob another image is writing waits and reads
	// nothing: the blob's request waits for the first read.
	lazy := opts.Archive != "" && !opts.DryRun
	meters := make([]*meter, len(images))
	for i := range meters {
		meters[i] = &meter{p: opts.Progress}
	}
	roots := resolveAll(ctx, opts, src, images, cache, meters, l)
	bytes, blobs := l.totals()
	opts.Progress.Logf("resolved %d images: %s in %d blobs to copy, each once (referrers may add to it)", len(images), progress.HumanBytes(bytes), blobs)
	results := make([]ImageResult, len(images))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(opts.Parallel)
	for i, img := range images {
		results[i] = ImageResult{Source: img.Source.String(), Destination: img.Destination.String()}
		g.Go(func() error {
			opts.Progress.ImageStarted(img.Source.String())
			mt := meters[i]
			d, err := roots[i].desc.Digest, roots[i].err
			if err == nil {
				err = packOne(gctx, opts, roots[i].src, cachedSource(roots[i].src, mt, cache, lazy), roots[i].desc, dst, *img, l)
			}
			// The image is done with its source: what it remembers (the
			// endpoint of each digest it served) goes with it, and the
			// manifests no other image is to read leave the cache.
			cache.release(roots[i].manifests)
			roots[i] = resolvedRoot{}
			err = ocistore.RedactURLs(err) // before anything prints it
			results[i].Digest, results[i].Err = d, err
			opts.Progress.ImageDone(img.Source.String(), mt.n.Load(), err)
			if errors.Is(err, context.Canceled) && ctx.Err() != nil {
				return err // interrupted: stop everything
			}
			return nil
		})
	}
	werr := g.Wait()
	opts.Progress.Stop()
	if werr != nil || ctx.Err() != nil {
		return results, fmt.Errorf("pack interrupted: %w", context.Canceled)
	}
	return results, nil
}

// resolvedRoot is an image's source and root, or why they could not be
// had.
type resolvedRoot struct {
	src  oras.ReadOnlyGraphTarget
	desc ocispec.Descriptor
	err  error
	// manifests are the ones the plan read for the image and pinned in
	// the run's manifest cache, released when its copy is done.
	manifests []digest.Digest
}

// resolveAll resolves every image's root, opts.Parallel at a time, and
// walks the manifests below it (read through cache, counted by the image's
// meter), announcing the blobs they name to l. An image whose graph cannot
// be walked is left for its copy to fail with its own error.
func resolveAll(ctx context.Context, opts PackOptions, client *ocistore.Client, images []*section.Image, cache *manifestCache, meters []*meter, l *ledger) []resolvedRoot {
	roots := make([]resolvedRoot, len(images))
	var g errgroup.Group
	g.SetLimit(opts.Parallel)
	for i, img := range images {
		g.Go(func() error {
			src, desc, err := resolveSource(ctx, client, *img, img.Mapping.Source)
			roots[i] = resolvedRoot{src: src, desc: desc, err: err}
			if err != nil {
				return nil
			}
			descs, _ := walkGraph(ctx, cachedSource(src, meters[i], cache, false), desc, sparsePlatforms(img.Mapping, desc))
			roots[i].manifests = cache.pin(descs)
			l.plan(len(images), descs...)
			return nil
		})
	}
	g.Wait()
	return roots
}

// walkGraph returns root and every descriptor below it, each once, reading
// manifests from f; it stops at a manifest above maxManifestBytes or nested
// deeper than archive.MaxGraphDepth (the copy refuses both) and returns
// what it found with the first error. With platforms, below the root only
// what a sparse copy keeps.
func walkGraph(ctx context.Context, f content.Fetcher, root ocispec.Descriptor, platforms []imageset.PlatformFilter) ([]ocispec.Descriptor, error) {
	type node struct {
		d     ocispec.Descriptor
		depth int
	}
	var out []ocispec.Descriptor
	seen := map[digest.Digest]bool{}
	stack := []node{{root, 0}}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[n.d.Digest] {
			continue
		}
		seen[n.d.Digest] = true
		out = append(out, n.d)
		if !isManifest(n.d.MediaType) {
			continue
		}
		if n.d.Size > maxManifestBytes {
			return out, fmt.Errorf("manifest %s is %d bytes, above %d", n.d.Digest, n.d.Size, maxManifestBytes)
		}
		if n.depth > archive.MaxGraphDepth {
			return out, fmt.Errorf("%w: below %s", archive.ErrGraphTooDeep, root.Digest)
		}
		var succ []ocispec.Descriptor
		var err error
		if n.depth == 0 && len(platforms) > 0 {
			succ, err = sparseSuccessors(ctx, f, n.d, platforms)
		} else {
			succ, err = content.Successors(ctx, f, n.d)
		}
		if err != nil {
			return out, err
		}
		for _, s := range succ {
			stack = append(stack, node{s, n.depth + 1})
		}
	}
	return out, nil
}

// deliver hands each kind the results of its images and gives the
// destination what the kind returns besides images.
func deliver(ctx context.Context, dst packDest, plans []*section.PackPlan, results []ImageResult) error {
	off := 0
	for _, p := range plans {
		mine := results[off : off+len(p.Images)]
		off += len(p.Images)
		if p.Deliver == nil {
			continue
		}
		d, err := p.Deliver(ctx, mine)
		if err != nil {
			return err
		}
		if d != nil {
			if err := dst.deliver(ctx, d); err != nil {
				return err
			}
		}
	}
	return nil
}

// imagesFailed reports failed images. When some succeeded the run failed
// partly (exit 1); when all failed, the first cause decides the exit code (a
// wrong password everywhere is an auth failure, exit 4).
func imagesFailed(f []ImageResult, total int) error {
	if len(f) == total {
		return fmt.Errorf("%w: all %d images failed (first: %s: %w)", ErrImagesFailed, total, f[0].Source, f[0].Err)
	}
	return fmt.Errorf("%w: %d of %d images failed (first: %s: %v)", ErrImagesFailed, len(f), total, f[0].Source, f[0].Err)
}

// packOne copies one image's graph (and referrers), root desc read from
// src, to dst and tags it, then its cosign tags, looked up at origin.
func packOne(ctx context.Context, opts PackOptions, origin, src oras.ReadOnlyGraphTarget, desc ocispec.Descriptor, dst packDest, img section.Image, l *ledger) error {
	m := img.Mapping
	target, tag, err := dst.target(ctx, m, src)
	if err != nil {
		return err
	}
	repo := ""
	if m.Destination.Repository != "" {
		repo = m.Destination.Repository
	}
	s := copySettings{
		concurrency: opts.BlobConcurrency, referrers: !opts.NoReferrers, dropSignatures: opts.RemoveSignatures, ledger: l,
		skipReason: dst.skipReason, graph: src, mountFrom: dst.mountFrom(repo),
	}
	image := s // the image's own graph may be sparse; its cosign tags are not
	image.platforms = sparsePlatforms(m, desc)
	through, err := announceSparse(ctx, dst, src, desc, image.platforms)
	if err != nil {
		return err
	}
	if through {
		// oras-go starts a copy with referrers at the referrers, and
		// skips all below one a base holds: the index first.
		own := image
		own.referrers = false
		if err := copyGraph(ctx, src, target, desc, own); err != nil {
			return err
		}
	}
	if err := copyGraph(ctx, src, target, desc, image); err != nil {
		return sparseRefused(err, desc, filterNames(image.platforms))
	}
	if err := target.Tag(ctx, desc, tag); err != nil {
		return fmt.Errorf("tag %s: %w", tag, err)
	}
	if !opts.RemoveSignatures && img.From == nil {
		// After the image: cosign tags are pushed after their subject.
		if err := packSignatures(ctx, origin, src, dst, m, desc, s); err != nil {
			return err
		}
	}
	return nil
}

// resolveSource opens where img's content is read from and resolves its
// root: an image a kind built in memory, an OCI layout on disk (oci://), or
// the source registry (through registries.conf mirrors).
func resolveSource(ctx context.Context, client *ocistore.Client, img section.Image, ref ocistore.Reference) (oras.ReadOnlyGraphTarget, ocispec.Descriptor, error) {
	if img.From != nil {
		return img.From, img.Root, nil
	}
	var src oras.ReadOnlyGraphTarget
	var err error
	if img.Layout != "" {
		// A missing directory is a local file problem (exit 5), said so.
		if _, err := os.Stat(img.Layout); err != nil {
			return nil, ocispec.Descriptor{}, fmt.Errorf("OCI layout: %w", err)
		}
		if src, err = ocistore.OpenOCILayout(ctx, img.Layout); err != nil {
			return nil, ocispec.Descriptor{}, fmt.Errorf("open OCI layout %s: %w", img.Layout, err)
		}
	} else if src, err = client.Source(ctx, ref); err != nil {
		return nil, ocispec.Descriptor{}, err
	}
	desc, err := src.Resolve(ctx, ref.Object())
	if err != nil {
		return nil, ocispec.Descriptor{}, fmt.Errorf("resolve %s: %w", ref, err)
	}
	if ref.Digest != "" && desc.Digest != ref.Digest {
		return nil, ocispec.Descriptor{}, fmt.Errorf("%w: %s resolved to %s", ErrIntegrity, ref, desc.Digest)
	}
	return src, desc, nil
}
