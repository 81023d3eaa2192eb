package mirror

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/enclave-mirror/enclave/format"
	"github.com/enclave-mirror/enclave/internal/progress"
	"github.com/enclave-mirror/enclave/ocistore/retry"
	"github.com/enclave-mirror/enclave/ocistore/upload"
)

// repoIndex knows which destination repositories hold each digest, so blobs
// are mounted across repositories instead of uploaded again, and lets one
// upload of a blob run at a time (blobFlights). Pack (mirror to mirror) and
// unpack share it. Safe for concurrent use.
type repoIndex struct {
	mu    sync.Mutex
	repos map[digest.Digest][]string
	// here are the digests this run wrote or saw in a repository
	// ("digest@repo"): unlike repos, which a receipt fills, they are
	// known to be there.
	here map[string]bool
	// damaged are the blobs found damaged in the archive (by digest), and
	// the uploads that failed for the registry's sake ("digest@repo").
	damaged map[string]error
	// breaker, when set (unpack), makes the first upload that failed after
	// every retry of its own (the registry kept timing out, dropping or
	// answering 5xx) fail every later one at once (down): each would
	// otherwise spend the whole retry budget on a registry that is not
	// taking blobs, one after the other, for hours at 300 GB.
	breaker bool
	down    error
	// streamed names, for each blob unpack's stream uploaded, the push
	// (pushKey) it went up for.
	streamed map[digest.Digest]string
	flights  blobFlights
}

// markStreamed records that the stream uploaded d for the push named key.
func (x *repoIndex) markStreamed(d digest.Digest, key string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.streamed == nil {
		x.streamed = map[digest.Digest]string{}
	}
	x.streamed[d] = key
}

// streamedFor names the push the stream uploaded d for ("" for none).
func (x *repoIndex) streamedFor(d digest.Digest) string {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.streamed[d]
}

// trip records err when it says the destination kept failing, and the
// breaker is on.
func (x *repoIndex) trip(err error) {
	if !errors.Is(err, upload.ErrGaveUp) && !errors.Is(err, retry.ErrGaveUp) {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.breaker && x.down == nil {
		x.down = err
	}
}

// tripped returns, once an upload tripped the breaker, the error a blob
// not yet uploaded fails with.
func (x *repoIndex) tripped(d digest.Digest) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.down == nil {
		return nil
	}
	return fmt.Errorf("push %s: not tried, the destination kept failing another upload: %w", d, x.down)
}

func newRepoIndex() *repoIndex {
	return &repoIndex{repos: map[digest.Digest][]string{}, here: map[string]bool{}, damaged: map[string]error{}}
}

// confirm records that repo holds d, seen by this run.
func (x *repoIndex) confirm(d digest.Digest, repo string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.here[string(d)+"@"+repo] = true
}

// confirmed reports whether this run saw d in repo.
func (x *repoIndex) confirmed(d digest.Digest, repo string) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.here[string(d)+"@"+repo]
}

// fail records that the upload of d into repo failed with err, after the
// uploader's own retries: d is damaged in the archive (an integrity error,
// which no repository will take), or repo refused it or kept failing.
func (x *repoIndex) fail(d digest.Digest, repo string, err error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if format.IsIntegrity(err) {
		x.damaged[string(d)] = err
		return
	}
	x.damaged[string(d)+"@"+repo] = err
}

// failed returns why an upload of d into repo would fail, or nil.
func (x *repoIndex) failed(d digest.Digest, repo string) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if err := x.damaged[string(d)]; err != nil {
		return err
	}
	return x.damaged[string(d)+"@"+repo]
}

// add records that repo holds d.
func (x *repoIndex) add(d digest.Digest, repo string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if !slices.Contains(x.repos[d], repo) {
		x.repos[d] = append(x.repos[d], repo)
	}
}

// others returns the repositories other than repo known to hold d.
func (x *repoIndex) others(d digest.Digest, repo string) []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	var out []string
	for _, r := range x.repos[d] {
		if r != repo {
			out = append(out, r)
		}
	}
	return out
}

