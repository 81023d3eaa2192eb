package format

import (
	"crypto/sha256"
	"encoding"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/opencontainers/go-digest"
)

// Recovered is what an interrupted write left that a writer can continue
// from: complete volumes, the volume to append to, and every blob whose
// chunks are all present and whose digest verified.
type Recovered struct {
	Archive ArchiveID
	// Volumes are the complete (footer-ended, non-final) volumes kept.
	Volumes []VolumeInfo
	// Current is the volume to continue appending to at CurrentEnd (0: none;
	// the next chunk starts volume len(Volumes)+1).
	Current    uint32
	CurrentEnd int64
	metaState  []byte
	metaCount  uint64
	// Drop are volume numbers after the kept ones, to delete.
	Drop []uint32
	// Blobs are the complete, verified blobs, with their content when the
	// keep function asked for it.
	Blobs []RecoveredBlob
	// Unverified counts blobs found incomplete or damaged (rewritten).
	Unverified int
}

// RecoveredBlob is one blob found complete.
type RecoveredBlob struct {
	Digest digest.Digest
	Size   int64
	Chunks []Chunk
	Data   []byte
}

// Recover scans volumes 1..count of an interrupted write in order, as
// ScanVolume does, decoding every chunk and verifying every blob's digest.
// open returns volume n for a sequential read. A volume that ends without a
// footer, or the final volume of a write interrupted while closing, becomes
// the one to continue; later volumes are dropped. keep says which blobs'
// bytes to return (small ones a caller must see again, such as manifests).
func Recover(count uint32, open func(n uint32) (io.ReadCloser, error), keep func(d digest.Digest, size int64) bool) (*Recovered, error) {
	rec := &Recovered{}
	type state struct {
		size   int64
		h      hash.Hash
		chunks []Chunk
		data   []byte
		next   int64
		bad    bool
	}
	states := map[digest.Digest]*state{}
	var raw []byte
	var order []digest.Digest
	for n := uint32(1); n <= count; n++ {
		if rec.Current != 0 {
			rec.Drop = append(rec.Drop, n)
			continue
		}
		rc, err := open(n)
		if err != nil {
			return nil, err
		}
		pending := map[digest.Digest]bool{}
		scan, err := ScanVolume(rc, ScanOptions{Chunk: func(cr ChunkRecord) error {
			h := cr.Header
			st := states[h.Blob]
			if st == nil {
				st = &state{size: h.BlobSize, h: h.Blob.Algorithm().Hash()}
				states[h.Blob] = st
				order = append(order, h.Blob)
				if keep != nil && keep(h.Blob, h.BlobSize) {
					st.data = make([]byte, 0, h.BlobSize)
				}
			}
			// A blob whose writing was abandoned and restarted has records
			// from both tries: follow the one that continues in order.
			if st.bad || h.BlobOffset != st.next || h.BlobSize != st.size {
				if h.BlobOffset == 0 && h.BlobSize == st.size {
					st.h.Reset()
					st.chunks, st.next, st.bad = nil, 0, false
					if st.data != nil {
						st.data = st.data[:0]
					}
				} else {
					return nil
				}
			}
			out, err := DecodeChunk(cr.Chunk, cr.Stored, raw)
			if err != nil {
				st.bad = true
				return nil
			}
			raw = out
			st.h.Write(out)
			if st.data != nil {
				st.data = append(st.data, out...)
			}
			st.chunks = append(st.chunks, cr.Chunk)
			st.next += int64(len(out))
			pending[h.Blob] = true
			return nil
		}})
		rc.Close()
		if scan == nil || scan.Header.Volume != n {
			if n == 1 {
				return nil, fmt.Errorf("format: recover: volume 1 has no valid header: %v", err)
			}
			rec.Drop = append(rec.Drop, n) // nothing usable: start it again
			rec.Current = 0
			for m := n + 1; m <= count; m++ {
				rec.Drop = append(rec.Drop, m)
			}
			break
		}
		if n == 1 {
			rec.Archive = scan.Header.Archive
		} else if scan.Header.Archive != rec.Archive {
			return nil, fmt.Errorf("%w: recover: volume %d belongs to archive %s, not %s", ErrVolume, n, scan.Header.Archive, rec.Archive)
		}
		if err == nil && scan.Complete && !scan.Footer.Final {
			rec.Volumes = append(rec.Volumes, VolumeInfo{Number: n, Size: scan.GoodEnd + FooterSize, Digest: sha256.Sum256(scan.RawFooter)})
			continue
		}
		if err != nil && !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrChecksum) && !errors.Is(err, ErrMalformed) {
			return nil, err
		}
		// Continue this volume after its last complete chunk record. Chunks
		// past that point (a record cut short) are not kept.
		rec.Current, rec.CurrentEnd, rec.metaState, rec.metaCount = n, scan.ResumeAt, scan.ResumeMeta, scan.ResumeCount
		for d := range pending {
			st := states[d]
			kept := st.chunks[:0]
			var next int64
			for _, c := range st.chunks {
				if c.Volume == n && c.Offset+int64(c.StoredSize) > scan.ResumeAt {
					break
				}
				kept = append(kept, c)
				next += int64(c.RawSize)
			}
			if len(kept) != len(st.chunks) {
				st.bad = true // its hash state is past the cut: rewrite it
			}
		}
	}
	for _, d := range order {
		st := states[d]
		if st.bad || st.next != st.size {
			rec.Unverified++
			continue
		}
		if digest.NewDigest(d.Algorithm(), st.h) != d {
			rec.Unverified++
			continue
		}
		rec.Blobs = append(rec.Blobs, RecoveredBlob{Digest: d, Size: st.size, Chunks: st.chunks, Data: st.data})
	}
	// Empty blobs have no chunks and need no recovery: they are rewritten.
	return rec, nil
}

