package ref

import (
	"fmt"
	"strings"
)

// Transport says how a Location is reached.
type Transport string

// Transports, as users type them.
const (
	// Docker is a registry speaking the distribution API: docker://HOST[:PORT][/PREFIX].
	Docker Transport = "docker"
	// OCI is an OCI image layout directory: oci://DIR[:tag|@digest].
	OCI Transport = "oci"
	// File is an archive directory: file://DIR.
	File Transport = "file"
)

// Location is a source or destination as users type it: a registry root
// (docker://), an OCI image layout (oci://) or an archive directory
// (file://).
type Location struct {
	Transport Transport
	// Reference is the registry root for Docker (Registry and, for a
	// prefix, Repository), and the image in the layout for OCI (Tag or
	// Digest, either or none).
	Reference Reference
	// Path is the directory of an OCI layout or an archive, as written.
	Path string
}

// String returns the location with its transport prefix.
func (l Location) String() string {
	switch l.Transport {
	case OCI:
		s := "oci://" + l.Path
		if l.Reference.Tag != "" {
			s += ":" + l.Reference.Tag
		}
		if l.Reference.Digest != "" {
			s += "@" + string(l.Reference.Digest)
		}
		return s
	case File:
		return "file://" + l.Path
	}
	return "docker://" + l.Reference.Name()
}

// Root returns a Docker location as "host[:port][/prefix]".
func (l Location) Root() string { return l.Reference.Name() }

func locErr(format string, args ...any) error {
	return &Error{Msg: fmt.Sprintf(format, args...)}
}

// ParseLocation parses file://DIR, docker://HOST[:PORT][/PREFIX] and
// oci://DIR[:tag|@digest]. A registry host needs a dot, a port, or to be
// localhost (a bare word would be a Docker Hub path); directories may not
// contain NUL or ".." elements (a layout's, split on / and \). Errors wrap
// [ErrInvalid] and say which form was expected.
func ParseLocation(s string) (Location, error) {
	switch {
	case strings.HasPrefix(s, "file://"):
		dir := strings.TrimPrefix(s, "file://")
		if dir == "" {
			return Location{}, locErr("%q names no directory", s)
		}
		if strings.ContainsRune(dir, 0) {
			return Location{}, locErr("%q: NUL in path", s)
		}
		return Location{Transport: File, Path: dir}, nil
	case strings.HasPrefix(s, "docker://"):
		root := strings.TrimSuffix(strings.TrimPrefix(s, "docker://"), "/")
		host, prefix, _ := strings.Cut(root, "/")
		if host == "" || strings.ContainsAny(root, " \t\n@") || strings.Contains(root, "..") {
			return Location{}, locErr("%q is not docker://HOST[:PORT][/PREFIX]", s)
		}
		if !strings.ContainsAny(host, ".:") && host != "localhost" {
			return Location{}, locErr("%q: %q is not a registry host (it needs a dot, a port, or to be localhost)", s, host)
		}
		if _, err := (Reference{Repository: "x", Tag: "t"}).Under(root); err != nil {
			return Location{}, locErr("%q: %v", s, err)
		}
		return Location{Transport: Docker, Reference: Reference{Registry: host, Repository: prefix}}, nil
	case strings.HasPrefix(s, "oci://"):
		return parseOCI(s)
	}
	return Location{}, locErr("%q: want file://DIR, docker://HOST/PREFIX or oci://DIR", s)
}

func parseOCI(s string) (Location, error) {
	rest := strings.TrimPrefix(s, "oci://")
	l := Location{Transport: OCI}
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		d, err := ParseDigest(rest[i+1:])
		if err != nil {
			return Location{}, locErr("%q: %v", s, err)
		}
		l.Reference.Digest, rest = d, rest[:i]
	} else if i := strings.LastIndexByte(rest, ':'); i >= 0 && !strings.ContainsAny(rest[i+1:], `/\`) {
		if err := ValidateTag(rest[i+1:]); err != nil {
			return Location{}, locErr("%q: %v", s, err)
		}
		l.Reference.Tag, rest = rest[i+1:], rest[:i]
	}
	if rest == "" || strings.ContainsRune(rest, 0) {
		return Location{}, locErr("%q: want oci://DIRECTORY:tag, with no .. in the path", s)
	}
	for _, el := range strings.FieldsFunc(rest, func(r rune) bool { return r == '/' || r == '\\' }) {
		if el == ".." {
			return Location{}, locErr("%q: want oci://DIRECTORY:tag, with no .. in the path", s)
		}
	}
	l.Path = rest
	return l, nil
}
