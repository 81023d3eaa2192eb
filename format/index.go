package format

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"sort"

	"github.com/opencontainers/go-digest"
)

// Chunk locates one chunk of a blob.
type Chunk struct {
	Volume     uint32 // 1-based volume number
	Offset     int64  // offset of the chunk's zstd frame in the volume
	StoredSize uint32 // bytes of the zstd frame
	RawSize    uint32 // bytes it decodes to
	StoredXXH  uint64 // XXH64 of the stored frame
}

// VolumeInfo is what the index records of one volume.
type VolumeInfo struct {
	Number uint32
	Size   int64
	// Digest is the SHA-256 of the volume's footer (which commits to every
	// metadata frame of the volume, and through chunk headers to every
	// chunk's XXH64). Zero for the final volume, whose footer holds the
	// index hash instead.
	Digest [32]byte
	Final  bool
}

// indexHeader is the fixed part of the index body.
type indexHeader struct {
	Version          uint16
	Volumes          uint32
	Archive          ArchiveID
	RequiredFeatures uint64
	OptionalFeatures uint64
	Chunks           uint64
	Sections         uint32
	ManifestOffset   int64
	ManifestLength   int64
	ManifestHash     [32]byte
}

type blobRec struct {
	digest digest.Digest
	size   int64
	chunks []Chunk
}

// encodeIndex builds the index frame. blobs may be in any order; it sorts a
// copy of the slice header's elements in place.
func encodeIndex(h indexHeader, vols []VolumeInfo, blobs []blobRec) []byte {
	slices.SortFunc(blobs, func(a, b blobRec) int {
		aa, _ := algOf(a.digest)
		ba, _ := algOf(b.digest)
		if c := cmp.Compare(aa, ba); c != 0 {
			return c
		}
		return cmp.Compare(a.digest.Encoded(), b.digest.Encoded())
	})
	var nChunks uint64
	sections := 0
	var lastAlg byte
	for _, b := range blobs {
		nChunks += uint64(len(b.chunks))
		if a, _ := algOf(b.digest); a != lastAlg {
			sections++
			lastAlg = a
		}
	}
	h.Chunks, h.Sections, h.Volumes = nChunks, uint32(sections), uint32(len(vols))

	body := make([]byte, indexHeaderSize, indexBodySize(h, blobs))
	le.PutUint16(body[0:], h.Version)
	le.PutUint32(body[4:], h.Volumes)
	copy(body[8:24], h.Archive[:])
	le.PutUint64(body[24:], h.RequiredFeatures)
	le.PutUint64(body[32:], h.OptionalFeatures)
	le.PutUint64(body[40:], h.Chunks)
	le.PutUint32(body[48:], h.Sections)
	le.PutUint64(body[56:], uint64(h.ManifestOffset))
	le.PutUint64(body[64:], uint64(h.ManifestLength))
	copy(body[72:104], h.ManifestHash[:])
	for _, v := range vols {
		body = le.AppendUint64(body, uint64(v.Size))
		body = append(body, v.Digest[:]...)
		body = le.AppendUint32(body, v.Number)
		var fl uint32
		if v.Final {
			fl = 1
		}
		body = le.AppendUint32(body, fl)
	}
	for _, b := range blobs {
		for _, c := range b.chunks {
			body = le.AppendUint32(body, c.Volume)
			body = le.AppendUint32(body, c.StoredSize)
			body = le.AppendUint64(body, uint64(c.Offset))
			body = le.AppendUint32(body, c.RawSize)
			body = le.AppendUint32(body, 0)
			body = le.AppendUint64(body, c.StoredXXH)
		}
	}
	var first uint64
	for i := 0; i < len(blobs); {
		alg, n := algOf(blobs[i].digest)
		j := i
		for j < len(blobs) {
			if a, _ := algOf(blobs[j].digest); a != alg {
				break
			}
			j++
		}
		body = append(body, alg, byte(n), 0, 0, 0, 0, 0, 0)
		body = le.AppendUint64(body, uint64(j-i))
		for _, b := range blobs[i:j] {
			body = append(body, digestBytes(b.digest)...)
			body = le.AppendUint64(body, uint64(b.size))
			body = le.AppendUint64(body, first)
			body = le.AppendUint32(body, uint32(len(b.chunks)))
			body = le.AppendUint32(body, 0)
			first += uint64(len(b.chunks))
		}
		i = j
	}
	return appendFrame(make([]byte, 0, len(body)+frameOverhead), TagIndex, body)
}

