package mirror

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/enclave-mirror/enclave/archive"
	"github.com/enclave-mirror/enclave/format"
	"github.com/enclave-mirror/enclave/imageset"
	"github.com/enclave-mirror/enclave/internal/progress"
	"github.com/enclave-mirror/enclave/mirror/kinds"
	"github.com/enclave-mirror/enclave/mirror/section"
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
	// NoReferrers leaves OCI referrers behind; RemoveSignatures, every
	// cosign tag and the referrers that are signatures (see PackOptions).
	NoReferrers      bool
	RemoveSignatures bool
	// VerifyFirst reads and checks every byte of the archive before
	// anything is written, then reads it again to push: a damaged archive
	// writes nothing at all. By default unpack reads the archive once,
	// checking each blob on its way to the registry and completing its
	// upload only once its digest matched (see Unpack).
	VerifyFirst bool
	// SkipVerify is the default behaviour, kept so that old callers
	// compile and old scripts run (--skip-verify). It cannot be combined
	// with VerifyFirst.
	SkipVerify bool
	// ArchiveOptions are passed to every archive.Open of the archive
	// (make bench counts and paces the volume reads through them).
	ArchiveOptions []archive.OpenOption
	// VerifyKeys, when set, require the archive to be signed by one of these
	// public key files; AllowRollback accepts an archive older than one
	// already applied from the same lineage.
	VerifyKeys    []string
	AllowRollback bool
	DryRun        bool
	Dest          ocistore.Options
	// Kinds claim and place the archive's roots (mirror/kinds.All lists
	// them all, the catch-all last); nil means kinds.All with default
	// options.
	Kinds []section.Kind
	// Progress is told what the run does (nil: nothing is).
	Progress Observer
	Log      *slog.Logger
}

func (o *UnpackOptions) defaults() error {
	if o.Archive == "" || o.Registry == "" {
		return fmt.Errorf("%w: unpack needs --from file://DIR and a docker://HOST/PREFIX destination", ErrUsage)
	}
	if o.SkipVerify && o.VerifyFirst {
		return fmt.Errorf("%w: --skip-verify (the default: verify while pushing) contradicts --verify-first (read every byte before pushing); give one", ErrUsage)
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
		o.Progress = discard{}
	}
	if o.Kinds == nil {
		o.Kinds = kinds.All(kinds.Options{})
	}
	o.Registry = strings.TrimSuffix(o.Registry, "/")
	return nil
}

// Unpack pushes an archive into a registry, in the steps the README lists:
// check the signature (when keys are given: it covers the index, which
// names every blob's digest and chunk checksums), every volume's identity
// and size, plan (each kind claims its roots), check the receipt for
// rollback, check the graph and the prerequisites and that the destination
// answers; with VerifyFirst, read every byte (unless nothing will be
// written). On any failure so far nothing is written. Then push, reading
// the archive once: each blob's chunks and digest are checked on its way
// to the registry, and its upload is completed only once the digest
// matched, so a damaged blob is never committed; a manifest goes only
// after everything it names, tags last, so an image that needs a damaged
// blob fails and leaves no manifest or tag behind, and the others are
// pushed. Then write the receipt and the cluster resources. A second
// identical run transfers nothing.
func Unpack(ctx context.Context, opts UnpackOptions) (*Result, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	res := &Result{ArchiveDir: opts.Archive}
	r, _, err := openArchive(opts.Archive, opts.VerifyKeys, opts.ArchiveOptions...)
	if err != nil {
		return res, err
	}
	defer r.Close()
	res.ArchiveID, res.ArchiveDigest, res.Volumes = r.ID().String(), r.Digest(), len(r.Volumes())
	plans, pushes, err := planUnpack(ctx, r, opts)
	if err != nil {
		return res, err
	}
	u, err := newUnpacker(r, opts, pushes)
	if err != nil {
		return res, err
	}
	defer u.client.Close()
	if err := u.verifyBeforeWrite(ctx, pushes); err != nil {
		return res, err
	}
	if opts.DryRun {
		for _, p := range pushes {
			res.Plan = append(res.Plan, fmt.Sprintf("%s -> %s:%s  %s", p.Source, p.Dest.Name(), p.Tag, p.Root.Descriptor.Digest))
			for _, a := range u.attachedFor(ctx, p) {
				res.Plan = append(res.Plan, fmt.Sprintf("  %s %s -> %s:%s  %s", cosignKind(a.tag), a.ref(), p.Dest.Name(), a.tag, a.desc.Digest))
			}
		}
		return res, nil
	}
	results, err := u.pushAll(ctx, pushes)
	res.Images = results
	if err != nil {
		return res, err
	}
	// Receipt and cluster resources describe what is now at the
	// destination, failures left out.
	if err := u.writeReceipt(ctx, pushes, results); err != nil {
		return res, err
	}
	res.Receipt = opts.Receipt
	paths, err := u.finish(ctx, plans, results)
	res.ClusterResources = paths
	if err != nil {
		return res, err
	}
	if f := res.Failed(); len(f) > 0 {
		return res, unpackFailed(f, len(results))
	}
	return res, nil
}

