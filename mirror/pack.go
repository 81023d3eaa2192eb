package mirror

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"

	"github.com/enclave-mirror/enclave/archive"
	"github.com/enclave-mirror/enclave/imageset"
	"github.com/enclave-mirror/enclave/internal/progress"
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
	// NoReferrers leaves signatures, SBOMs and attestations behind.
	NoReferrers bool
	// DryRun plans and prints, copies nothing.
	DryRun bool
	// Source and Dest configure registry access on each side.
	Source, Dest ocistore.Options
	// Sign, when set, signs the archive with this key file (PEM PKCS#8).
	SignKey string
	// Platform configures mirror.platform (see platform.go).
	Platform PlatformOptions
	Progress *progress.Reporter
	Log      *slog.Logger
}

// ImageResult is what happened to one image.
type ImageResult struct {
	Source      string
	Destination string
	Digest      digest.Digest
	Err         error
}

// Result is what a run did.
type Result struct {
	Images  []ImageResult
	Blocked []imageset.Blocked
	// Archive is set for runs that wrote or read an archive.
	ArchiveDir    string
	ArchiveID     string
	ArchiveDigest digest.Digest
	Volumes       int
	// Receipt and ClusterResources are files an unpack wrote.
	Receipt          string
	ClusterResources []string
	Summary          progress.Summary
	// Plan lines of a dry run.
	Plan []string
}

// Failed returns the images that failed.
func (r *Result) Failed() []ImageResult {
	var out []ImageResult
	for _, im := range r.Images {
		if im.Err != nil {
			out = append(out, im)
		}
	}
	return out
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
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Progress == nil {
		o.Progress = progress.New(progress.Options{Out: io.Discard, Verb: "pack"})
	}
	return nil
}

