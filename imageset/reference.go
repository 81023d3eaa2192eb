package imageset

import (
	_ "crypto/sha256" // digest.Validate needs the hashes registered
	_ "crypto/sha512"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/opencontainers/go-digest"
)

// Limits on references, from the distribution reference grammar.
const (
	// MaxNameLength bounds registry host plus repository path (distribution's
	// NameTotalLengthMax); longer names are refused by registries anyway.
	MaxNameLength = 255
	// MaxTagLength is the longest tag the OCI distribution spec allows.
	MaxTagLength = 128
)

// DockerHub is the registry host assumed for names without one, as Docker does.
const DockerHub = "docker.io"

var (
	// tagRe is the OCI distribution tag grammar.
	tagRe = regexp.MustCompile(`^[\w][\w.-]{0,127}$`)
	// componentRe is one repository path component.
	componentRe = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*$`)
	// hostRe is a DNS name or IPv4 address with an optional port, or an IPv6
	// address in brackets with an optional port.
	hostRe = regexp.MustCompile(`^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?$`)
)

// Reference is a parsed image reference. A Reference with an empty Registry
// is relative: its Repository is a path under a destination root that the
// caller supplies (see [Reference.Under]).
type Reference struct {
	// Registry is the host, with port if any ("quay.io", "localhost:5000").
	// Names without a host are normalised to [DockerHub].
	Registry string
	// Repository is the path inside the registry ("org/app"); single
	// component Docker Hub names get the "library/" prefix.
	Repository string
	// Tag is empty when the reference has none.
	Tag string
	// Digest is empty when the reference has none.
	Digest digest.Digest
}

// ParseReference parses an image reference such as "quay.io/org/app:1.2",
// "nginx" or "registry:5000/a/b@sha256:...".
//
// The first path component is a registry host only if it contains "." or ":"
// or is "localhost"; otherwise the host is [DockerHub] and a single-component
// path gets the "library/" prefix ("nginx" is "docker.io/library/nginx").
// "index.docker.io" is normalised to "docker.io". Repository components must
// be lower case and match the distribution grammar (so ".." and empty
// components are refused), tags must match [\w][\w.-]{0,127}, and digests
// must be valid sha256 or sha512 digests. A reference with neither tag nor
// digest is accepted; callers that need one check [Reference.IsPinned] or
// [Reference.HasVersion].
//
// Errors wrap [ErrInvalidReference].
func ParseReference(s string) (Reference, error) {
	ref, err := parseReference(s)
	if err != nil {
		return Reference{}, fmt.Errorf("%w: %w", ErrInvalidReference, err)
	}
	return ref, nil
}

// parseReference is ParseReference with errors that do not wrap the
// sentinel, for callers that add their own context.
func parseReference(s string) (Reference, error) {
	bad := func(format string, args ...any) (Reference, error) {
		return Reference{}, fmt.Errorf("%q: %s", s, fmt.Sprintf(format, args...))
	}
	if s == "" {
		return Reference{}, errors.New("empty reference")
	}
	if strings.Contains(s, "://") {
		return bad("a transport prefix is not part of an image reference")
	}
	if strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return bad("contains whitespace or control characters")
	}
	var ref Reference
	name := s
	if i := strings.IndexByte(name, '@'); i >= 0 {
		d, err := parseDigest(name[i+1:])
		if err != nil {
			return bad("%v", err)
		}
		ref.Digest = d
		name = name[:i]
	}
	// A tag follows the last ':' after the last '/'; a ':' before a '/' is a port.
	if i := strings.LastIndexByte(name, ':'); i > strings.LastIndexByte(name, '/') {
		ref.Tag = name[i+1:]
		name = name[:i]
		if !tagRe.MatchString(ref.Tag) {
			return bad("invalid tag %q: want [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", ref.Tag)
		}
	}
	if name == "" {
		return bad("no repository name")
	}
	host, path, found := strings.Cut(name, "/")
	if !found || !(strings.ContainsAny(host, ".:") || host == "localhost") {
		host, path = DockerHub, name
	}
	if host == "index.docker.io" {
		host = DockerHub
	}
	if !hostRe.MatchString(host) {
		return bad("invalid registry host %q", host)
	}
	if host == DockerHub && !strings.Contains(path, "/") {
		path = "library/" + path
	}
	if err := validateRepository(path); err != nil {
		return bad("%v", err)
	}
	if len(host)+1+len(path) > MaxNameLength {
		return bad("name longer than %d characters", MaxNameLength)
	}
	ref.Registry, ref.Repository = host, path
	return ref, nil
}

// validateRepository checks a repository path ("org/app") against the
// distribution grammar, with messages that say what is wrong.
func validateRepository(path string) error {
	if path == "" {
		return fmt.Errorf("empty repository path")
	}
	if strings.ToLower(path) != path {
		return fmt.Errorf("repository %q must be lower case", path)
	}
	for c := range strings.SplitSeq(path, "/") {
		switch {
		case c == "":
			return fmt.Errorf("repository %q has an empty path component", path)
		case c == "." || c == "..":
			return fmt.Errorf("repository %q has a %q path component", path, c)
		case !componentRe.MatchString(c):
			return fmt.Errorf("repository %q: invalid path component %q", path, c)
		}
	}
	if len(path) > MaxNameLength {
		return fmt.Errorf("repository %q longer than %d characters", path, MaxNameLength)
	}
	return nil
}

// ValidateRepositoryPath reports whether path is a valid repository path
// without host, tag or digest ("org/app"), as used by targetRepo and
// targetCatalog. Errors wrap [ErrInvalidReference].
func ValidateRepositoryPath(path string) error {
	if err := validateRepository(path); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidReference, err)
	}
	return nil
}

// ValidateTag reports whether tag matches the OCI tag grammar. Errors wrap
// [ErrInvalidReference].
func ValidateTag(tag string) error {
	if !tagRe.MatchString(tag) {
		return fmt.Errorf("%w: invalid tag %q: want [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", ErrInvalidReference, tag)
	}
	return nil
}

// ParseDigest parses and validates a digest, accepting only the sha256 and
// sha512 algorithms with lower-case hex of the right length, so values like
// "sha256:../../x" never reach a path. Errors wrap [ErrInvalidReference].
func ParseDigest(s string) (digest.Digest, error) {
	d, err := parseDigest(s)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidReference, err)
	}
	return d, nil
}

func parseDigest(s string) (digest.Digest, error) {
	alg, enc, ok := strings.Cut(s, ":")
	if !ok || alg == "" || enc == "" {
		return "", fmt.Errorf("digest %q: want <algorithm>:<hex>", s)
	}
	if a := digest.Algorithm(alg); a != digest.SHA256 && a != digest.SHA512 {
		return "", fmt.Errorf("digest %q: algorithm %q not supported (want sha256 or sha512)", s, alg)
	}
	d := digest.Digest(s)
	if err := d.Validate(); err != nil {
		return "", fmt.Errorf("digest %q: %w", s, err)
	}
	return d, nil
}

// String returns the canonical form: registry/repository[:tag][@digest]. A
// relative reference (empty Registry) prints without a host.
func (r Reference) String() string {
	var b strings.Builder
	if r.Registry != "" {
		b.WriteString(r.Registry)
		b.WriteByte('/')
	}
	b.WriteString(r.Repository)
	if r.Tag != "" {
		b.WriteByte(':')
		b.WriteString(r.Tag)
	}
	if r.Digest != "" {
		b.WriteByte('@')
		b.WriteString(string(r.Digest))
	}
	return b.String()
}

// Name returns registry/repository without tag or digest (the repository a
// mirror set entry talks about). For a relative reference it is the path.
func (r Reference) Name() string {
	if r.Registry == "" {
		return r.Repository
	}
	return r.Registry + "/" + r.Repository
}

// HasVersion reports whether the reference has a tag or a digest.
func (r Reference) HasVersion() bool { return r.Tag != "" || r.Digest != "" }

// IsPinned reports whether the reference has a digest.
func (r Reference) IsPinned() bool { return r.Digest != "" }

// Under resolves a relative reference against a destination root such as
// "registry.internal:5000" or "registry.internal:5000/mirror/prefix": the
// result has the root's host as Registry and the root's path (if any) joined
// in front of r.Repository. The root must not carry a tag, digest or
// transport prefix. Errors wrap [ErrInvalidReference].
func (r Reference) Under(root string) (Reference, error) {
	if r.Registry != "" {
		return Reference{}, fmt.Errorf("%w: %q is not a relative reference", ErrInvalidReference, r)
	}
	root = strings.TrimSuffix(root, "/")
	host, prefix, _ := strings.Cut(root, "/")
	if !hostRe.MatchString(host) || !(strings.ContainsAny(host, ".:") || host == "localhost") {
		return Reference{}, fmt.Errorf("%w: destination root %q: %q is not a registry host", ErrInvalidReference, root, host)
	}
	repo := r.Repository
	if prefix != "" {
		repo = prefix + "/" + repo
	}
	if err := validateRepository(repo); err != nil {
		return Reference{}, fmt.Errorf("%w: destination root %q: %v", ErrInvalidReference, root, err)
	}
	if len(host)+1+len(repo) > MaxNameLength {
		return Reference{}, fmt.Errorf("%w: %s/%s longer than %d characters", ErrInvalidReference, host, repo, MaxNameLength)
	}
	out := r
	out.Registry, out.Repository = host, repo
	return out, nil
}
