package format

import (
	"crypto/sha256"
	"encoding"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"

	"github.com/cespare/xxhash/v2"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
)

// Limits bound what a reader accepts. Zero fields take the format's maxima;
// larger values are clamped to them.
type Limits struct {
	MaxIndexSize    int
	MaxManifestSize int
	MaxChunkSize    int
	MaxVolumes      int
}

func (l Limits) withDefaults() Limits {
	clamp := func(v *int, max int) {
		if *v <= 0 || *v > max {
			*v = max
		}
	}
	clamp(&l.MaxIndexSize, MaxIndexSize)
	clamp(&l.MaxManifestSize, MaxManifestSize)
	clamp(&l.MaxChunkSize, MaxChunkSize)
	clamp(&l.MaxVolumes, MaxVolumes)
	return l
}

// ReaderOptions configure Open.
type ReaderOptions struct {
	Limits Limits
}

// Archive is an opened archive: its index and manifest, read from the final
// volume and verified against the footer. Other volumes are read on demand
// through a VolumeSet. An Archive is safe for concurrent use.
type Archive struct {
	footer   Footer
	ix       *index
	manifest *Manifest
	rawMan   []byte
	digest   digest.Digest
	lim      Limits
}

// VolumeSet gives access to an archive's volumes by number.
type VolumeSet interface {
	Volume(number uint32) (io.ReaderAt, error)
}

// ReadFooter reads and checks the footer of a volume of the given size.
func ReadFooter(r io.ReaderAt, size int64) (Footer, error) {
	if size < FooterSize+frameOverhead {
		return Footer{}, fmt.Errorf("%w: volume of %d bytes is smaller than a header and a footer", ErrTruncated, size)
	}
	b := make([]byte, FooterSize)
	if err := readAt(r, b, size-FooterSize); err != nil {
		return Footer{}, fmt.Errorf("format: read footer: %w", err)
	}
	return parseFooter(b, size)
}

// ReadVolumeHeader reads and checks the header frame at the start of a volume.
func ReadVolumeHeader(r io.ReaderAt) (VolumeHeader, error) {
	b := make([]byte, frameOverhead+volumeHeaderBody)
	if err := readAt(r, b, 0); err != nil {
		return VolumeHeader{}, fmt.Errorf("format: read volume header: %w", err)
	}
	tag, body, err := parseFrame(b)
	if err != nil {
		return VolumeHeader{}, err
	}
	if tag != TagVolumeHeader {
		return VolumeHeader{}, fmt.Errorf("%w: first frame is %q, want %q", ErrMalformed, tag, TagVolumeHeader)
	}
	return parseVolumeHeader(body)
}

