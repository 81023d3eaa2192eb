package mirror

import (
	"bytes"
	"container/list"
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"

	"github.com/enclave-mirror/enclave/archive"
	"github.com/enclave-mirror/enclave/format"
)

// meter counts the bytes one image moves and passes them on to the run's
// reporter: the "done <image> (size)" line.
type meter struct {
	p Observer
	n atomic.Int64
}

func (m *meter) Transferred(n int64) {
	if n > 0 {
		m.n.Add(n)
		m.p.Transferred(n)
	}
}

// ledger is a run's one account of its blobs (manifests, configs and
// layers alike): every digest is counted once, by the first thing that
// happened to it in this run: moved (read from the source and written),
// skipped because a base holds it, because the destination held it
// already, because another repository of the destination held it
// (mounted), or because it is a foreign layer. Whatever happens to a digest
// after that (another image of the run waits for the same blob, finds it
// written, or mounts it into its own repository) is counted as shared
// (SkipShared), which the summary shows apart: its bytes were counted
// once already. So the moved and skipped lines of a summary add up to the
// unique bytes of the run, which the ledger announces as the total
// (SetTotals) as soon as the images' manifests are resolved, and grows as
// the copy finds more (referrers). Safe for concurrent use.
type ledger struct {
	Observer
	mu      sync.Mutex
	images  int
	total   int64
	planned int                         // digests in blobs
	blobs   map[digest.Digest]blobState // one entry per digest of the run
}

// blobState is what a ledger knows of a digest.
type blobState uint8

const (
	blobPlanned blobState = 1 << iota // counted in the total
	blobSeen                          // something happened to it
)

func newLedger(p Observer) *ledger {
	return &ledger{Observer: p, blobs: map[digest.Digest]blobState{}}
}

// plan adds descs to the run's totals (each digest once) and announces
// them.
func (l *ledger) plan(images int, descs ...ocispec.Descriptor) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.images = max(l.images, images)
	for _, d := range descs {
		l.planLocked(d)
	}
	l.Observer.SetTotals(l.images, l.total)
}

// totals returns the bytes and blobs the run plans so far.
func (l *ledger) totals() (int64, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total, l.planned
}

// planLocked counts d in the total unless it is; it reports whether it was
// new. l.mu is held.
func (l *ledger) planLocked(d ocispec.Descriptor) bool {
	st := l.blobs[d.Digest]
	if st&blobPlanned != 0 {
		return false
	}
	l.blobs[d.Digest] = st | blobPlanned
	l.planned++
	l.total += d.Size
	return true
}

// first records that something happened to d and reports whether it was
// the first thing; a digest the plan did not name grows the total.
func (l *ledger) first(d ocispec.Descriptor) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.blobs[d.Digest]
	if st&blobSeen != 0 {
		return false
	}
	l.blobs[d.Digest] = st | blobSeen
	if l.planLocked(d) {
		l.Observer.SetTotals(l.images, l.total)
	}
	return true
}

// moved records d read from the source and written to the destination.
func (l *ledger) moved(d ocispec.Descriptor) {
	if l.first(d) {
		l.Observer.BlobDone(d.Size)
		return
	}
	l.Observer.Skipped(SkipShared, d.Size)
}

// skipped records d not written, and why; it reports whether this was the
// first encounter of d in the run.
func (l *ledger) skipped(reason SkipReason, d ocispec.Descriptor) bool {
	if l.first(d) {
		l.Observer.Skipped(reason, d.Size)
		return true
	}
	l.Observer.Skipped(SkipShared, d.Size)
	return false
}

// graphSuccessors is a graph that knows its successors better than its
// manifests say (archive.Reader leaves omitted children out, sparseGraph
// the platforms a sparse copy leaves out).
type graphSuccessors interface {
	Successors(ctx context.Context, desc ocispec.Descriptor) ([]ocispec.Descriptor, error)
}

// skippedGraph records d and everything below it as skipped for reason:
// oras-go skips the whole graph below a manifest the destination holds, and
// what it holds is counted all the same. Manifests are read from f (the
// run's manifest cache at pack, the archive at unpack); a graph that
// cannot be read is counted as far as it can, and no deeper than the copy
// would go (archive.MaxGraphDepth, maxManifestBytes). When f is a
// graphSuccessors, its successors are those it gives.
func (l *ledger) skippedGraph(ctx context.Context, f content.Fetcher, reason SkipReason, d ocispec.Descriptor) {
	l.skippedBelow(ctx, f, reason, d, 0)
}

