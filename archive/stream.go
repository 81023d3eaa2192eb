package archive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/errdef"

	"github.com/enclave-mirror/enclave/format"
)

// StreamOptions bound Stream.
type StreamOptions struct {
	// Concurrency is how many blobs are consumed at once (default 4).
	Concurrency int
	// MaxConcurrency is how many may be, when the chunks of more blobs than
	// Concurrency lie interleaved in a volume (a pack writes several blobs
	// at once, 4 with this package's Writer): without them the read could
	// not go on in order (default twice Concurrency). A blob that would pass
	// it is consumed after the pass, through reads of its own.
	MaxConcurrency int
	// ReadAhead is how many chunks may be read and not yet taken by their
	// consumers (default 4): the memory of the pass is ReadAhead stored
	// chunks, plus a stored and a decoded chunk per blob being consumed.
	ReadAhead int
}

func (o StreamOptions) withDefaults() StreamOptions {
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.MaxConcurrency < o.Concurrency {
		o.MaxConcurrency = 2 * o.Concurrency
	}
	if o.ReadAhead <= 0 {
		o.ReadAhead = 4
	}
	return o
}

// Stream hands each blob of descs to consume, reading the volumes once, in
// order, front to back: one goroutine reads the chunks of the blobs asked
// for in the order the volumes hold them and passes each to the reader of
// its blob, and a blob is given to consume (in a goroutine of its own,
// Concurrency at a time) when the read reaches its first chunk. This is
// the read a USB disk or an optical drive is fast at: the only jumps are
// over blobs not asked for.
//
// The reader consume gets is what Fetch returns: each chunk is checked,
// and the blob's digest is checked before any byte of its last chunk is
// served (a mismatch is the error of that Read, naming the volume and
// offset), so a consumer that commits only a complete blob never commits
// a damaged one. consume must close it; closing it early (an upload that
// restarts, through FetchAt) lets the pass skip the rest of that blob.
// What consume returns is its own business: Stream goes on with the other
// blobs. The pass reads at most one chunk ahead of each reader, and waits
// for a reader that does not take it: a consumer must keep reading or
// close (a slow one slows the pass; one that stops, stops it). Blobs whose
// chunks lie interleaved with more than MaxConcurrency others, and the
// empty blob, are consumed after the pass, each through a reader of its
// own (Fetch).
//
// Stream returns when every blob was consumed, or the context was
// cancelled (its error). A digest the archive does not hold is an error
// before anything is read.
func (r *Reader) Stream(ctx context.Context, descs []ocispec.Descriptor, opts StreamOptions, consume func(ctx context.Context, desc ocispec.Descriptor, rc io.ReadCloser) error) error {
	opts = opts.withDefaults()
	s := &stream{r: r, opts: opts, consume: consume, slotFreed: make(chan struct{}, 1)}
	seen := map[digest.Digest]bool{}
	for _, d := range descs {
		if seen[d.Digest] {
			continue
		}
		seen[d.Digest] = true
		b, ok := r.arch.Lookup(d.Digest)
		if !ok {
			return fmt.Errorf("archive: stream %s: %w", d.Digest, errdef.ErrNotFound)
		}
		if b.Size != d.Size {
			return fmt.Errorf("archive: stream %s: %d bytes in the archive, the descriptor says %d", d.Digest, b.Size, d.Size)
		}
		s.blobs = append(s.blobs, &streamBlob{desc: d, blob: b, chunks: r.arch.Chunks(b)})
	}
	s.plan()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.tokens = make(chan struct{}, opts.ReadAhead)
	for range opts.ReadAhead {
		s.tokens <- struct{}{}
	}
	err := s.read(ctx)
	s.wg.Wait()
	if err != nil {
		return err
	}
	// The blobs the pass could not take in order: each read on its own.
	sem := make(chan struct{}, opts.Concurrency)
	for _, b := range s.blobs {
		if !b.deferred {
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() { <-sem }()
			rc, err := r.Fetch(ctx, b.desc) // it holds b: checked above
			if err == nil {
				consume(ctx, b.desc, rc)
			}
		}()
	}
	s.wg.Wait()
	return ctx.Err()
}

