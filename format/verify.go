package format

import (
	"errors"
	"fmt"
	"hash"
	"io"
	"runtime"
	"sort"
	"sync"

	"github.com/opencontainers/go-digest"
)

// VerifyReport is what Verify found.
type VerifyReport struct {
	Volumes       int   // volumes read completely and found valid
	Blobs         int   // blobs whose digest was verified
	Bytes         int64 // uncompressed bytes verified
	StoredBytes   int64 // stored bytes read
	Unreferenced  int64 // stored bytes of chunk records the index does not list (aborted writes)
	Damaged       int64 // stored bytes of chunks the index lists, not verified because their blob was damaged or missing a chunk before them
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
	blob   Blob
	next   int   // next chunk index expected (scanning goroutine)
	at     int64 // blob offset of that chunk (scanning goroutine)
	worker int   // the worker that hashes it
	// Owned by the blob's worker:
	h    hash.Hash
	bad  bool
	done bool // every chunk decoded and the digest compared
}

type verifyJob struct {
	st     *blobState
	chunk  Chunk
	vol    uint32
	stored []byte
	last   bool
}

var verifyBufs = sync.Pool{New: func() any { return new([]byte) }}

func verifyWorkers() int { return max(1, min(runtime.GOMAXPROCS(0), 8)) }

// verifyChunk decodes one chunk and feeds its blob's hash; on the blob's last
// chunk it compares the digest.
func (a *Archive) verifyChunk(j verifyJob, raw []byte, rep *VerifyReport, mu *sync.Mutex) []byte {
	st, b := j.st, j.st.blob
	if st.bad {
		return raw
	}
	out, err := DecodeChunk(j.chunk, j.stored, raw)
	if err != nil {
		st.bad = true
		mu.Lock()
		rep.add(j.vol, &Error{Op: "verify", Volume: j.vol, Offset: j.chunk.Offset, Blob: b.Digest, Err: err})
		mu.Unlock()
		return raw
	}
	st.h.Write(out)
	mu.Lock()
	rep.Bytes += int64(len(out))
	mu.Unlock()
	if j.last {
		st.done = true
		got := digest.NewDigest(b.Digest.Algorithm(), st.h)
		mu.Lock()
		if got != b.Digest {
			st.bad = true
			rep.add(j.vol, &Error{Op: "verify", Volume: j.vol, Offset: j.chunk.Offset, Blob: b.Digest, Detail: "content has digest " + string(got), Err: ErrDigest})
		} else {
			rep.Blobs++
		}
		mu.Unlock()
		st.h = nil
	}
	return out
}

