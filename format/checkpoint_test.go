package format_test

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/enclave-mirror/enclave/format"
)

// TestOpenBlobFrom: a reader opened from a checkpoint of a reader from 0
// serves the rest of the blob and checks the digest over all of it: the
// content right, io.EOF; under a claimed digest that does not match, the
// last chunk withheld and ErrDigest, as from offset 0. A checkpoint of
// another blob, or at no chunk start, is refused.
func TestOpenBlobFrom(t *testing.T) {
	const chunk = format.MinChunkSize
	data := randomBytes(11, 5*chunk+100) // 6 chunks
	other := randomBytes(12, 2*chunk)
	vs := writeArchive(t, []blob{newBlob(data), newBlob(other)}, writeOpts{WriterOptions: format.WriterOptions{ChunkSize: chunk}}, false)
	a := openArchive(t, vs)
	b, _ := a.Lookup(digest.FromBytes(data))
	ob, _ := a.Lookup(digest.FromBytes(other))

	// A first reader goes 3 chunks in, and stops (a dropped connection).
	first := a.OpenBlob(b, vs)
	if _, err := io.CopyN(io.Discard, first, 3*chunk); err != nil {
		t.Fatal(err)
	}
	cps := first.Checkpoints()
	first.Close()
	if len(cps) != 3 || cps[0].Offset != 0 || cps[2].Offset != 2*chunk {
		t.Fatalf("checkpoints at %v, want 3 at the chunk starts 0 to %d", offsets(cps), 2*chunk)
	}
	for _, cp := range cps {
		r, err := a.OpenBlobFrom(b, vs, cp)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, data[cp.Offset:]) {
			t.Fatalf("from %d: %d bytes, %v", cp.Offset, len(got), err)
		}
	}

	// The same checkpoint under a digest the content does not have: the
	// continued check fails and withholds the last chunk.
	claimed := a.OpenBlobClaiming(b, digest.FromString("other"), vs)
	if _, err := io.CopyN(io.Discard, claimed, 2*chunk+1); err != nil {
		t.Fatal(err)
	}
	ccps := claimed.Checkpoints()
	claimed.Close()
	r, err := a.OpenBlobFromClaiming(b, digest.FromString("other"), vs, ccps[len(ccps)-1])
	if err != nil {
		t.Fatal(err)
	}
	var served bytes.Buffer
	_, err = io.Copy(&served, r)
	if !errors.Is(err, format.ErrDigest) {
		t.Fatalf("continued under a wrong digest: err = %v, want ErrDigest", err)
	}
	if want := len(data) - 2*chunk - 100; served.Len() != want {
		t.Fatalf("served %d bytes, want %d: the last chunk must be withheld", served.Len(), want)
	}

	if _, err := a.OpenBlobFrom(ob, vs, cps[1]); err == nil {
		t.Fatal("a checkpoint of another blob was taken")
	}
	moved := cps[1]
	moved.Offset++
	if _, err := a.OpenBlobFrom(b, vs, moved); err == nil {
		t.Fatal("a checkpoint at no chunk start was taken")
	}
}

func offsets(cps []format.Checkpoint) []int64 {
	var out []int64
	for _, c := range cps {
		out = append(out, c.Offset)
	}
	return out
}
