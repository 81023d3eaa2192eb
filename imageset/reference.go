package imageset

import (
	"fmt"

	"github.com/opencontainers/go-digest"

	"github.com/enclave-mirror/enclave/ref"
)

// Limits on references, from the distribution reference grammar.
const (
	// MaxNameLength bounds registry host plus repository path.
	MaxNameLength = ref.MaxNameLength
	// MaxTagLength is the longest tag the OCI distribution spec allows.
	MaxTagLength = ref.MaxTagLength
)

// DockerHub is the registry host assumed for names without one, as Docker does.
const DockerHub = ref.DockerHub

// Reference is a parsed image reference: package ref's, the one every
// package uses. A Reference with an empty Registry is relative: its
// Repository is a path under a destination root that the caller supplies
// (see [Reference.Under]).
type Reference = ref.Reference

// ParseReference parses an image reference such as "quay.io/org/app:1.2",
// "nginx" or "registry:5000/a/b@sha256:..." (see [ref.Parse] for the
// grammar). A reference with neither tag nor digest is accepted; callers
// that need one check [Reference.IsPinned] or [Reference.HasVersion].
// Errors wrap [ErrInvalidReference].
func ParseReference(s string) (Reference, error) {
	r, err := ref.Parse(s)
	if err != nil {
		return Reference{}, fmt.Errorf("%w: %w", ErrInvalidReference, err)
	}
	return r, nil
}

// parseReference is ParseReference with errors that do not name the
// sentinel, for callers that add their own context.
func parseReference(s string) (Reference, error) {
	r, err := ref.Parse(s)
	if err != nil {
		return Reference{}, fmt.Errorf("%s", err)
	}
	return r, nil
}

// ValidateRepositoryPath reports whether path is a valid repository path
// without host, tag or digest ("org/app"), as used by targetRepo and
// targetCatalog. Errors wrap [ErrInvalidReference].
func ValidateRepositoryPath(path string) error {
	if err := ref.ValidateRepository(path); err != nil {
		return fmt.Errorf("%w: %s", ErrInvalidReference, err)
	}
	return nil
}

// ValidateTag reports whether tag matches the OCI tag grammar. Errors wrap
// [ErrInvalidReference].
func ValidateTag(tag string) error {
	if err := ref.ValidateTag(tag); err != nil {
		return fmt.Errorf("%w: %s", ErrInvalidReference, err)
	}
	return nil
}

// ParseDigest parses and validates a digest (sha256 or sha512 only). Errors
// wrap [ErrInvalidReference].
func ParseDigest(s string) (digest.Digest, error) {
	d, err := ref.ParseDigest(s)
	if err != nil {
		return "", fmt.Errorf("%w: %s", ErrInvalidReference, err)
	}
	return d, nil
}
