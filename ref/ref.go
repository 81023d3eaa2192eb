// Package ref is the one image reference of enclave: its grammar, its
// digests and its canonical form. Every other package (imageset, ocistore,
// release, the kinds of content) parses and prints references through it,
// so that "Foo/bar:1" or "LOCALHOST/app" mean the same everywhere.
//
// The grammar is the distribution reference grammar
// (github.com/distribution/reference) with Docker's normalisation: the first
// path component is a registry host only if it contains "." or ":", is
// "localhost", or has an upper-case letter; otherwise the host is docker.io
// and a single-component path gets "library/". Digests are sha256 or sha512
// only, in lower-case hex of the exact length, so no digest can carry a
// path ("sha256:../../x").
package ref

import (
	_ "crypto/sha256" // digest.Validate needs the hashes registered
	_ "crypto/sha512"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/opencontainers/go-digest"
)

// Limits, from the distribution reference grammar.
const (
	// MaxNameLength bounds registry host plus repository path (distribution's
	// NameTotalLengthMax); longer names are refused by registries anyway.
	MaxNameLength = 255
	// MaxTagLength is the longest tag the OCI distribution spec allows.
	MaxTagLength = 128
	// MaxInputLength bounds any input before it is parsed, so a hostile
	// input cannot make the regular expressions work on megabytes.
	MaxInputLength = 4096
)

// DockerHub is the registry host assumed for names without one, as Docker
// does; "index.docker.io" is normalised to it.
const DockerHub = "docker.io"

// ErrInvalid is wrapped by every error of this package.
var ErrInvalid = errors.New("invalid image reference")

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
// caller supplies (see [Reference.Under]). With neither Tag nor Digest it
// names a repository (or, with no Repository either, a registry).
type Reference struct {
	// Registry is the host, with port if any ("quay.io", "localhost:5000").
	Registry string
	// Repository is the path inside the registry ("org/app").
	Repository string
	// Tag is empty when the reference has none.
	Tag string
	// Digest is empty when the reference has none. With both, the digest
	// decides what is fetched.
	Digest digest.Digest
}

// Error is a reference that does not parse: the input and what is wrong.
type Error struct {
	Input string
	Msg   string
}

func (e *Error) Error() string {
	if e.Input == "" {
		return e.Msg
	}
	return fmt.Sprintf("%q: %s", e.Input, e.Msg)
}

// Is makes every *Error match ErrInvalid.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

func bad(input, format string, args ...any) error {
	return &Error{Input: input, Msg: fmt.Sprintf(format, args...)}
}

// Parse parses an image reference such as "quay.io/org/app:1.2", "nginx",
// "registry:5000/a/b@sha256:..." or "quay.io/org/app:1.2@sha256:...".
// Repository components must be lower case and match the distribution
// grammar (so ".." and empty components are refused), tags must match
// [\w][\w.-]{0,127}, and digests must be valid sha256 or sha512 digests. A
// reference with neither tag nor digest is accepted; callers that need one
// check [Reference.HasVersion] or [Reference.IsPinned]. Errors are *Error
// and wrap [ErrInvalid].
func Parse(s string) (Reference, error) {
	switch {
	case s == "":
		return Reference{}, &Error{Msg: "empty reference"}
	case len(s) > MaxInputLength:
		return Reference{}, &Error{Msg: fmt.Sprintf("reference of %d bytes, limit %d", len(s), MaxInputLength)}
	case strings.Contains(s, "://"):
		return Reference{}, bad(s, "a transport prefix is not part of an image reference")
	case strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return Reference{}, bad(s, "contains whitespace or control characters")
	}
	var r Reference
	name := s
	if i := strings.LastIndexByte(name, '@'); i >= 0 {
		d, err := ParseDigest(name[i+1:])
		if err != nil {
			return Reference{}, bad(s, "%s", err.(*Error).Msg)
		}
		r.Digest = d
		name = name[:i]
	}
	// A tag follows the last ':' after the last '/'; a ':' before a '/' is a port.
	if i := strings.LastIndexByte(name, ':'); i > strings.LastIndexByte(name, '/') {
		r.Tag = name[i+1:]
		name = name[:i]
		if !tagRe.MatchString(r.Tag) {
			return Reference{}, bad(s, "invalid tag %q: want [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", r.Tag)
		}
	}
	if name == "" {
		return Reference{}, bad(s, "no repository name")
	}
	host, path := splitHost(name)
	if !hostRe.MatchString(host) {
		return Reference{}, bad(s, "invalid registry host %q", host)
	}
	if err := validateRepository(path); err != nil {
		return Reference{}, bad(s, "%v", err)
	}
	if len(host)+1+len(path) > MaxNameLength {
		return Reference{}, bad(s, "name longer than %d characters", MaxNameLength)
	}
	r.Registry, r.Repository = host, path
	return r, nil
}

