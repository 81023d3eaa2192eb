package format

import (
	"bufio"
	"crypto/sha256"
	"encoding"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/cespare/xxhash/v2"
)

// ChunkRecord is one chunk met by a scan, with its stored bytes verified
// against the XXH64 in its header. Stored is valid only during the callback.
type ChunkRecord struct {
	Header ChunkHeader
	Chunk  Chunk
	Stored []byte
}

// VolumeScan is what a scan of one volume found.
type VolumeScan struct {
	Header VolumeHeader
	// Footer is set when the scan reached a valid footer.
	Footer   Footer
	Complete bool
	// Chunks counts chunk records; RawBytes and StoredBytes add up their
	// sizes.
	Chunks      int
	RawBytes    int64
	StoredBytes int64
	// GoodEnd is the offset just after the last complete, valid record: where
	// a writer resuming this volume would continue.
	GoodEnd int64
	// Manifest and Index are the final volume's manifest document and index
	// frame, when present.
	Manifest []byte
	Index    []byte
	// IndexOffset is where the index frame started.
	IndexOffset int64
	// RawFooter is the footer's bytes as read.
	RawFooter []byte
	// ResumeAt is the offset just after the volume header or the last
	// complete chunk record (before any manifest, index or footer): where a
	// resumed writer appends. ResumeMeta and ResumeCount are the metadata
	// hash state (encoding.BinaryMarshaler form) and frame count there.
	ResumeAt    int64
	ResumeMeta  []byte
	ResumeCount uint64
}

// ScanOptions configure ScanVolume.
type ScanOptions struct {
	Limits Limits
	// Chunk, when set, is called for every chunk record in order. An error
	// it returns ends the scan and is returned.
	Chunk func(ChunkRecord) error
	// ChunkError, when set, is called for a chunk whose stored bytes fail
	// their checksum (ErrChecksum) or, matching it, do not start with the
	// zstd magic (ErrMalformed), and the scan goes on with the next record
	// (the chunk header gives its length); an error it returns ends the
	// scan. When nil, such a chunk ends the scan with that error.
	ChunkError func(error) error
}

// ScanVolume reads one volume from start to end without seeking, checking
// every frame: its header, every chunk header and chunk checksum, the
// metadata hash and record count in the footer, and that nothing follows the
// footer. It needs no other volume. A volume that ends without a footer (an
// interrupted write) returns ErrTruncated with the scan so far, whose GoodEnd
// says where the valid part ends.
func ScanVolume(r io.Reader, opts ScanOptions) (*VolumeScan, error) {
	lim := opts.Limits.withDefaults()
	s := &scanner{br: bufio.NewReaderSize(r, 1<<20), meta: sha256.New(), lim: lim}
	res := &VolumeScan{}
	err := s.run(res, opts)
	if err != nil {
		var fe *Error
		if !errors.As(err, &fe) {
			// The offset of the frame in which the fault was found
			// (section 12), not how far the scan had read.
			err = &Error{Op: "scan", Volume: res.Header.Volume, Offset: s.at, Err: err}
		}
	}
	return res, err
}

type scanner struct {
	br        *bufio.Reader
	off       int64
	at        int64 // start of the frame being read: where a fault is reported
	meta      hash.Hash
	metaCount uint64
	lim       Limits
	stored    []byte
}

func (s *scanner) readFull(b []byte) error {
	n, err := io.ReadFull(s.br, b)
	s.off += int64(n)
	if errors.Is(err, io.ErrUnexpectedEOF) || (err == io.EOF && len(b) > 0) {
		return fmt.Errorf("%w: volume ends inside a record", ErrTruncated)
	}
	return err
}

