package catalog

// Limits on what is read from a catalog image. Everything a catalog image
// controls (sizes, counts) is checked against one of these before memory is
// committed to it; crossing one is an [ErrLimit] error naming the layer and
// file.
const (
	// MaxManifestSize bounds an image manifest, index or config blob. Real
	// ones are a few KiB; 4 MiB is what registries accept for manifests.
	MaxManifestSize = 4 << 20
	// MaxLayers bounds the layers of one catalog image (real: 5-15).
	MaxLayers = 256
	// MaxDocumentSize bounds one FBC document (blob). The largest real ones
	// are olm.bundle documents of a few MiB (all olm.bundle.object payloads
	// of one bundle, CRDs included); 64 MiB leaves room and still bounds
	// the memory of decoding one document at a time.
	MaxDocumentSize = 64 << 20
	// MaxDocuments bounds the documents of one catalog. The largest published
	// indexes have a few hundred thousand.
	MaxDocuments = 4 << 20
	// MaxFiles bounds the regular files under the configs directory.
	MaxFiles = 1 << 20
	// MaxEntrySize bounds one uncompressed file under the configs directory.
	MaxEntrySize = 16 << 30
	// MaxNameLength bounds a package, channel or bundle name, an image
	// reference or a version string taken from the catalog.
	MaxNameLength = 4096
)

// The limits in force; tests lower them.
var (
	maxDocumentSize int64 = MaxDocumentSize
	maxDocuments          = MaxDocuments
)
