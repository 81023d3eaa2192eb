package imageset

import (
	"cmp"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// semverRe is the Semantic Versioning 2.0.0 grammar (semver.org), without a
// leading "v": releases ("4.15.3") and operator bundles use it this way.
var semverRe = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)` +
	`(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?` +
	`(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`)

// Version is a semantic version (semver.org 2.0.0) such as "4.15.3" or
// "4.16.0-rc.1". Fields of the schema that hold an optional version use
// *Version, nil meaning "not set".
type Version struct {
	Major, Minor, Patch uint64
	// Prerelease is the part after "-" ("rc.1"), empty for a release.
	Prerelease string
	// Build is the part after "+"; it does not take part in comparisons.
	Build string
}

// ParseVersion parses a full MAJOR.MINOR.PATCH semantic version with
// optional pre-release and build parts. "4.15" and "v4.15.0" are refused.
func ParseVersion(s string) (Version, error) {
	m := semverRe.FindStringSubmatch(s)
	if m == nil {
		return Version{}, fmt.Errorf("%w: %q is not a semantic version (want MAJOR.MINOR.PATCH, e.g. 4.15.0)", ErrInvalidVersion, s)
	}
	var v Version
	for i, p := range []*uint64{&v.Major, &v.Minor, &v.Patch} {
		n, err := strconv.ParseUint(m[i+1], 10, 64)
		if err != nil {
			return Version{}, fmt.Errorf("%w: %q: %v", ErrInvalidVersion, s, err)
		}
		*p = n
	}
	v.Prerelease, v.Build = m[4], m[5]
	return v, nil
}

// String formats v in semver syntax.
func (v Version) String() string {
	s := fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch)
	if v.Prerelease != "" {
		s += "-" + v.Prerelease
	}
	if v.Build != "" {
		s += "+" + v.Build
	}
	return s
}

// Compare returns -1, 0 or +1 as v sorts before, equal to or after w under
// semver precedence: a pre-release sorts before its release, and build
// metadata is ignored.
func (v Version) Compare(w Version) int {
	if c := cmp.Compare(v.Major, w.Major); c != 0 {
		return c
	}
	if c := cmp.Compare(v.Minor, w.Minor); c != 0 {
		return c
	}
	if c := cmp.Compare(v.Patch, w.Patch); c != 0 {
		return c
	}
	switch {
	case v.Prerelease == w.Prerelease:
		return 0
	case v.Prerelease == "":
		return 1
	case w.Prerelease == "":
		return -1
	}
	a, b := strings.Split(v.Prerelease, "."), strings.Split(w.Prerelease, ".")
	for i := 0; i < len(a) && i < len(b); i++ {
		if c := comparePrereleaseID(a[i], b[i]); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(a), len(b))
}

// comparePrereleaseID orders one dot-separated pre-release identifier:
// numeric ones numerically and before alphanumeric ones, which sort as ASCII.
func comparePrereleaseID(a, b string) int {
	na, errA := strconv.ParseUint(a, 10, 64)
	nb, errB := strconv.ParseUint(b, 10, 64)
	switch {
	case errA == nil && errB == nil:
		return cmp.Compare(na, nb)
	case errA == nil:
		return -1
	case errB == nil:
		return 1
	}
	return strings.Compare(a, b)
}

// MarshalText formats v as its String form, so versions read well in JSON.
func (v Version) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// UnmarshalText parses a version with [ParseVersion].
func (v *Version) UnmarshalText(b []byte) error {
	p, err := ParseVersion(string(b))
	if err != nil {
		return err
	}
	*v = p
	return nil
}
