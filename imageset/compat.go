package imageset

import (
	"fmt"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// This file holds the rules that make a configuration oc-mirror v2 accepts
// load here with the same meaning: docker:// prefixes, keys spelled with
// other case, operator versions as oc-mirror's semver library reads them,
// per-image platforms, and the fields enclave accepts but does not act on
// (each with one warning).

// DockerPrefix is the transport prefix oc-mirror accepts (and strips) on
// image references in additionalImages, operator catalogs and
// mirror.platform.release.
const DockerPrefix = "docker://"

// PlatformFilter is one entry of a platforms: list (on mirror.platform,
// mirror.additionalImages[] and mirror.operators[] entries, and Helm
// charts): an OS and CPU architecture of a multi-platform image, as
// oc-mirror's InstancePlatformFilter. Both are required.
type PlatformFilter struct {
	OS           string
	Architecture string
	Line         int
}

// String returns "os/architecture", the form OCI platforms are matched in.
func (p PlatformFilter) String() string { return p.OS + "/" + p.Architecture }

// warn records a warning at n: something the file says that enclave accepts
// but that does not do what a reader might expect. Warnings reach the user
// through [Config.Warnings].
func (d *decoder) warn(n *yaml.Node, format string, args ...any) {
	pos := d.file
	if pos == "" {
		pos = "<config>"
	}
	if n != nil && n.Line > 0 {
		pos = fmt.Sprintf("%s:%d", pos, n.Line)
	}
	d.warns = append(d.warns, "imageset: "+pos+": "+fmt.Sprintf(format, args...))
}

// canonicalKey returns the field of fs that key names ignoring case, as
// oc-mirror's decoder (encoding/json) matches keys, and whether one does.
// An exact match wins.
func canonicalKey(key string, fs fields) (string, bool) {
	if _, ok := fs[key]; ok {
		return key, true
	}
	for k := range fs {
		if strings.EqualFold(k, key) {
			return k, true
		}
	}
	return "", false
}

// stripDocker removes a leading docker:// from an image reference, as
// oc-mirror does wherever it reads one.
func stripDocker(s string) string { return strings.TrimPrefix(s, DockerPrefix) }

// looseVersionRe is the version grammar of the semver library oc-mirror
// parses operator minVersion and maxVersion with: an optional "v", one to
// three numeric parts, then optional pre-release and build metadata.
var looseVersionRe = regexp.MustCompile(`^v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)

// ParseOperatorVersion parses an operator minVersion or maxVersion as
// oc-mirror does: "4.15" means 4.15.0, "4" means 4.0.0 and a leading "v" is
// allowed ("v4.15.0"). Release channel versions stay full semantic versions
// ([ParseVersion]), as oc-mirror requires there.
func ParseOperatorVersion(s string) (Version, error) {
	m := looseVersionRe.FindStringSubmatch(s)
	if m == nil {
		return Version{}, fmt.Errorf("%w: %q is not a version (want MAJOR[.MINOR[.PATCH]], e.g. 4.15.0 or 4.15)", ErrInvalidVersion, s)
	}
	full := m[1]
	for _, part := range m[2:4] {
		if part == "" {
			part = ".0"
		}
		full += part
	}
	full += m[4] + m[5]
	v, err := ParseVersion(full)
	if err != nil {
		return Version{}, fmt.Errorf("%w: %q is not a version (want MAJOR[.MINOR[.PATCH]], e.g. 4.15.0 or 4.15)", ErrInvalidVersion, s)
	}
	return v, nil
}

// operatorVersion reads an operator minVersion or maxVersion.
func (d *decoder) operatorVersion(n *yaml.Node, path string) *Version {
	s, ok := d.str(n, path)
	if !ok {
		return nil
	}
	v, err := ParseOperatorVersion(s)
	if err != nil {
		d.fail(n, path, ErrInvalidVersion, "%s", strings.TrimPrefix(err.Error(), ErrInvalidVersion.Error()+": "))
		return nil
	}
	return &v
}

// Platforms reads a platforms: list, the per-image platform filter oc-mirror
// accepts on mirror.platform, additionalImages, operators and Helm charts:
// a list of {os, architecture} mappings, both required, no duplicates. It is
// the one parser every section uses; callers store the result.
func (d *decoder) platforms(n *yaml.Node, path string) []PlatformFilter {
	var out []PlatformFilter
	seen := dups{}
	d.sequence(n, path, func(_ int, v *yaml.Node, p string) {
		if v.Kind == yaml.ScalarNode && !isNull(v) {
			hint := ""
			if os, arch, ok := strings.Cut(v.Value, "/"); ok && os != "" && arch != "" {
				hint = fmt.Sprintf("; write {os: %s, architecture: %s}", os, arch)
			}
			d.fail(v, p, ErrInvalidConfig, "want a mapping with os and architecture, got %s%s", describe(v), hint)
			return
		}
		pf := PlatformFilter{Line: v.Line}
		d.mapping(v, p, p, fields{
			"os":           func(v *yaml.Node, p string) { pf.OS, _ = d.name(v, p) },
			"architecture": func(v *yaml.Node, p string) { pf.Architecture, _ = d.name(v, p) },
		})
		d.require(v, p, "os")
		d.require(v, p, "architecture")
		if pf.OS == "" || pf.Architecture == "" {
			return
		}
		d.dup(seen, pf.String(), v, p, fmt.Sprintf("platform %q", pf.String()))
		out = append(out, pf)
	})
	return out
}

// samples reads mirror.samples: a list of {name}. oc-mirror v2 accepts the
// section and mirrors nothing for it; so does enclave, with a warning.
func (d *decoder) samples(n *yaml.Node, path string) {
	key := d.key
	count := 0
	d.sequence(n, path, func(_ int, v *yaml.Node, p string) {
		d.mapping(v, p, p, fields{
			"name": func(v *yaml.Node, p string) { d.name(v, p) },
		})
		d.require(v, p, "name")
		count++
	})
	if count > 0 {
		d.warn(key, "%s is ignored: oc-mirror v2 accepts it and mirrors nothing for it, and so does enclave", path)
	}
}

// storageConfig accepts the oc-mirror v1 storageConfig section of a
// v1alpha2 file without reading it, with one warning. (In a v2alpha1 file
// it stays an unknown field, as in oc-mirror v2.)
func (d *decoder) storageConfig(_ *yaml.Node, path string) {
	d.warn(d.key, "%s is ignored: it is oc-mirror v1's metadata storage, and enclave (like the oc-mirror v2 enclave workflow) keeps no metadata between runs", path)
}

// requireMirror refuses a file without a mirror: key, as oc-mirror does
// (it looks the key up by its exact name).
func (d *decoder) requireMirror(root *yaml.Node) {
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "mirror" {
			return
		}
	}
	d.fail(root, "", ErrInvalidConfig, "missing mirror: the section that says what to mirror (spelled exactly \"mirror\", as oc-mirror requires)")
}

// platformCompat applies oc-mirror's rules on mirror.platform that involve
// several fields, and warns about what enclave reads but does not act on.
// key is the platform: key, n its mapping.
func (d *decoder) platformCompat(key, n *yaml.Node, path string, p *Platform) {
	at := func(field string) *yaml.Node {
		if n.Kind == yaml.MappingNode {
			return &yaml.Node{Line: keyLine(n, field)}
		}
		return n
	}
	if len(p.Platforms) > 0 && len(p.Architectures) > 0 {
		d.fail(n, path, ErrInvalidConfig, "platforms and architectures cannot be used together (as in oc-mirror): use architectures to choose release payloads, or platforms to filter one")
	}
	if len(p.Platforms) > 0 {
		d.warn(at("platforms"), "%s.platforms: releases are selected from the multi-architecture graph and their images copied sparse, only these platforms (as oc-mirror does); the destination registry must accept indexes whose other platforms are absent (CNCF distribution: validation.manifests.indexes.platforms: none)", path)
	}
	if len(p.Channels) == 0 && p.Release == "" {
		d.warn(key, "%s selects no release (no channels, no release); the other sections are mirrored", path)
	}
}

// packageVersionMix refuses minVersion/maxVersion on both a package and its
// channels, as oc-mirror does.
func (d *decoder) packageVersionMix(n *yaml.Node, path string, pkg OperatorPackage) {
	if pkg.MinVersion == nil && pkg.MaxVersion == nil {
		return
	}
	for _, ch := range pkg.Channels {
		if ch.MinVersion != nil || ch.MaxVersion != nil {
			d.fail(n, path, ErrInvalidConfig, "package %q: minVersion/maxVersion on both the package and channel %q; use one or the other (as oc-mirror requires)", pkg.Name, ch.Name)
			return
		}
	}
}

// didYouMean names the field of fs closest to an unknown key (at most two
// edits away, ignoring case), or returns "".
func didYouMean(key string, fs fields) string {
	if len(key) > 64 {
		return ""
	}
	best, bestDist := "", 3
	for k := range fs {
		if dist := editDistance(strings.ToLower(k), strings.ToLower(key)); dist < bestDist || (dist == bestDist && k < best) {
			best, bestDist = k, dist
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance between a and b (bytes).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// yaml11Bool reads the plain (unquoted) YAML 1.1 booleans that oc-mirror's
// YAML decoder accepts and YAML 1.2 reads as strings: y, yes, on, n, no,
// off, in the spellings YAML 1.1 lists.
func yaml11Bool(n *yaml.Node) (bool, bool) {
	if n.Kind != yaml.ScalarNode || n.Style != 0 || n.ShortTag() != "!!str" {
		return false, false
	}
	switch n.Value {
	case "y", "Y", "yes", "Yes", "YES", "on", "On", "ON":
		return true, true
	case "n", "N", "no", "No", "NO", "off", "Off", "OFF":
		return false, true
	}
	return false, false
}