func (l *ledger) skippedBelow(ctx context.Context, f content.Fetcher, reason SkipReason, d ocispec.Descriptor, depth int) {
	l.skipped(reason, d)
	if !isManifest(d.MediaType) || f == nil || d.Size > maxManifestBytes || depth > archive.MaxGraphDepth {
		return
	}
	var succ []ocispec.Descriptor
	var err error
	if g, ok := f.(graphSuccessors); ok {
		succ, err = g.Successors(ctx, d) // an archive's omitted children are nowhere
	} else {
		succ, err = content.Successors(ctx, f, d)
	}
	if err != nil {
		return
	}
	for _, s := range succ {
		l.mu.Lock()
		seen := l.blobs[s.Digest]&blobSeen != 0
		l.mu.Unlock()
		switch {
		case seen:
		case archive.IsForeignLayer(s):
			l.skipped(SkipForeign, s) // never carried anywhere
		default:
			l.skippedBelow(ctx, f, reason, s, depth+1)
		}
	}
}

// manifestCache keeps the manifests a run reads from its source, so that
// none is read twice while it fits: the plan reads them all to learn the
// totals, the copy reads them again, and the referrers check reads each
// referrer before oras-go copies it. Manifests are verified before they
// are kept. What it holds is bounded by max bytes (a manifest's size plus
// manifestEntryCost), not by the image set: beyond it the manifests used
// least recently are dropped, and one asked for again is fetched again.
// The plan pins the manifests of each image it walks, and the image
// releases them when its copy is done: a manifest no image waits for any
// more is dropped then, so the cache holds the manifests of the images
// still to copy (and the referrers read since). Safe for concurrent use.
type manifestCache struct {
	mu      sync.Mutex
	max     int64
	size    int64                             // of the entries in lru
	entries map[digest.Digest]*cachedManifest // kept, and being fetched
	lru     list.List                         // of *cachedManifest kept, most recently used first
}

type cachedManifest struct {
	d    digest.Digest
	done chan struct{}
	b    []byte
	err  error
	elem *list.Element // in lru once kept; nil while fetched or after it was dropped
	pins int           // images whose copy is still to read it
}

// Bounds of the manifest cache.
const (
	// maxManifestCacheBytes is what a run's manifest cache holds at most:
	// the manifests of a release payload (a few MB) with room to spare. A
	// larger image set reads the manifests it lost again, once per copy.
	maxManifestCacheBytes = 8 << 20
	// manifestEntryCost is what an entry costs besides its bytes (map
	// slot, list element, the entry itself).
	manifestEntryCost = 256
)

func newManifestCache(max int64) *manifestCache {
	return &manifestCache{max: max, entries: map[digest.Digest]*cachedManifest{}}
}

// get returns desc's content, fetched with fetch (and counted by m) unless
// the cache holds it; callers asking while it is fetched wait. A failed
// fetch is not kept.
func (c *manifestCache) get(ctx context.Context, desc ocispec.Descriptor, fetch func() (io.ReadCloser, error), m *meter) ([]byte, error) {
	c.mu.Lock()
	e, ok := c.entries[desc.Digest]
	if !ok {
		e = &cachedManifest{d: desc.Digest, done: make(chan struct{})}
		c.entries[desc.Digest] = e
	} else if e.elem != nil {
		c.lru.MoveToFront(e.elem)
	}
	c.mu.Unlock()
	if ok {
		select {
		case <-e.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if e.err == nil {
			return e.b, nil
		}
		return c.get(ctx, desc, fetch, m) // the fetch that failed was forgotten: try again
	}
	e.b, e.err = fetchVerified(desc, fetch, m)
	c.mu.Lock()
	if e.err != nil {
		delete(c.entries, desc.Digest)
	} else {
		c.keep(e)
	}
	c.mu.Unlock()
	close(e.done)
	return e.b, e.err
}

// keep puts e, fetched, at the front and drops the entries used least
// recently while the cache holds more than max. c.mu is held.
func (c *manifestCache) keep(e *cachedManifest) {
	e.elem = c.lru.PushFront(e)
	c.size += int64(len(e.b)) + manifestEntryCost
	for c.size > c.max && c.lru.Len() > 0 {
		c.drop(c.lru.Back().Value.(*cachedManifest))
	}
}

// pin marks the manifests among descs as read by one more image's copy to
// come; those the cache does not hold are left out.
func (c *manifestCache) pin(descs []ocispec.Descriptor) []digest.Digest {
	c.mu.Lock()
	defer c.mu.Unlock()
	var pinned []digest.Digest
	for _, d := range descs {
		if e, ok := c.entries[d.Digest]; ok && e.elem != nil {
			e.pins++
			pinned = append(pinned, d.Digest)
		}
	}
	return pinned
}

// release undoes pin once an image's copy is done: a manifest that no
// other image's copy is to read is dropped.
func (c *manifestCache) release(ds []digest.Digest) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, d := range ds {
		e, ok := c.entries[d]
		if !ok || e.elem == nil {
			continue // dropped already, or fetched again since (and unpinned)
		}
		if e.pins--; e.pins <= 0 {
			c.drop(e)
		}
	}
}

