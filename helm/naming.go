package helm

import (
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"

	"github.com/enclave-mirror/enclave/imageset"
)

// LocalPrefix is the first path component of local charts' destinations.
const LocalPrefix = "local"

// invalidRun is a run of characters the repository grammar refuses in a
// path component.
var invalidRun = regexp.MustCompile(`[^a-z0-9._-]+`)

// hostComponent writes a registry host as one repository path component:
// lower case, port after "__" (see the package doc).
func hostComponent(host string) (string, error) {
	h := strings.ToLower(host)
	if strings.ContainsAny(h, "[]") {
		return "", fmt.Errorf("%w: host %q: IPv6 literal hosts cannot be written in a repository path", ErrInvalid, host)
	}
	return strings.Replace(h, ":", "__", 1), nil
}

// pathComponents lower-cases path components and replaces runs of refused
// characters with "-".
func pathComponents(p string) []string {
	var out []string
	for _, c := range strings.Split(strings.Trim(p, "/"), "/") {
		if c == "" {
			continue
		}
		c = strings.Trim(invalidRun.ReplaceAllString(strings.ToLower(c), "-"), "-._")
		if c != "" {
			out = append(out, c)
		}
	}
	return out
}

// ImageDestination returns where an image found in a chart goes below the
// destination root: <host>/<path> with the tag and digest kept (see the
// package doc). The result is relative (empty Registry).
func ImageDestination(ref imageset.Reference) (imageset.Reference, error) {
	h, err := hostComponent(ref.Registry)
	if err != nil {
		return imageset.Reference{}, err
	}
	dst := imageset.Reference{Repository: h + "/" + ref.Repository, Tag: ref.Tag, Digest: ref.Digest}
	if err := imageset.ValidateRepositoryPath(dst.Repository); err != nil {
		return imageset.Reference{}, fmt.Errorf("%w: image %s: destination %s: %v", ErrInvalid, ref, dst.Repository, err)
	}
	return dst, nil
}

// ChartDestination returns where chart c goes below the destination root
// (see the package doc): the repository path ends with the chart name and
// the tag is [Chart.Tag], so helm pull oci://<root>/<path> --version V
// finds it. The result is relative (empty Registry).
func ChartDestination(c *Chart) (imageset.Reference, error) {
	var parts []string
	switch c.Kind {
	case SourceLocal:
		parts = []string{LocalPrefix}
	case SourceOCI, SourceHTTP:
		u, err := url.Parse(c.Repository)
		if err != nil || u.Host == "" {
			return imageset.Reference{}, fmt.Errorf("%w: chart %s %s: repository %q has no host", ErrInvalid, c.Name, c.Version, redactString(c.Repository))
		}
		h, err := hostComponent(u.Host)
		if err != nil {
			return imageset.Reference{}, fmt.Errorf("chart %s %s: %w", c.Name, c.Version, err)
		}
		parts = append([]string{h}, pathComponents(u.Path)...)
	default:
		return imageset.Reference{}, fmt.Errorf("%w: chart %s %s: unknown source kind %q", ErrInvalid, c.Name, c.Version, c.Kind)
	}
	dst := imageset.Reference{Repository: strings.Join(append(parts, c.Name), "/"), Tag: c.Tag()}
	if err := imageset.ValidateRepositoryPath(dst.Repository); err != nil {
		return imageset.Reference{}, fmt.Errorf("%w: chart %s %s: destination %s: %v", ErrInvalid, c.Name, c.Version, dst.Repository, err)
	}
	if err := imageset.ValidateTag(dst.Tag); err != nil {
		return imageset.Reference{}, fmt.Errorf("%w: chart %s %s: version is not a valid tag: %v", ErrInvalid, c.Name, c.Version, err)
	}
	return dst, nil
}

// Placement is one source placed at a destination, for [CheckCollisions].
type Placement struct {
	// Source names the source (a reference or chart location).
	Source string
	// Destination is the relative destination reference.
	Destination imageset.Reference
}

// CheckCollisions fails with [ErrCollision] when two different sources are
// placed at the same destination repository and tag (or digest).
func CheckCollisions(ps []Placement) error {
	seen := map[string]string{}
	var errs []string
	for _, p := range ps {
		key := p.Destination.Repository + ":" + p.Destination.Tag
		if p.Destination.Tag == "" {
			key = p.Destination.Repository + "@" + string(p.Destination.Digest)
		}
		if prev, ok := seen[key]; ok && prev != p.Source {
			errs = append(errs, fmt.Sprintf("%s and %s both go to %s", prev, p.Source, key))
			continue
		}
		seen[key] = p.Source
	}
	if len(errs) > 0 {
		sort.Strings(errs)
		return fmt.Errorf("%w: %s", ErrCollision, strings.Join(errs, "; "))
	}
	return nil
}