// Open reads the footer, index and manifest of an archive's final volume,
// checks them against each other and against the limits, and returns the
// archive. Nothing is allocated from an untrusted count before it is checked
// against the bytes that hold it.
func Open(final io.ReaderAt, size int64, opts ReaderOptions) (*Archive, error) {
	lim := opts.Limits.withDefaults()
	fail := func(err error) (*Archive, error) {
		var fe *Error
		if errors.As(err, &fe) {
			return nil, err
		}
		return nil, &Error{Op: "open", Offset: -1, Err: err}
	}
	f, err := ReadFooter(final, size)
	if err != nil {
		return fail(err)
	}
	if !f.Final {
		return fail(fmt.Errorf("%w: volume %d is not the final volume of its archive (the final volume holds the index)", ErrVolume, f.Volume))
	}
	hdr, err := ReadVolumeHeader(final)
	if err != nil {
		return fail(err)
	}
	if hdr.Archive != f.Archive || hdr.Volume != f.Volume {
		return fail(fmt.Errorf("%w: header says archive %s volume %d, footer archive %s volume %d", ErrMalformed, hdr.Archive, hdr.Volume, f.Archive, f.Volume))
	}
	if f.IndexLength > int64(lim.MaxIndexSize)+frameOverhead {
		return fail(fmt.Errorf("%w: index is %d bytes, the limit is %d", ErrLimit, f.IndexLength, lim.MaxIndexSize))
	}
	iframe := make([]byte, f.IndexLength)
	if err := readAt(final, iframe, f.IndexOffset); err != nil {
		return fail(fmt.Errorf("format: read index: %w", err))
	}
	if sha256.Sum256(iframe) != f.IndexHash {
		return fail(&Error{Op: "open", Volume: f.Volume, Offset: f.IndexOffset, Detail: "index SHA-256 differs from the footer's", Err: ErrDigest})
	}
	tag, body, err := parseFrame(iframe)
	if err != nil {
		return fail(err)
	}
	if tag != TagIndex {
		return fail(fmt.Errorf("%w: index frame has tag %q", ErrMalformed, tag))
	}
	ix, err := parseIndex(body, size, f.IndexOffset, lim)
	if err != nil {
		return fail(err)
	}
	if ix.hdr.Archive != f.Archive || uint32(len(ix.volumes)) != f.Volume {
		return fail(fmt.Errorf("%w: index is for archive %s with %d volumes, footer says %s volume %d", ErrMalformed, ix.hdr.Archive, len(ix.volumes), f.Archive, f.Volume))
	}
	mframe := make([]byte, ix.hdr.ManifestLength)
	if err := readAt(final, mframe, ix.hdr.ManifestOffset); err != nil {
		return fail(fmt.Errorf("format: read manifest: %w", err))
	}
	if sha256.Sum256(mframe) != ix.hdr.ManifestHash {
		return fail(&Error{Op: "open", Volume: f.Volume, Offset: ix.hdr.ManifestOffset, Detail: "manifest SHA-256 differs from the index's", Err: ErrDigest})
	}
	tag, mj, err := parseFrame(mframe)
	if err != nil {
		return fail(err)
	}
	if tag != TagManifest {
		return fail(fmt.Errorf("%w: manifest frame has tag %q", ErrMalformed, tag))
	}
	m, err := DecodeManifest(mj)
	if err != nil {
		return fail(err)
	}
	if m.Archive != f.Archive.String() {
		return fail(fmt.Errorf("%w: manifest names archive %s, volumes %s", ErrMalformed, m.Archive, f.Archive))
	}
	a := &Archive{footer: f, ix: ix, manifest: m, rawMan: mj, lim: lim,
		digest: digest.NewDigestFromBytes(digest.SHA256, f.IndexHash[:])}
	for _, r := range m.Roots {
		b, ok := a.Lookup(r.Descriptor.Digest)
		if !ok && !isPrereq(m, r.Descriptor.Digest) {
			return fail(fmt.Errorf("%w: root %s is neither in the archive nor a prerequisite", ErrMalformed, r.Descriptor.Digest))
		}
		if ok && b.Size != r.Descriptor.Size {
			return fail(fmt.Errorf("%w: root %s has size %d, the blob %d", ErrMalformed, r.Descriptor.Digest, r.Descriptor.Size, b.Size))
		}
	}
	if m.Delta != nil {
		for _, p := range m.Delta.Prerequisites {
			if _, ok := a.Lookup(p.Digest); ok {
				return fail(fmt.Errorf("%w: prerequisite %s is also in the archive", ErrMalformed, p.Digest))
			}
		}
	}
	if err := checkOmitted(m, func(d digest.Digest) bool { _, ok := a.Lookup(d); return ok }); err != nil {
		return fail(err)
	}
	for _, at := range m.Attachments {
		if b, ok := a.Lookup(at.Digest); !ok || b.Size != at.Size {
			return fail(fmt.Errorf("%w: attachment %q names blob %s which the archive does not hold with size %d", ErrMalformed, at.Name, at.Digest, at.Size))
		}
	}
	return a, nil
}

// ID returns the archive id.
func (a *Archive) ID() ArchiveID { return a.footer.Archive }

// Digest returns the archive digest: the SHA-256 of the index frame. It
// commits to the manifest, every volume and every blob; it is what one signs
// or reads over the phone.
func (a *Archive) Digest() digest.Digest { return a.digest }

// Manifest returns the archive manifest. Callers must not modify it.
func (a *Archive) Manifest() *Manifest { return a.manifest }

// ManifestJSON returns the manifest document as stored.
func (a *Archive) ManifestJSON() []byte { return a.rawMan }

// Volumes returns what the index records of every volume, in order.
func (a *Archive) Volumes() []VolumeInfo { return append([]VolumeInfo(nil), a.ix.volumes...) }

// NumBlobs returns the number of blobs in the archive.
func (a *Archive) NumBlobs() int { return a.ix.blobs }

// Lookup finds a blob by digest (binary search in the index).
func (a *Archive) Lookup(d digest.Digest) (Blob, bool) { return a.ix.lookup(d) }