func indexBodySize(h indexHeader, blobs []blobRec) int {
	n := indexHeaderSize + int(h.Volumes)*volumeEntrySize + int(h.Chunks)*chunkEntrySize + int(h.Sections)*sectionHeadSize
	for _, b := range blobs {
		_, dl := algOf(b.digest)
		n += dl + blobEntryFixed
	}
	return n
}

// indexFrameSize is the size of the index frame encodeIndex will produce.
func indexFrameSize(volumes int, blobs []blobRec) int64 {
	var n int64 = frameOverhead + indexHeaderSize + int64(volumes)*volumeEntrySize
	algs := map[byte]bool{}
	for _, b := range blobs {
		a, dl := algOf(b.digest)
		algs[a] = true
		n += int64(dl+blobEntryFixed) + int64(len(b.chunks))*chunkEntrySize
	}
	return n + int64(len(algs))*sectionHeadSize
}

// section is one digest algorithm's sorted table of blob entries.
type section struct {
	alg       digest.Algorithm
	algID     byte
	digestLen int
	count     int
	entries   []byte // count * (digestLen + blobEntryFixed)
}

func (s *section) entrySize() int { return s.digestLen + blobEntryFixed }

func (s *section) entry(i int) []byte {
	es := s.entrySize()
	return s.entries[i*es : (i+1)*es]
}

// index is a parsed, validated index that serves lookups from its bytes.
type index struct {
	hdr      indexHeader
	volumes  []VolumeInfo
	chunks   []byte // chunk table
	sections []section
	blobs    int
}