// holder returns a function naming a repository other than repo known to
// hold a digest ("" for none), for blobFlights.begin.
func (x *repoIndex) holder(repo string) func(digest.Digest) string {
	return func(d digest.Digest) string {
		if o := x.others(d, repo); len(o) > 0 {
			return o[0]
		}
		return ""
	}
}

// mountFrom is oras' CopyGraphOptions.MountFrom for copies into repo.
func (x *repoIndex) mountFrom(repo string) func(context.Context, ocispec.Descriptor) ([]string, error) {
	return func(_ context.Context, desc ocispec.Descriptor) ([]string, error) {
		return x.others(desc.Digest, repo), nil
	}
}

// repoTarget is a destination repository that uploads each blob once (a
// blob another image is uploading elsewhere is waited for and mounted) and
// records in its index what reaches it.
type repoTarget struct {
	*remote.Repository
	idx  *repoIndex
	repo string
	// open, when set, reopens a blob of the copy's source at an offset
	// (counting what is read): copyGraph then pushes blobs through
	// pushBlob, not oras-go's push.
	open func(ctx context.Context, desc ocispec.Descriptor, off int64) (io.ReadCloser, error)
	// fromStart says open verifies the blob's digest only from offset 0
	// (an archive): every request body of an upload is then served from
	// one reader opened at 0 (see blobSource), so that the digest is
	// checked over every byte before the last ones are sent.
	fromStart bool
	// openFrom, when set, opens desc from a checkpoint of one of open's
	// readers (see blobSource.from).
	openFrom func(ctx context.Context, desc ocispec.Descriptor, cp format.Checkpoint) (io.ReadCloser, error)
	ledger   *ledger
}

// pushBlob is oras-go's PreCopy for copies into t. It pushes every blob
// itself through upload.Push, small ones in one PUT and those of
// chunkedThreshold or more in resumable chunks, reopening the source at any
// offset, and returns oras.SkipNode. oras-go's own push restarts a dropped
// blob from zero, and its PUT reuses the Authorization header of the POST
// before it, so a token that expired in between fails the image; every
// request of upload.Push goes through the auth client with a body it can
// replay. A blob another repository holds is mounted instead.
func (t *repoTarget) pushBlob(ctx context.Context, desc ocispec.Descriptor) error {
	if isManifest(desc.MediaType) {
		return nil // oras-go keeps manifests in memory and replays them
	}
	if err := t.idx.failed(desc.Digest, t.repo); err != nil {
		return err // tried once already, by the stream
	}
	if err := t.idx.tripped(desc.Digest); err != nil {
		return err
	}
	from, end, err := t.idx.flights.begin(ctx, desc.Digest, t.idx.holder(t.repo))
	if err != nil {
		return err
	}
	defer end()
	if from != "" {
		if err := mount(ctx, t.Repository, desc, from); err == nil {
			t.idx.add(desc.Digest, t.repo)
			t.ledger.skipped(SkipMounted, desc) // shared, when this run pushed it
			return oras.SkipNode
		}
	}
	if err := t.upload(ctx, desc, func(off int64) (io.ReadCloser, error) { return t.open(ctx, desc, off) }); err != nil {
		return err
	}
	return oras.SkipNode
}

// upload pushes desc's bytes, read through open, and records it: small
// blobs in one PUT, those of chunkedThreshold or more in resumable chunks.
func (t *repoTarget) upload(ctx context.Context, desc ocispec.Descriptor, open func(off int64) (io.ReadCloser, error)) error {
	scheme := "https"
	if t.PlainHTTP {
		scheme = "http"
	}
	if t.fromStart {
		src := &blobSource{open: open}
		if t.openFrom != nil {
			src.from = func(cp format.Checkpoint) (io.ReadCloser, error) { return t.openFrom(ctx, desc, cp) }
		}
		defer src.close()
		open = src.body
	}
	_, err := upload.Push(ctx, t.Client, scheme+"://"+t.Reference.Registry, t.Reference.Repository, desc, open,
		upload.Options{Monolithic: desc.Size < chunkedThreshold, Logf: t.ledger.Logf})
	if err != nil {
		t.idx.trip(err)
		return fmt.Errorf("push %s (%s): %w", desc.Digest, progress.HumanBytes(desc.Size), err)
	}
	t.idx.add(desc.Digest, t.repo)
	t.idx.confirm(desc.Digest, t.repo)
	t.ledger.moved(desc)
	return nil
}

