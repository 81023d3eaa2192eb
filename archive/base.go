package archive

import (
	"fmt"
	"os"

	"github.com/opencontainers/go-digest"

	"github.com/enclave-mirror/enclave/format"
)

// Base is what an archive is cut against: the set of digests the receiving
// side already holds, from a previous archive (its blobs and its own
// prerequisites) or from a receipt.
type Base struct {
	// Kind is "archive" or "receipt".
	Kind string
	// Archive is a base archive's id (empty for a receipt).
	Archive string
	// Digest is the archive digest or the receipt digest.
	Digest digest.Digest
	// Lineage and Sequence of the base archive, or of the newest archive a
	// receipt records.
	Lineage  string
	Sequence uint64
	// Repositories maps a digest to the destination repositories holding it,
	// when a receipt says so.
	Repositories map[digest.Digest][]string
	sizes        map[digest.Digest]int64
	// omitted are, for an index held without some of its children (a
	// sparse copy), those children: not held.
	omitted map[digest.Digest][]digest.Digest
}

// Has reports whether the base holds d.
func (b *Base) Has(d digest.Digest) bool { _, ok := b.sizes[d]; return ok }

// Len returns how many digests the base holds.
func (b *Base) Len() int { return len(b.sizes) }

func (b *Base) provider() string {
	if b.Kind == "archive" {
		return "archive:" + b.Archive
	}
	return "receipt:" + string(b.Digest)
}

// BaseFromReceipt makes a base of a receipt.
func BaseFromReceipt(r *Receipt, d digest.Digest) *Base {
	b := &Base{Kind: "receipt", Digest: d, sizes: make(map[digest.Digest]int64, len(r.Content)),
		Repositories: make(map[digest.Digest][]string, len(r.Content))}
	for _, e := range r.Content {
		b.sizes[e.Digest] = e.Size
		b.Repositories[e.Digest] = e.Repositories
		if len(e.Omitted) > 0 {
			if b.omitted == nil {
				b.omitted = map[digest.Digest][]digest.Digest{}
			}
			b.omitted[e.Digest] = e.Omitted
		}
	}
	for _, a := range r.Archives {
		if a.Sequence >= b.Sequence {
			b.Lineage, b.Sequence = a.Lineage, a.Sequence
		}
	}
	return b
}

// BaseFromArchive makes a base of an opened archive: its blobs and its
// prerequisites (which its receiver had to hold already).
func BaseFromArchive(r *Reader) *Base {
	a := r.arch
	b := &Base{Kind: "archive", Archive: a.ID().String(), Digest: a.Digest(),
		Lineage: a.Manifest().Lineage, Sequence: a.Manifest().Sequence, sizes: make(map[digest.Digest]int64, a.NumBlobs())}
	a.Blobs(func(bl format.Blob) bool { b.sizes[bl.Digest] = bl.Size; return true })
	if d := a.Manifest().Delta; d != nil {
		for _, p := range d.Prerequisites {
			b.sizes[p.Digest] = p.Size
		}
	}
	for _, root := range a.Manifest().Roots {
		for _, o := range root.Omitted {
			if b.omitted == nil {
				b.omitted = map[digest.Digest][]digest.Digest{}
			}
			b.omitted[root.Descriptor.Digest] = append(b.omitted[root.Descriptor.Digest], o.Digest)
		}
	}
	return b
}

// LoadBase loads a base from a receipt file or a previous archive's
// directory; of an archive only the final volume needs to be present.
func LoadBase(path string) (*Base, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("archive: base %s: %w", path, err)
	}
	if info.IsDir() {
		r, err := Open(path, WithIndexOnly())
		if err != nil {
			return nil, fmt.Errorf("archive: base %s: %w", path, err)
		}
		defer r.Close()
		return BaseFromArchive(r), nil
	}
	rec, d, err := LoadReceipt(path)
	if err != nil {
		return nil, err
	}
	return BaseFromReceipt(rec, d), nil
}
