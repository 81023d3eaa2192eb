// Package archive makes an enclave archive (spec/FORMAT.md) an oras-go
// target, so that oras.Copy packs images from a registry straight into an
// archive, and pushes them from an archive straight into a registry, with
// nothing extracted or staged in between.
//
// Create returns a *Writer (an oras.Target) that writes volumes into a
// directory; Open returns a *Reader (an oras.ReadOnlyGraphTarget) over a
// finished archive. A Writer can be cut against bases, previous archives or
// receipts of what a destination holds, so that only blobs absent downstream
// are packed; what it leaves out is recorded as the archive's prerequisites.
// Receipts are written after a push and travel back up the chain. Verify reads
// every byte of an archive and reports every problem; Preflight checks that a
// destination holds an archive's prerequisites before anything is written.
// Reader.Stream hands many blobs to their consumers while reading the volumes
// once, front to back: what a USB disk or an optical drive reads fastest.
package archive