// drop removes e, kept, from the cache. c.mu is held.
func (c *manifestCache) drop(e *cachedManifest) {
	c.lru.Remove(e.elem)
	e.elem = nil
	c.size -= int64(len(e.b)) + manifestEntryCost
	delete(c.entries, e.d)
}

// held returns the bytes the cache holds (entry costs included) and how
// many manifests.
func (c *manifestCache) held() (int64, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.size, c.lru.Len()
}

func fetchVerified(desc ocispec.Descriptor, fetch func() (io.ReadCloser, error), m *meter) ([]byte, error) {
	rc, err := fetch()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := content.ReadAll(countReads(rc, m), desc)
	if err == nil && cap(b) > len(b) {
		b = bytes.Clone(b) // kept: not the read buffer's spare capacity
	}
	return b, err
}

// countingSource reports bytes as they are read from the source. With a
// cache, manifests come from it; with lazy, a blob's request is sent at its
// first read, not at Fetch.
type countingSource struct {
	oras.ReadOnlyGraphTarget
	m     *meter
	cache *manifestCache
	lazy  bool
}

func counted(t oras.ReadOnlyGraphTarget, m *meter) oras.ReadOnlyGraphTarget {
	return &countingSource{ReadOnlyGraphTarget: t, m: m}
}

// cachedSource is counted with the run's manifest cache: each manifest is
// read from t once per run. lazy defers each blob's request to its first
// read: oras-go fetches a blob before it pushes it, and an archive's Push
// of a blob another image is writing waits for that write and reads
// nothing, so the request would have been sent (and the registry would
// have sent what the connection buffers hold) for nothing.
func cachedSource(t oras.ReadOnlyGraphTarget, m *meter, c *manifestCache, lazy bool) oras.ReadOnlyGraphTarget {
	return &countingSource{ReadOnlyGraphTarget: t, m: m, cache: c, lazy: lazy}
}

func (c *countingSource) Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	if c.cache != nil && isManifest(desc.MediaType) && desc.Size <= maxManifestBytes {
		b, err := c.cache.get(ctx, desc, func() (io.ReadCloser, error) { return c.ReadOnlyGraphTarget.Fetch(ctx, desc) }, c.m)
		if err != nil {
			return nil, err
		}
		return io.NopCloser(bytes.NewReader(b)), nil
	}
	if c.lazy {
		return &lazyBody{open: func() (io.ReadCloser, error) { return c.fetch(ctx, desc) }}, nil
	}
	return c.fetch(ctx, desc)
}

func (c *countingSource) fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	rc, err := c.ReadOnlyGraphTarget.Fetch(ctx, desc)
	if err != nil {
		return nil, err
	}
	return countReads(rc, c.m), nil
}

// lazyBody opens its content at the first Read.
type lazyBody struct {
	open func() (io.ReadCloser, error)
	rc   io.ReadCloser
	err  error
}

func (b *lazyBody) Read(p []byte) (int, error) {
	if b.rc == nil && b.err == nil {
		if b.rc, b.err = b.open(); b.err != nil {
			b.err = fmt.Errorf("fetch: %w", b.err)
		}
	}
	if b.err != nil {
		return 0, b.err
	}
	return b.rc.Read(p)
}

func (b *lazyBody) Close() error {
	if b.rc == nil {
		return nil
	}
	return b.rc.Close()
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

// Checkpoints passes on those of the reader counted (format.BlobReader).
func (r *countingReader) Checkpoints() []format.Checkpoint {
	if c, ok := r.ReadCloser.(checkpointer); ok {
		return c.Checkpoints()
	}
	return nil
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