// Blobs calls fn for every blob in index order until fn returns false.
func (a *Archive) Blobs(fn func(Blob) bool) {
	for si := range a.ix.sections {
		s := &a.ix.sections[si]
		for i := 0; i < s.count; i++ {
			if !fn(a.ix.blobAt(s, i)) {
				return
			}
		}
	}
}

// Chunks returns the chunks of b in blob order.
func (a *Archive) Chunks(b Blob) []Chunk {
	out := make([]Chunk, b.numChunks)
	for i := range out {
		out[i] = a.ix.chunk(b.firstChunk + i)
	}
	return out
}

// CheckVolume checks that r, of the given size, is volume n of this archive:
// its size, header, footer and footer digest agree with the index. It reads
// only the header and footer; ScanVolume reads everything.
func (a *Archive) CheckVolume(n uint32, r io.ReaderAt, size int64) error {
	if n == 0 || int(n) > len(a.ix.volumes) {
		return &Error{Op: "check volume", Volume: n, Offset: -1, Detail: fmt.Sprintf("the archive has %d volumes", len(a.ix.volumes)), Err: ErrVolume}
	}
	want := a.ix.volumes[n-1]
	fail := func(class error, format string, args ...any) error {
		return &Error{Op: "check volume", Volume: n, Offset: -1, Detail: fmt.Sprintf(format, args...), Err: class}
	}
	// Identity first (a swapped or foreign volume is named as such), then
	// size, then the digest.
	f, err := ReadFooter(r, size)
	if err != nil {
		if size != want.Size {
			return fail(ErrTruncated, "size is %d bytes, the index says %d (%v)", size, want.Size, err)
		}
		return &Error{Op: "check volume", Volume: n, Offset: size - FooterSize, Err: err}
	}
	if f.Archive != a.footer.Archive {
		return fail(ErrVolume, "it belongs to archive %s, not %s", f.Archive, a.footer.Archive)
	}
	if f.Volume != n {
		return fail(ErrVolume, "it is volume %d of this archive (renamed or swapped?)", f.Volume)
	}
	if size != want.Size {
		return fail(ErrTruncated, "size is %d bytes, the index says %d", size, want.Size)
	}
	h, err := ReadVolumeHeader(r)
	if err != nil {
		return &Error{Op: "check volume", Volume: n, Offset: 0, Err: err}
	}
	if h.Archive != f.Archive || h.Volume != f.Volume {
		return fail(ErrMalformed, "header names archive %s volume %d, footer archive %s volume %d", h.Archive, h.Volume, f.Archive, f.Volume)
	}
	if !want.Final {
		b := make([]byte, FooterSize)
		if err := readAt(r, b, size-FooterSize); err != nil {
			return fail(err, "read footer")
		}
		if sha256.Sum256(b) != want.Digest {
			return fail(ErrDigest, "footer SHA-256 differs from the index's volume digest")
		}
	}
	return nil
}

// decoders are shared: DecodeAll is safe for concurrent use. Limits on window
// and memory make a frame that claims a huge window or expands without end
// fail at MaxChunkSize instead of exhausting memory.
var (
	decOnce sync.Once
	dec     *zstd.Decoder
	decErr  error
)

func decoder() (*zstd.Decoder, error) {
	decOnce.Do(func() {
		dec, decErr = zstd.NewReader(nil,
			zstd.WithDecoderMaxWindow(MaxChunkSize),
			zstd.WithDecoderMaxMemory(MaxChunkSize),
			zstd.WithDecoderConcurrency(0),
			// The frame's content checksum is checked as it decodes
			// (section 4.2 step 6): a frame whose checksum is wrong is
			// one that zstd -t refuses, so no reader may accept it.
			zstd.IgnoreChecksum(false))
	})
	return dec, decErr
}