// Exists answers for what this run wrote or found in t's repository
// itself (the streamed blobs of unpack) without asking again.
func (t *repoTarget) Exists(ctx context.Context, desc ocispec.Descriptor) (bool, error) {
	if t.idx.confirmed(desc.Digest, t.repo) {
		return true, nil
	}
	return t.Repository.Exists(ctx, desc)
}

// openAt opens desc at off from a source that reads whole blobs: a registry
// answers with a seekable body where it serves ranges (distribution does);
// elsewhere the first off bytes are read and dropped.
func openAt(src content.Fetcher) func(context.Context, ocispec.Descriptor, int64) (io.ReadCloser, error) {
	return func(ctx context.Context, desc ocispec.Descriptor, off int64) (io.ReadCloser, error) {
		rc, err := src.Fetch(ctx, desc)
		if err != nil || off == 0 {
			return rc, err
		}
		if s, ok := rc.(io.Seeker); ok {
			if _, err := s.Seek(off, io.SeekStart); err == nil {
				return rc, nil
			}
			rc.Close()
			if rc, err = src.Fetch(ctx, desc); err != nil {
				return nil, err
			}
		}
		if _, err := io.CopyN(io.Discard, rc, off); err != nil {
			rc.Close()
			return nil, fmt.Errorf("skip to offset %d of %s: %w", off, desc.Digest, err)
		}
		return rc, nil
	}
}

// Push uploads a manifest and records it in the index. Blobs never come
// here: copyGraph sends them through pushBlob (every repoTarget has open).
func (t *repoTarget) Push(ctx context.Context, desc ocispec.Descriptor, r io.Reader) error {
	if err := t.Repository.Push(ctx, desc, r); err != nil {
		return err
	}
	t.idx.add(desc.Digest, t.repo)
	return nil
}

// Mount is the cross-repository mount oras uses when MountFrom offers
// candidates.
func (t *repoTarget) Mount(ctx context.Context, desc ocispec.Descriptor, from string, get func() (io.ReadCloser, error)) error {
	if err := t.Repository.Mount(ctx, desc, from, get); err != nil {
		return err
	}
	t.idx.add(desc.Digest, t.repo)
	return nil
}

// blobFlights lets one goroutine at a time upload a blob to a registry.
// Images copied in parallel share layers (a base image under every
// component): without it, each of them uploads the shared layer to its own
// repository, because none has finished when the others look for a
// repository to mount it from. It also bounds the uploads at once to
// maxUploads, and gives a free slot to the waiting upload that comes first
// in order (unpack: the blob's place in the archive, so that the archive is
// read front to back, at most maxUploads blobs at a time; pack: the order
// of arrival).
type blobFlights struct {
	mu      sync.Mutex
	flights map[digest.Digest]chan struct{}
	// order, when set, ranks a blob for a free slot (lower first).
	order func(digest.Digest) int64

	smu     sync.Mutex // guards busy, waiting, arrived
	busy    int
	waiting slotQueue
	arrived int64
}

// maxUploads bounds the blob uploads at once. Reading a blob from an
// archive holds a decoded and a stored chunk (8 MiB at the default chunk
// size); the registry takes no more bytes per second from 24 streams than
// from 4.
const maxUploads = 4

