package ocistore

import (
	_ "crypto/sha256" // make digest.SHA256 available
	_ "crypto/sha512" // make digest.SHA512 available
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/enclave-mirror/enclave/ref"
)

// Limits and names from the distribution reference grammar
// (github.com/distribution/reference, reference.go).
const (
	// maxNameLength bounds registry + "/" + repository, as distribution does.
	maxNameLength = 255
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
	// domainComponent and pathComponent follow distribution/reference.
	domainRE = regexp.MustCompile(`^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*(?::[0-9]+)?$|^\[[a-fA-F0-9:]+\](?::[0-9]+)?$`)
	pathRE   = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*$`)
	tagRE    = regexp.MustCompile(`^[\w][\w.-]{0,127}$`)
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

// Transport says how a Location is reached.
type Transport string

// Transports.
const (
	// TransportDocker is a registry speaking the distribution API (docker://).
	TransportDocker Transport = "docker"
	// TransportOCI is an OCI image layout directory on disk (oci://).
	TransportOCI Transport = "oci"
)

// Location is a source or destination as users type it on a command line:
// docker://host[:port]/repo[:tag][@digest], a plain image reference (same
// meaning), oci:///abs/path[:tag|@digest] or oci://rel/path.
type Location struct {
	Transport Transport
	// Reference is the image (TransportDocker). For TransportOCI only Tag
	// and Digest are set.
	Reference Reference
	// Path is the OCI layout directory (TransportOCI), cleaned.
	Path string
}

// String returns the location with its transport prefix.
func (l Location) String() string {
	switch l.Transport {
	case TransportOCI:
		s := "oci://" + l.Path
		if l.Reference.Tag != "" {
			s += ":" + l.Reference.Tag
		}
		if l.Reference.Digest != "" {
			s += "@" + string(l.Reference.Digest)
		}
		return s
	default:
		return "docker://" + l.Reference.String()
	}
}

// ParseLocation parses a docker://, oci:// or plain reference. A docker://
// destination may be only a registry and prefix (docker://host:5000/mirror).
// OCI layout paths may not contain ".." elements.
func ParseLocation(s string) (Location, error) {
	if err := checkInput(s); err != nil {
		return Location{}, err
	}
	switch {
	case strings.HasPrefix(s, "oci://"):
		return parseOCILocation(s)
	case strings.HasPrefix(s, "docker://"):
		rest := strings.TrimSuffix(strings.TrimPrefix(s, "docker://"), "/")
		// A bare host is a registry-only destination; ParseReference would
		// read it as a Docker Hub short name.
		if !strings.ContainsAny(rest, "/@") {
			r := Reference{Registry: rest}
			if strings.Contains(rest, ".") || strings.Contains(rest, ":") || rest == "localhost" {
				if err := ref.ValidateHost(rest); err != nil {
					return Location{}, fmt.Errorf("location %q: %w", s, err)
				}
				return Location{Transport: TransportDocker, Reference: r}, nil
			}
		}
		r, err := ParseReference(rest)
		if err != nil {
			return Location{}, err
		}
		return Location{Transport: TransportDocker, Reference: r}, nil
	case strings.Contains(s, "://"):
		return Location{}, fmt.Errorf("%w %q: unknown transport (want docker:// or oci://)", ErrInvalidReference, s)
	default:
		r, err := ParseReference(s)
		if err != nil {
			return Location{}, err
		}
		return Location{Transport: TransportDocker, Reference: r}, nil
	}
}

func parseOCILocation(s string) (Location, error) {
	rest := strings.TrimPrefix(s, "oci://")
	var r Reference
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		d, err := ParseDigest(rest[i+1:])
		if err != nil {
			return Location{}, fmt.Errorf("%w %q: %w", ErrInvalidReference, s, err)
		}
		r.Digest = d
		rest = rest[:i]
	} else if i := strings.LastIndexByte(rest, ':'); i >= 0 && !strings.ContainsAny(rest[i+1:], `/\`) {
		r.Tag = rest[i+1:]
		rest = rest[:i]
		if !tagRE.MatchString(r.Tag) {
			return Location{}, fmt.Errorf("%w %q: tag %q does not match %s", ErrInvalidReference, s, r.Tag, tagRE)
		}
	}
	if rest == "" {
		return Location{}, fmt.Errorf("%w %q: empty layout path", ErrInvalidReference, s)
	}
	for _, el := range strings.FieldsFunc(rest, func(r rune) bool { return r == '/' || r == '\\' }) {
		if el == ".." {
			return Location{}, fmt.Errorf("%w %q: layout path must not contain \"..\"", ErrInvalidReference, s)
		}
	}
	return Location{Transport: TransportOCI, Reference: r, Path: filepath.Clean(rest)}, nil
}