// DecodeChunk checks a chunk's stored bytes against c and decodes them into
// dst (reusing its capacity). The frame must declare its content size, equal
// to c.RawSize, be single-segment (so its window is its size), carry a
// content checksum that matches the decoded bytes, and be the only thing in
// the stored bytes (spec section 4.2, steps 1 to 7).
func DecodeChunk(c Chunk, stored, dst []byte) ([]byte, error) {
	if len(stored) != int(c.StoredSize) {
		return nil, fmt.Errorf("%w: %d stored bytes, want %d", ErrTruncated, len(stored), c.StoredSize)
	}
	if got := xxhash.Sum64(stored); got != c.StoredXXH {
		return nil, fmt.Errorf("%w: chunk XXH64 %016x, recorded %016x", ErrChecksum, got, c.StoredXXH)
	}
	var h zstd.Header
	if err := h.Decode(stored); err != nil {
		return nil, fmt.Errorf("%w: chunk is not a zstd frame: %v", ErrMalformed, err)
	}
	if h.Skippable || !h.HasFCS || h.FrameContentSize != uint64(c.RawSize) {
		return nil, fmt.Errorf("%w: chunk frame declares %d bytes (has size: %v), the index %d", ErrMalformed, h.FrameContentSize, h.HasFCS, c.RawSize)
	}
	// A single-segment frame's window is its content size, just checked;
	// any other frame declares a window, which must not exceed what the
	// decoder is allowed to hold (section 4.2: refused before decoding).
	if !h.SingleSegment && h.WindowSize > MaxChunkSize {
		return nil, fmt.Errorf("%w: chunk frame declares a window of %d bytes (limit %d)", ErrLimit, h.WindowSize, MaxChunkSize)
	}
	if !h.SingleSegment || !h.HasCheckSum || h.DictionaryID != 0 {
		return nil, fmt.Errorf("%w: chunk frame must be single-segment, with a content checksum and no dictionary", ErrMalformed)
	}
	n, err := frameLength(stored, h.HeaderSize)
	if err != nil {
		return nil, fmt.Errorf("%w: chunk frame: %v", ErrMalformed, err)
	}
	if n != len(stored) {
		return nil, fmt.Errorf("%w: %d trailing bytes after the chunk's zstd frame (it ends at byte %d of %d stored)", ErrMalformed, len(stored)-n, n, len(stored))
	}
	d, err := decoder()
	if err != nil {
		return nil, err
	}
	out, err := d.DecodeAll(stored, dst[:0])
	if errors.Is(err, zstd.ErrCRCMismatch) {
		return nil, fmt.Errorf("%w: chunk frame's content checksum is not the XXH64 of its %d decoded bytes (zstd -t refuses it too)", ErrMalformed, c.RawSize)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: chunk frame does not decode to its %d bytes: zstd: %v", ErrMalformed, c.RawSize, err)
	}
	if len(out) != int(c.RawSize) {
		return nil, fmt.Errorf("%w: chunk decodes to %d bytes, want %d", ErrMalformed, len(out), c.RawSize)
	}
	return out, nil
}

// BlobReader streams a blob's bytes, verifying each chunk before serving it
// and, when it reads from offset 0, the blob digest before it serves any byte
// of the last chunk: the bytes of a blob whose digest does not match never
// all leave it, so a consumer that commits only a complete blob (an upload's
// final PUT) never commits a wrong one. Read returns the *Error in place of
// the last chunk's bytes. At most one chunk (MaxChunkSize) is withheld. It is
// not safe for concurrent use.
type BlobReader struct {
	blob   Blob
	chunks []Chunk
	vols   VolumeSet
	next   int
	skip   int64 // bytes to drop from the next chunk (OpenBlobAt)
	h      hash.Hash
	stored []byte
	raw    []byte
	cur    []byte
	pos    int64
	err    error
	verify bool
	pooled bool         // raw was taken from the pool (released once)
	at     int64        // blob bytes in the chunks before r.next
	cps    []Checkpoint // the last checkpointsKept (verify only)
}

// storedBufs and rawBufs hold the buffers of BlobReaders that are done.
var storedBufs, rawBufs sync.Pool

func pooled(p *sync.Pool) []byte {
	if b, ok := p.Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return nil
}

// StoredChunks is what the volumes of a VolumeSet may also be: readers
// that hold a chunk's stored bytes already (archive.Reader.Stream reads
// them ahead) and hand them over instead of copying them into a buffer of
// the BlobReader's. done is called once the bytes are no longer used.
type StoredChunks interface {
	StoredChunk(off int64, n int) (stored []byte, done func(), err error)
}

// OpenBlob returns a reader of b's content.
func (a *Archive) OpenBlob(b Blob, vols VolumeSet) *BlobReader {
	r, _ := a.OpenBlobAt(b, vols, 0)
	return r
}