// parseIndex validates an index body completely (sizes, counts, order,
// tiling, overlaps) in O(n log n) and returns a lookup structure. finalSize
// is the size of the final volume it was read from.
func parseIndex(body []byte, finalSize, indexOffset int64, lim Limits) (*index, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: index: %s", ErrMalformed, fmt.Sprintf(format, args...))
	}
	if len(body) < indexHeaderSize {
		return nil, bad("body is %d bytes, shorter than its header", len(body))
	}
	var h indexHeader
	h.Version = le.Uint16(body[0:])
	h.Volumes = le.Uint32(body[4:])
	copy(h.Archive[:], body[8:24])
	h.RequiredFeatures = le.Uint64(body[24:])
	h.OptionalFeatures = le.Uint64(body[32:])
	h.Chunks = le.Uint64(body[40:])
	h.Sections = le.Uint32(body[48:])
	h.ManifestOffset = int64(le.Uint64(body[56:]))
	h.ManifestLength = int64(le.Uint64(body[64:]))
	copy(h.ManifestHash[:], body[72:104])
	if h.Version != Version {
		return nil, fmt.Errorf("%w: index version %d (this reader knows %d)", ErrUnsupported, h.Version, Version)
	}
	if u := h.RequiredFeatures &^ knownRequiredFeatures; u != 0 {
		return nil, fmt.Errorf("%w: required feature flags %#x", ErrUnsupported, u)
	}
	if le.Uint16(body[2:]) != 0 || le.Uint32(body[52:]) != 0 {
		return nil, bad("reserved header bytes are not zero")
	}
	// Counts are checked against the bytes present before anything is
	// allocated from them.
	rest := uint64(len(body) - indexHeaderSize)
	if h.Volumes == 0 || uint64(h.Volumes) > uint64(lim.MaxVolumes) || uint64(h.Volumes)*volumeEntrySize > rest {
		return nil, fmt.Errorf("%w: index claims %d volumes (limit %d, %d bytes left)", ErrLimit, h.Volumes, lim.MaxVolumes, rest)
	}
	rest -= uint64(h.Volumes) * volumeEntrySize
	if h.Chunks > rest/chunkEntrySize {
		return nil, fmt.Errorf("%w: index claims %d chunks in %d bytes", ErrMalformed, h.Chunks, rest)
	}
	rest -= h.Chunks * chunkEntrySize
	if h.Sections > 2 {
		return nil, bad("%d digest sections (at most one per algorithm)", h.Sections)
	}
	ix := &index{hdr: h}
	p := body[indexHeaderSize:]
	ix.volumes = make([]VolumeInfo, h.Volumes)
	for i := range ix.volumes {
		e := p[i*volumeEntrySize:]
		v := VolumeInfo{Size: int64(le.Uint64(e)), Number: le.Uint32(e[40:])}
		copy(v.Digest[:], e[8:40])
		fl := le.Uint32(e[44:])
		v.Final = fl == 1
		last := i == len(ix.volumes)-1
		switch {
		case v.Number != uint32(i+1):
			return nil, bad("volume entry %d has number %d", i, v.Number)
		case fl > 1 || v.Final != last:
			return nil, bad("volume %d final flag %d", v.Number, fl)
		case v.Size < FooterSize+frameOverhead || v.Size > MaxVolumeSize:
			return nil, bad("volume %d size %d", v.Number, v.Size)
		case last && v.Size != finalSize:
			return nil, fmt.Errorf("%w: final volume is %d bytes, index says %d", ErrTruncated, finalSize, v.Size)
		case last && v.Digest != [32]byte{}:
			return nil, bad("final volume has a digest")
		}
		ix.volumes[i] = v
	}
	p = p[int(h.Volumes)*volumeEntrySize:]
	ix.chunks = p[:h.Chunks*chunkEntrySize]
	p = p[h.Chunks*chunkEntrySize:]
	if h.ManifestLength > int64(lim.MaxManifestSize)+frameOverhead {
		return nil, fmt.Errorf("%w: manifest frame of %d bytes: its body of %d bytes is over the limit of %d", ErrLimit, h.ManifestLength, h.ManifestLength-frameOverhead, lim.MaxManifestSize)
	}
	// The manifest frame ends where the index frame starts.
	if h.ManifestOffset < 0 || h.ManifestLength < frameOverhead || h.ManifestOffset+h.ManifestLength != indexOffset {
		return nil, bad("manifest at %d+%d does not end where the index starts (%d)", h.ManifestOffset, h.ManifestLength, indexOffset)
	}

	// Chunk entries: in range of their volume, sane sizes.
	for i := 0; i < int(h.Chunks); i++ {
		c := ix.chunk(i)
		if c.Volume == 0 || c.Volume > h.Volumes {
			return nil, bad("chunk %d in volume %d of %d", i, c.Volume, h.Volumes)
		}
		vs := ix.volumes[c.Volume-1].Size
		// Raw size 0 and a stored size outside 8..MaxStoredSize(raw) are
		// impossible in any archive [Malformed]; a raw size above the
		// reader's chunk limit is a limit [Limit] (sections 3.5.3, 10).
		if c.RawSize == 0 {
			return nil, bad("chunk %d has raw size 0", i)
		}
		if c.RawSize > uint32(lim.MaxChunkSize) {
			return nil, fmt.Errorf("%w: index: chunk %d raw size %d (chunk limit %d)", ErrLimit, i, c.RawSize, lim.MaxChunkSize)
		}
		if int(c.StoredSize) > MaxStoredSize(int(c.RawSize)) || c.StoredSize < 8 {
			return nil, bad("chunk %d stored size %d impossible for raw size %d", i, c.StoredSize, c.RawSize)
		}
		if c.Offset < frameOverhead || c.Offset > vs-FooterSize-int64(c.StoredSize) {
			return nil, bad("chunk %d at volume %d offset %d+%d outside the volume", i, c.Volume, c.Offset, c.StoredSize)
		}
		if le.Uint32(ix.chunks[i*chunkEntrySize+20:]) != 0 {
			return nil, bad("reserved chunk entry bytes are not zero")
		}
	}

	// Sections: known algorithm, ascending, strictly sorted entries whose
	// chunk ranges tile the chunk table in order and add up to the size.
	var next uint64
	var prevAlg byte
	for s := 0; s < int(h.Sections); s++ {
		if len(p) < sectionHeadSize {
			return nil, bad("section %d header missing (%d bytes left)", s, len(p))
		}
		alg, dl, ok := algInfo(p[0])
		if !ok || int(p[1]) != dl {
			return nil, fmt.Errorf("%w: index section algorithm %d with digest length %d", ErrUnsupported, p[0], p[1])
		}
		if p[0] <= prevAlg {
			return nil, bad("sections not in ascending algorithm order")
		}
		prevAlg = p[0]
		if !allZero(p[2:8]) {
			return nil, bad("reserved section bytes are not zero")
		}
		count := le.Uint64(p[8:])
		es := uint64(dl + blobEntryFixed)
		p = p[sectionHeadSize:]
		if count > uint64(len(p))/es {
			return nil, bad("section claims %d blobs in %d bytes", count, len(p))
		}
		sec := section{alg: alg, algID: prevAlg, digestLen: dl, count: int(count), entries: p[:count*es]}
		// entryErr locates a fault in blob entry i: the final volume
		// (the index's last volume; Open checks it against the footer),
		// the entry's offset in it, and the blob.
		secAt := indexOffset + frameHeaderSize + 4 + int64(len(body)-len(p))
		entryErr := func(i int, d lazyDigest, format string, args ...any) error {
			return &Error{Op: "open", Volume: h.Volumes, Offset: secAt + int64(i)*int64(es), Blob: digestFromBytes(d.alg, d.b),
				Detail: "index: " + fmt.Sprintf(format, args...), Err: ErrMalformed}
		}
		p = p[count*es:]
		for i := 0; i < sec.count; i++ {
			e := sec.entry(i)
			if i > 0 && bytes.Compare(sec.entry(i - 1)[:dl], e[:dl]) >= 0 {
				return nil, bad("%s blob entries not strictly sorted at %d (duplicate or out of order)", alg, i)
			}
			size := le.Uint64(e[dl:])
			first := le.Uint64(e[dl+8:])
			n := uint64(le.Uint32(e[dl+16:]))
			if le.Uint32(e[dl+20:]) != 0 {
				return nil, bad("reserved blob entry bytes are not zero")
			}
			d := lazyDigest{alg, e[:dl]}
			if first != next || n > h.Chunks-next {
				return nil, bad("blob %s chunks %d+%d do not follow %d", d, first, n, next)
			}
			var sum uint64
			for j := first; j < first+n; j++ {
				c := ix.chunk(int(j))
				sum += uint64(c.RawSize)
				if j > first {
					// A blob's chunks run forward through the volumes,
					// so a sequential reader meets them in order.
					p := ix.chunk(int(j - 1))
					if c.Volume < p.Volume || c.Volume == p.Volume && c.Offset <= p.Offset {
						return nil, bad("blob %s chunk %d is not after chunk %d in the volumes", d, j-first, j-first-1)
					}
				}
			}
			if size == 0 && digestFromBytes(alg, e[:dl]) != alg.FromBytes(nil) {
				return nil, bad("blob %s has size 0 but is not the empty digest", d)
			}
			switch {
			case size > 1<<62:
				return nil, entryErr(i, d, "blob size %d is over 2^62", size)
			case sum > size:
				// Trailing bytes after the blob: its chunks decode to
				// more than the index says it holds.
				return nil, entryErr(i, d, "blob is %d bytes but its %d chunks hold %d (%d trailing bytes)", size, n, sum, sum-size)
			case sum < size:
				return nil, entryErr(i, d, "blob is %d bytes but its %d chunks hold only %d", size, n, sum)
			}
			next += n
		}
		ix.sections = append(ix.sections, sec)
		ix.blobs += sec.count
	}
	if next != h.Chunks {
		return nil, bad("%d chunks belong to no blob", h.Chunks-next)
	}
	if len(p) != 0 {
		return nil, bad("%d trailing bytes", len(p))
	}
	if err := ix.checkOverlaps(); err != nil {
		return nil, err
	}
	return ix, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// checkOverlaps refuses two chunks whose stored bytes overlap: an index that