// Pack copies the images the configuration names into an archive or a
// registry. One failing image does not stop the others: the archive is still
// written with what succeeded, and the error (ErrImagesFailed) names the
// failures.
func Pack(ctx context.Context, opts PackOptions) (*Result, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	plan, err := opts.Config.Plan(imageset.PlanOptions{Allow: []imageset.Section{imageset.SectionPlatform}})
	if err != nil {
		return nil, err
	}
	res := &Result{Blocked: plan.Blocked}
	for _, b := range plan.Blocked {
		opts.Progress.Skipped(progress.SkipBlocked, 0)
		opts.Progress.Logf("blocked %s (blockedImages %q, line %d)", b.Source, b.Pattern, b.Line)
	}
	srcClient, err := ocistore.NewClient(opts.Source)
	if err != nil {
		return nil, err
	}
	defer srcClient.Close()
	var plat *platformPlan
	if opts.Config.Mirror.Platform != nil {
		if plat, err = planPlatform(ctx, opts, srcClient); err != nil {
			return res, err
		}
		plan.Mappings = append(plan.Mappings, plat.mappings...)
	}

	var dst packDest
	switch {
	case opts.DryRun:
		dst, err = newDryRunDest(opts)
	case opts.Archive != "":
		dst, err = newArchiveDest(opts)
	default:
		dst, err = newRegistryDest(opts)
	}
	if err != nil {
		return nil, err
	}

	opts.Progress.SetTotals(len(plan.Mappings), 0)
	opts.Progress.Start()
	results := make([]ImageResult, len(plan.Mappings))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(opts.Parallel)
	for i, m := range plan.Mappings {
		results[i] = ImageResult{Source: m.Source.String(), Destination: m.Destination.String()}
		g.Go(func() error {
			opts.Progress.ImageStarted(m.Source.String())
			mt := &meter{p: opts.Progress}
			d, err := packOne(gctx, opts, srcClient, dst, m, mt)
			err = ocistore.RedactURLs(err) // before anything prints it
			results[i].Digest, results[i].Err = d, err
			opts.Progress.ImageDone(m.Source.String(), mt.n.Load(), err)
			if errors.Is(err, context.Canceled) && ctx.Err() != nil {
				return err // interrupted: stop everything
			}
			return nil
		})
	}
	werr := g.Wait()
	opts.Progress.Stop()
	res.Images = results
	if werr != nil || ctx.Err() != nil {
		dst.abort()
		return res, fmt.Errorf("pack interrupted: %w", context.Canceled)
	}
	if plat != nil {
		if err := plat.deliver(ctx, dst, results); err != nil {
			dst.abort()
			return res, err
		}
	}
	if err := dst.finish(ctx, res); err != nil {
		return res, err
	}
	res.Summary = opts.Progress.Summary()
	if f := res.Failed(); len(f) > 0 {
		return res, imagesFailed(f, len(results))
	}
	return res, nil
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

// packDest is where Pack copies to.
type packDest interface {
	// target returns the oras target for a mapping, whose content comes
	// from src, and the tag (or reference) to record.
	target(ctx context.Context, m imageset.Mapping, src content.Fetcher) (oras.Target, string, error)
	// skipReason says why dst already holds desc.
	skipReason(desc ocispec.Descriptor) progress.SkipReason
	mountFrom(repo string) func(ctx context.Context, desc ocispec.Descriptor) ([]string, error)
	finish(ctx context.Context, res *Result) error
	abort()
}

func packOne(ctx context.Context, opts PackOptions, client *ocistore.Client, dst packDest, m imageset.Mapping, mt *meter) (digest.Digest, error) {
	ref, err := ocistore.ParseReference(m.Source.String())
	if err != nil {
		return "", err
	}
	var src oras.ReadOnlyGraphTarget
	if m.Layout != "" {
		// An oci:// source: an OCI image layout on disk, read only. A
		// missing directory is a local file problem (exit 5), said so.
		if _, err := os.Stat(m.Layout); err != nil {
			return "", fmt.Errorf("OCI layout: %w", err)
		}
		if src, err = ocistore.OpenOCILayout(ctx, m.Layout); err != nil {
			return "", fmt.Errorf("open OCI layout %s: %w", m.Layout, err)
		}
	} else if src, err = client.Source(ctx, ref); err != nil {
		return "", err
	}
	desc, err := src.Resolve(ctx, ref.Object())
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", ref, err)
	}
	if ref.Digest != "" && desc.Digest != ref.Digest {
		return "", fmt.Errorf("%w: %s resolved to %s", ErrIntegrity, ref, desc.Digest)
	}
	src = counted(src, mt)
	target, tag, err := dst.target(ctx, m, src)
	if err != nil {
		return desc.Digest, err
	}
	repo := ""
	if m.Destination.Repository != "" {
		repo = m.Destination.Repository
	}
	if err := copyGraph(ctx, src, target, desc, copySettings{
		concurrency: opts.BlobConcurrency, referrers: !opts.NoReferrers, progress: opts.Progress,
		skipReason: dst.skipReason, mountFrom: dst.mountFrom(repo),
	}); err != nil {
		return desc.Digest, err
	}
	if err := target.Tag(ctx, desc, tag); err != nil {
		return desc.Digest, fmt.Errorf("tag %s: %w", tag, err)
	}
	return desc.Digest, nil
}

// maxManifestBytes bounds a manifest read whole (oras-go's
// MaxMetadataBytes).
const maxManifestBytes = 4 << 20

type copySettings struct {
	concurrency int
	referrers   bool
	progress    *progress.Reporter
	skipReason  func(ocispec.Descriptor) progress.SkipReason
	mountFrom   func(ctx context.Context, desc ocispec.Descriptor) ([]string, error)
}