// OpenBlobAt returns a reader of b's content from offset on. Chunks are still
// verified; the blob digest is verified only when offset is 0.
func (a *Archive) OpenBlobAt(b Blob, vols VolumeSet, offset int64) (*BlobReader, error) {
	if offset < 0 || offset > b.Size {
		return nil, fmt.Errorf("format: offset %d outside blob %s of %d bytes", offset, b.Digest, b.Size)
	}
	r := &BlobReader{blob: b, chunks: a.Chunks(b), vols: vols, verify: offset == 0, pos: offset}
	if r.verify {
		r.h = b.Digest.Algorithm().Hash()
	}
	var at int64
	for r.next < len(r.chunks) && at+int64(r.chunks[r.next].RawSize) <= offset {
		at += int64(r.chunks[r.next].RawSize)
		r.next++
	}
	r.skip = offset - at
	r.at = at
	return r, nil
}

// Checkpoint is the state of a blob's digest at a chunk boundary, taken
// by a BlobReader that reads the blob from offset 0 (Checkpoints). A reader
// opened from it (OpenBlobFrom) continues that digest: its check at the
// end covers every byte of the blob, the ones before Offset read and
// checked by the first reader. It is only good in the process that took
// it, for the blob it was taken on.
type Checkpoint struct {
	Offset int64 // the blob bytes the state covers
	blob   digest.Digest
	next   int    // the chunk that starts at Offset
	state  []byte // the hash's marshalled state
}

// checkpointsKept bounds the checkpoints a BlobReader keeps: the last ones,
// 64 MiB of blob at the default chunk size, since a registry's offset on a
// resume is a little behind what was sent, not far.
const checkpointsKept = 16

// Checkpoints returns the reader's recent checkpoints (oldest first): one
// at the start of each chunk it loaded, for a reader from offset 0 whose
// hash can be marshalled; none otherwise.
func (r *BlobReader) Checkpoints() []Checkpoint { return append([]Checkpoint(nil), r.cps...) }

// checkpoint records the digest's state before chunk r.next is hashed.
func (r *BlobReader) checkpoint() {
	m, ok := r.h.(encoding.BinaryMarshaler)
	if !ok {
		return
	}
	state, err := m.MarshalBinary()
	if err != nil {
		return
	}
	if len(r.cps) == checkpointsKept {
		r.cps = append(r.cps[:0], r.cps[1:]...)
	}
	r.cps = append(r.cps, Checkpoint{Offset: r.at, blob: r.blob.Digest, next: r.next, state: state})
}

// OpenBlobFrom returns a reader of b's content from cp.Offset on that
// checks b's digest at the end, continuing the state cp holds, as a reader
// from offset 0 does (it withholds the last chunk until the digest
// matched).
func (a *Archive) OpenBlobFrom(b Blob, vols VolumeSet, cp Checkpoint) (*BlobReader, error) {
	chunks := a.Chunks(b)
	if cp.blob != b.Digest || cp.next < 0 || cp.next > len(chunks) {
		return nil, fmt.Errorf("format: checkpoint is not one of blob %s", b.Digest)
	}
	var at int64
	for _, c := range chunks[:cp.next] {
		at += int64(c.RawSize)
	}
	if at != cp.Offset {
		return nil, fmt.Errorf("format: checkpoint at %d is not the start of chunk %d of blob %s", cp.Offset, cp.next, b.Digest)
	}
	h := b.Digest.Algorithm().Hash()
	u, ok := h.(encoding.BinaryUnmarshaler)
	if !ok {
		return nil, fmt.Errorf("format: the %s state of blob %s cannot be restored", b.Digest.Algorithm(), b.Digest)
	}
	if err := u.UnmarshalBinary(cp.state); err != nil {
		return nil, fmt.Errorf("format: checkpoint of blob %s: %w", b.Digest, err)
	}
	return &BlobReader{blob: b, chunks: chunks, vols: vols, verify: true, h: h, next: cp.next, pos: cp.Offset, at: cp.Offset}, nil
}

// Size returns the blob's size.
func (r *BlobReader) Size() int64 { return r.blob.Size }

func (r *BlobReader) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.next == len(r.chunks) {
			r.err = io.EOF
			if r.verify && len(r.chunks) == 0 { // an empty blob: no chunk to withhold
				if err := r.checkDigest(); err != nil {
					r.err = err
				}
			}
			r.release()
			return 0, r.err
		}
		if err := r.load(); err != nil {
			r.err = err
			r.release()
			return 0, err
		}
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	r.pos += int64(n)
	return n, nil
}

