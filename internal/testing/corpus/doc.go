// Package corpus generates reproducible container-image releases to benchmark
// and test mirroring: realistic enough that transfer times and archive sizes
// mean something, deterministic enough that two machines measure the same
// bytes.
//
// # What a release looks like
//
// Release 1 has Options.Images images (default 36) in repositories
// ocp/component-NN, tagged v1. Like a real product release they share layers:
// an operating-system base (about 220 MiB of tar at scale 1) under almost
// every image, a small uncompressed-tar certificate layer and a runtime
// layer under most, one or two middle layers per group of images (golang,
// python, java, nodejs, operator, monitoring), then layers of their own: an
// application layer (2-300 MiB, log-uniform), sometimes a data layer, and a
// small configuration layer, uncompressed tar for every third image. One
// image in nine is multi-platform (an index of linux/amd64 and linux/arm64
// manifests, the arm64 one on arm64 bases); one in four has a
// signature-like referrer (an artifact manifest with a subject and
// SignatureArtifactType). Options.BigLayer adds ocp/model-server, whose last
// layer is one gzip layer of 2 GiB of incompressible data, generated as a
// stream: its digest is computed in a first pass and the bytes pushed in a
// second, so it is never held in memory.
//
// Files inside layers imitate real ones: text (configuration, source code,
// prose over a Zipf-distributed vocabulary, with repeated lines), ELF-like
// binaries (instruction sequences from a shared table with operands, string
// and symbol tables), already-compressed files and random bytes, in
// proportions by layer role, so gzip makes a layer 0.35-0.5 of its tar size.
// At scale 1 release 1 is about 1.5 GB of compressed blobs (3.5 GB of tar).
//
// Release 2 rebuilds 8% of the layers of release 1 (never the OS bases),
// which changes the images using them, and adds Images/12 images; the other
// images keep their digests. It shares about 88% of its layers with release 1
// and is tagged v2 in the same repositories.
//
// # Reproducibility
//
// Every random choice comes from ChaCha8 (math/rand/v2, the C2SP chacha8rand
// algorithm) keyed by SHA-256 of the seed and a label naming what is drawn
// (a layer's content, a layer's size, ...), using only its Uint64 stream.
// Tar streams are written by archive/tar in USTAR format with fixed owners,
// modes and times. Gzip layers are compressed by
// github.com/klauspost/compress/gzip at its default level (6) with an empty
// header (no name, modification time 0); the module version pinned in go.mod
// is part of the corpus definition, and ExampleGenerate prints digests that
// change if it or the generator does. JSON documents are encoded by
// encoding/json (struct order, sorted map keys).
package corpus
