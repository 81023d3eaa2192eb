package format

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
)

// VolumeSink creates the volumes a Writer fills. The Writer writes each
// volume from start to end with Write only (no seeks) and then calls Close on
// it before it asks for the next, so a sink can fsync and rename a finished
// volume in Close. Volume numbers start at 1.
type VolumeSink interface {
	CreateVolume(number uint32) (io.WriteCloser, error)
}

// Compression levels.
const (
	// CompressionFastest favours speed (about 2.9 GB/s per core on
	// incompressible data, lower ratios on text).
	CompressionFastest = 1
	// CompressionDefault is zstd's default level.
	CompressionDefault = 2
	// CompressionBetter compresses harder, at roughly half the speed.
	CompressionBetter = 3
	// CompressionBest is slow; for archives written once and carried far.
	CompressionBest = 4
)

// WriterOptions configure a Writer. The zero value of each field means its
// documented default.
type WriterOptions struct {
	// Archive is the archive id; it must not be zero (use a random value).
	Archive ArchiveID
	// ChunkSize is the uncompressed size of each chunk but a blob's last,
	// MinChunkSize..MaxChunkSize. Default DefaultChunkSize.
	ChunkSize int
	// VolumeSize is the maximum size of a volume file; 0 means no limit (a
	// single volume, as when writing to a pipe). It must leave room for at
	// least one chunk.
	VolumeSize int64
	// Compression is one of the Compression* levels. Default
	// CompressionDefault.
	Compression int
	// OptionalFeatures are recorded in every volume header and the index.
	OptionalFeatures uint64
}

// Writer writes an archive. Blob may be called from many goroutines at once;
// each BlobWriter is used by one goroutine. Errors are sticky: after a write
// to a volume fails, every later call fails with the same error.
type Writer struct {
	opts WriterOptions
	sink VolumeSink
	enc  *zstd.Encoder
	pool sync.Pool // *chunkBuf

	mu        sync.Mutex
	err       error
	closed    bool
	vol       io.WriteCloser
	volNum    uint32
	off       int64
	metaHash  hash.Hash
	metaCount uint64
	volumes   []VolumeInfo
	blobs     map[digest.Digest]*blobRec
	inflight  map[digest.Digest]bool
	storedB   int64
	rawB      int64
}

type chunkBuf struct {
	raw    []byte
	stored []byte
}

// NewWriter returns a writer that creates volumes through sink.
func NewWriter(sink VolumeSink, opts WriterOptions) (*Writer, error) {
	if opts.Archive == (ArchiveID{}) {
		return nil, errors.New("format: WriterOptions.Archive must be set")
	}
	if opts.ChunkSize == 0 {
		opts.ChunkSize = DefaultChunkSize
	}
	if opts.ChunkSize < MinChunkSize || opts.ChunkSize > MaxChunkSize {
		return nil, fmt.Errorf("format: chunk size %d outside %d..%d", opts.ChunkSize, MinChunkSize, MaxChunkSize)
	}
	if min := MinVolumeSize(opts.ChunkSize); opts.VolumeSize != 0 && opts.VolumeSize < min {
		return nil, fmt.Errorf("format: volume size %d is below %d, the least that holds one %d-byte chunk", opts.VolumeSize, min, opts.ChunkSize)
	}
	if opts.VolumeSize > MaxVolumeSize {
		return nil, fmt.Errorf("format: volume size %d above %d", opts.VolumeSize, int64(MaxVolumeSize))
	}
	level := zstd.SpeedDefault
	switch opts.Compression {
	case 0, CompressionDefault:
	case CompressionFastest:
		level = zstd.SpeedFastest
	case CompressionBetter:
		level = zstd.SpeedBetterCompression
	case CompressionBest:
		level = zstd.SpeedBestCompression
	default:
		return nil, fmt.Errorf("format: compression level %d", opts.Compression)
	}
	// One encoder serves every goroutine through EncodeAll. The window is
	// the chunk size: a chunk never refers outside itself.
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(level), zstd.WithEncoderCRC(true),
		zstd.WithWindowSize(windowFor(opts.ChunkSize)), zstd.WithSingleSegment(true), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return nil, fmt.Errorf("format: zstd encoder: %w", err)
	}
	w := &Writer{
		opts:     opts,
		sink:     sink,
		enc:      enc,
		blobs:    make(map[digest.Digest]*blobRec),
		inflight: make(map[digest.Digest]bool),
	}
	w.pool.New = func() any {
		return &chunkBuf{raw: make([]byte, 0, opts.ChunkSize), stored: make([]byte, 0, MaxStoredSize(opts.ChunkSize))}
	}
	return w, nil
}