// AppendSink is a VolumeSink that can also reopen an unfinished volume,
// truncated to a given size, for appending.
type AppendSink interface {
	VolumeSink
	AppendVolume(number uint32, size int64) (io.WriteCloser, error)
}

// ResumeWriter returns a writer that continues the archive rec describes:
// its blobs count as written, new chunks go after them.
func ResumeWriter(sink AppendSink, opts WriterOptions, rec *Recovered) (*Writer, error) {
	opts.Archive = rec.Archive
	w, err := NewWriter(sink, opts)
	if err != nil {
		return nil, err
	}
	w.volumes = append(w.volumes, rec.Volumes...)
	w.volNum = uint32(len(rec.Volumes))
	for _, b := range rec.Blobs {
		w.blobs[b.Digest] = &blobRec{digest: b.Digest, size: b.Size, chunks: b.Chunks}
		for _, c := range b.Chunks {
			w.rawB += int64(c.RawSize)
			w.storedB += int64(c.StoredSize)
		}
	}
	if rec.Current != 0 {
		if rec.Current != w.volNum+1 {
			return nil, fmt.Errorf("format: resume: volume %d follows %d complete volumes", rec.Current, w.volNum)
		}
		f, err := sink.AppendVolume(rec.Current, rec.CurrentEnd)
		if err != nil {
			return nil, fmt.Errorf("format: resume volume %d: %w", rec.Current, err)
		}
		h := sha256.New()
		if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(rec.metaState); err != nil {
			f.Close()
			return nil, fmt.Errorf("format: resume volume %d: metadata hash state: %w", rec.Current, err)
		}
		w.vol, w.volNum, w.off, w.metaHash, w.metaCount = f, rec.Current, rec.CurrentEnd, h, rec.metaCount
	}
	return w, nil
}

// Forget drops a committed blob from the archive being written, so it can be
// written again; its chunk records stay in the volume, unreferenced. A
// resumed writer uses it for recovered content that turns out incomplete.
func (w *Writer) Forget(d digest.Digest) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.blobs, d)
}
