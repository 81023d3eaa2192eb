package mirror

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/enclave-mirror/enclave/archive"
	"github.com/enclave-mirror/enclave/clusterres"
	"github.com/enclave-mirror/enclave/format"
	"github.com/enclave-mirror/enclave/imageset"
	"github.com/enclave-mirror/enclave/internal/progress"
	"github.com/enclave-mirror/enclave/ocistore"
)

// DefaultReceipt is where Unpack writes its receipt unless told otherwise.
const DefaultReceipt = "enclave-receipt.json"

// chunkedThreshold: blobs above it are pushed in resumable chunks, so a
// dropped connection does not restart them from zero; smaller ones go in
// one PUT.
const chunkedThreshold = 64 << 20

// UnpackOptions configure Unpack.
type UnpackOptions struct {
	// Archive is the archive's directory.
	Archive string
	// Registry is "host[:port][/prefix]" to push into.
	Registry string
	// Config, when set, selects a subset of the archive's images (and
	// applies its targetRepo/targetTag); nil pushes every image.
	Config *imageset.Config
	// Receipt is the receipt file to write (merged with an existing receipt
	// of the same destination). Default DefaultReceipt.
	Receipt string
	// ClusterResources is the directory for IDMS/ITMS files (default
	// "cluster-resources").
	ClusterResources string
	Parallel         int
	BlobConcurrency  int
	NoReferrers      bool
	// SkipVerify pushes while verifying as it reads, instead of reading
	// every byte of the archive before anything is written. It cannot be
	// combined with VerifyKeys.
	SkipVerify bool
	// VerifyKeys, when set, require the archive to be signed by one of these
	// public key files; AllowRollback accepts an archive older than one
	// already applied from the same lineage.
	VerifyKeys    []string
	AllowRollback bool
	DryRun        bool
	Dest          ocistore.Options
	Progress      *progress.Reporter
	Log           *slog.Logger
}