// begin waits while another goroutine uploads d, then returns holder(d)
// when it names a repository to mount d from, or else claims d and waits
// for an upload slot: end must be called once the upload is over, whatever
// its outcome. holder is called without f's lock held.
func (f *blobFlights) begin(ctx context.Context, d digest.Digest, holder func(digest.Digest) string) (from string, end func(), err error) {
	for {
		if from := holder(d); from != "" {
			return from, func() {}, nil
		}
		f.mu.Lock()
		ch, busy := f.flights[d]
		if !busy {
			if f.flights == nil {
				f.flights = map[digest.Digest]chan struct{}{}
			}
			ch = make(chan struct{})
			f.flights[d] = ch
			f.mu.Unlock()
			end := func() {
				f.mu.Lock()
				delete(f.flights, d)
				f.mu.Unlock()
				close(ch)
			}
			if err := f.acquire(ctx, d); err != nil {
				end()
				return "", nil, err
			}
			return "", func() { f.release(); end() }, nil
		}
		f.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return "", nil, ctx.Err()
		}
	}
}

// acquire waits for an upload slot; release frees it.
func (f *blobFlights) acquire(ctx context.Context, d digest.Digest) error {
	f.smu.Lock()
	if f.busy < maxUploads && f.waiting.Len() == 0 {
		f.busy++
		f.smu.Unlock()
		return nil
	}
	w := &slotWaiter{seq: f.arrived, ready: make(chan struct{})}
	f.arrived++
	if f.order != nil {
		w.rank = f.order(d)
	}
	heap.Push(&f.waiting, w)
	f.smu.Unlock()
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		f.smu.Lock()
		granted := w.index < 0
		if !granted {
			heap.Remove(&f.waiting, w.index)
		}
		f.smu.Unlock()
		if granted {
			f.release()
		}
		return ctx.Err()
	}
}

// queued returns how many uploads wait for a slot.
func (f *blobFlights) queued() int {
	f.smu.Lock()
	defer f.smu.Unlock()
	return f.waiting.Len()
}

func (f *blobFlights) release() {
	f.smu.Lock()
	defer f.smu.Unlock()
	if f.waiting.Len() == 0 {
		f.busy--
		return
	}
	w := heap.Pop(&f.waiting).(*slotWaiter) // the slot passes on
	close(w.ready)
}

// slotWaiter is an upload waiting for a slot.
type slotWaiter struct {
	rank, seq int64
	index     int // in the queue; -1 once given a slot
	ready     chan struct{}
}

// slotQueue is a heap of waiters, lowest rank first, then first come.
type slotQueue []*slotWaiter

func (q slotQueue) Len() int { return len(q) }
func (q slotQueue) Less(i, j int) bool {
	if q[i].rank != q[j].rank {
		return q[i].rank < q[j].rank
	}
	return q[i].seq < q[j].seq
}
func (q slotQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index, q[j].index = i, j
}
func (q *slotQueue) Push(x any) {
	w := x.(*slotWaiter)
	w.index = len(*q)
	*q = append(*q, w)
}
func (q *slotQueue) Pop() any {
	old := *q
	w := old[len(old)-1]
	old[len(old)-1] = nil
	w.index = -1
	*q = old[:len(old)-1]
	return w
}

// errNoContent makes a mount that the registry declines fail instead of
// uploading.
var errNoContent = errors.New("mount declined")

// mount mounts desc into dst from repository from. A registry that
// declines the mount (and would take the upload instead) makes it fail:
// the caller then uploads as usual.
func mount(ctx context.Context, dst *remote.Repository, desc ocispec.Descriptor, from string) error {
	return dst.Mount(ctx, desc, from, func() (io.ReadCloser, error) { return nil, errNoContent })
}

