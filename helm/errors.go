package helm

import (
	"errors"
	"net/url"
	"strings"
)

// Errors. Every error of the package wraps one of them (errors.Is) and
// names the chart, repository or URL it is about; URLs in messages never
// carry user information or a query.
var (
	// ErrInvalid is a malformed argument: a repository URL, a version
	// constraint, a chart name, an image path.
	ErrInvalid = errors.New("helm: invalid argument")
	// ErrFetch is a failed download of an index, a chart or a provenance
	// file (network, TLS, authentication or an HTTP error status).
	ErrFetch = errors.New("helm: fetch failed")
	// ErrIndex is an index.yaml that cannot be read.
	ErrIndex = errors.New("helm: bad repository index")
	// ErrNotFound is a chart or a chart version the repository does not
	// have.
	ErrNotFound = errors.New("helm: chart not found")
	// ErrTooLarge is input over one of the configured [Limits].
	ErrTooLarge = errors.New("helm: input too large")
	// ErrDigest is a chart archive whose sha256 is not the one its
	// repository index gives.
	ErrDigest = errors.New("helm: chart digest mismatch")
	// ErrProvenance is a provenance file that is missing when a keyring
	// was given, unsigned, signed by an unknown key, or naming another
	// digest.
	ErrProvenance = errors.New("helm: provenance verification failed")
	// ErrChart is a chart archive or directory Helm's loader refuses.
	ErrChart = errors.New("helm: invalid chart")
	// ErrRender is a chart that Helm's engine cannot render.
	ErrRender = errors.New("helm: render failed")
	// ErrUnsupported is an OCI chart in a form this package does not carry
	// (an image index, a manifest without a chart layer).
	ErrUnsupported = errors.New("helm: unsupported chart artifact")
	// ErrCollision is two sources placed at one destination.
	ErrCollision = errors.New("helm: destination collision")
)

// redact returns u without user information, query or fragment, for
// messages.
func redact(u *url.URL) string {
	if u == nil {
		return ""
	}
	c := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}
	return c.String()
}

// redactString redacts a URL given as text; text that does not parse is
// cut at the first '?' and stripped of anything before an '@' in its
// authority.
func redactString(s string) string {
	if u, err := url.Parse(s); err == nil && u.Host != "" {
		return redact(u)
	}
	s, _, _ = strings.Cut(s, "?")
	if scheme, rest, ok := strings.Cut(s, "://"); ok {
		if i := strings.LastIndexByte(rest, '@'); i >= 0 && !strings.Contains(rest[:i], "/") {
			rest = rest[i+1:]
		}
		return scheme + "://" + rest
	}
	return s
}