// unpackFailed is imagesFailed, in the integrity class (exit 3) when an
// image failed on a damaged blob of the archive: the archive is at fault,
// not the registry, and the message names the damage.
func unpackFailed(f []ImageResult, total int) error {
	err := imagesFailed(f, total)
	for _, im := range f {
		if format.IsIntegrity(im.Err) {
			return fmt.Errorf("%w: the archive is damaged; %s and any other image that needs the damaged content were not pushed, and none of it was committed (copy the volume named again and run the same command): %v; %w",
				ErrIntegrity, im.Source, im.Err, err)
		}
	}
	return err
}

// newUnpacker loads the receipt of this destination (a rollback is refused
// unless allowed; what it lists is offered for mounts) and opens the
// destination.
func newUnpacker(r *archive.Reader, opts UnpackOptions, pushes []section.Push) (*unpacker, error) {
	receipt, err := loadReceiptFor(opts.Receipt, opts.Registry)
	if err != nil {
		return nil, err
	}
	thisArchive := archive.AppliedArchive{Archive: r.ID().String(), Digest: r.Digest(), Lineage: r.Manifest().Lineage, Sequence: r.Manifest().Sequence}
	if err := archive.CheckRollback(receipt, thisArchive, opts.AllowRollback); err != nil {
		return nil, err
	}
	client, err := ocistore.NewClient(opts.Dest)
	if err != nil {
		return nil, err
	}
	u := &unpacker{opts: opts, r: r, client: client, receipt: receipt, idx: newRepoIndex(), ledger: newLedger(opts.Progress), repoCache: map[string]*remote.Repository{}, pushed: map[string][]ocispec.Descriptor{}}
	u.idx.flights.order = u.place
	u.idx.breaker = true
	_, u.attached = splitAttached(r.Roots())
	for _, e := range receipt.Content {
		for _, repo := range e.Repositories {
			u.idx.add(e.Digest, repo)
		}
	}
	for _, p := range pushes {
		u.candidateRepos = append(u.candidateRepos, p.Dest.Repository)
	}
	slices.Sort(u.candidateRepos)
	u.candidateRepos = slices.Compact(u.candidateRepos)
	return u, nil
}

// verifyBeforeWrite makes the checks that need no full read before
// anything is written: what the manifests say, whatever made the archive
// (nothing type-confused or nested without bound reaches the destination),
// and that the destination answers and holds every prerequisite. With
// VerifyFirst it reads every byte of the archive first (unless nothing will
// be written: a second run of the same archive).
func (u *unpacker) verifyBeforeWrite(ctx context.Context, pushes []section.Push) error {
	opts, r := u.opts, u.r
	switch {
	case !opts.VerifyFirst:
		// The single pass: every blob is checked as it is pushed.
	case u.upToDate(ctx, pushes):
		opts.Progress.Logf("the destination holds every image of %s already: nothing to write, skipping the full read", opts.Archive)
	default:
		var size int64
		for _, v := range r.Volumes() {
			size += v.Size
		}
		opts.Progress.Logf("verifying %s (%d volumes, %s) before writing anything", opts.Archive, len(r.Volumes()), progress.HumanBytes(size))
		var read atomic.Int64
		stop := showVerify(opts.Progress, &read, size)
		rep, vr, err := archive.VerifyContext(ctx, opts.Archive, append(slices.Clone(opts.ArchiveOptions), archive.WithReadProgress(func(n int64) { read.Add(n) }))...)
		stop()
		if ctx.Err() != nil {
			return fmt.Errorf("verify interrupted, nothing was pushed: %w", ctx.Err())
		}
		if err != nil {
			return classed(ErrIntegrity, err)
		}
		vr.Close()
		// The full read's buffers are garbage now: hand them back before
		// the push takes its own, so that the peak is one phase's, not
		// the sum of both.
		debug.FreeOSMemory()
		if err := readError(rep.Problems); err != nil {
			return fmt.Errorf("cannot read every byte of %s, nothing was pushed (%d problems): %w", opts.Archive, len(rep.Problems), err)
		}
		if !rep.OK() {
			return fmt.Errorf("%w: %d problems, nothing was pushed; first: %v", ErrIntegrity, len(rep.Problems), rep.Problems[0])
		}
	}
	if err := r.CheckGraph(ctx); err != nil {
		return fmt.Errorf("%w: %w; nothing was pushed", ErrIntegrity, err)
	}
	return u.preflight(ctx, pushes)
}

