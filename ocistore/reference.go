package ocistore

import (
	_ "crypto/sha256" // make digest.SHA256 available
	_ "crypto/sha512" // make digest.SHA512 available
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/opencontainers/go-digest"
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
// destination prefix) in a registry. Registry is host[:port]; Repository is
// the slash-separated path. A reference may carry a Tag, a Digest, both
// (the digest then wins when fetching) or neither.
type Reference struct {
	Registry   string
	Repository string
	Tag        string
	Digest     digest.Digest
}

// ParseReference parses a plain image reference such as quay.io/org/app:1.2,
// quay.io/org/app@sha256:... or quay.io/org/app:1.2@sha256:..., with Docker
// Hub normalisation (alpine -> docker.io/library/alpine). Errors wrap
// ErrInvalidReference.
func ParseReference(s string) (Reference, error) {
	if err := checkInput(s); err != nil {
		return Reference{}, err
	}
	var ref Reference
	rest := s
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		d, err := ParseDigest(rest[i+1:])
		if err != nil {
			return Reference{}, fmt.Errorf("%w %q: %w", ErrInvalidReference, s, err)
		}
		ref.Digest = d
		rest = rest[:i]
	}
	if i := strings.LastIndexByte(rest, ':'); i >= 0 && !strings.Contains(rest[i+1:], "/") {
		ref.Tag = rest[i+1:]
		rest = rest[:i]
		if !tagRE.MatchString(ref.Tag) {
			return Reference{}, fmt.Errorf("%w %q: tag %q does not match %s", ErrInvalidReference, s, ref.Tag, tagRE)
		}
	}
	ref.Registry, ref.Repository = splitDomain(rest)
	if ref.Repository == "" {
		return Reference{}, fmt.Errorf("%w %q: no repository", ErrInvalidReference, s)
	}
	if err := ref.validateName(); err != nil {
		return Reference{}, fmt.Errorf("%w %q: %w", ErrInvalidReference, s, err)
	}
	return ref, nil
}

// splitDomain separates the registry from the repository the way docker
// does: the first component is a registry only if it contains '.' or ':',
// is "localhost", or has an upper-case letter.
func splitDomain(name string) (registry, repository string) {
	i := strings.IndexByte(name, '/')
	if i < 0 || (!strings.ContainsAny(name[:i], ".:") && name[:i] != "localhost" && strings.ToLower(name[:i]) == name[:i]) {
		registry, repository = DockerHub, name
	} else {
		registry, repository = name[:i], name[i+1:]
	}
	if registry == dockerHubLegacy {
		registry = DockerHub
	}
	if registry == DockerHub && repository != "" && !strings.Contains(repository, "/") {
		repository = "library/" + repository
	}
	return registry, repository
}

// ParseDigest parses and validates a digest. Only sha256 and sha512 are
// accepted, in lower-case hex of the exact length; anything else (sha1,
// upper case, path tricks like sha256:../../x) wraps ErrInvalidReference.
func ParseDigest(s string) (digest.Digest, error) {
	d := digest.Digest(s)
	alg, _, ok := strings.Cut(s, ":")
	if !ok {
		return "", fmt.Errorf("%w: digest %q: no algorithm", ErrInvalidReference, s)
	}
	switch digest.Algorithm(alg) {
	case digest.SHA256, digest.SHA512:
	default:
		return "", fmt.Errorf("%w: digest %q: algorithm must be sha256 or sha512", ErrInvalidReference, s)
	}
	if err := d.Validate(); err != nil {
		return "", fmt.Errorf("%w: digest %q: %w", ErrInvalidReference, s, err)
	}
	return d, nil
}

// checkInput refuses input no reference may contain, before any parsing.
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

// validateName checks Registry and Repository against the grammar.
func (r Reference) validateName() error {
	if !domainRE.MatchString(r.Registry) {
		return fmt.Errorf("registry %q is not a valid host[:port]", r.Registry)
	}
	if len(r.Registry)+1+len(r.Repository) > maxNameLength {
		return fmt.Errorf("name longer than %d characters", maxNameLength)
	}
	if r.Repository == "" {
		return nil // a registry-only destination prefix
	}
	for _, c := range strings.Split(r.Repository, "/") {
		if !pathRE.MatchString(c) {
			return fmt.Errorf("repository component %q must match %s", c, pathRE)
		}
	}
	return nil
}