// splitHost separates the registry from the repository the way Docker
// does.
func splitHost(name string) (host, path string) {
	host, path, found := strings.Cut(name, "/")
	if !found || !(strings.ContainsAny(host, ".:") || host == "localhost" || strings.ToLower(host) != host) {
		host, path = DockerHub, name
	}
	if host == "index.docker.io" {
		host = DockerHub
	}
	if host == DockerHub && !strings.Contains(path, "/") {
		path = "library/" + path
	}
	return host, path
}

// validateRepository checks a repository path ("org/app") against the
// distribution grammar, with messages that say what is wrong.
func validateRepository(path string) error {
	if path == "" {
		return errors.New("empty repository path")
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

// ValidateRepository reports whether path is a valid repository path
// without host, tag or digest ("org/app"), as used by targetRepo and
// targetCatalog. Errors wrap [ErrInvalid].
func ValidateRepository(path string) error {
	if err := validateRepository(path); err != nil {
		return &Error{Msg: err.Error()}
	}
	return nil
}

// ValidateTag reports whether tag matches the OCI tag grammar. Errors wrap
// [ErrInvalid].
func ValidateTag(tag string) error {
	if !tagRe.MatchString(tag) {
		return &Error{Msg: fmt.Sprintf("invalid tag %q: want [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", tag)}
	}
	return nil
}

// ValidateHost reports whether host is a registry host[:port].
func ValidateHost(host string) error {
	if !hostRe.MatchString(host) {
		return &Error{Msg: fmt.Sprintf("invalid registry host %q", host)}
	}
	return nil
}

// ParseDigest parses and validates a digest, accepting only the sha256 and
// sha512 algorithms with lower-case hex of the right length. Errors are
// *Error and wrap [ErrInvalid].
func ParseDigest(s string) (digest.Digest, error) {
	alg, enc, ok := strings.Cut(s, ":")
	if !ok || alg == "" || enc == "" {
		return "", &Error{Msg: fmt.Sprintf("digest %q: want <algorithm>:<hex>", s)}
	}
	if a := digest.Algorithm(alg); a != digest.SHA256 && a != digest.SHA512 {
		return "", &Error{Msg: fmt.Sprintf("digest %q: algorithm %q not supported (want sha256 or sha512)", s, alg)}
	}
	d := digest.Digest(s)
	if err := d.Validate(); err != nil {
		return "", &Error{Msg: fmt.Sprintf("digest %q: %v", s, err)}
	}
	return d, nil
}

// DigestOf returns the digest of a reference that must be pinned
// ("name@sha256:..."). Errors wrap [ErrInvalid].
func DigestOf(s string) (digest.Digest, error) {
	r, err := Parse(s)
	if err != nil {
		return "", err
	}
	if r.Digest == "" {
		return "", bad(s, "not pinned to a digest")
	}
	return r.Digest, nil
}

// Validate checks every field of r against the grammar, so that a Reference
// built by hand (or read from an archive) is as safe to put in a URL or a
// path as one from Parse. A relative reference (no Registry) and a
// registry-only one (no Repository) are valid.
func (r Reference) Validate() error {
	if r.Registry != "" && !hostRe.MatchString(r.Registry) {
		return &Error{Input: r.String(), Msg: fmt.Sprintf("invalid registry host %q", r.Registry)}
	}
	if r.Repository != "" {
		if err := validateRepository(r.Repository); err != nil {
			return &Error{Input: r.String(), Msg: err.Error()}
		}
	}
	if len(r.Registry)+1+len(r.Repository) > MaxNameLength {
		return &Error{Input: r.String(), Msg: fmt.Sprintf("name longer than %d characters", MaxNameLength)}
	}
	if r.Tag != "" && !tagRe.MatchString(r.Tag) {
		return &Error{Input: r.String(), Msg: fmt.Sprintf("invalid tag %q", r.Tag)}
	}
	if r.Digest != "" {
		if _, err := ParseDigest(string(r.Digest)); err != nil {
			return err
		}
	}
	return nil
}

// String returns the canonical form: registry/repository[:tag][@digest]. A
// relative reference (empty Registry) prints without a host, a
// registry-only one as the host.
func (r Reference) String() string {
	var b strings.Builder
	b.WriteString(r.Name())
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
// mirror set entry talks about): the path alone for a relative reference,
// the registry alone when there is no repository.
func (r Reference) Name() string {
	switch {
	case r.Registry == "":
		return r.Repository
	case r.Repository == "":
		return r.Registry
	}
	return r.Registry + "/" + r.Repository
}

// HasVersion reports whether the reference has a tag or a digest.
func (r Reference) HasVersion() bool { return r.Tag != "" || r.Digest != "" }

// IsPinned reports whether the reference has a digest.
func (r Reference) IsPinned() bool { return r.Digest != "" }

// Object returns what to resolve in the repository: the digest when there
// is one, otherwise the tag (empty when there is neither).
func (r Reference) Object() string {
	if r.Digest != "" {
		return string(r.Digest)
	}
	return r.Tag
}

// Under resolves a relative reference against a destination root such as
// "registry.internal:5000" or "registry.internal:5000/mirror/prefix": the
// result has the root's host as Registry and the root's path (if any) joined
// in front of r.Repository. The root must not carry a tag, digest or
// transport prefix. Errors wrap [ErrInvalid].
func (r Reference) Under(root string) (Reference, error) {
	if r.Registry != "" {
		return Reference{}, &Error{Input: r.String(), Msg: "not a relative reference"}
	}
	root = strings.TrimSuffix(root, "/")
	host, prefix, _ := strings.Cut(root, "/")
	if !hostRe.MatchString(host) || !(strings.ContainsAny(host, ".:") || host == "localhost") {
		return Reference{}, &Error{Msg: fmt.Sprintf("destination root %q: %q is not a registry host", root, host)}
	}
	repo := r.Repository
	if prefix != "" {
		repo = prefix + "/" + repo
	}
	if err := validateRepository(repo); err != nil {
		return Reference{}, &Error{Msg: fmt.Sprintf("destination root %q: %v", root, err)}
	}
	if len(host)+1+len(repo) > MaxNameLength {
		return Reference{}, &Error{Msg: fmt.Sprintf("%s/%s longer than %d characters", host, repo, MaxNameLength)}
	}
	out := r
	out.Registry, out.Repository = host, repo
	return out, nil
}

// Rebase moves r under the destination prefix dst (registry[/path], no tag
// or digest): the source registry is dropped and its repository appended,
// tag and digest are kept. quay.io/org/app:1.2 onto host:5000/mirror gives
// host:5000/mirror/org/app:1.2.
func (r Reference) Rebase(dst Reference) (Reference, error) {
	if dst.Tag != "" || dst.Digest != "" {
		return Reference{}, &Error{Input: dst.String(), Msg: "a destination prefix must not have a tag or digest"}
	}
	if r.Repository == "" {
		return Reference{}, &Error{Input: r.String(), Msg: "no repository to rebase"}
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

// DigestTag returns the tag given at a destination to an image selected by
// digest only, so that registries that garbage-collect untagged manifests
// keep it: "digest-<algorithm>-<first 32 hex characters>", e.g.
// "digest-sha256-0123456789abcdef0123456789abcdef".
//
// The form cannot collide with the referrers tag schema ("sha256-<64 hex>",
// which oras-go falls back to on registries without the referrers API) nor
// with cosign's "sha256-<hex>.sig/.att/.sbom" tags, since those begin with
// the algorithm. 32 hex characters (128 bits) keep tags short and readable
// while making two digests sharing a tag practically impossible. d must be
// valid (see [ParseDigest]).
func DigestTag(d digest.Digest) string {
	enc := d.Encoded()
	if len(enc) > 32 {
		enc = enc[:32]
	}
	return "digest-" + string(d.Algorithm()) + "-" + enc
}
