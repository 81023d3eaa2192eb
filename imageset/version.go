package imageset

import (
	"fmt"

	"github.com/enclave-mirror/enclave/internal/semver"
)

// Version is a semantic version (semver.org 2.0.0) such as "4.15.3" or
// "4.16.0-rc.1" (internal/semver, shared with release). Fields of the schema
// that hold an optional version use *Version, nil meaning "not set".
type Version = semver.Version

// ParseVersion parses a full MAJOR.MINOR.PATCH semantic version with
// optional pre-release and build parts. "4.15" and "v4.15.0" are refused.
func ParseVersion(s string) (Version, error) {
	v, err := semver.Parse(s)
	if err != nil {
		return Version{}, fmt.Errorf("%w: %q is not a semantic version (want MAJOR.MINOR.PATCH, e.g. 4.15.0)", ErrInvalidVersion, s)
	}
	return v, nil
}
