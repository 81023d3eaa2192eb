package release

import "time"

// Limits on input that other parties control. Each can be changed per call
// or per client where the API offers it; these are the defaults.
const (
	// DefaultMaxGraphBytes caps one update graph answer. The largest public
	// channel graphs (candidate-4.x, all architectures of multi) are a few
	// MiB; 64 MiB leaves a wide margin while keeping a hostile server from
	// exhausting memory.
	DefaultMaxGraphBytes = 64 << 20
	// MaxGraphNodes caps the nodes of one graph (public channels hold a few
	// hundred); edges are capped at MaxGraphNodes*64.
	MaxGraphNodes = 100_000
	// DefaultGraphTimeout bounds one update graph request, body included.
	DefaultGraphTimeout = 2 * time.Minute
	// DefaultRetries is how many attempts an HTTP request gets in total on
	// connection errors, 408, 429 and 5xx.
	DefaultRetries = 5
	// DefaultRetryBackoff is the first wait between attempts; it doubles,
	// capped at MaxRetryBackoff (same shape as oras-go's retry policy).
	DefaultRetryBackoff = 250 * time.Millisecond
	// MaxRetryBackoff caps one wait, including a server's Retry-After.
	MaxRetryBackoff = 10 * time.Second

	// DefaultMaxManifestBytes caps a payload manifest or index; registries
	// refuse manifests over 4 MiB.
	DefaultMaxManifestBytes = 4 << 20
	// DefaultMaxReleaseFileBytes caps image-references and release-metadata.
	// image-references is ~100 KiB for ~190 components today.
	DefaultMaxReleaseFileBytes = 16 << 20
	// DefaultMaxLayerBytes caps the compressed size of a payload layer we
	// open. Payload layers are base-image layers (tens of MiB) plus a small
	// top layer with release-manifests.
	DefaultMaxLayerBytes = 2 << 30
	// DefaultMaxDecompressedBytes caps the decompressed bytes read from all
	// layers of one payload while looking for release-manifests (zip bombs).
	DefaultMaxDecompressedBytes = 8 << 30
	// MaxPayloadLayers caps the layers of a payload image we look at.
	MaxPayloadLayers = 256
	// MaxComponents caps the tags of image-references (OCP 4.x has ~190).
	MaxComponents = 10_000
	// zstdMaxWindow and zstdMaxMemory bound the zstd decoder (its defaults
	// accept a 512 MiB window and 64 GiB of memory).
	zstdMaxWindow = 64 << 20
	zstdMaxMemory = 256 << 20

	// DefaultMaxSignatures is how many signature-N files are fetched per
	// digest (Red Hat publishes one or two).
	DefaultMaxSignatures = 8
	// DefaultMaxSignatureBytes caps one signature file (they are ~600 bytes).
	DefaultMaxSignatureBytes = 64 << 10
	// MaxSignatureBodyBytes caps the signed JSON inside a signature.
	MaxSignatureBodyBytes = 64 << 10
	// MaxKeyringBytes caps an armored public key file.
	MaxKeyringBytes = 1 << 20
	// MaxConfigMapBytes is what etcd accepts for one object; a signature
	// ConfigMap over it would be refused by the cluster.
	MaxConfigMapBytes = 1 << 20

	// DefaultMaxGraphDataBytes caps the decompressed graph-data tarball
	// (cincinnati-graph-data is ~20 MiB unpacked today).
	DefaultMaxGraphDataBytes = 512 << 20
	// MaxGraphDataEntries caps its entries (~10k files today).
	MaxGraphDataEntries = 200_000
)
