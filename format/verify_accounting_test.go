package format_test

import (
	"fmt"
	"io"
	"testing"

	"github.com/enclave-mirror/enclave/format"
)

// TestVerifyCountsListedChunksAsNotVerified: chunks the index lists that
// could not be verified because their blob lost a chunk before them (a
// missing volume, a damaged chunk header) are not verified (Damaged), never
// "unreferenced" (chunks no index entry lists: abandoned writes), spec 11.5.
func TestVerifyCountsListedChunksAsNotVerified(t *testing.T) {
	big := newBlob(randomBytes(41, 600<<10)) // ~10 chunks of 64 KiB over several volumes
	vs := writeArchive(t, []blob{big}, writeOpts{WriterOptions: format.WriterOptions{ChunkSize: 64 << 10, VolumeSize: 200 << 10}}, false)
	if len(vs) < 4 {
		t.Fatalf("%d volumes, want at least 4", len(vs))
	}
	a := openArchive(t, vs)
	b, _ := a.Lookup(big.d)
	chunks := a.Chunks(b)
	// storedAfter adds up the stored sizes of the blob's chunks in volumes
	// above v.
	storedAfter := func(v uint32) (n int64) {
		for _, c := range chunks {
			if c.Volume > v {
				n += int64(c.StoredSize)
			}
		}
		return n
	}
	t.Run("missing volume", func(t *testing.T) {
		rep := a.Verify(func(n uint32) (io.ReadCloser, int64, error) {
			if n == 2 {
				return nil, 0, fmt.Errorf("volume 2 is missing")
			}
			return vs.opener()(n)
		})
		if rep.OK() || rep.Unreferenced != 0 || rep.Damaged != storedAfter(2) {
			t.Fatalf("unreferenced %d, not verified %d; want 0 and %d (problems %v)", rep.Unreferenced, rep.Damaged, storedAfter(2), rep.Problems)
		}
	})
	t.Run("damaged chunk header", func(t *testing.T) {
		bad := vs.clone()
		// The header of volume 2's first chunk: ends that volume's scan.
		var first format.Chunk
		for _, c := range chunks {
			if c.Volume == 2 {
				first = c
				break
			}
		}
		bad[1][first.Offset-50] ^= 1
		rep := a.Verify(bad.opener())
		if rep.OK() || rep.Unreferenced != 0 || rep.Damaged != storedAfter(2) {
			t.Fatalf("unreferenced %d, not verified %d; want 0 and %d (problems %v)", rep.Unreferenced, rep.Damaged, storedAfter(2), rep.Problems)
		}
	})
}