// verifyEvery is the time between two lines saying how far the reading
// of every byte before writing is: on an archive of hundreds of GB it takes
// minutes.
var verifyEvery = 10 * time.Second

// showVerify prints how far the verification is every verifyEvery, until
// stop is called.
func showVerify(p Observer, read *atomic.Int64, total int64) (stop func()) {
	start := time.Now()
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(verifyEvery)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				p.Logf("%s", verifyStatus(read.Load(), total, time.Since(start)))
			}
		}
	}()
	return func() { close(quit); <-done }
}

// verifyStatus says how far a verification is: "verifying: 1.2 GiB of
// 300 GiB read (0%), 450 MiB/s, 11m18s left".
func verifyStatus(read, total int64, elapsed time.Duration) string {
	s := "verifying: " + progress.HumanBytes(read)
	if total > 0 {
		s += fmt.Sprintf(" of %s read (%d%%)", progress.HumanBytes(total), min(read*100/total, 100))
	} else {
		s += " read"
	}
	if elapsed >= time.Second && read > 0 {
		rate := float64(read) / elapsed.Seconds()
		s += ", " + progress.HumanBytes(int64(rate)) + "/s"
		if total > read {
			s += ", " + time.Duration(float64(total-read)/rate*float64(time.Second)).Round(time.Second).String() + " left"
		}
	}
	return s
}

// pushAll pushes every root, Parallel at a time, and returns what happened
// to each. Only an interruption stops the others (and is the error).
func (u *unpacker) pushAll(ctx context.Context, pushes []section.Push) ([]ImageResult, error) {
	opts := u.opts
	// The total: every blob the pushes reach, each once. The blobs are
	// streamed first, in the order the archive holds them (streamBlobs);
	// then the images go in the order of their first blob, and whatever
	// the stream left (a blob it could not take in order, one another
	// repository mounts) in the order of its blob (blobFlights).
	first := make([]int64, len(pushes))
	graphs := make([][]ocispec.Descriptor, len(pushes))
	for i, p := range pushes {
		graph := u.graphOf(ctx, p.Root.Descriptor)
		graphs[i] = graph
		u.ledger.plan(len(pushes), graph...)
		first[i] = math.MaxInt64
		for _, d := range graph {
			first[i] = min(first[i], u.place(d.Digest))
		}
	}
	order := make([]int, len(pushes))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(first[a], first[b]) })
	u.ledger.plan(len(pushes))
	bytes, blobs := u.ledger.totals()
	opts.Progress.Logf("%d images to push: %s in %d blobs, each once", len(pushes), progress.HumanBytes(bytes), blobs)
	opts.Progress.Start()
	meters := make([]*meter, len(pushes))
	for i := range meters {
		meters[i] = &meter{p: opts.Progress}
	}
	// The blobs first, in the order the archive holds them; each image's
	// own copy (manifests, tags, mounts) once its blobs are in place.
	stream, err := u.planStream(ctx, pushes, graphs, order)
	if err != nil {
		opts.Progress.Stop()
		return nil, fmt.Errorf("unpack interrupted: %w", context.Canceled)
	}
	graphs = nil
	results := make([]ImageResult, len(pushes))
	for i, p := range pushes {
		results[i] = ImageResult{Source: p.Source.String(), Destination: p.Dest.Name() + ":" + p.Tag, Digest: p.Root.Descriptor.Digest}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(opts.Parallel)
	// Each push is sent at most twice (when ready, and at the end): the
	// sends never block the stream.
	ready := make(chan int, 2*len(pushes))
	launched := make(chan struct{})
	go func() {
		defer close(launched)
		started := make([]bool, len(pushes))
		for i := range ready {
			if started[i] {
				continue
			}
			started[i] = true
			p := pushes[i]
			g.Go(func() error {
				opts.Progress.ImageStarted(p.Source.String())
				mt := meters[i]
				err := stream.failure(i) // a blob of it failed to upload
				if err == nil {
					err = u.pushOne(gctx, p, mt)
				}
				err = ocistore.RedactURLs(err) // before anything prints it
				results[i].Err = err
				opts.Progress.ImageDone(p.Source.String(), mt.n.Load(), err)
				if errors.Is(err, context.Canceled) && ctx.Err() != nil {
					return err
				}
				return nil
			})
		}
	}()
	for _, i := range order {
		if !stream.waits(i) {
			ready <- i
		}
	}
	if err := stream.run(ctx, meters, func(i int) { ready <- i }); err != nil && ctx.Err() == nil {
		opts.Progress.Logf("streaming the blobs: %v; each image copies its own", err)
	}
	for _, i := range order { // what the stream left waiting (it stopped)
		ready <- i
	}
	close(ready)
	<-launched
	werr := g.Wait()
	opts.Progress.Stop()
	if werr != nil || ctx.Err() != nil {
		return results, fmt.Errorf("unpack interrupted: %w", context.Canceled)
	}
	return results, nil
}