// points several blobs at the same bytes would let a small archive claim
// arbitrarily much content.
func (ix *index) checkOverlaps() error {
	// Chunks are usually in file order already (one writer, one blob at a
	// time); sorting is then a linear check.
	type span struct{ start, end uint64 } // volume<<48 | offset
	n := int(ix.hdr.Chunks)
	spans := make([]span, n)
	sorted := true
	for i := range spans {
		e := ix.chunks[i*chunkEntrySize:]
		v, off, st := uint64(le.Uint32(e)), le.Uint64(e[8:]), uint64(le.Uint32(e[4:]))
		spans[i] = span{v<<48 | off, v<<48 | (off + st)}
		if i > 0 && spans[i].start < spans[i-1].start {
			sorted = false
		}
	}
	if !sorted {
		slices.SortFunc(spans, func(a, b span) int { return cmp.Compare(a.start, b.start) })
	}
	for k := 1; k < n; k++ {
		if spans[k-1].end > spans[k].start {
			return fmt.Errorf("%w: index: chunks overlap in volume %d at offset %d", ErrMalformed, spans[k].start>>48, spans[k].start&(1<<48-1))
		}
	}
	return nil
}

func (ix *index) chunk(i int) Chunk {
	e := ix.chunks[i*chunkEntrySize:]
	return Chunk{
		Volume:     le.Uint32(e),
		StoredSize: le.Uint32(e[4:]),
		Offset:     int64(le.Uint64(e[8:])),
		RawSize:    le.Uint32(e[16:]),
		StoredXXH:  le.Uint64(e[24:]),
	}
}

