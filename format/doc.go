// Package format reads and writes enclave archives, the on-disk format that
// carries OCI content across air gaps. spec/FORMAT.md is the normative
// contract; this package is its reference implementation and nothing else: it
// works over io.Writer and io.ReaderAt and knows nothing of files, networks or
// registries.
//
// An archive is a set of volumes. Each volume is a sequence of zstd frames:
// skippable frames carry metadata (a volume header, one chunk header before
// every chunk, and in the final volume the archive manifest and the index),
// ordinary frames carry blob bytes, one chunk per frame, so that any chunk
// decodes on its own and any zstd tool can test a volume. A fixed-size footer
// ends every volume. The final volume's footer locates the index, which maps
// every blob digest to its chunks; its SHA-256 is the archive digest.
//
// Writers append only and never seek, so an archive can be written to a pipe.
// Many blobs may be written at once: each BlobWriter compresses in its caller's
// goroutine and holds at most one chunk, so memory is bounded by the number of
// blobs in flight times the chunk size.
//
// Readers enforce the limits of the spec before allocating, verify every chunk
// checksum and blob digest as they read, and return *Error values that name
// the volume, blob and offset of a fault; errors.Is matches the sentinel
// errors of this package.
package format