// place ranks blob d by where the archive holds it (its first chunk's
// volume and offset), for reading the archive front to back; blobs it does
// not hold come last.
func (u *unpacker) place(d digest.Digest) int64 {
	b, ok := u.r.Format().Lookup(d)
	if !ok {
		return math.MaxInt64
	}
	c := u.r.Format().Chunks(b)
	if len(c) == 0 {
		return 0
	}
	return int64(c[0].Volume)<<40 | c[0].Offset
}

// openArchive opens the archive in dir; with keys, through
// archive.OpenSigned (the signature checked before anything is parsed, and
// again against what was opened), signed by one of them or refused.
func openArchive(dir string, keys []string, opts ...archive.OpenOption) (*archive.Reader, *archive.SignatureResult, error) {
	if len(keys) == 0 {
		r, err := archive.Open(dir, opts...)
		if err != nil {
			return nil, nil, classed(ErrIntegrity, err)
		}
		return r, nil, nil
	}
	pub, err := archive.LoadPublicKeys(keys...)
	if err != nil {
		return nil, nil, classed(ErrUsage, err)
	}
	r, res, err := archive.OpenSigned(dir, archive.SignatureCheck{Trusted: pub, Required: true}, opts...)
	if err != nil {
		return nil, nil, classed(ErrIntegrity, err)
	}
	return r, res, nil
}

