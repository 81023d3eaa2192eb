package format_test

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"github.com/enclave-mirror/enclave/format"
)

// appendSink keeps volumes in memory and can reopen the last one.
type appendSink struct {
	memSink
}

func (s *appendSink) AppendVolume(n uint32, size int64) (io.WriteCloser, error) {
	if int(n) != len(s.vols) {
		return nil, fmt.Errorf("append to volume %d of %d", n, len(s.vols))
	}
	v := &memVol{s: &s.memSink, n: n}
	v.b.Write(s.vols[n-1][:size])
	s.vols = s.vols[:n-1] // Close appends it again
	return v, nil
}

func (s *appendSink) CreateVolume(n uint32) (io.WriteCloser, error) { return s.memSink.CreateVolume(n) }

// An interrupted write, cut at any offset, resumes into a valid archive that
// holds every blob, reusing the ones that were complete.
func TestRecoverAtAnyCut(t *testing.T) {
	blobs := []blob{newBlob(textBytes(1, 200<<10)), newBlob(randomBytes(2, 150<<10)), newBlob([]byte("small")), newBlob(textBytes(3, 70<<10))}
	opts := format.WriterOptions{Archive: format.ArchiveID{7}, ChunkSize: 64 << 10, VolumeSize: 160 << 10}
	// A complete write, to learn the stream a crash would cut.
	full := writeArchive(t, blobs, writeOpts{WriterOptions: opts}, false)
	var stream []int // cumulative volume ends
	total := 0
	for _, v := range full {
		total += len(v)
		stream = append(stream, total)
	}
	for cut := 100; cut < total-format.FooterSize; cut += 7919 {
		t.Run(fmt.Sprint(cut), func(t *testing.T) {
			// The volumes as a crash at byte cut of the stream left them.
			s := &appendSink{}
			left := cut
			for _, v := range full {
				if left <= 0 {
					break
				}
				k := min(left, len(v))
				s.vols = append(s.vols, append([]byte(nil), v[:k]...))
				left -= k
			}
			rec, err := format.Recover(uint32(len(s.vols)), func(n uint32) (io.ReadCloser, error) {
				return io.NopCloser(bytes.NewReader(s.vols[n-1])), nil
			}, nil)
			if err != nil {
				if cut < 200 { // not even a volume header: start again
					return
				}
				t.Fatal(err)
			}
			for _, n := range rec.Drop {
				if int(n) == len(s.vols) {
					s.vols = s.vols[:n-1]
				}
			}
			w, err := format.ResumeWriter(s, opts, rec)
			if err != nil {
				t.Fatal(err)
			}
			reused := 0
			for _, b := range blobs {
				if w.Has(b.d) {
					reused++
					continue
				}
				bw, err := w.Blob(b.d, int64(len(b.data)))
				if err != nil {
					t.Fatal(err)
				}
				bw.Write(b.data)
				if err := bw.Commit(); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(&format.Manifest{}); err != nil {
				t.Fatal(err)
			}
			vs := volumes(s.vols)
			a := openArchive(t, vs)
			rep := a.Verify(vs.opener())
			if !rep.OK() || rep.Blobs != len(blobs) {
				t.Fatalf("after resuming at %d (%d reused): %d blobs, problems %v", cut, reused, rep.Blobs, rep.Problems)
			}
			for _, b := range blobs {
				got, err := readBlob(a, vs, b.d)
				if err != nil || !bytes.Equal(got, b.data) {
					t.Fatalf("blob %s after resume: %v", b.d, err)
				}
			}
			if cut > stream[0] && reused == 0 {
				t.Fatalf("a whole volume was written before the cut at %d, yet nothing was reused", cut)
			}
		})
	}
}