// copyGraph copies desc's graph (and its referrers) from src to dst, blobs
// before the manifests that name them.
func copyGraph(ctx context.Context, src oras.ReadOnlyGraphTarget, dst oras.Target, desc ocispec.Descriptor, s copySettings) error {
	cg := oras.CopyGraphOptions{
		Concurrency:      s.concurrency,
		MaxMetadataBytes: maxManifestBytes,
		FindSuccessors:   boundedSuccessors(desc, s.progress),
		MountFrom:        s.mountFrom,
		PostCopy: func(ctx context.Context, d ocispec.Descriptor) error {
			s.progress.BlobDone(d.Size)
			return nil
		},
		OnCopySkipped: func(ctx context.Context, d ocispec.Descriptor) error {
			s.progress.Skipped(s.skipReason(d), d.Size)
			return nil
		},
		OnMounted: func(ctx context.Context, d ocispec.Descriptor) error {
			s.progress.Skipped(progress.SkipMounted, d.Size)
			return nil
		},
	}
	if t, ok := dst.(*repoTarget); ok && t.open != nil {
		cg.PreCopy = t.pushBlob
	}
	if !s.referrers {
		return oras.CopyGraph(ctx, src, dst, desc, cg)
	}
	return oras.ExtendedCopyGraph(ctx, src, dst, desc, oras.ExtendedCopyGraphOptions{CopyGraphOptions: cg, Depth: 4, FindPredecessors: verifiedPredecessors})
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
func boundedSuccessors(root ocispec.Descriptor, p *progress.Reporter) func(context.Context, content.Fetcher, ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	var mu sync.Mutex
	depth := map[digest.Digest]int{root.Digest: 0}
	return func(ctx context.Context, f content.Fetcher, desc ocispec.Descriptor) ([]ocispec.Descriptor, error) {
		mu.Lock()
		d := depth[desc.Digest] // 0 for roots oras-go finds itself (referrers)
		mu.Unlock()
		if d > archive.MaxGraphDepth && isManifest(desc.MediaType) {
			return nil, fmt.Errorf("%w: manifests nested more than %d deep below %s (at %s)", archive.ErrGraphTooDeep, archive.MaxGraphDepth, root.Digest, desc.Digest)
		}
		succ, err := content.Successors(ctx, f, desc)
		if err != nil {
			return nil, err
		}
		mu.Lock()
		defer mu.Unlock()
		for _, s := range succ {
			if archive.IsForeignLayer(s) {
				p.Skipped(progress.SkipForeign, s.Size)
				p.Logf("layer %s of %s is non-distributable (%s): not carried; nodes pull it from %s", s.Digest, desc.Digest, s.MediaType, urlHosts(s.URLs))
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

// meter counts the bytes one image moves and passes them on to the run's
// reporter: the "done <image> (size)" line.
type meter struct {
	p *progress.Reporter
	n atomic.Int64
}

func (m *meter) Transferred(n int64) {
	if n > 0 {
		m.n.Add(n)
		m.p.Transferred(n)
	}
}

// countingSource reports bytes as they are read from the source.
type countingSource struct {
	oras.ReadOnlyGraphTarget
	m *meter
}

func counted(t oras.ReadOnlyGraphTarget, m *meter) oras.ReadOnlyGraphTarget {
	return &countingSource{ReadOnlyGraphTarget: t, m: m}
}

func (c *countingSource) Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	rc, err := c.ReadOnlyGraphTarget.Fetch(ctx, desc)
	if err != nil {
		return nil, err
	}
	return countReads(rc, c.m), nil
}

// countReads counts what is read from rc; a body that seeks still does
// (openAt resumes a blob with it).
func countReads(rc io.ReadCloser, m *meter) io.ReadCloser {
	cr := &countingReader{ReadCloser: rc, m: m}
	if _, ok := rc.(io.Seeker); ok {
		return &countingReadSeeker{cr}
	}
	return cr
}

// Referrers passes through when the source lists referrers itself.
func (c *countingSource) Referrers(ctx context.Context, desc ocispec.Descriptor, artifactType string, fn func([]ocispec.Descriptor) error) error {
	type lister interface {
		Referrers(context.Context, ocispec.Descriptor, string, func([]ocispec.Descriptor) error) error
	}
	if l, ok := c.ReadOnlyGraphTarget.(lister); ok {
		return l.Referrers(ctx, desc, artifactType, fn)
	}
	preds, err := c.Predecessors(ctx, desc)
	if err != nil {
		return err
	}
	return fn(preds)
}

type countingReader struct {
	io.ReadCloser
	m *meter
}

type countingReadSeeker struct{ *countingReader }

func (r *countingReadSeeker) Seek(off int64, whence int) (int64, error) {
	return r.ReadCloser.(io.Seeker).Seek(off, whence)
}

func (r *countingReader) Read(b []byte) (int, error) {
	n, err := r.ReadCloser.Read(b)
	r.m.Transferred(int64(n))
	return n, err
}

// archiveDest packs into an archive.
type archiveDest struct {
	opts PackOptions
	w    *archive.Writer
}

func newArchiveDest(opts PackOptions) (*archiveDest, error) {
	aopts := []archive.Option{archive.WithLogger(opts.Log)}
	if opts.VolumeSize != 0 {
		aopts = append(aopts, archive.WithVolumeSize(opts.VolumeSize))
	}
	if opts.ChunkSize != 0 {
		aopts = append(aopts, archive.WithChunkSize(opts.ChunkSize))
	}
	if opts.Compression != 0 {
		aopts = append(aopts, archive.WithCompression(opts.Compression))
	}
	for _, b := range opts.Bases {
		aopts = append(aopts, archive.WithBasePath(b))
	}
	w, err := archive.Create(opts.Archive, aopts...)
	if err != nil {
		return nil, err
	}
	return &archiveDest{opts: opts, w: w}, nil
}

func (a *archiveDest) target(ctx context.Context, m imageset.Mapping, _ content.Fetcher) (oras.Target, string, error) {
	return a.w, m.Source.String(), nil
}

func (a *archiveDest) skipReason(desc ocispec.Descriptor) progress.SkipReason {
	if a.w.InBase(desc.Digest) {
		return progress.SkipInBase
	}
	return progress.SkipAtDestination
}

func (a *archiveDest) mountFrom(string) func(context.Context, ocispec.Descriptor) ([]string, error) {
	return nil
}
func (a *archiveDest) abort() { a.w.Abort() }

func (a *archiveDest) finish(ctx context.Context, res *Result) error {
	if err := a.w.Close(); err != nil {
		return err
	}
	r, err := archive.Open(a.opts.Archive)
	if err != nil {
		return fmt.Errorf("reopen the archive just written: %w", err)
	}
	defer r.Close()
	if a.opts.SignKey != "" {
		key, err := archive.LoadPrivateKey(a.opts.SignKey)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrUsage, err)
		}
		if err := archive.Sign(a.opts.Archive, r, key); err != nil {
			return err
		}
	}
	res.ArchiveDir, res.ArchiveID, res.ArchiveDigest, res.Volumes = a.opts.Archive, r.ID().String(), r.Digest(), len(r.Volumes())
	return nil
}

// registryDest copies into a registry (mirror to mirror).
type registryDest struct {
	opts   PackOptions
	client *ocistore.Client
	root   string

	idx *repoIndex // what this run pushed where
}

func newRegistryDest(opts PackOptions) (*registryDest, error) {
	c, err := ocistore.NewClient(opts.Dest)
	if err != nil {
		return nil, err
	}
	return &registryDest{opts: opts, client: c, root: strings.TrimSuffix(opts.Registry, "/"), idx: newRepoIndex()}, nil
}

func (r *registryDest) target(ctx context.Context, m imageset.Mapping, src content.Fetcher) (oras.Target, string, error) {
	dref, err := m.Destination.Under(r.root)
	if err != nil {
		return nil, "", err
	}
	ref, err := ocistore.ParseReference(dref.String())
	if err != nil {
		return nil, "", err
	}
	repo, err := r.client.Repository(ctx, ref)
	if err != nil {
		return nil, "", err
	}
	tag := ref.Tag
	if tag == "" {
		tag = imageset.DigestTag(ref.Digest)
	}
	return &repoTarget{Repository: repo, idx: r.idx, repo: ref.Repository, open: openAt(src), progress: r.opts.Progress}, tag, nil
}

// mountFrom offers the other repositories this run pushed a blob to.
func (r *registryDest) mountFrom(repo string) func(context.Context, ocispec.Descriptor) ([]string, error) {
	return r.idx.mountFrom(repo)
}

func (r *registryDest) skipReason(ocispec.Descriptor) progress.SkipReason {
	return progress.SkipAtDestination
}

func (r *registryDest) abort()                                { r.client.Close() }
func (r *registryDest) finish(context.Context, *Result) error { r.client.Close(); return nil }

// dryRunDest plans without copying: it walks each image's graph on the
// source and reports what would move and what would be skipped.
type dryRunDest struct {
	opts  PackOptions
	bases []*archive.Base
	mu    sync.Mutex
	lines []string
}

func newDryRunDest(opts PackOptions) (*dryRunDest, error) {
	d := &dryRunDest{opts: opts}
	for _, p := range opts.Bases {
		b, err := archive.LoadBase(p)
		if err != nil {
			return nil, err
		}
		d.bases = append(d.bases, b)
	}
	return d, nil
}

func (d *dryRunDest) target(ctx context.Context, m imageset.Mapping, _ content.Fetcher) (oras.Target, string, error) {
	return &planTarget{d: d, m: m, start: time.Now()}, m.Source.String(), nil
}
func (d *dryRunDest) skipReason(ocispec.Descriptor) progress.SkipReason { return progress.SkipInBase }
func (d *dryRunDest) mountFrom(string) func(context.Context, ocispec.Descriptor) ([]string, error) {
	return nil
}
func (d *dryRunDest) abort() {}
func (d *dryRunDest) finish(ctx context.Context, res *Result) error {
	slices.Sort(d.lines)
	res.Plan = d.lines
	return nil
}

func (d *dryRunDest) inBase(dg digest.Digest) bool {
	for _, b := range d.bases {
		if b.Has(dg) {
			return true
		}
	}
	return false
}

// planTarget accepts nothing: Exists answers from the bases, Push drains
// manifests (so their children are walked) and counts blobs without reading
// them.
type planTarget struct {
	d     *dryRunDest
	m     imageset.Mapping
	start time.Time

	mu        sync.Mutex
	manifests map[digest.Digest][]byte
	blobs     int
	bytes     int64
	skipped   int
	skippedB  int64
}

func (p *planTarget) Exists(ctx context.Context, desc ocispec.Descriptor) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.d.inBase(desc.Digest) {
		p.skipped++
		p.skippedB += desc.Size
		return true, nil
	}
	if isManifest(desc.MediaType) {
		return false, nil // fetched, so that its children are walked
	}
	// A blob that would be copied: counted, never downloaded.
	p.blobs++
	p.bytes += desc.Size
	return true, nil
}

func isManifest(mt string) bool {
	return strings.Contains(mt, "manifest") || strings.Contains(mt, "image.index")
}

func (p *planTarget) Push(ctx context.Context, desc ocispec.Descriptor, r io.Reader) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.manifests == nil {
		p.manifests = map[digest.Digest][]byte{}
	}
	if isManifest(desc.MediaType) {
		b, err := io.ReadAll(io.LimitReader(r, 4<<20))
		if err != nil {
			return err
		}
		p.manifests[desc.Digest] = b
	}
	p.blobs++
	p.bytes += desc.Size
	return nil
}

func (p *planTarget) Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	p.mu.Lock()
	b, ok := p.manifests[desc.Digest]
	p.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("dry run: %s not fetched", desc.Digest)
	}
	return io.NopCloser(strings.NewReader(string(b))), nil
}

func (p *planTarget) Tag(ctx context.Context, desc ocispec.Descriptor, ref string) error {
	p.mu.Lock()
	line := fmt.Sprintf("%s -> %s  %s: %d blobs, %s to copy; %d blobs, %s skipped (in a base)",
		p.m.Source, p.m.Destination, desc.Digest, p.blobs, progress.HumanBytes(p.bytes), p.skipped, progress.HumanBytes(p.skippedB))
	p.mu.Unlock()
	p.d.mu.Lock()
	p.d.lines = append(p.d.lines, line)
	p.d.mu.Unlock()
	return nil
}

func (p *planTarget) Resolve(ctx context.Context, ref string) (ocispec.Descriptor, error) {
	return ocispec.Descriptor{}, fmt.Errorf("dry run: nothing to resolve")
}