type unpacker struct {
	opts           UnpackOptions
	r              *archive.Reader
	client         *ocistore.Client
	receipt        *archive.Receipt
	candidateRepos []string
	attached       []attachedTag // the cosign tags the archive carries

	ledger    *ledger    // what happened to each blob, counted once
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
func (u *unpacker) preflight(ctx context.Context, pushes []section.Push) error {
	if len(pushes) == 0 {
		return nil
	}
	// Reachable and authorised: one request that must not fail.
	first, err := u.repo(ctx, pushes[0].Dest.Repository)
	if err != nil {
		return err
	}
	if _, err := first.Exists(ctx, pushes[0].Root.Descriptor); err != nil {
		return fmt.Errorf("destination %s: %w", u.opts.Registry, err)
	}
	destOf := map[digest.Digest]string{}
	for _, p := range pushes {
		destOf[p.Root.Descriptor.Digest] = p.Dest.Repository
		for _, a := range u.attachedFor(ctx, p) {
			if _, ok := destOf[a.desc.Digest]; !ok {
				destOf[a.desc.Digest] = p.Dest.Repository
			}
		}
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

// pushOne pushes one root's graph, then tags it, then pushes the cosign
// tags that go with it.
func (u *unpacker) pushOne(ctx context.Context, p section.Push, mt *meter) error {
	dst, err := u.repo(ctx, p.Dest.Repository)
	if err != nil {
		return err
	}
	// An index pushed sparse before, now with more of its platforms.
	if err := u.completeChildren(ctx, p, dst, mt); err != nil {
		return err
	}
	// Idempotence: a tag already pointing at the root means nothing to do
	// for the image itself (its graph is complete but for the children an
	// archive omitted, which registries that refuse missing children
	// refused).
	if cur, err := dst.Resolve(ctx, p.Tag); err == nil && cur.Digest == p.Root.Descriptor.Digest {
		u.ledger.skippedGraph(ctx, u.r, SkipAtDestination, p.Root.Descriptor)
		u.walkKnown(ctx, p.Root.Descriptor, p.Dest.Repository)
		if !u.opts.NoReferrers {
			if err := u.copyReferrers(ctx, p, dst, mt); err != nil {
				return err
			}
		}
		return u.pushAttached(ctx, p, dst, mt)
	}
	err = copyGraph(ctx, counted(u.r, mt), u.target(dst, p, mt), p.Root.Descriptor, u.settings(p, !u.opts.NoReferrers))
	if err != nil {
		return u.sparseRefused(ctx, err, p.Root.Descriptor)
	}
	if err := dst.Tag(ctx, p.Root.Descriptor, p.Tag); err != nil {
		return fmt.Errorf("tag %s:%s: %w", p.Dest.Name(), p.Tag, err)
	}
	u.walkKnown(ctx, p.Root.Descriptor, p.Dest.Repository)
	return u.pushAttached(ctx, p, dst, mt)
}

// settings are how a graph of the archive is copied into p's destination
// repository: everything there already is skipped as at the destination.
func (u *unpacker) settings(p section.Push, referrers bool) copySettings {
	return copySettings{
		concurrency:    u.opts.BlobConcurrency,
		referrers:      referrers,
		dropSignatures: u.opts.RemoveSignatures,
		ledger:         u.ledger,
		skipReason:     func(ocispec.Descriptor) SkipReason { return SkipAtDestination },
		counted:        func(d ocispec.Descriptor) bool { return u.idx.streamedFor(d.Digest) == pushKey(p) },
		graph:          u.r,
		mountFrom:      u.idx.mountFrom(p.Dest.Repository),
		omitted:        u.r.Omitted,
	}
}

// pushKey names a push: its root in its repository.
func pushKey(p section.Push) string {
	return string(p.Root.Descriptor.Digest) + "@" + p.Dest.Repository
}

// target is p's destination repository, blobs reopened from the archive.
func (u *unpacker) target(dst *remote.Repository, p section.Push, mt *meter) *repoTarget {
	return &repoTarget{Repository: dst, idx: u.idx, repo: p.Dest.Repository, ledger: u.ledger, fromStart: true,
		open: func(ctx context.Context, desc ocispec.Descriptor, off int64) (io.ReadCloser, error) {
			rc, err := u.r.FetchAt(ctx, desc, off)
			if err != nil {
				return nil, err
			}
			return countReads(rc, mt), nil
		},
		openFrom: func(ctx context.Context, desc ocispec.Descriptor, cp format.Checkpoint) (io.ReadCloser, error) {
			rc, err := u.r.FetchFrom(ctx, desc, cp)
			if err != nil {
				return nil, err
			}
			return countReads(rc, mt), nil
		}}
}

// copyReferrers makes sure referrers in the archive reach a root that was
// already at the destination (a second run after new signatures).
func (u *unpacker) copyReferrers(ctx context.Context, p section.Push, dst *remote.Repository, mt *meter) error {
	preds, err := u.r.ReferrersOf(ctx, p.Root.Descriptor)
	if err != nil {
		return err
	}
	for _, pd := range preds {
		if u.opts.RemoveSignatures && isSignatureReferrer(ctx, u.r, pd) {
			continue
		}
		if err := copyGraph(ctx, counted(u.r, mt), u.target(dst, p, mt), pd, u.settings(p, true)); err != nil {
			return err
		}
	}
	return nil
}
