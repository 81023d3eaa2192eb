package ocistore

import (
	_ "crypto/sha256" // make digest.SHA256 available
	_ "crypto/sha512" // make digest.SHA512 available
	"fmt"
	"regexp"

	"github.com/opencontainers/go-digest"

	"github.com/enclave-mirror/enclave/ref"
)

// Limits and names from the distribution reference grammar
// (github.com/distribution/reference, reference.go).
const (
	// maxReferenceLength bounds any input string before it is parsed, so a
	// hostile input cannot make the regular expressions work on megabytes.
	maxReferenceLength = 4096

	// DockerHub is the registry name that short names normalise to.
	DockerHub = "docker.io"
	// dockerHubLegacy is the host name older configuration files use.
	dockerHubLegacy = "index.docker.io"
	// dockerHubAPI is the host that actually serves Docker Hub's API.
	dockerHubAPI = "registry-1.docker.io"
)

var (
	// domainRE follows distribution/reference: registries.conf wildcard
	// prefixes are checked with it.
	domainRE = regexp.MustCompile(`^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*(?::[0-9]+)?$|^\[[a-fA-F0-9:]+\](?::[0-9]+)?$`)
)

// Reference names an image (or, without Tag and Digest, a repository or a
// destination prefix) in a registry: package ref's, the one every package
// uses. Registry is host[:port]; Repository is the slash-separated path.
type Reference = ref.Reference

// ParseReference parses a plain image reference such as quay.io/org/app:1.2,
// quay.io/org/app@sha256:... or quay.io/org/app:1.2@sha256:..., with Docker
// Hub normalisation (alpine -> docker.io/library/alpine); see [ref.Parse].
// Errors wrap ErrInvalidReference.
func ParseReference(s string) (Reference, error) {
	r, err := ref.Parse(s)
	if err != nil {
		return Reference{}, fmt.Errorf("%w: %w", ErrInvalidReference, err)
	}
	return r, nil
}

// ParseDigest parses and validates a digest. Only sha256 and sha512 are
// accepted, in lower-case hex of the exact length; anything else (sha1,
// upper case, path tricks like sha256:../../x) wraps ErrInvalidReference.
func ParseDigest(s string) (digest.Digest, error) {
	d, err := ref.ParseDigest(s)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidReference, err)
	}
	return d, nil
}

// checkInput refuses input no location may contain, before any parsing.
func checkInput(s string) error {
	if s == "" {
		return fmt.Errorf("%w: empty", ErrInvalidReference)
	}
	if len(s) > maxReferenceLength {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrInvalidReference, len(s), maxReferenceLength)
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f {
			return fmt.Errorf("%w %q: control character %U", ErrInvalidReference, s, c)
		}
	}
	return nil
}