// listsChunk reports whether c is one of b's chunks in the index: a binary
// search, since a blob's chunks run forward through the volumes (6.3).
func (a *Archive) listsChunk(b Blob, c Chunk) bool {
	i := sort.Search(b.numChunks, func(i int) bool {
		x := a.ix.chunk(b.firstChunk + i)
		return x.Volume > c.Volume || x.Volume == c.Volume && x.Offset >= c.Offset
	})
	return i < b.numChunks && a.ix.chunk(b.firstChunk+i) == c
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
	// Decoding and hashing run on verifyWorkers goroutines; every chunk of a
	// blob goes to the same worker, in order, so each blob's hash is fed in
	// sequence while different blobs hash in parallel. The scanning
	// goroutine does the bookkeeping (which chunk comes next for a blob).
	var mu sync.Mutex // guards rep from the workers
	report := func(vol uint32, err error) {
		mu.Lock()
		rep.add(vol, err)
		mu.Unlock()
	}
	workers := verifyWorkers()
	nextWorker := 0
	queues := make([]chan verifyJob, workers)
	var wg sync.WaitGroup
	for i := range queues {
		queues[i] = make(chan verifyJob, 1)
		wg.Add(1)
		go func(q chan verifyJob) {
			defer wg.Done()
			var raw []byte
			for j := range q {
				raw = a.verifyChunk(j, raw, rep, &mu)
				b := j.stored[:0]
				verifyBufs.Put(&b)
			}
		}(queues[i])
	}
	for _, v := range a.ix.volumes {
		n := v.Number
		rc, size, err := open(n)
		if err != nil {
			mu.Lock()
			rep.add(n, &Error{Op: "verify", Volume: n, Offset: -1, Err: err})
			mu.Unlock()
			continue
		}
		if size != v.Size {
			mu.Lock()
			rep.add(n, &Error{Op: "verify", Volume: n, Offset: -1, Detail: fmt.Sprintf("size is %d bytes, the index says %d", size, v.Size), Err: ErrTruncated})
			mu.Unlock()
		}
		scan, err := ScanVolume(rc, ScanOptions{Limits: a.lim, ChunkError: func(err error) error {
			// A damaged chunk spoils its blob only; the scan goes on.
			var fe *Error
			if errors.As(err, &fe) {
				if st := states[fe.Blob]; st != nil {
					st.next = -1 << 30 // no later chunk of it matches
				} else if b, ok := a.Lookup(fe.Blob); ok {
					states[fe.Blob] = &blobState{blob: b, next: -1 << 30}
				}
			}
			report(n, err)
			return nil
		}, Chunk: func(cr ChunkRecord) error {
			b, ok := a.Lookup(cr.Header.Blob)
			st := states[cr.Header.Blob]
			unref := func() {
				mu.Lock()
				rep.Unreferenced += int64(cr.Chunk.StoredSize)
				mu.Unlock()
			}
			if !ok {
				unref()
				return nil
			}
			if st == nil {
				// Blobs are dealt to workers in turn as they start.
				st = &blobState{blob: b, h: b.Digest.Algorithm().Hash(), worker: nextWorker}
				nextWorker = (nextWorker + 1) % workers
				states[b.Digest] = st
			}
			if st.next < 0 || st.next >= b.numChunks || a.ix.chunk(b.firstChunk+st.next) != cr.Chunk {
				// Not the chunk this blob needs next. If the index lists
				// it, the blob was damaged, or missed a chunk (a missing
				// volume, a damaged header), before it: not verified, and
				// not an abandoned write either (11.5). Otherwise no
				// index entry uses it (a chunk of an aborted write).
				if a.listsChunk(b, cr.Chunk) {
					mu.Lock()
					rep.Damaged += int64(cr.Chunk.StoredSize)
					mu.Unlock()
				} else {
					unref()
				}
				return nil
			}
			want := a.ix.chunk(b.firstChunk + st.next)
			if h := cr.Header; h.BlobSize != b.Size || h.BlobOffset != st.at {
				// The record the index uses says the blob has another
				// size, or that this chunk sits elsewhere in it: its
				// header claims bytes before or after the blob that the
				// index does not account for.
				st.next = -1 << 30 // no later chunk of it matches
				report(n, &Error{Op: "verify", Volume: n, Offset: cr.Chunk.Offset, Blob: b.Digest,
					Detail: fmt.Sprintf("chunk header says blob offset %d of a %d-byte blob, the index offset %d of %d bytes", h.BlobOffset, h.BlobSize, st.at, b.Size),
					Err:    ErrMalformed})
				return nil
			}
			st.next++
			st.at += int64(want.RawSize)
			buf := verifyBufs.Get().(*[]byte)
			j := verifyJob{st: st, chunk: want, vol: n, stored: append((*buf)[:0], cr.Stored...), last: st.next == b.numChunks}
			queues[st.worker] <- j
			return nil
		}})
		rc.Close()
		if scan != nil {
			mu.Lock()
			rep.StoredBytes += scan.StoredBytes
			mu.Unlock()
		}
		if err != nil {
			var fe *Error
			if errors.As(err, &fe) && fe.Volume == 0 {
				fe.Volume = n // failed before the volume header was read
			}
			report(n, err)
			continue
		}
		if scan.Header.Archive != a.ID() || scan.Header.Volume != n {
			report(n, &Error{Op: "verify", Volume: n, Offset: 0,
				Detail: fmt.Sprintf("it is volume %d of archive %s", scan.Header.Volume, scan.Header.Archive), Err: ErrVolume})
			continue
		}
		if !v.Final {
			if sum256(scan.RawFooter) != v.Digest {
				report(n, &Error{Op: "verify", Volume: n, Offset: size - FooterSize, Detail: "footer SHA-256 differs from the index's volume digest", Err: ErrDigest})
				continue
			}
		} else if scan.Footer.IndexHash != a.footer.IndexHash {
			report(n, &Error{Op: "verify", Volume: n, Offset: -1, Detail: "final volume's index differs from the one opened", Err: ErrDigest})
			continue
		}
		mu.Lock()
		rep.Volumes++
		mu.Unlock()
	}
	for _, q := range queues {
		close(q)
	}
	wg.Wait()
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
		if st == nil || st.bad || !st.done {
			rep.MissingBlobs = append(rep.MissingBlobs, b.Digest)
			if st != nil && !st.bad && st.next >= 0 {
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