func (s *scanner) run(res *VolumeScan, opts ScanOptions) error {
	first := true
	for {
		start := s.off
		s.at = start
		var fh [frameHeaderSize]byte
		n, err := io.ReadFull(s.br, fh[:])
		s.off += int64(n)
		if err == io.EOF {
			return fmt.Errorf("%w: volume ends after %d bytes without a footer (interrupted write?)", ErrTruncated, start)
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("%w: volume ends inside a frame header", ErrTruncated)
		}
		if err != nil {
			return err // the reader failed (EIO from a failing disk): not a short volume
		}
		if m := le.Uint32(fh[:]); m != FrameMagic {
			return fmt.Errorf("%w: expected an enclave metadata frame, found magic %#08x", ErrMalformed, m)
		}
		length := int64(le.Uint32(fh[4:]))
		if length < 12 {
			return fmt.Errorf("%w: metadata frame of %d bytes", ErrMalformed, length)
		}
		var tag [4]byte
		if err := s.readFull(tag[:]); err != nil {
			return err
		}
		max := int64(MaxMetadataFrame)
		switch string(tag[:]) {
		case TagIndex:
			max = int64(s.lim.MaxIndexSize) + frameOverhead
		case TagManifest:
			max = int64(s.lim.MaxManifestSize) + frameOverhead
		}
		if length+frameHeaderSize > max {
			return fmt.Errorf("%w: %q frame of %d bytes (limit %d)", ErrLimit, tag[:], length, max)
		}
		frame := make([]byte, frameHeaderSize+length)
		copy(frame, fh[:])
		copy(frame[8:], tag[:])
		if err := s.readFull(frame[12:]); err != nil {
			return err
		}
		if string(tag[:]) == TagFooter {
			if res.Manifest != nil && res.Index == nil {
				return fmt.Errorf("%w: manifest without an index", ErrMalformed)
			}
			return s.footer(res, frame, start)
		}
		t, body, err := parseFrame(frame)
		if err != nil {
			return err
		}
		s.meta.Write(frame)
		s.metaCount++
		if first != (t == TagVolumeHeader) {
			return fmt.Errorf("%w: %q frame where %s", ErrMalformed, t, map[bool]string{true: "the volume header must be first", false: "only the first frame may be a volume header"}[first])
		}
		first = false
		if (res.Manifest != nil && t != TagIndex) || res.Index != nil {
			return fmt.Errorf("%w: %q frame after the manifest or index (they end a volume)", ErrMalformed, t)
		}
		switch t {
		case TagVolumeHeader:
			h, err := parseVolumeHeader(body)
			if err != nil {
				return err
			}
			res.Header = h
		case TagChunk:
			h, err := parseChunkHeader(body)
			if err != nil {
				return err
			}
			if int(h.RawSize) > s.lim.MaxChunkSize {
				return fmt.Errorf("%w: chunk of %d bytes (limit %d)", ErrLimit, h.RawSize, s.lim.MaxChunkSize)
			}
			if cap(s.stored) < int(h.StoredSize) {
				s.stored = make([]byte, h.StoredSize)
			}
			st := s.stored[:h.StoredSize]
			at := s.off
			s.at = at
			if err := s.readFull(st); err != nil {
				return err
			}
			// XXH64 first, so that damage is reported as damage (5.1),
			// then the zstd magic: a chunk frame only follows its header.
			var cerr *Error
			if got := xxhash.Sum64(st); got != h.StoredXXH {
				cerr = &Error{Op: "scan", Volume: res.Header.Volume, Offset: at, Blob: h.Blob,
					Detail: fmt.Sprintf("chunk at blob offset %d: XXH64 %016x, recorded %016x", h.BlobOffset, got, h.StoredXXH), Err: ErrChecksum}
			} else if m := le.Uint32(st); m != zstdMagic {
				cerr = &Error{Op: "scan", Volume: res.Header.Volume, Offset: at, Blob: h.Blob,
					Detail: fmt.Sprintf("chunk at blob offset %d does not start with the zstd frame magic (%#08x)", h.BlobOffset, m), Err: ErrMalformed}
			}
			if cerr != nil {
				if opts.ChunkError == nil {
					return cerr
				}
				// The header says where the record ends: report the
				// damaged chunk and go on with the next record.
				if err := opts.ChunkError(cerr); err != nil {
					return err
				}
				res.GoodEnd = s.off
				continue
			}
			res.Chunks++
			res.RawBytes += int64(h.RawSize)
			res.StoredBytes += int64(h.StoredSize)
			if opts.Chunk != nil {
				c := Chunk{Volume: res.Header.Volume, Offset: at, StoredSize: h.StoredSize, RawSize: h.RawSize, StoredXXH: h.StoredXXH}
				if err := opts.Chunk(ChunkRecord{Header: h, Chunk: c, Stored: st}); err != nil {
					return err
				}
			}
		case TagManifest:
			res.Manifest = append([]byte(nil), body...)
		case TagIndex:
			res.Index = frame
			res.IndexOffset = start
		default:
			return fmt.Errorf("%w: unknown record tag %q", ErrUnsupported, t)
		}
		res.GoodEnd = s.off
		if t == TagVolumeHeader || t == TagChunk {
			res.ResumeAt, res.ResumeCount = s.off, s.metaCount
			if m, ok := s.meta.(encoding.BinaryMarshaler); ok {
				res.ResumeMeta, _ = m.MarshalBinary()
			}
		}
	}
}

func (s *scanner) footer(res *VolumeScan, frame []byte, start int64) error {
	if len(frame) != FooterSize {
		return fmt.Errorf("%w: footer frame of %d bytes", ErrMalformed, len(frame))
	}
	// Anything after the footer is an error: a volume ends with it.
	if _, err := s.br.ReadByte(); err != io.EOF {
		if err == nil {
			return fmt.Errorf("%w: bytes after the footer", ErrMalformed)
		}
		return err
	}
	f, err := parseFooter(frame, start+FooterSize)
	if err != nil {
		return err
	}
	if f.Archive != res.Header.Archive || f.Volume != res.Header.Volume {
		return fmt.Errorf("%w: footer names archive %s volume %d, header archive %s volume %d", ErrMalformed, f.Archive, f.Volume, res.Header.Archive, res.Header.Volume)
	}
	var mh [32]byte
	copy(mh[:], s.meta.Sum(nil))
	if mh != f.MetadataHash || s.metaCount != f.MetadataCount {
		return fmt.Errorf("%w: metadata frames (%d) do not match the footer's hash and count (%d)", ErrDigest, s.metaCount, f.MetadataCount)
	}
	if f.Final {
		if res.Index == nil || res.IndexOffset != f.IndexOffset || int64(len(res.Index)) != f.IndexLength || sha256.Sum256(res.Index) != f.IndexHash {
			return fmt.Errorf("%w: final volume's index does not match its footer", ErrDigest)
		}
	} else if res.Index != nil || res.Manifest != nil {
		return fmt.Errorf("%w: index or manifest in a non-final volume", ErrMalformed)
	}
	res.Footer = f
	res.RawFooter = frame
	res.Complete = true
	return nil
}
