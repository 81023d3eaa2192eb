package format

import "github.com/opencontainers/go-digest"

// OpenBlobClaiming opens b's chunks as if the index recorded digest d for
// them: the reader a crafted index gives, whose chunks all pass their
// checksums while the blob's digest does not match.
func (a *Archive) OpenBlobClaiming(b Blob, d digest.Digest, vols VolumeSet) *BlobReader {
	b.Digest = d
	return a.OpenBlob(b, vols)
}

// OpenBlobFromClaiming is OpenBlobFrom under a claimed digest (see
// OpenBlobClaiming).
func (a *Archive) OpenBlobFromClaiming(b Blob, d digest.Digest, vols VolumeSet, cp Checkpoint) (*BlobReader, error) {
	b.Digest = d
	return a.OpenBlobFrom(b, vols, cp)
}