func (o *UnpackOptions) defaults() error {
	if o.Archive == "" || o.Registry == "" {
		return fmt.Errorf("%w: unpack needs --from file://DIR and a docker://HOST/PREFIX destination", ErrUsage)
	}
	if o.SkipVerify && len(o.VerifyKeys) > 0 {
		// A signature covers the index; only reading every byte before
		// the first write refuses an archive altered in any byte.
		return fmt.Errorf("%w: --skip-verify cannot be combined with --verify-key, which reads every byte before anything is written", ErrUsage)
	}
	if o.Receipt == "" {
		o.Receipt = DefaultReceipt
	}
	if o.ClusterResources == "" {
		o.ClusterResources = "cluster-resources"
	}
	if o.Parallel <= 0 {
		o.Parallel = DefaultParallel
	}
	if o.BlobConcurrency <= 0 {
		o.BlobConcurrency = DefaultBlobConcurrency
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Progress == nil {
		o.Progress = progress.New(progress.Options{Out: io.Discard, Verb: "unpack"})
	}
	o.Registry = strings.TrimSuffix(o.Registry, "/")
	return nil
}

// push is one root to push: where from, where to.
type push struct {
	root   format.Root
	source imageset.Reference
	dest   ocistore.Reference
	tag    string
	// release marks an OpenShift release payload or component (platform.go
	// writes its cluster resources).
	release bool
}

// Unpack pushes an archive into a registry. Before anything is written it
// checks every volume (and, unless SkipVerify, every byte), the signature
// when keys are given, and that the destination holds every prerequisite;
// on any failure nothing is pushed. A second identical run transfers
// nothing. It writes the receipt and the cluster resources.
func Unpack(ctx context.Context, opts UnpackOptions) (*Result, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	res := &Result{ArchiveDir: opts.Archive}
	if len(opts.VerifyKeys) > 0 {
		if err := checkSignature(opts); err != nil {
			return res, err
		}
	}
	r, err := archive.Open(opts.Archive)
	if err != nil {
		return res, fmt.Errorf("%w: %v", ErrIntegrity, err)
	}
	defer r.Close()
	res.ArchiveID, res.ArchiveDigest, res.Volumes = r.ID().String(), r.Digest(), len(r.Volumes())
	if len(opts.VerifyKeys) > 0 {
		keys, err := archive.LoadPublicKeys(opts.VerifyKeys...)
		if err != nil {
			return res, fmt.Errorf("%w: %v", ErrUsage, err)
		}
		m := r.Manifest()
		if _, err := archive.VerifySignature(opts.Archive, r.ID(), r.Digest(), m.Lineage, m.Sequence, archive.SignatureCheck{Trusted: keys, Required: true}); err != nil {
			return res, err
		}
	}

	// What to push, and where.
	pushes, err := selectPushes(r, opts)
	if err != nil {
		return res, err
	}
	rel, err := planReleaseUnpack(ctx, r, opts)
	if err != nil {
		return res, err
	}
	pushes = rel.merge(pushes)
	// The receipt of this destination, if any: rollback check and mount
	// candidates.
	receipt, err := loadReceiptFor(opts.Receipt, opts.Registry)
	if err != nil {
		return res, err
	}
	thisArchive := archive.AppliedArchive{Archive: r.ID().String(), Digest: r.Digest(), Lineage: r.Manifest().Lineage, Sequence: r.Manifest().Sequence}
	if err := archive.CheckRollback(receipt, thisArchive, opts.AllowRollback); err != nil {
		return res, err
	}

	client, err := ocistore.NewClient(opts.Dest)
	if err != nil {
		return res, err
	}
	defer client.Close()
	u := &unpacker{opts: opts, r: r, client: client, receipt: receipt, idx: newRepoIndex(), repoCache: map[string]*remote.Repository{}, pushed: map[string][]ocispec.Descriptor{}}
	for _, e := range receipt.Content {
		for _, repo := range e.Repositories {
			u.idx.add(e.Digest, repo)
		}
	}
	for _, p := range pushes {
		u.candidateRepos = append(u.candidateRepos, p.dest.Repository)
	}
	slices.Sort(u.candidateRepos)
	u.candidateRepos = slices.Compact(u.candidateRepos)

	// Read every byte before writing anything, unless nothing will be
	// written (a second run of the same archive).
	if !opts.SkipVerify && u.upToDate(ctx, pushes) {
		opts.Progress.Logf("the destination holds every image of %s already: nothing to write, skipping the full read", opts.Archive)
	} else if !opts.SkipVerify {
		opts.Progress.Logf("verifying %s (%d volumes) before writing anything", opts.Archive, len(r.Volumes()))
		rep, vr, err := archive.Verify(opts.Archive)
		if err != nil {
			return res, fmt.Errorf("%w: %v", ErrIntegrity, err)
		}
		vr.Close()
		if err := readError(rep.Problems); err != nil {
			return res, fmt.Errorf("cannot read every byte of %s, nothing was pushed (%d problems): %w", opts.Archive, len(rep.Problems), err)
		}
		if !rep.OK() {
			return res, fmt.Errorf("%w: %d problems, nothing was pushed; first: %v", ErrIntegrity, len(rep.Problems), rep.Problems[0])
		}
	}

	// What the manifests say, whatever made the archive: nothing
	// type-confused or nested without bound reaches the destination.
	if err := r.CheckGraph(ctx); err != nil {
		return res, fmt.Errorf("%w: %v; nothing was pushed", ErrIntegrity, err)
	}
	if err := u.preflight(ctx, pushes); err != nil {
		return res, err
	}
	if opts.DryRun {
		for _, p := range pushes {
			res.Plan = append(res.Plan, fmt.Sprintf("%s -> %s:%s  %s", p.source, p.dest.Name(), p.tag, p.root.Descriptor.Digest))
		}
		return res, nil
	}

	var total int64
	r.Format().Blobs(func(b format.Blob) bool { total += b.Size; return true })
	opts.Progress.SetTotals(len(pushes), total)
	opts.Progress.Start()
	results := make([]ImageResult, len(pushes))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(opts.Parallel)
	for i, p := range pushes {
		results[i] = ImageResult{Source: p.source.String(), Destination: p.dest.Name() + ":" + p.tag, Digest: p.root.Descriptor.Digest}
		g.Go(func() error {
			opts.Progress.ImageStarted(p.source.String())
			mt := &meter{p: opts.Progress}
			err := ocistore.RedactURLs(u.pushOne(gctx, p, mt)) // before anything prints it
			results[i].Err = err
			opts.Progress.ImageDone(p.source.String(), mt.n.Load(), err)
			if errors.Is(err, context.Canceled) && ctx.Err() != nil {
				return err
			}
			return nil
		})
	}
	werr := g.Wait()
	opts.Progress.Stop()
	res.Images = results
	res.Summary = opts.Progress.Summary()
	if werr != nil || ctx.Err() != nil {
		return res, fmt.Errorf("unpack interrupted: %w", context.Canceled)
	}

	// Receipt and cluster resources describe what is now at the
	// destination, failures left out.
	if err := u.writeReceipt(ctx, pushes, results); err != nil {
		return res, err
	}
	res.Receipt = opts.Receipt
	paths, err := writeClusterResources(opts.ClusterResources, r.Digest(), pushes, results)
	if err != nil {
		return res, err
	}
	res.ClusterResources = paths
	relPaths, err := rel.finish(ctx, u, r.Digest(), pushes, results)
	res.ClusterResources = append(res.ClusterResources, relPaths...)
	if err != nil {
		return res, err
	}
	if f := res.Failed(); len(f) > 0 {
		return res, imagesFailed(f, len(results))
	}
	return res, nil
}

func checkSignature(opts UnpackOptions) error {
	keys, err := archive.LoadPublicKeys(opts.VerifyKeys...)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	_, err = archive.VerifySignatureBeforeOpen(opts.Archive, archive.SignatureCheck{Trusted: keys, Required: true})
	return err
}

// selectPushes lists the roots to push with their destinations. Without a
// configuration every reference the archive records goes to its source
// repository path under the destination. With one (-c), each
// additionalImages entry picks the one reference it names, by the rule that
// decided its mapping at pack ([imageset.Config.Match]), and goes where the
// entry says; the release roots are planned by planReleaseUnpack.
func selectPushes(r *archive.Reader, opts UnpackOptions) ([]push, error) {
	type recorded struct {
		root format.Root
		src  imageset.Reference
	}
	var refs []recorded
	for _, root := range r.Roots() {
		for _, ref := range root.References {
			src, err := imageset.ParseReference(ref)
			if err != nil {
				return nil, fmt.Errorf("%w: archive root %s has reference %q: %v", ErrIntegrity, root.Descriptor.Digest, ref, err)
			}
			refs = append(refs, recorded{root, src})
		}
	}
	if opts.Config == nil {
		out := make([]push, 0, len(refs))
		for _, rc := range refs {
			p, err := newPush(rc.root, rc.src, imageset.Reference{Repository: rc.src.Repository, Tag: rc.src.Tag}, opts.Registry)
			if err != nil {
				return nil, err
			}
			out = append(out, p)
		}
		return out, nil
	}
	in := make([]imageset.Recorded, len(refs))
	for i, rc := range refs {
		in[i] = imageset.Recorded{Ref: rc.src, Digest: rc.root.Descriptor.Digest}
	}
	allow := imageset.PlanOptions{Allow: []imageset.Section{imageset.SectionPlatform}}
	picks, missing, err := opts.Config.Match(allow, in)
	if err != nil {
		return nil, err
	}
	if len(missing) > 0 {
		var names []string
		for _, m := range missing {
			names = append(names, m.Source.String())
		}
		return nil, fmt.Errorf("%w: the archive does not hold %d images the configuration asks for: %s", ErrPrerequisites, len(missing), strings.Join(names, ", "))
	}
	out := make([]push, 0, len(picks))
	for _, pk := range picks {
		// The source is the entry's own (its tag, if any, decides whether
		// clusters get a tag mirror), with the root's digest.
		p, err := newPush(refs[pk.Index].root, pk.Mapping.Source, pk.Mapping.Destination, opts.Registry)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// newPush places root, read as src, at rel (a repository path and a tag, or
// none for DigestTag) under the destination registry root.
func newPush(root format.Root, src, rel imageset.Reference, registry string) (push, error) {
	rel = imageset.Reference{Repository: rel.Repository, Tag: rel.Tag}
	if rel.Tag == "" {
		rel.Tag = imageset.DigestTag(root.Descriptor.Digest)
	}
	dref, err := rel.Under(registry)
	if err != nil {
		return push{}, fmt.Errorf("%w: %v", ErrUsage, err)
	}
	d, err := ocistore.ParseReference(dref.String())
	if err != nil {
		return push{}, fmt.Errorf("%w: %v", ErrUsage, err)
	}
	return push{root: root, source: src, dest: d, tag: rel.Tag}, nil
}

type unpacker struct {
	opts           UnpackOptions
	r              *archive.Reader
	client         *ocistore.Client
	receipt        *archive.Receipt
	candidateRepos []string

	idx       *repoIndex // destination repositories known to hold each digest
	mu        sync.Mutex // guards repoCache and pushed
	repoCache map[string]*remote.Repository
	pushed    map[string][]ocispec.Descriptor // graphOf each root pushed, by "digest@repo"
}

func (u *unpacker) repo(ctx context.Context, name string) (*remote.Repository, error) {
	u.mu.Lock()
	r, ok := u.repoCache[name]
	u.mu.Unlock()
	if ok {
		return r, nil
	}
	host, _, _ := strings.Cut(u.opts.Registry, "/")
	ref, err := ocistore.ParseReference(host + "/" + name)
	if err != nil {
		return nil, err
	}
	r, err = u.client.Repository(ctx, ref)
	if err != nil {
		return nil, err
	}
	u.mu.Lock()
	u.repoCache[name] = r
	u.mu.Unlock()
	return r, nil
}

// preflight checks, before anything is written, that the destination is
// reachable and holds every prerequisite the selected roots need, in their
// repository or one it can be mounted from.
func (u *unpacker) preflight(ctx context.Context, pushes []push) error {
	if len(pushes) == 0 {
		return nil
	}
	// Reachable and authorised: one request that must not fail.
	first, err := u.repo(ctx, pushes[0].dest.Repository)
	if err != nil {
		return err
	}
	if _, err := first.Exists(ctx, pushes[0].root.Descriptor); err != nil {
		return fmt.Errorf("destination %s: %w", u.opts.Registry, err)
	}
	destOf := map[digest.Digest]string{}
	for _, p := range pushes {
		destOf[p.root.Descriptor.Digest] = p.dest.Repository
	}
	missing, err := archive.Preflight(ctx, u.r, func(ctx context.Context, root format.Root, desc ocispec.Descriptor) (bool, error) {
		target := destOf[root.Descriptor.Digest]
		repos := append([]string{target}, u.idx.others(desc.Digest, target)...)
		repos = append(repos, u.candidateRepos...)
		seen := map[string]bool{}
		for _, name := range repos {
			if seen[name] {
				continue
			}
			seen[name] = true
			repo, err := u.repo(ctx, name)
			if err != nil {
				return false, err
			}
			ok, err := repo.Exists(ctx, desc)
			if err != nil {
				return false, err
			}
			if ok {
				u.idx.add(desc.Digest, name)
				return true, nil
			}
		}
		return false, nil
	}, func(root format.Root) bool { _, ok := destOf[root.Descriptor.Digest]; return ok })
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		var b strings.Builder
		for i, m := range missing {
			if i == 10 {
				fmt.Fprintf(&b, "\n  ... and %d more", len(missing)-10)
				break
			}
			fmt.Fprintf(&b, "\n  %s", m)
		}
		return fmt.Errorf("%w: the destination lacks %d blobs this delta archive leaves out; push the archives it was cut against first (nothing was pushed):%s",
			ErrPrerequisites, len(missing), b.String())
	}
	return nil
}

// pushOne pushes one root's graph, then tags it.
func (u *unpacker) pushOne(ctx context.Context, p push, mt *meter) error {
	dst, err := u.repo(ctx, p.dest.Repository)
	if err != nil {
		return err
	}
	// Idempotence: a tag already pointing at the root means nothing to do
	// for the image itself (its graph is complete: registries refuse
	// manifests with missing children).
	if cur, err := dst.Resolve(ctx, p.tag); err == nil && cur.Digest == p.root.Descriptor.Digest {
		u.opts.Progress.Skipped(progress.SkipAtDestination, p.root.Descriptor.Size)
		u.walkKnown(ctx, p.root.Descriptor, p.dest.Repository)
		if !u.opts.NoReferrers {
			return u.copyReferrers(ctx, p, dst, mt)
		}
		return nil
	}
	err = copyGraph(ctx, counted(u.r, mt), u.target(dst, p, mt), p.root.Descriptor, copySettings{
		concurrency: u.opts.BlobConcurrency,
		referrers:   !u.opts.NoReferrers,
		progress:    u.opts.Progress,
		skipReason:  func(ocispec.Descriptor) progress.SkipReason { return progress.SkipAtDestination },
		mountFrom:   u.idx.mountFrom(p.dest.Repository),
	})
	if err != nil {
		return err
	}
	if err := dst.Tag(ctx, p.root.Descriptor, p.tag); err != nil {
		return fmt.Errorf("tag %s:%s: %w", p.dest.Name(), p.tag, err)
	}
	u.walkKnown(ctx, p.root.Descriptor, p.dest.Repository)
	return nil
}

// target is p's destination repository, blobs reopened from the archive.
func (u *unpacker) target(dst *remote.Repository, p push, mt *meter) *repoTarget {
	return &repoTarget{Repository: dst, idx: u.idx, repo: p.dest.Repository, progress: u.opts.Progress,
		open: func(ctx context.Context, desc ocispec.Descriptor, off int64) (io.ReadCloser, error) {
			rc, err := u.r.FetchAt(ctx, desc, off)
			if err != nil {
				return nil, err
			}
			return countReads(rc, mt), nil
		}}
}

// copyReferrers makes sure referrers in the archive reach a root that was
// already at the destination (a second run after new signatures).
func (u *unpacker) copyReferrers(ctx context.Context, p push, dst *remote.Repository, mt *meter) error {
	preds, err := u.r.ReferrersOf(ctx, p.root.Descriptor)
	if err != nil {
		return err
	}
	for _, pd := range preds {
		if err := copyGraph(ctx, counted(u.r, mt), u.target(dst, p, mt), pd, copySettings{
			concurrency: u.opts.BlobConcurrency, referrers: true, progress: u.opts.Progress,
			skipReason: func(ocispec.Descriptor) progress.SkipReason { return progress.SkipAtDestination },
			mountFrom:  u.idx.mountFrom(p.dest.Repository),
		}); err != nil {
			return err
		}
	}
	return nil
}

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
			succ, _ := content.Successors(ctx, u.r, d)
			for _, s := range succ {
				walk(s)
			}
		}
		if !u.opts.NoReferrers {
			refs, _ := u.r.ReferrersOf(ctx, d)
			for _, rf := range refs {
				walk(rf)
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
func (u *unpacker) writeReceipt(ctx context.Context, pushes []push, results []ImageResult) error {
	rec := u.receipt
	rec.Destination = u.opts.Registry
	rec.Created = time.Now().UTC().Truncate(time.Second)
	for i, p := range pushes {
		if results[i].Err != nil {
			continue
		}
		u.mu.Lock()
		graph, ok := u.pushed[p.root.Descriptor.Digest.String()+"@"+p.dest.Repository]
		u.mu.Unlock()
		if !ok {
			graph = u.graphOf(ctx, p.root.Descriptor)
		}
		for _, d := range graph {
			rec.Add(d.Digest, d.Size, d.MediaType, p.dest.Repository)
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

// writeClusterResources writes IDMS (every image, by digest) and ITMS
// (images pushed by tag) for the source -> mirror repositories.
func writeClusterResources(dir string, archiveDigest digest.Digest, pushes []push, results []ImageResult) ([]string, error) {
	var byDigest, byTag []clusterres.Mirror
	for i, p := range pushes {
		if results[i].Err != nil || p.release {
			continue
		}
		if p.source.Registry == imageset.LayoutRegistry {
			continue // read from an OCI layout: no registry to redirect from
		}
		m := clusterres.Mirror{Source: p.source.Name(), Mirror: p.dest.Name()}
		byDigest = append(byDigest, m)
		if p.source.Tag != "" {
			byTag = append(byTag, m)
		}
	}
	if len(byDigest) == 0 {
		return nil, nil
	}
	rs, err := clusterres.MirrorSets(clusterres.ArchiveName(archiveDigest), byDigest, byTag)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return clusterres.WriteDir(dir, rs...)
}