// stream is one Stream call.
type stream struct {
	r       *Reader
	opts    StreamOptions
	consume func(context.Context, ocispec.Descriptor, io.ReadCloser) error
	blobs   []*streamBlob
	order   []chunkRef // every chunk of every blob, as the volumes hold them
	tokens  chan struct{}
	wg      sync.WaitGroup

	mu        sync.Mutex // guards active and each blob's delivered
	active    []*streamBlob
	slotFreed chan struct{} // a consumer ended
}

// streamBlob is a blob of a Stream.
type streamBlob struct {
	desc     ocispec.Descriptor
	blob     format.Blob
	chunks   []format.Chunk
	deferred bool // consumed after the pass
	feed     *feed
	// delivered says every chunk was passed on: the consumer can end
	// without the pass.
	delivered bool
}

type chunkRef struct {
	blob  *streamBlob
	chunk int
}

// plan orders every chunk by volume and offset. A blob's chunks run forward
// through the volumes (spec/FORMAT.md 6.3; Open refuses an index where they
// do not), so the pass meets them in blob order; a blob for which that
// would not hold is consumed after the pass all the same, as is the empty
// blob, which has no chunk to read.
func (s *stream) plan() {
	for _, b := range s.blobs {
		if len(b.chunks) == 0 || !slices.IsSortedFunc(b.chunks, compareChunks) {
			b.deferred = true
			continue
		}
		for i := range b.chunks {
			s.order = append(s.order, chunkRef{b, i})
		}
	}
	slices.SortFunc(s.order, func(x, y chunkRef) int {
		return compareChunks(x.blob.chunks[x.chunk], y.blob.chunks[y.chunk])
	})
}

func compareChunks(x, y format.Chunk) int {
	if x.Volume != y.Volume {
		return int(x.Volume) - int(y.Volume)
	}
	switch {
	case x.Offset < y.Offset:
		return -1
	case x.Offset > y.Offset:
		return 1
	}
	return 0
}

// read is the pass: it reads the chunks in order and hands them on.
func (s *stream) read(ctx context.Context) error {
	for _, ref := range s.order {
		b := ref.blob
		if ref.chunk == 0 && !s.admit(ctx, b) {
			if err := ctx.Err(); err != nil {
				return err
			}
			continue
		}
		if b.deferred || b.feed.abandoned() {
			continue
		}
		select {
		case <-s.tokens:
		case <-ctx.Done():
			return ctx.Err()
		}
		c := b.chunks[ref.chunk]
		buf := &fedChunk{volume: c.Volume, offset: c.Offset, data: chunkBuffer(int(c.StoredSize))}
		v, err := s.r.vols.Volume(c.Volume)
		if err == nil {
			err = readFull(v, buf.data, c.Offset)
		}
		buf.err = err
		if ref.chunk == len(b.chunks)-1 {
			s.mu.Lock()
			b.delivered = true
			s.mu.Unlock()
		}
		if !b.feed.send(ctx, buf) {
			putChunkBuffer(buf.data)
			s.tokens <- struct{}{}
			if err := ctx.Err(); err != nil {
				return err
			}
		}
	}
	return nil
}

// admit starts b's consumer when a slot is free. Every slot may be taken
// by a blob whose chunks come later in the volumes: waiting for one of
// them to end would wait for ever, so b then takes one of the slots above
// Concurrency, and when those are taken too it is deferred (false).
func (s *stream) admit(ctx context.Context, b *streamBlob) bool {
	for {
		s.mu.Lock()
		n, ending := len(s.active), 0
		for _, a := range s.active {
			if a.delivered {
				ending++
			}
		}
		switch {
		case n < s.opts.Concurrency || (ending == 0 && n < s.opts.MaxConcurrency):
			s.active = append(s.active, b)
			s.mu.Unlock()
			s.start(ctx, b)
			return true
		case ending == 0:
			b.deferred = true
			s.mu.Unlock()
			return false
		}
		s.mu.Unlock()
		select { // one of the ending consumers frees its slot
		case <-s.slotFreed:
		case <-ctx.Done():
			b.deferred = true
			return false
		}
	}
}

// start runs b's consumer.
func (s *stream) start(ctx context.Context, b *streamBlob) {
	b.feed = &feed{ctx: ctx, ch: make(chan *fedChunk, 1), gone: make(chan struct{}), tokens: s.tokens}
	br := s.r.arch.OpenBlob(b.blob, b.feed)
	rc := &fedReader{ctx: ctx, BlobReader: br, feed: b.feed}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() {
			rc.Close() // whatever consume did
			s.mu.Lock()
			s.active = slices.DeleteFunc(s.active, func(a *streamBlob) bool { return a == b })
			s.mu.Unlock()
			select {
			case s.slotFreed <- struct{}{}:
			default:
			}
		}()
		s.consume(ctx, b.desc, rc)
	}()
}

