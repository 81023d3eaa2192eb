package catalog

import "errors"

// Errors returned by this package wrap one of these, so callers can tell a
// broken catalog image from a configuration that asks for something the
// catalog does not offer.
var (
	// ErrInvalidImage: the catalog image itself is unusable: a manifest,
	// config or layer that cannot be decoded, an unsupported media type, a
	// missing configs label, or an sqlite-based index.
	ErrInvalidImage = errors.New("catalog: invalid catalog image")
	// ErrInvalidFBC: a file-based catalog document is malformed or breaks a
	// rule of the format (duplicate package, bundle without a version, ...).
	// The error names the layer and file.
	ErrInvalidFBC = errors.New("catalog: invalid file-based catalog")
	// ErrLimit: something read from the image exceeds one of the limits of
	// limits.go (document size, document count, ...).
	ErrLimit = errors.New("catalog: limit exceeded")
	// ErrInvalidFilter: the operator configuration cannot be applied as
	// written (full with a version range, package and channel ranges mixed).
	ErrInvalidFilter = errors.New("catalog: invalid operator filter")
	// ErrNotInCatalog: the configuration names a package, channel, default
	// channel or version that the catalog does not offer. The error lists
	// what the catalog offers.
	ErrNotInCatalog = errors.New("catalog: not in catalog")
	// ErrInvalidGraph: a channel's upgrade graph is unusable (no head,
	// several heads, a cycle) or the filtered result would not validate.
	ErrInvalidGraph = errors.New("catalog: invalid upgrade graph")
	// ErrEmptyChannel: a version range leaves the package's default channel
	// without entries.
	ErrEmptyChannel = errors.New("catalog: version range empties the default channel")
)