// blobSource serves the request bodies of one blob's upload (one PUT, or
// the PATCHes of a chunked upload) from readers opened at offset 0, whose
// digest check covers every byte and withholds the blob's last chunk until
// it matched (format.BlobReader): the registry never gets the bytes that
// complete the upload of a blob that is not what the index says, whether or
// not it checks the digest itself. A body that starts where the previous
// one ended continues its reader, so the blob is read once, front to back.
// A body at another offset (a resume after a dropped connection, a replay
// after a 401, or a previous body the transport has not closed yet) gets a
// reader of its own, read from 0 and dropped up to its offset: the digest is
// still checked over every byte, at the cost of reading that part again.
// Each reader belongs to one body at a time.
type blobSource struct {
	open func(off int64) (io.ReadCloser, error) // verifies from offset 0
	// from, when set, opens a reader from a checkpoint a reader of this
	// source took (format.Checkpoint), which continues its digest check:
	// a body at another offset then reads from the last checkpoint at or
	// before it, not from 0.
	from func(cp format.Checkpoint) (io.ReadCloser, error)
	mu   sync.Mutex
	idle *idleReader         // the reader of the last body closed, where it stopped
	done bool                // the upload is over: bodies closed later close their reader
	cps  []format.Checkpoint // the checkpoints of the last reader closed or set aside
}

// checkpointer is a reader that takes checkpoints (format.BlobReader, and
// the readers that wrap one).
type checkpointer interface {
	Checkpoints() []format.Checkpoint
}

// keep records r's checkpoints, if it takes any, as the latest. s.mu is
// held.
func (s *blobSource) keep(r io.Reader) {
	if c, ok := r.(checkpointer); ok {
		if cps := c.Checkpoints(); len(cps) > 0 {
			s.cps = cps
		}
	}
}

// reopen opens a reader at off: from the last checkpoint at or before off
// when there is one, else from 0, and drops what lies before off.
func (s *blobSource) reopen(off int64) (io.ReadCloser, error) {
	s.mu.Lock()
	var cp *format.Checkpoint
	for i := len(s.cps) - 1; i >= 0 && s.from != nil; i-- {
		if s.cps[i].Offset <= off {
			cp = &s.cps[i]
			break
		}
	}
	s.mu.Unlock()
	var rc io.ReadCloser
	var err error
	at := int64(0)
	if cp != nil {
		rc, err = s.from(*cp)
		at = cp.Offset
	} else {
		rc, err = s.open(0)
	}
	if err != nil {
		return nil, err
	}
	if off > at {
		if _, err := io.CopyN(io.Discard, rc, off-at); err != nil {
			rc.Close()
			return nil, fmt.Errorf("read up to offset %d: %w", off, err)
		}
	}
	return rc, nil
}

// body returns a reader of the blob from off on, for upload.Push.
func (s *blobSource) body(off int64) (io.ReadCloser, error) {
	s.mu.Lock()
	b := s.idle
	s.idle = nil
	s.mu.Unlock()
	if b != nil && b.pos == off {
		return &sourceBody{s: s, r: b.r, pos: b.pos}, nil
	}
	if b != nil {
		b.r.Close()
	}
	rc, err := s.reopen(off)
	if err != nil {
		return nil, err
	}
	return &sourceBody{s: s, r: rc, pos: off}, nil
}

// close closes the reader left idle.
func (s *blobSource) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.done = true
	if s.idle != nil {
		s.idle.r.Close()
		s.idle = nil
	}
}

// idleReader is a reader of the blob no body uses, pos bytes in.
type idleReader struct {
	r   io.ReadCloser
	pos int64
}

// sourceBody is one request body of a blobSource. The transport may close
// it from another goroutine than the one reading it: mu keeps the reader
// from being handed on while a Read is under way.
type sourceBody struct {
	s      *blobSource
	mu     sync.Mutex
	r      io.ReadCloser
	pos    int64
	failed bool
	closed bool
}

func (b *sourceBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, errors.New("read after close")
	}
	n, err := b.r.Read(p)
	b.pos += int64(n)
	if err != nil {
		b.failed = true // at the end, or failed: not continued
	}
	return n, err
}

// Close hands the reader on to the next body, which continues from where
// this one stopped.
func (b *sourceBody) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	b.s.mu.Lock()
	defer b.s.mu.Unlock()
	b.s.keep(b.r)
	if b.failed {
		return b.r.Close()
	}
	if b.s.done {
		return b.r.Close()
	}
	if b.s.idle != nil {
		b.s.idle.r.Close()
	}
	b.s.idle = &idleReader{r: b.r, pos: b.pos}
	return nil
}