// Validate checks every field of r against the reference grammar, so a
// Reference built by hand (or read from an archive) is as safe to put in a
// URL or a path as one from ParseReference.
func (r Reference) Validate() error {
	if err := r.validateName(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidReference, err)
	}
	if r.Tag != "" && !tagRE.MatchString(r.Tag) {
		return fmt.Errorf("%w: tag %q does not match %s", ErrInvalidReference, r.Tag, tagRE)
	}
	if r.Digest != "" {
		if _, err := ParseDigest(string(r.Digest)); err != nil {
			return err
		}
	}
	return nil
}

// Name returns registry/repository (just the registry when there is no
// repository).
func (r Reference) Name() string {
	if r.Repository == "" {
		return r.Registry
	}
	return r.Registry + "/" + r.Repository
}

// String returns the reference in its canonical form, name[:tag][@digest].
func (r Reference) String() string {
	s := r.Name()
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + string(r.Digest)
	}
	return s
}

// Object returns what to resolve in the repository: the digest when there is
// one, otherwise the tag (empty when there is neither).
func (r Reference) Object() string {
	if r.Digest != "" {
		return string(r.Digest)
	}
	return r.Tag
}

// Rebase moves r under the destination prefix dst (registry[/path], no tag or
// digest): the source registry is dropped and its repository appended, tag
// and digest are kept. quay.io/org/app:1.2 onto host:5000/mirror gives
// host:5000/mirror/org/app:1.2.
func (r Reference) Rebase(dst Reference) (Reference, error) {
	if dst.Tag != "" || dst.Digest != "" {
		return Reference{}, fmt.Errorf("%w: destination prefix %q must not have a tag or digest", ErrInvalidReference, dst)
	}
	if r.Repository == "" {
		return Reference{}, fmt.Errorf("%w: %q has no repository to rebase", ErrInvalidReference, r)
	}
	out := Reference{Registry: dst.Registry, Repository: r.Repository, Tag: r.Tag, Digest: r.Digest}
	if dst.Repository != "" {
		out.Repository = dst.Repository + "/" + r.Repository
	}
	if err := out.Validate(); err != nil {
		return Reference{}, err
	}
	return out, nil
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
			ref := Reference{Registry: rest}
			if strings.Contains(rest, ".") || strings.Contains(rest, ":") || rest == "localhost" {
				if err := ref.Validate(); err != nil {
					return Location{}, fmt.Errorf("location %q: %w", s, err)
				}
				return Location{Transport: TransportDocker, Reference: ref}, nil
			}
		}
		ref, err := ParseReference(rest)
		if err != nil {
			return Location{}, err
		}
		return Location{Transport: TransportDocker, Reference: ref}, nil
	case strings.Contains(s, "://"):
		return Location{}, fmt.Errorf("%w %q: unknown transport (want docker:// or oci://)", ErrInvalidReference, s)
	default:
		ref, err := ParseReference(s)
		if err != nil {
			return Location{}, err
		}
		return Location{Transport: TransportDocker, Reference: ref}, nil
	}
}

func parseOCILocation(s string) (Location, error) {
	rest := strings.TrimPrefix(s, "oci://")
	var ref Reference
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		d, err := ParseDigest(rest[i+1:])
		if err != nil {
			return Location{}, fmt.Errorf("%w %q: %w", ErrInvalidReference, s, err)
		}
		ref.Digest = d
		rest = rest[:i]
	} else if i := strings.LastIndexByte(rest, ':'); i >= 0 && !strings.ContainsAny(rest[i+1:], `/\`) {
		ref.Tag = rest[i+1:]
		rest = rest[:i]
		if !tagRE.MatchString(ref.Tag) {
			return Location{}, fmt.Errorf("%w %q: tag %q does not match %s", ErrInvalidReference, s, ref.Tag, tagRE)
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
	return Location{Transport: TransportOCI, Reference: ref, Path: filepath.Clean(rest)}, nil
}