func (r *BlobReader) load() error {
	c := r.chunks[r.next]
	fail := func(err error) error {
		return &Error{Op: "read blob", Volume: c.Volume, Offset: c.Offset, Blob: r.blob.Digest, Err: err}
	}
	if !r.pooled {
		r.pooled = true
		r.raw = pooled(&rawBufs)
	}
	v, err := r.vols.Volume(c.Volume)
	if err != nil {
		return fail(err)
	}
	var stored []byte
	done := func() {}
	if sc, ok := v.(StoredChunks); ok {
		if stored, done, err = sc.StoredChunk(c.Offset, int(c.StoredSize)); err != nil {
			return fail(err)
		}
	} else {
		if r.stored == nil {
			r.stored = pooled(&storedBufs)
		}
		if cap(r.stored) < int(c.StoredSize) {
			r.stored = make([]byte, c.StoredSize)
		}
		r.stored = r.stored[:c.StoredSize]
		if err := readAt(v, r.stored, c.Offset); err != nil {
			return fail(err)
		}
		stored = r.stored
	}
	raw, err := DecodeChunk(c, stored, r.raw)
	done()
	if err != nil {
		return fail(err)
	}
	r.raw = raw
	if r.verify {
		r.checkpoint()
		r.h.Write(raw)
	}
	r.at += int64(c.RawSize)
	r.next++
	if r.verify && r.next == len(r.chunks) {
		// The last chunk: the digest is known before any of its bytes
		// are served, and they are withheld when it does not match.
		if err := r.checkDigest(); err != nil {
			return err
		}
	}
	r.cur = raw[r.skip:]
	r.skip = 0
	return nil
}

// checkDigest compares the digest of every byte decoded so far (the whole
// blob, once the last chunk is loaded) with the blob's. A mismatch names the
// volume and offset where the blob starts.
func (r *BlobReader) checkDigest() error {
	got := digest.NewDigest(r.blob.Digest.Algorithm(), r.h)
	if got == r.blob.Digest {
		return nil
	}
	e := &Error{Op: "read blob", Blob: r.blob.Digest, Offset: -1, Detail: "content has digest " + string(got), Err: ErrDigest}
	if len(r.chunks) > 0 {
		e.Volume, e.Offset = r.chunks[0].Volume, r.chunks[0].Offset
		e.Detail += " (the blob's first chunk is at this offset)"
	}
	return e
}

// Close releases the reader's buffers.
func (r *BlobReader) Close() error {
	r.release()
	if r.err == nil {
		r.err = ErrClosed
	}
	return nil
}

func (r *BlobReader) release() {
	if r.stored != nil {
		b := r.stored[:0]
		storedBufs.Put(&b)
		r.stored = nil
	}
	if r.raw != nil {
		b := r.raw[:0]
		rawBufs.Put(&b)
		r.raw = nil
	}
	r.cur = nil
}

// readAt reads exactly len(b) bytes at off; io.ReaderAt may return io.EOF
// with a full read at the end of the file, which is success.
func readAt(r io.ReaderAt, b []byte, off int64) error {
	n, err := r.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || err == io.EOF {
		return fmt.Errorf("%w: %d of %d bytes at offset %d", ErrTruncated, n, len(b), off)
	}
	return err
}

// frameLength walks the block headers of the zstd frame at the start of b
// (whose header is hdr bytes) and returns its length, checksum included.
func frameLength(b []byte, hdr int) (int, error) {
	off := hdr
	for {
		if off+3 > len(b) {
			return off, errors.New("block header past the end")
		}
		bh := uint32(b[off]) | uint32(b[off+1])<<8 | uint32(b[off+2])<<16
		last, typ, size := bh&1 == 1, (bh>>1)&3, int(bh>>3)
		off += 3
		switch typ {
		case 0, 2: // raw, compressed
			off += size
		case 1: // RLE: one byte
			off++
		default:
			return off, errors.New("reserved block type")
		}
		if off > len(b) {
			return off, errors.New("block past the end")
		}
		if last {
			if off+4 > len(b) {
				return off, errors.New("content checksum past the end")
			}
			return off + 4, nil // content checksum
		}
	}
}
