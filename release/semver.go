package release

import (
	"fmt"

	"github.com/enclave-mirror/enclave/internal/semver"
)

// Version is a strict Semantic Versioning 2.0.0 version, as OpenShift
// releases write them (internal/semver, shared with imageset).
type Version = semver.Version

// ParseVersion parses a version strictly (SemVer 2.0.0 grammar).
func ParseVersion(s string) (Version, error) {
	v, err := semver.Parse(s)
	if err != nil {
		return v, fmt.Errorf("release: %w", err)
	}
	return v, nil
}

// MustParseVersion is ParseVersion for constants in tests and examples; it
// panics on error.
func MustParseVersion(s string) Version { return semver.MustParse(s) }
