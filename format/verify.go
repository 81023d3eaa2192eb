package format

import (
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/opencontainers/go-digest"
)

// VerifyReport is what Verify found.
type VerifyReport struct {
	Volumes       int   // volumes read completely and found valid
	Blobs         int   // blobs whose digest was verified
	Bytes         int64 // uncompressed bytes verified
	StoredBytes   int64 // stored bytes read
	Unreferenced  int64 // stored bytes of chunk records no blob uses (aborted writes)
	Problems      []error
	MissingBlobs  []digest.Digest // blobs not fully verified
	BadVolumes    []uint32        // volumes with at least one problem
	badVolumeSeen map[uint32]bool
}

// OK reports whether nothing was wrong.
func (r *VerifyReport) OK() bool { return len(r.Problems) == 0 }

func (r *VerifyReport) add(vol uint32, err error) {
	r.Problems = append(r.Problems, err)
	if vol != 0 && !r.badVolumeSeen[vol] {
		if r.badVolumeSeen == nil {
			r.badVolumeSeen = map[uint32]bool{}
		}
		r.badVolumeSeen[vol] = true
		r.BadVolumes = append(r.BadVolumes, vol)
	}
}

// VolumeOpener opens volume n for a sequential read and returns its size.
type VolumeOpener func(n uint32) (io.ReadCloser, int64, error)

type blobState struct {
	blob  Blob
	h     hash.Hash
	next  int // next chunk index expected
	raw   int64
	bad   bool
	began bool
}

// Verify reads every volume once, in order, and checks everything: each
// volume's header, frames, chunk checksums, metadata hash and footer; that it
// is the volume the index names (archive id, number, size, digest); that
// every chunk the index lists is where it says; and every blob's digest over
// its decoded bytes. It reports all problems, not just the first, and keeps
// going past damaged volumes. Memory: one chunk buffer plus a hash state per
// blob whose chunks span the current position.
func (a *Archive) Verify(open VolumeOpener) *VerifyReport {
	rep := &VerifyReport{}
	states := make(map[digest.Digest]*blobState)
	var raw []byte
	for _, v := range a.ix.volumes {
		n := v.Number
		rc, size, err := open(n)
		if err != nil {
			rep.add(n, &Error{Op: "verify", Volume: n, Offset: -1, Err: err})
			continue
		}
		if size != v.Size {
			rep.add(n, &Error{Op: "verify", Volume: n, Offset: -1, Detail: fmt.Sprintf("size is %d bytes, the index says %d", size, v.Size), Err: ErrTruncated})
		}
		scan, err := ScanVolume(rc, ScanOptions{Limits: a.lim, Chunk: func(cr ChunkRecord) error {
			b, ok := a.Lookup(cr.Header.Blob)
			st := states[cr.Header.Blob]
			if !ok {
				rep.Unreferenced += int64(cr.Chunk.StoredSize)
				return nil
			}
			if st == nil {
				st = &blobState{blob: b, h: b.Digest.Algorithm().Hash()}
				states[b.Digest] = st
			}
			if st.bad || st.next >= b.numChunks {
				rep.Unreferenced += int64(cr.Chunk.StoredSize)
				return nil
			}
			want := a.ix.chunk(b.firstChunk + st.next)
			if want != cr.Chunk {
				// A record for this blob that the index does not use
				// (for example a chunk of an aborted write).
				rep.Unreferenced += int64(cr.Chunk.StoredSize)
				return nil
			}
			out, err := DecodeChunk(want, cr.Stored, raw)
			if err != nil {
				st.bad = true
				rep.add(n, &Error{Op: "verify", Volume: n, Offset: cr.Chunk.Offset, Blob: b.Digest, Err: err})
				return nil
			}
			raw = out
			st.h.Write(out)
			st.raw += int64(len(out))
			st.next++
			rep.Bytes += int64(len(out))
			if st.next == b.numChunks {
				if got := digest.NewDigest(b.Digest.Algorithm(), st.h); got != b.Digest {
					st.bad = true
					rep.add(n, &Error{Op: "verify", Volume: n, Offset: cr.Chunk.Offset, Blob: b.Digest, Detail: "content has digest " + string(got), Err: ErrDigest})
				} else {
					rep.Blobs++
				}
				st.h = nil
			}
			return nil
		}})
		rc.Close()
		if scan != nil {
			rep.StoredBytes += scan.StoredBytes
		}
		if err != nil {
			rep.add(n, err)
			continue
		}
		if scan.Header.Archive != a.ID() || scan.Header.Volume != n {
			rep.add(n, &Error{Op: "verify", Volume: n, Offset: 0,
				Detail: fmt.Sprintf("it is volume %d of archive %s", scan.Header.Volume, scan.Header.Archive), Err: ErrVolume})
			continue
		}
		if !v.Final {
			if sum256(scan.RawFooter) != v.Digest {
				rep.add(n, &Error{Op: "verify", Volume: n, Offset: size - FooterSize, Detail: "footer SHA-256 differs from the index's volume digest", Err: ErrDigest})
				continue
			}
		} else if scan.Footer.IndexHash != a.footer.IndexHash {
			rep.add(n, &Error{Op: "verify", Volume: n, Offset: -1, Detail: "final volume's index differs from the one opened", Err: ErrDigest})
			continue
		}
		rep.Volumes++
	}
	// Every blob must have been verified; empty blobs have no chunks.
	a.Blobs(func(b Blob) bool {
		if b.numChunks == 0 {
			if b.Digest.Algorithm().FromBytes(nil) != b.Digest {
				rep.add(0, &Error{Op: "verify", Offset: -1, Blob: b.Digest, Detail: "empty blob with a non-empty digest", Err: ErrDigest})
				rep.MissingBlobs = append(rep.MissingBlobs, b.Digest)
			} else {
				rep.Blobs++
			}
			return true
		}
		st := states[b.Digest]
		if st == nil || st.bad || st.next != b.numChunks {
			rep.MissingBlobs = append(rep.MissingBlobs, b.Digest)
			if st != nil && !st.bad {
				rep.add(0, &Error{Op: "verify", Offset: -1, Blob: b.Digest, Detail: fmt.Sprintf("only %d of %d chunks found", st.next, b.numChunks), Err: ErrTruncated})
			}
		}
		return true
	})
	return rep
}

// IsIntegrity reports whether err means damaged or foreign data (as opposed
// to an I/O failure or an unsupported version).
func IsIntegrity(err error) bool {
	for _, e := range []error{ErrMalformed, ErrChecksum, ErrDigest, ErrTruncated, ErrVolume, ErrInvalidDigest, ErrLimit} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
