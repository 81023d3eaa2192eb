package archive

import (
	"errors"

	"github.com/enclave-mirror/enclave/format"
)

// Errors of this package. Every error a Reader, Writer or Verify returns
// wraps one of these (or an *fs.PathError for a local file), so callers
// test them with errors.Is and never import package format to do so.

// ErrLocked: Create was pointed at a directory that another enclave process
// (a pack still running) holds the lock of. Nothing was written.
var ErrLocked = errLocked

// ErrInvalidOption: an Option's value is out of range (a compression level,
// a chunk size, a negative volume size, a malformed lineage).
var ErrInvalidOption = errors.New("archive: invalid option")

// ErrVolumeTooLarge: the volume size does not fit the output file system.
var ErrVolumeTooLarge = errors.New("archive: volume size too large for the file system")

// ErrGraphTooDeep: manifests nest deeper than MaxGraphDepth.
var ErrGraphTooDeep = errors.New("archive: graph too deep")

// ErrExists: Create was pointed at a directory that already holds an archive.
var ErrExists = errors.New("archive: directory already holds an archive")

var (
	// ErrUnsigned: signatures are required and the archive has none.
	ErrUnsigned = errors.New("archive: archive is not signed")
	// ErrUntrustedKey: the archive is signed, but by none of the trusted
	// keys. The *UntrustedKeyError names the keys it is signed by.
	ErrUntrustedKey = errors.New("archive: archive is not signed by a trusted key")
	// ErrBadSignature: a signature does not verify, the signature file is
	// malformed, or the signed statement does not describe this archive
	// (archive id, digest, lineage or sequence differ).
	ErrBadSignature = errors.New("archive: bad signature")
	// ErrRollback: the destination has applied a newer (or another equal)
	// archive of the same lineage. The *RollbackError says which.
	ErrRollback = errors.New("archive: rollback")
	// ErrKey: a key file is not a usable Ed25519 key in the expected PEM
	// form.
	ErrKey = errors.New("archive: unusable key")
)

// Integrity classes of the format, re-exported: what is wrong with bytes
// read from a volume. format.IsIntegrity(err) reports any of them.
var (
	ErrMalformed   = format.ErrMalformed   // bytes that do not follow the specification
	ErrChecksum    = format.ErrChecksum    // a chunk or frame whose checksum does not match
	ErrDigest      = format.ErrDigest      // content whose digest does not match
	ErrTruncated   = format.ErrTruncated   // a volume or frame that ends early
	ErrUnsupported = format.ErrUnsupported // a format version or feature this reader lacks
	ErrLimit       = format.ErrLimit       // a size or count above a reader limit
	ErrVolume      = format.ErrVolume      // a volume that belongs elsewhere (another archive, another position)
	ErrNotFound    = format.ErrNotFound    // no blob with that digest in the archive
)

// IsIntegrity reports whether err says that archive bytes are damaged,
// foreign or incomplete (as opposed to a local file or usage error).
func IsIntegrity(err error) bool { return format.IsIntegrity(err) }