// fedChunk is a chunk's stored bytes, read by the pass.
type fedChunk struct {
	volume uint32
	offset int64
	data   []byte
	err    error
}

// chunkBufs are the buffers of the pass, handed back by the BlobReaders
// once they copied the chunk out.
var chunkBufs sync.Pool

func chunkBuffer(n int) []byte {
	if b, ok := chunkBufs.Get().(*[]byte); ok && cap(*b) >= n {
		return (*b)[:n]
	}
	return make([]byte, n)
}

func putChunkBuffer(b []byte) { chunkBufs.Put(&b) }

// feed passes one blob's chunks from the pass to its BlobReader, as the
// format.VolumeSet it reads from. Every chunk in it holds one of the
// pass's read-ahead tokens, given back when the reader took it, or when
// the reader is closed with the chunk still waiting.
type feed struct {
	ctx    context.Context
	ch     chan *fedChunk // one chunk read ahead
	gone   chan struct{}  // closed when the reader is closed
	once   sync.Once
	tokens chan struct{}
}

func (f *feed) abandoned() bool {
	select {
	case <-f.gone:
		return true
	default:
		return false
	}
}

// send passes c on, and reports whether it did.
func (f *feed) send(ctx context.Context, c *fedChunk) bool {
	select {
	case <-f.gone:
		return false
	default:
	}
	select {
	case f.ch <- c:
		// The reader may have been closed as it went in: then nobody
		// takes it (close drains only what it finds).
		if f.abandoned() {
			f.drain()
		}
		return true
	case <-f.gone:
		return false
	case <-ctx.Done():
		return false
	}
}

// drain gives back the token and buffer of a chunk nobody will read.
func (f *feed) drain() {
	select {
	case c := <-f.ch:
		putChunkBuffer(c.data)
		f.tokens <- struct{}{}
	default:
	}
}

func (f *feed) close() {
	f.once.Do(func() { close(f.gone) })
	f.drain()
}

// Volume is format.VolumeSet: the chunk the pass read next.
func (f *feed) Volume(n uint32) (io.ReaderAt, error) { return fedVolume{f, n}, nil }

type fedVolume struct {
	f      *feed
	volume uint32
}

// StoredChunk hands the BlobReader the chunk the pass read, which is the
// one it reads next (the pass reads a blob's chunks in its order), without
// a copy (format.StoredChunks).
func (v fedVolume) StoredChunk(off int64, n int) ([]byte, func(), error) {
	var c *fedChunk
	select {
	case c = <-v.f.ch:
	case <-v.f.gone:
		return nil, nil, errStreamClosed
	case <-v.f.ctx.Done():
		return nil, nil, v.f.ctx.Err()
	}
	done := func() {
		putChunkBuffer(c.data)
		v.f.tokens <- struct{}{}
	}
	if c.volume != v.volume || c.offset != off || len(c.data) != n {
		done()
		return nil, nil, fmt.Errorf("archive: stream: read %d bytes at volume %d offset %d, the pass read %d at volume %d offset %d",
			n, v.volume, off, len(c.data), c.volume, c.offset)
	}
	if c.err != nil {
		done()
		return nil, nil, c.err
	}
	return c.data, done, nil
}

// ReadAt is StoredChunk with a copy.
func (v fedVolume) ReadAt(p []byte, off int64) (int, error) {
	b, done, err := v.StoredChunk(off, len(p))
	if err != nil {
		return 0, err
	}
	defer done()
	return copy(p, b), nil
}

var errStreamClosed = errors.New("archive: stream: reader closed")

// fedReader is the reader a consumer gets.
type fedReader struct {
	ctx context.Context
	*format.BlobReader
	feed *feed
}

func (r *fedReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.BlobReader.Read(p)
}

func (r *fedReader) Close() error {
	r.feed.close()
	return r.BlobReader.Close()
}

// readFull reads exactly len(b) bytes at off.
func readFull(r io.ReaderAt, b []byte, off int64) error {
	n, err := r.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || err == io.EOF {
		return fmt.Errorf("%w: %d of %d bytes at offset %d", format.ErrTruncated, n, len(b), off)
	}
	return err
}