// lookup finds d by binary search over the section of its algorithm.
func (ix *index) lookup(d digest.Digest) (Blob, bool) {
	if ValidateDigest(d) != nil {
		return Blob{}, false
	}
	key := digestBytes(d)
	for si := range ix.sections {
		s := &ix.sections[si]
		if s.alg != d.Algorithm() {
			continue
		}
		i := sort.Search(s.count, func(i int) bool { return bytes.Compare(s.entry(i)[:s.digestLen], key) >= 0 })
		if i < s.count && bytes.Equal(s.entry(i)[:s.digestLen], key) {
			return ix.blobAt(s, i), true
		}
	}
	return Blob{}, false
}

func (ix *index) blobAt(s *section, i int) Blob {
	e := s.entry(i)
	dl := s.digestLen
	return Blob{
		Digest:     digestFromBytes(s.alg, e[:dl]),
		Size:       int64(le.Uint64(e[dl:])),
		firstChunk: int(le.Uint64(e[dl+8:])),
		numChunks:  int(le.Uint32(e[dl+16:])),
	}
}

// Blob is one blob of an archive.
type Blob struct {
	Digest     digest.Digest
	Size       int64
	firstChunk int
	numChunks  int
}

// lazyDigest formats a digest only when an error message needs it.
type lazyDigest struct {
	alg digest.Algorithm
	b   []byte
}

func (l lazyDigest) String() string { return string(digestFromBytes(l.alg, l.b)) }
