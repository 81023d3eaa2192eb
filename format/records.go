package format

import (
	"bytes"
	"fmt"

	"github.com/cespare/xxhash/v2"
	"github.com/opencontainers/go-digest"
)

// ArchiveID identifies one archive. Every volume carries it, so a volume of
// another archive with the same file name is recognised.
type ArchiveID [16]byte

func (id ArchiveID) String() string { return fmt.Sprintf("%x", id[:]) }

// ParseArchiveID parses the 32 hex digits form of an ArchiveID.
func ParseArchiveID(s string) (ArchiveID, error) {
	var id ArchiveID
	if len(s) != 32 {
		return id, fmt.Errorf("%w: archive id %q is not 32 hex digits", ErrMalformed, truncate(s, 40))
	}
	for i := 0; i < 16; i++ {
		hi, lo := s[2*i], s[2*i+1]
		if !isHex(hi) || !isHex(lo) {
			return id, fmt.Errorf("%w: archive id %q is not lower-case hex", ErrMalformed, s)
		}
		id[i] = unhex(hi)<<4 | unhex(lo)
	}
	return id, nil
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' }

// Feature flags. Required features a reader does not know make it refuse the
// archive; optional ones it may ignore. Version 1 defines none of either: the
// fields exist so later versions can add features without a new major format.
const (
	knownRequiredFeatures uint64 = 0
)

// VolumeHeader is the first frame of every volume.
type VolumeHeader struct {
	Version          uint16
	Volume           uint32 // 1-based
	Archive          ArchiveID
	RequiredFeatures uint64
	OptionalFeatures uint64
	ChunkSize        uint32 // the writer's chunk size (informative)
}

func (h VolumeHeader) appendTo(dst []byte) []byte {
	var b [volumeHeaderBody]byte
	le.PutUint16(b[0:], h.Version)
	le.PutUint32(b[4:], h.Volume)
	copy(b[8:24], h.Archive[:])
	le.PutUint64(b[24:], h.RequiredFeatures)
	le.PutUint64(b[32:], h.OptionalFeatures)
	le.PutUint32(b[40:], h.ChunkSize)
	return appendFrame(dst, TagVolumeHeader, b[:])
}

func parseVolumeHeader(body []byte) (VolumeHeader, error) {
	var h VolumeHeader
	if len(body) != volumeHeaderBody {
		return h, fmt.Errorf("%w: volume header body is %d bytes, want %d", ErrMalformed, len(body), volumeHeaderBody)
	}
	h.Version = le.Uint16(body[0:])
	h.Volume = le.Uint32(body[4:])
	copy(h.Archive[:], body[8:24])
	h.RequiredFeatures = le.Uint64(body[24:])
	h.OptionalFeatures = le.Uint64(body[32:])
	h.ChunkSize = le.Uint32(body[40:])
	if h.Version != Version {
		return h, fmt.Errorf("%w: format version %d (this reader knows %d)", ErrUnsupported, h.Version, Version)
	}
	if u := h.RequiredFeatures &^ knownRequiredFeatures; u != 0 {
		return h, fmt.Errorf("%w: required feature flags %#x", ErrUnsupported, u)
	}
	if h.Volume == 0 {
		return h, fmt.Errorf("%w: volume number 0", ErrMalformed)
	}
	if le.Uint16(body[2:]) != 0 || le.Uint32(body[44:]) != 0 {
		return h, fmt.Errorf("%w: reserved volume header bytes are not zero", ErrMalformed)
	}
	return h, nil
}

// ChunkHeader precedes every chunk frame. It makes a volume self-describing:
// a scan can verify every chunk and rebuild what the index would say.
type ChunkHeader struct {
	Blob       digest.Digest
	BlobSize   int64
	BlobOffset int64  // offset of the chunk's first byte within the blob
	RawSize    uint32 // uncompressed bytes
	StoredSize uint32 // bytes of the zstd frame that follows
	StoredXXH  uint64 // XXH64 (seed 0) of the stored frame
}

func (c ChunkHeader) appendTo(dst []byte) []byte {
	alg, n := algOf(c.Blob)
	b := make([]byte, chunkHeaderFixed, chunkHeaderFixed+n)
	b[0] = alg
	le.PutUint32(b[4:], c.RawSize)
	le.PutUint32(b[8:], c.StoredSize)
	le.PutUint64(b[16:], uint64(c.BlobSize))
	le.PutUint64(b[24:], uint64(c.BlobOffset))
	le.PutUint64(b[32:], c.StoredXXH)
	b = append(b, digestBytes(c.Blob)...)
	return appendFrame(dst, TagChunk, b)
}

func chunkHeaderFrameSize(d digest.Digest) int {
	_, n := algOf(d)
	return frameOverhead + chunkHeaderFixed + n
}

func parseChunkHeader(body []byte) (ChunkHeader, error) {
	var c ChunkHeader
	if len(body) < chunkHeaderFixed {
		return c, fmt.Errorf("%w: chunk header body is %d bytes", ErrMalformed, len(body))
	}
	alg, n, ok := algInfo(body[0])
	if !ok {
		return c, fmt.Errorf("%w: digest algorithm id %d", ErrUnsupported, body[0])
	}
	if len(body) != chunkHeaderFixed+n {
		return c, fmt.Errorf("%w: chunk header body is %d bytes, want %d", ErrMalformed, len(body), chunkHeaderFixed+n)
	}
	if body[1] != 0 || body[2] != 0 || body[3] != 0 || le.Uint32(body[12:]) != 0 {
		return c, fmt.Errorf("%w: reserved chunk header bytes are not zero", ErrMalformed)
	}
	c.RawSize = le.Uint32(body[4:])
	c.StoredSize = le.Uint32(body[8:])
	bs, bo := le.Uint64(body[16:]), le.Uint64(body[24:])
	c.StoredXXH = le.Uint64(body[32:])
	c.Blob = digestFromBytes(alg, body[chunkHeaderFixed:])
	switch {
	case c.RawSize == 0:
		return c, fmt.Errorf("%w: chunk raw size 0 (a chunk holds at least one byte)", ErrMalformed)
	case c.RawSize > MaxChunkSize:
		return c, fmt.Errorf("%w: chunk raw size %d above %d", ErrLimit, c.RawSize, MaxChunkSize)
	case int(c.StoredSize) > MaxStoredSize(int(c.RawSize)) || c.StoredSize < 8:
		return c, fmt.Errorf("%w: chunk stored size %d impossible for raw size %d", ErrMalformed, c.StoredSize, c.RawSize)
	case bs > 1<<62 || bo >= bs || bo+uint64(c.RawSize) > bs:
		return c, fmt.Errorf("%w: chunk at blob offset %d+%d outside blob of %d bytes", ErrMalformed, bo, c.RawSize, bs)
	}
	c.BlobSize, c.BlobOffset = int64(bs), int64(bo)
	return c, nil
}

// Footer ends every volume. It has a fixed size and layout so that a reader
// finds it with one read of the last FooterSize bytes.
type Footer struct {
	Volume        uint32
	Archive       ArchiveID
	Final         bool
	RecordsEnd    int64  // offset of the footer: the volume's size is RecordsEnd+FooterSize
	MetadataCount uint64 // metadata frames before the footer
	MetadataHash  [32]byte
	IndexOffset   int64 // final volume: offset of the index frame
	IndexLength   int64 // final volume: length of the index frame
	IndexHash     [32]byte
}

const footerFlagFinal = 1

// encode returns the footer's FooterSize bytes.
func (f Footer) encode() []byte {
	b := make([]byte, FooterSize)
	le.PutUint32(b[0:], FrameMagic)
	le.PutUint32(b[4:], FooterSize-frameHeaderSize)
	copy(b[8:], TagFooter)
	le.PutUint16(b[12:], footerVersion)
	le.PutUint16(b[14:], Version)
	le.PutUint32(b[16:], f.Volume)
	copy(b[20:36], f.Archive[:])
	if f.Final {
		le.PutUint32(b[36:], footerFlagFinal)
	}
	le.PutUint64(b[40:], uint64(f.RecordsEnd))
	le.PutUint64(b[48:], f.MetadataCount)
	copy(b[56:88], f.MetadataHash[:])
	le.PutUint64(b[88:], uint64(f.IndexOffset))
	le.PutUint64(b[96:], uint64(f.IndexLength))
	copy(b[104:136], f.IndexHash[:])
	le.PutUint32(b[144:], FooterSize)
	le.PutUint16(b[148:], footerVersion)
	copy(b[152:], EndMagic[:])
	le.PutUint64(b[136:], footerCheck(b))
	return b
}

// footerCheck is XXH64 over every footer byte except the check itself.
func footerCheck(b []byte) uint64 {
	d := xxhash.New()
	d.Write(b[:136])
	d.Write(b[144:])
	return d.Sum64()
}

// parseFooter decodes the last FooterSize bytes of a volume of the given
// size. It checks everything that can be checked without other volumes.
func parseFooter(b []byte, volSize int64) (Footer, error) {
	var f Footer
	if len(b) != FooterSize {
		return f, fmt.Errorf("%w: footer of %d bytes", ErrTruncated, len(b))
	}
	if !bytes.Equal(b[152:], EndMagic[:]) {
		return f, fmt.Errorf("%w: no enclave footer magic at the end of the volume (truncated, or not an enclave volume)", ErrMalformed)
	}
	if v := le.Uint16(b[148:]); v != footerVersion {
		return f, fmt.Errorf("%w: footer version %d (this reader knows %d)", ErrUnsupported, v, footerVersion)
	}
	if n := le.Uint32(b[144:]); n != FooterSize {
		return f, fmt.Errorf("%w: footer size %d, want %d", ErrMalformed, n, FooterSize)
	}
	if got, want := footerCheck(b), le.Uint64(b[136:]); got != want {
		return f, fmt.Errorf("%w: footer XXH64 %016x, recorded %016x", ErrChecksum, got, want)
	}
	if le.Uint32(b[0:]) != FrameMagic || le.Uint32(b[4:]) != FooterSize-frameHeaderSize || string(b[8:12]) != TagFooter {
		return f, fmt.Errorf("%w: footer frame header", ErrMalformed)
	}
	if le.Uint16(b[12:]) != footerVersion || le.Uint16(b[150:]) != 0 {
		return f, fmt.Errorf("%w: footer version copy or reserved bytes", ErrMalformed)
	}
	if v := le.Uint16(b[14:]); v != Version {
		return f, fmt.Errorf("%w: format version %d (this reader knows %d)", ErrUnsupported, v, Version)
	}
	f.Volume = le.Uint32(b[16:])
	copy(f.Archive[:], b[20:36])
	flags := le.Uint32(b[36:])
	if flags&^footerFlagFinal != 0 {
		return f, fmt.Errorf("%w: unknown footer flags %#x", ErrUnsupported, flags)
	}
	f.Final = flags&footerFlagFinal != 0
	f.RecordsEnd = int64(le.Uint64(b[40:]))
	f.MetadataCount = le.Uint64(b[48:])
	copy(f.MetadataHash[:], b[56:88])
	f.IndexOffset = int64(le.Uint64(b[88:]))
	f.IndexLength = int64(le.Uint64(b[96:]))
	copy(f.IndexHash[:], b[104:136])
	if f.Volume == 0 {
		return f, fmt.Errorf("%w: volume number 0 in footer", ErrMalformed)
	}
	if f.RecordsEnd != volSize-FooterSize {
		return f, fmt.Errorf("%w: volume is %d bytes, its footer says %d", ErrTruncated, volSize, f.RecordsEnd+FooterSize)
	}
	if f.Final {
		if f.IndexOffset < 0 || f.IndexLength < frameOverhead || f.IndexOffset != f.RecordsEnd-f.IndexLength {
			return f, fmt.Errorf("%w: index at %d+%d does not end where the footer starts (%d)", ErrMalformed, f.IndexOffset, f.IndexLength, f.RecordsEnd)
		}
	} else if f.IndexOffset != 0 || f.IndexLength != 0 || f.IndexHash != ([32]byte{}) {
		return f, fmt.Errorf("%w: index fields set in a non-final volume", ErrMalformed)
	}
	return f, nil
}
