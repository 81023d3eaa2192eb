package release

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Destination repositories below the mirror prefix, as oc-mirror v2 names
// them (v2/internal/pkg/release: releaseImagePathComponents,
// releaseComponentPathComponents, graphImageName).
const (
	// ReleaseImagesRepo holds payloads, tagged <version>-<arch>.
	ReleaseImagesRepo = "openshift/release-images"
	// ComponentsRepo holds component images, tagged
	// <version>-<arch>-<component>.
	ComponentsRepo = "openshift/release"
	// GraphImageRepo holds the Update Service graph-data image.
	GraphImageRepo = "openshift/graph-image"
	// GraphImageTag is the graph-data image tag oc-mirror uses.
	GraphImageTag = "latest"
)

// Source repositories of OCP releases: the ImageDigestMirrorSet entries map
// them to ReleaseImagesRepo and ComponentsRepo. For OKD (or anything else),
// derive them from the references with SourceRepositories.
const (
	OCPReleaseRepo   = "quay.io/openshift-release-dev/ocp-release"
	OCPComponentRepo = "quay.io/openshift-release-dev/ocp-v4.0-art-dev"
)

var (
	tagRE          = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	dnsLabelRE     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
	dnsSubdomainRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
)

// PayloadTag is the payload's tag in ReleaseImagesRepo: "4.15.3-x86_64",
// "4.16.0-rc.2-aarch64", "4.15.3-multi" (the same tag quay.io uses, and
// oc-mirror keeps). A version with build metadata has "+" turned into "-"
// (a tag cannot carry "+").
func PayloadTag(v Version, arch Arch) (string, error) {
	if !arch.valid() {
		return "", fmt.Errorf("%w: architecture %q", ErrInvalidArgument, arch)
	}
	t := strings.ReplaceAll(v.String(), "+", "-") + "-" + arch.ReleaseArch()
	if !tagRE.MatchString(t) {
		return "", fmt.Errorf("%w: %q is not a valid tag", ErrInvalidArgument, t)
	}
	return t, nil
}

// ComponentTag is a component's tag in ComponentsRepo:
// "<payload tag>-<component>", e.g. "4.15.3-x86_64-etcd", as oc-mirror v2
// writes it. Components are referenced by digest; the tag keeps them from
// being garbage-collected as untagged and tells a human what they are. An
// over-long result (tags stop at 128 characters) is an error rather than
// truncated, since truncation could collide.
func ComponentTag(v Version, arch Arch, component string) (string, error) {
	pt, err := PayloadTag(v, arch)
	if err != nil {
		return "", err
	}
	t := pt + "-" + component
	if !tagRE.MatchString(component) || !tagRE.MatchString(t) {
		return "", fmt.Errorf("%w: %q is not a valid tag", ErrInvalidArgument, t)
	}
	return t, nil
}

// Join joins a destination prefix ("registry:5000" or "registry:5000/ns",
// trailing slash tolerated) and a repository.
func Join(dest, repo string) string {
	return strings.TrimSuffix(dest, "/") + "/" + repo
}

// PayloadDestination returns <dest>/openshift/release-images:<tag>.
func PayloadDestination(dest string, v Version, arch Arch) (string, error) {
	t, err := PayloadTag(v, arch)
	if err != nil {
		return "", err
	}
	return Join(dest, ReleaseImagesRepo) + ":" + t, nil
}

// ComponentDestination returns <dest>/openshift/release:<tag>.
func ComponentDestination(dest string, v Version, arch Arch, component string) (string, error) {
	t, err := ComponentTag(v, arch, component)
	if err != nil {
		return "", err
	}
	return Join(dest, ComponentsRepo) + ":" + t, nil
}

// MirrorPair is one ImageDigestMirrorSet entry.
type MirrorPair struct {
	Source string
	Mirror string
}

// ReleaseMirrors returns the IDMS entries for mirrored releases: each source
// repository of a payload maps to <dest>/openshift/release-images, each
// source repository of a component to <dest>/openshift/release. Sorted and
// de-duplicated.
func ReleaseMirrors(dest string, payloads []string, components []Component) ([]MirrorPair, error) {
	set := map[MirrorPair]bool{}
	for _, p := range payloads {
		r, err := RepositoryOf(p)
		if err != nil {
			return nil, err
		}
		set[MirrorPair{r, Join(dest, ReleaseImagesRepo)}] = true
	}
	for _, c := range components {
		r, err := RepositoryOf(c.Image)
		if err != nil {
			return nil, err
		}
		set[MirrorPair{r, Join(dest, ComponentsRepo)}] = true
	}
	out := make([]MirrorPair, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b MirrorPair) int {
		if c := strings.Compare(a.Source, b.Source); c != 0 {
			return c
		}
		return strings.Compare(a.Mirror, b.Mirror)
	})
	return out, nil
}
