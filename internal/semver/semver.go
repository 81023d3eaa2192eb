// Package semver parses and orders Semantic Versioning 2.0.0 versions
// strictly (no "v" prefix, no missing components, no leading zeros), as
// OpenShift releases and operator bundles write them. imageset and release
// share it.
package semver

import (
	"cmp"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Version is a strict Semantic Versioning 2.0.0 version, as used by OpenShift
// releases ("4.15.3", "4.16.0-rc.2", "4.15.0-0.okd-2024-03-10-010116").
//
// This is our own parser instead of a module: the grammar is small, update
// graphs and configurations are untrusted input so strictness matters, and
// golang.org/x/mod/semver accepts "v1.2" and requires the "v" that OpenShift
// versions never carry.
type Version struct {
	Major, Minor, Patch uint64
	// Pre holds the dot-separated pre-release identifiers, nil if none.
	Pre []string
	// Build is the build metadata after "+", ignored for precedence.
	Build string
}

// ErrInvalid is the class of every parse error.
var ErrInvalid = errors.New("invalid version")

// Parse parses a version strictly (SemVer 2.0.0 grammar).
func Parse(s string) (Version, error) {
	var v Version
	if s == "" || len(s) > 256 {
		return v, fmt.Errorf("%w %q: empty or longer than 256 bytes", ErrInvalid, s)
	}
	rest := s
	if i := strings.IndexByte(rest, '+'); i >= 0 {
		v.Build = rest[i+1:]
		rest = rest[:i]
		if err := checkIdents(v.Build, false); err != nil {
			return Version{}, fmt.Errorf("%w %q: build metadata: %w", ErrInvalid, s, err)
		}
	}
	if i := strings.IndexByte(rest, '-'); i >= 0 {
		pre := rest[i+1:]
		rest = rest[:i]
		if err := checkIdents(pre, true); err != nil {
			return Version{}, fmt.Errorf("%w %q: pre-release: %w", ErrInvalid, s, err)
		}
		v.Pre = strings.Split(pre, ".")
	}
	parts := strings.Split(rest, ".")
	if len(parts) != 3 {
		return Version{}, fmt.Errorf("%w %q: want MAJOR.MINOR.PATCH", ErrInvalid, s)
	}
	nums := [3]*uint64{&v.Major, &v.Minor, &v.Patch}
	for i, p := range parts {
		if !isNumeric(p) || (len(p) > 1 && p[0] == '0') {
			return Version{}, fmt.Errorf("%w %q: %q is not a number without leading zeros", ErrInvalid, s, p)
		}
		n, err := strconv.ParseUint(p, 10, 64)
		if err != nil {
			return Version{}, fmt.Errorf("%w %q: %w", ErrInvalid, s, err)
		}
		*nums[i] = n
	}
	return v, nil
}

// MustParse is Parse for constants in tests and examples; it panics on
// error.
func MustParse(s string) Version {
	v, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return v
}

func checkIdents(s string, pre bool) error {
	for _, id := range strings.Split(s, ".") {
		if id == "" {
			return fmt.Errorf("empty identifier")
		}
		for i := 0; i < len(id); i++ {
			c := id[i]
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-') {
				return fmt.Errorf("identifier %q: character %q not allowed", id, c)
			}
		}
		if pre && len(id) > 1 && id[0] == '0' && isNumeric(id) {
			return fmt.Errorf("numeric identifier %q has a leading zero", id)
		}
	}
	return nil
}

func isNumeric(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// String returns the canonical form, the same text ParseVersion accepted.
func (v Version) String() string {
	s := fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch)
	if len(v.Pre) > 0 {
		s += "-" + strings.Join(v.Pre, ".")
	}
	if v.Build != "" {
		s += "+" + v.Build
	}
	return s
}

// Compare returns -1, 0 or +1 by SemVer 2.0.0 precedence (build metadata is
// ignored, so two versions differing only in build compare equal).
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
	case len(v.Pre) == 0 && len(w.Pre) == 0:
		return 0
	case len(v.Pre) == 0:
		return 1 // a release ranks above its pre-releases
	case len(w.Pre) == 0:
		return -1
	}
	for i := 0; i < len(v.Pre) && i < len(w.Pre); i++ {
		a, b := v.Pre[i], w.Pre[i]
		an, bn := isNumeric(a), isNumeric(b)
		var c int
		switch {
		case an && bn:
			c = cmp.Compare(len(a), len(b)) // no leading zeros: longer is larger
			if c == 0 {
				c = strings.Compare(a, b)
			}
		case an:
			c = -1
		case bn:
			c = 1
		default:
			c = strings.Compare(a, b)
		}
		if c != 0 {
			return c
		}
	}
	return cmp.Compare(len(v.Pre), len(w.Pre))
}

// MarshalText implements encoding.TextMarshaler (JSON and YAML as a string).
func (v Version) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (v *Version) UnmarshalText(b []byte) error {
	p, err := Parse(string(b))
	if err != nil {
		return err
	}
	*v = p
	return nil
}
