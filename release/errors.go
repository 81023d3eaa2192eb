package release

import "errors"

// Sentinel errors. Errors returned by this package wrap one of these (or an
// error from a lower layer) with context; test with errors.Is.
var (
	// ErrInvalidGraph means an update graph answer is malformed: bad JSON,
	// an edge index out of range, a version that is not semver, a payload
	// that is not pinned by digest.
	ErrInvalidGraph = errors.New("release: invalid update graph")
	// ErrUnreachable means the update service (or signature server) could not
	// be reached, or kept failing, after the bounded retries.
	ErrUnreachable = errors.New("release: server unreachable")
	// ErrTooLarge means an input exceeded one of the package limits.
	ErrTooLarge = errors.New("release: input too large")
	// ErrSelection means a channel selection cannot be satisfied: unknown
	// version, empty result, unreachable upgrade path, conflicting options.
	ErrSelection = errors.New("release: selection failed")
	// ErrInvalidPayload means a release payload image does not look like one:
	// no image-references, a component not pinned by digest, bad metadata.
	ErrInvalidPayload = errors.New("release: invalid release payload")
	// ErrNoSignature means the signature server has no signature for a digest.
	ErrNoSignature = errors.New("release: no signature")
	// ErrSignature means a signature does not verify, is signed by a key
	// outside the keyring, or does not vouch for the expected digest.
	ErrSignature = errors.New("release: signature rejected")
	// ErrInvalidArgument means a caller-supplied value is unusable.
	ErrInvalidArgument = errors.New("release: invalid argument")
)