func windowFor(chunk int) int {
	w := zstd.MinWindowSize
	for w < chunk && w < zstd.MaxWindowSize {
		w <<= 1
	}
	return w
}

// MinVolumeSize is the smallest volume that holds one chunk of the given
// size with its header and footer.
func MinVolumeSize(chunkSize int) int64 {
	return int64(frameOverhead+volumeHeaderBody) + int64(chunkHeaderFrameSize(digest.SHA512.FromString(""))) +
		int64(MaxStoredSize(chunkSize)) + FooterSize
}

// Has reports whether a blob with digest d has been committed.
func (w *Writer) Has(d digest.Digest) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, ok := w.blobs[d]
	return ok
}

// Stats returns the raw and stored bytes of the chunks written so far.
func (w *Writer) Stats() (raw, stored int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.rawB, w.storedB
}

// Blob starts writing a blob of the given digest and size. It fails with
// ErrDuplicate if the blob is committed or being written. The caller writes
// exactly size bytes and calls Commit, or calls Abort.
func (w *Writer) Blob(d digest.Digest, size int64) (*BlobWriter, error) {
	if err := ValidateDigest(d); err != nil {
		return nil, err
	}
	if size < 0 {
		return nil, fmt.Errorf("%w: negative size %d for %s", ErrSize, size, d)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed || w.err != nil {
		return nil, w.stickyErr()
	}
	if _, ok := w.blobs[d]; ok || w.inflight[d] {
		return nil, fmt.Errorf("%w: %s", ErrDuplicate, d)
	}
	w.inflight[d] = true
	return &BlobWriter{w: w, digest: d, size: size, h: d.Algorithm().Hash()}, nil
}

func (w *Writer) stickyErr() error {
	if w.err != nil {
		return w.err
	}
	return ErrClosed
}

// BlobWriter writes one blob. It is not safe for concurrent use.
type BlobWriter struct {
	w      *Writer
	digest digest.Digest
	size   int64
	n      int64
	h      hash.Hash
	buf    *chunkBuf
	chunks []Chunk
	done   bool
	err    error

	incompressible bool // the last compressed chunk saved almost nothing
	rawRun         int  // chunks stored raw since the last probe
}

// reprobeEvery is how many chunks of an incompressible blob are stored raw
// before compression is tried again.
const reprobeEvery = 16

// HintIncompressible tells the writer the blob is already compressed (a gzip
// or zstd layer), so its chunks are stored raw from the first.
func (b *BlobWriter) HintIncompressible() { b.incompressible = true }

// Write buffers p and writes every full chunk.
func (b *BlobWriter) Write(p []byte) (int, error) {
	if b.done {
		return 0, ErrClosed
	}
	if b.err != nil {
		return 0, b.err
	}
	if int64(len(p)) > b.size-b.n {
		b.err = fmt.Errorf("%w: blob %s: more than the declared %d bytes", ErrSize, b.digest, b.size)
		return 0, b.err
	}
	written := 0
	for len(p) > 0 {
		if b.buf == nil {
			b.buf = b.w.pool.Get().(*chunkBuf)
			b.buf.raw = b.buf.raw[:0]
		}
		room := b.w.opts.ChunkSize - len(b.buf.raw)
		k := min(room, len(p))
		b.buf.raw = append(b.buf.raw, p[:k]...)
		b.h.Write(p[:k])
		p = p[k:]
		b.n += int64(k)
		written += k
		if len(b.buf.raw) == b.w.opts.ChunkSize {
			if err := b.flush(); err != nil {
				b.err = err
				return written, err
			}
		}
	}
	return written, nil
}

// ReadFrom copies from r until EOF, so io.Copy needs no extra buffer.
func (b *BlobWriter) ReadFrom(r io.Reader) (int64, error) {
	var total int64
	for {
		if b.done {
			return total, ErrClosed
		}
		if b.err != nil {
			return total, b.err
		}
		if b.buf == nil {
			b.buf = b.w.pool.Get().(*chunkBuf)
			b.buf.raw = b.buf.raw[:0]
		}
		room := b.w.opts.ChunkSize - len(b.buf.raw)
		start := len(b.buf.raw)
		n, err := r.Read(b.buf.raw[start : start+room])
		if int64(n) > b.size-b.n {
			b.err = fmt.Errorf("%w: blob %s: more than the declared %d bytes", ErrSize, b.digest, b.size)
			return total, b.err
		}
		b.buf.raw = b.buf.raw[:start+n]
		b.h.Write(b.buf.raw[start:])
		b.n += int64(n)
		total += int64(n)
		if len(b.buf.raw) == b.w.opts.ChunkSize {
			if ferr := b.flush(); ferr != nil {
				b.err = ferr
				return total, ferr
			}
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// flush compresses the buffered chunk (in this goroutine) and appends it.
func (b *BlobWriter) flush() error {
	cb := b.buf
	if cb == nil || len(cb.raw) == 0 {
		return nil
	}
	// Data that does not compress (gzip layers) is stored in raw blocks,
	// skipping the encoder's attempt: after one chunk of a blob saves less
	// than 1/64, its next chunks are stored raw, probing again every
	// reprobeEvery chunks.
	if b.incompressible && b.rawRun < reprobeEvery {
		cb.stored = appendRawFrame(cb.stored[:0], cb.raw)
		b.rawRun++
	} else {
		cb.stored = b.w.enc.EncodeAll(cb.raw, cb.stored[:0])
		b.incompressible = len(cb.stored) > len(cb.raw)-len(cb.raw)/64
		b.rawRun = 0
	}
	hdr := ChunkHeader{
		Blob:       b.digest,
		BlobSize:   b.size,
		BlobOffset: b.n - int64(len(cb.raw)),
		RawSize:    uint32(len(cb.raw)),
		StoredSize: uint32(len(cb.stored)),
		StoredXXH:  xxhash.Sum64(cb.stored),
	}
	c, err := b.w.appendChunk(hdr, cb.stored)
	if err != nil {
		return err
	}
	b.chunks = append(b.chunks, c)
	cb.raw = cb.raw[:0]
	return nil
}

// Commit writes the last chunk, checks the size and digest, and records the
// blob. A blob that fails the check is not recorded (its chunks stay in the
// volume as unreferenced records).
func (b *BlobWriter) Commit() error {
	if b.done {
		return ErrClosed
	}
	defer b.release()
	if b.err != nil {
		return b.err
	}
	if b.n != b.size {
		return fmt.Errorf("%w: blob %s: %d bytes written, %d declared", ErrSize, b.digest, b.n, b.size)
	}
	if err := b.flush(); err != nil {
		return err
	}
	if got := digest.NewDigest(b.digest.Algorithm(), b.h); got != b.digest {
		return &Error{Op: "write blob", Blob: b.digest, Offset: -1, Detail: "content has digest " + string(got), Err: ErrDigest}
	}
	return b.w.commit(&blobRec{digest: b.digest, size: b.size, chunks: b.chunks})
}

// Abort abandons the blob.
func (b *BlobWriter) Abort() {
	if !b.done {
		b.release()
	}
}

func (b *BlobWriter) release() {
	b.done = true
	if b.buf != nil {
		b.w.pool.Put(b.buf)
		b.buf = nil
	}
	b.w.mu.Lock()
	delete(b.w.inflight, b.digest)
	b.w.mu.Unlock()
}

func (w *Writer) commit(r *blobRec) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil || w.closed {
		return w.stickyErr()
	}
	w.blobs[r.digest] = r
	return nil
}

// appendChunk writes a chunk header and its frame, starting a volume when
// needed. It holds the writer's lock only for the write itself.
func (w *Writer) appendChunk(h ChunkHeader, stored []byte) (Chunk, error) {
	hdr := h.appendTo(make([]byte, 0, 128))
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil || w.closed {
		return Chunk{}, w.stickyErr()
	}
	need := int64(len(hdr) + len(stored))
	if w.vol != nil && w.opts.VolumeSize > 0 && w.off+need+FooterSize > w.opts.VolumeSize {
		if err := w.finishVolume(false, nil); err != nil {
			return Chunk{}, err
		}
	}
	if w.vol == nil {
		if err := w.startVolume(); err != nil {
			return Chunk{}, err
		}
	}
	if err := w.writeMeta(hdr); err != nil {
		return Chunk{}, err
	}
	c := Chunk{Volume: w.volNum, Offset: w.off, StoredSize: h.StoredSize, RawSize: h.RawSize, StoredXXH: h.StoredXXH}
	if err := w.write(stored); err != nil {
		return Chunk{}, err
	}
	w.rawB += int64(h.RawSize)
	w.storedB += int64(h.StoredSize)
	return c, nil
}

func (w *Writer) startVolume() error {
	n := w.volNum + 1
	f, err := w.sink.CreateVolume(n)
	if err != nil {
		w.err = fmt.Errorf("format: create volume %d: %w", n, err)
		return w.err
	}
	w.vol, w.volNum, w.off = f, n, 0
	w.metaHash, w.metaCount = sha256.New(), 0
	h := VolumeHeader{Version: Version, Volume: n, Archive: w.opts.Archive,
		RequiredFeatures: knownRequiredFeatures, OptionalFeatures: w.opts.OptionalFeatures, ChunkSize: uint32(w.opts.ChunkSize)}
	return w.writeMeta(h.appendTo(nil))
}

func (w *Writer) writeMeta(frame []byte) error {
	w.metaHash.Write(frame)
	w.metaCount++
	return w.write(frame)
}

func (w *Writer) write(p []byte) error {
	n, err := w.vol.Write(p)
	w.off += int64(n)
	if err == nil && n != len(p) {
		err = io.ErrShortWrite
	}
	if err != nil {
		w.err = &Error{Op: "write", Volume: w.volNum, Offset: w.off, Err: err}
	}
	return err
}

// finishVolume writes the footer and closes the current volume.
func (w *Writer) finishVolume(final bool, idx *Footer) error {
	f := Footer{Volume: w.volNum, Archive: w.opts.Archive, Final: final, RecordsEnd: w.off, MetadataCount: w.metaCount}
	copy(f.MetadataHash[:], w.metaHash.Sum(nil))
	if idx != nil {
		f.IndexOffset, f.IndexLength, f.IndexHash = idx.IndexOffset, idx.IndexLength, idx.IndexHash
	}
	b := f.encode()
	if err := w.write(b); err != nil {
		return err
	}
	if err := w.vol.Close(); err != nil {
		w.err = fmt.Errorf("format: close volume %d: %w", w.volNum, err)
		return w.err
	}
	w.vol = nil
	w.volumes = append(w.volumes, VolumeInfo{Number: f.Volume, Size: w.off, Digest: sha256.Sum256(b), Final: final})
	return nil
}

// Close writes the manifest and the index into the final volume and closes
// it. The manifest's Archive field is set from the writer's options. Blobs
// still being written are not part of the archive. After Close, every call
// fails with ErrClosed.
func (w *Writer) Close(m *Manifest) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	w.closed = true
	if w.err != nil {
		w.abortVolume()
		return w.err
	}
	mc := *m
	mc.MediaType = ManifestMediaType
	mc.Archive = w.opts.Archive.String()
	if mc.Created.IsZero() {
		mc.Created = time.Now().UTC().Truncate(time.Second)
	}
	for _, r := range mc.Roots {
		if _, ok := w.blobs[r.Descriptor.Digest]; !ok && !isPrereq(&mc, r.Descriptor.Digest) {
			w.err = fmt.Errorf("format: root %s is neither in the archive nor a prerequisite", r.Descriptor.Digest)
			w.abortVolume()
			return w.err
		}
	}
	for _, at := range mc.Attachments {
		if b, ok := w.blobs[at.Digest]; !ok || b.size != at.Size {
			w.err = fmt.Errorf("format: attachment %q names %s, which the archive does not hold with size %d", at.Name, at.Digest, at.Size)
			w.abortVolume()
			return w.err
		}
	}
	for _, r := range mc.Roots {
		if b, ok := w.blobs[r.Descriptor.Digest]; ok && b.size != r.Descriptor.Size {
			w.err = fmt.Errorf("format: root %s has size %d, the blob %d", r.Descriptor.Digest, r.Descriptor.Size, b.size)
			w.abortVolume()
			return w.err
		}
	}
	if mc.Delta != nil {
		for _, p := range mc.Delta.Prerequisites {
			if _, ok := w.blobs[p.Digest]; ok {
				w.err = fmt.Errorf("format: prerequisite %s is also in the archive", p.Digest)
				w.abortVolume()
				return w.err
			}
		}
	}
	if err := mc.validate(); err != nil {
		w.err = err
		w.abortVolume()
		return err
	}
	if err := checkOmitted(&mc, func(d digest.Digest) bool { _, ok := w.blobs[d]; return ok }); err != nil {
		w.err = err
		w.abortVolume()
		return err
	}
	mj, err := EncodeManifest(&mc)
	if err != nil {
		w.err = err
		w.abortVolume()
		return err
	}
	if len(mj) > MaxManifestSize {
		w.err = fmt.Errorf("%w: manifest is %d bytes, the limit is %d", ErrLimit, len(mj), MaxManifestSize)
		w.abortVolume()
		return w.err
	}
	mframe := appendFrame(make([]byte, 0, len(mj)+frameOverhead), TagManifest, mj)
	blobs := make([]blobRec, 0, len(w.blobs))
	for _, b := range w.blobs {
		blobs = append(blobs, *b)
	}
	// The index lists every volume, the final one included: its size
	// depends on how many volumes there are when it is written.
	tailFor := func() (int64, int64) {
		n := len(w.volumes) + 1
		if w.vol == nil {
			n = len(w.volumes) + 1 // the volume about to start
		}
		il := indexFrameSize(n, blobs)
		return il, int64(len(mframe)) + il + FooterSize
	}
	ilen, tail := tailFor()
	if ilen-frameOverhead > MaxIndexSize {
		w.err = fmt.Errorf("%w: index would be %d bytes, the limit is %d", ErrLimit, ilen, MaxIndexSize)
		w.abortVolume()
		return w.err
	}
	if w.vol != nil && w.opts.VolumeSize > 0 && w.off+tail > w.opts.VolumeSize {
		if err := w.finishVolume(false, nil); err != nil {
			return err
		}
	}
	if w.vol == nil {
		if err := w.startVolume(); err != nil {
			return err
		}
		ilen, tail = tailFor()
		if w.opts.VolumeSize > 0 && w.off+tail > w.opts.VolumeSize {
			w.err = fmt.Errorf("%w: manifest and index (%d bytes) do not fit in a %d-byte volume", ErrLimit, tail, w.opts.VolumeSize)
			w.abortVolume()
			return w.err
		}
	}
	moff := w.off
	if err := w.writeMeta(mframe); err != nil {
		return err
	}
	h := indexHeader{Version: Version, Archive: w.opts.Archive, RequiredFeatures: knownRequiredFeatures,
		OptionalFeatures: w.opts.OptionalFeatures, ManifestOffset: moff, ManifestLength: int64(len(mframe)),
		ManifestHash: sha256.Sum256(mframe)}
	ioff := w.off
	vols := append(append([]VolumeInfo(nil), w.volumes...),
		VolumeInfo{Number: w.volNum, Size: ioff + ilen + FooterSize, Final: true})
	iframe := encodeIndex(h, vols, blobs)
	if int64(len(iframe)) != ilen {
		w.err = fmt.Errorf("format: internal error: index is %d bytes, computed %d", len(iframe), ilen)
		w.abortVolume()
		return w.err
	}
	if err := w.writeMeta(iframe); err != nil {
		return err
	}
	return w.finishVolume(true, &Footer{IndexOffset: ioff, IndexLength: ilen, IndexHash: sha256.Sum256(iframe)})
}

func isPrereq(m *Manifest, d digest.Digest) bool {
	if m.Delta == nil {
		return false
	}
	for _, p := range m.Delta.Prerequisites {
		if p.Digest == d {
			return true
		}
	}
	return false
}

// abortVolume closes an unfinished volume without a footer: what is left is
// recognisably incomplete.
func (w *Writer) abortVolume() {
	if w.vol != nil {
		w.vol.Close()
		w.vol = nil
	}
}

// appendRawFrame appends a zstd frame holding raw in raw blocks: single
// segment, 4-byte content size, content checksum (RFC 8878 3.1.1). It is
// what an encoder emits for incompressible data, without trying to compress.
func appendRawFrame(dst, raw []byte) []byte {
	const maxBlock = 128 << 10
	dst = le.AppendUint32(dst, zstdMagic)
	// Frame header descriptor: FCS field 4 bytes (2<<6), single segment
	// (1<<5), content checksum (1<<2), no dictionary.
	dst = append(dst, 2<<6|1<<5|1<<2)
	dst = le.AppendUint32(dst, uint32(len(raw)))
	for off := 0; ; {
		n := min(maxBlock, len(raw)-off)
		last := off+n == len(raw)
		bh := uint32(n) << 3 // block type 0: raw
		if last {
			bh |= 1
		}
		dst = append(dst, byte(bh), byte(bh>>8), byte(bh>>16))
		dst = append(dst, raw[off:off+n]...)
		off += n
		if last {
			break
		}
	}
	return le.AppendUint32(dst, uint32(xxhash.Sum64(raw)))
}
