package clusterres

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
)

// APIVersion of the mirror set kinds.
const APIVersion = "config.openshift.io/v1"

// Kinds written by this package.
const (
	KindImageDigestMirrorSet = "ImageDigestMirrorSet"
	KindImageTagMirrorSet    = "ImageTagMirrorSet"
)

// Mirror says that images of the Source repository can be pulled from the
// Mirror repository. Both are repositories ("quay.io/org/app",
// "registry.internal:5000/mirror/org/app") without tag, digest or scheme.
type Mirror struct {
	Source, Mirror string
}

// ArchiveName derives an object name from an archive digest:
// "enclave-" and the first 12 hex characters of the digest. Different
// archives applied to one cluster get different names; applying the same
// archive again updates its objects in place. d must be a valid digest.
func ArchiveName(d digest.Digest) string {
	enc := d.Encoded()
	if len(enc) > 12 {
		enc = enc[:12]
	}
	return "enclave-" + enc
}

// validateRepo checks a source or mirror repository.
func validateRepo(role, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("%w: empty %s repository", ErrInvalidMirror, role)
	case strings.Contains(s, "://"):
		return fmt.Errorf("%w: %s %q: no scheme allowed", ErrInvalidMirror, role, s)
	case strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return fmt.Errorf("%w: %s %q contains whitespace or control characters", ErrInvalidMirror, role, s)
	case strings.Contains(s, "@"):
		return fmt.Errorf("%w: %s %q: want a repository, not a digest reference", ErrInvalidMirror, role, s)
	case strings.HasPrefix(s, "/") || strings.HasSuffix(s, "/") || strings.Contains(s, "//"):
		return fmt.Errorf("%w: %s %q has an empty path component", ErrInvalidMirror, role, s)
	}
	if i := strings.LastIndexByte(s, '/'); i >= 0 && strings.Contains(s[i:], ":") {
		return fmt.Errorf("%w: %s %q: want a repository, not a tagged reference", ErrInvalidMirror, role, s)
	}
	return nil
}

// mirrorEntry is one element of imageDigestMirrors / imageTagMirrors.
type mirrorEntry struct {
	Source  string   `yaml:"source"`
	Mirrors []string `yaml:"mirrors"`
}

type metadata struct {
	Name   string            `yaml:"name"`
	Labels map[string]string `yaml:"labels,omitempty"`
}

type idms struct {
	APIVersion string   `yaml:"apiVersion"`
	Kind       string   `yaml:"kind"`
	Metadata   metadata `yaml:"metadata"`
	Spec       struct {
		ImageDigestMirrors []mirrorEntry `yaml:"imageDigestMirrors"`
	} `yaml:"spec"`
}

type itms struct {
	APIVersion string   `yaml:"apiVersion"`
	Kind       string   `yaml:"kind"`
	Metadata   metadata `yaml:"metadata"`
	Spec       struct {
		ImageTagMirrors []mirrorEntry `yaml:"imageTagMirrors"`
	} `yaml:"spec"`
}

// group validates pairs and groups them into one entry per source
// repository, sorted by source. Mirrors of a source keep the order of their
// first appearance in pairs, because the cluster tries them in that order;
// repeated pairs are dropped.
func group(pairs []Mirror) ([]mirrorEntry, error) {
	if len(pairs) == 0 {
		return nil, fmt.Errorf("%w: no mirrors", ErrInvalidMirror)
	}
	bySource := map[string][]string{}
	for _, p := range pairs {
		if err := validateRepo("source", p.Source); err != nil {
			return nil, err
		}
		if err := validateRepo("mirror", p.Mirror); err != nil {
			return nil, err
		}
		if p.Source == p.Mirror {
			return nil, fmt.Errorf("%w: %q mirrors itself", ErrInvalidMirror, p.Source)
		}
		if !slices.Contains(bySource[p.Source], p.Mirror) {
			bySource[p.Source] = append(bySource[p.Source], p.Mirror)
		}
	}
	entries := make([]mirrorEntry, 0, len(bySource))
	for src, ms := range bySource {
		entries = append(entries, mirrorEntry{Source: src, Mirrors: ms})
	}
	slices.SortFunc(entries, func(a, b mirrorEntry) int { return cmp.Compare(a.Source, b.Source) })
	return entries, nil
}

// ImageDigestMirrorSet returns an ImageDigestMirrorSet named name with one
// entry per source repository of pairs, sorted by source; a source's mirrors
// keep their order in pairs (the order the cluster tries them in). Errors wrap [ErrInvalidName] or
// [ErrInvalidMirror] (also for an empty pairs list).
func ImageDigestMirrorSet(name string, pairs []Mirror) (Resource, error) {
	if err := ValidateName(name); err != nil {
		return Resource{}, err
	}
	entries, err := group(pairs)
	if err != nil {
		return Resource{}, err
	}
	o := &idms{APIVersion: APIVersion, Kind: KindImageDigestMirrorSet, Metadata: newMetadata(name)}
	o.Spec.ImageDigestMirrors = entries
	return Resource{Kind: o.Kind, Name: name, Object: o}, nil
}

// ImageTagMirrorSet is [ImageDigestMirrorSet] for images pulled by tag.
func ImageTagMirrorSet(name string, pairs []Mirror) (Resource, error) {
	if err := ValidateName(name); err != nil {
		return Resource{}, err
	}
	entries, err := group(pairs)
	if err != nil {
		return Resource{}, err
	}
	o := &itms{APIVersion: APIVersion, Kind: KindImageTagMirrorSet, Metadata: newMetadata(name)}
	o.Spec.ImageTagMirrors = entries
	return Resource{Kind: o.Kind, Name: name, Object: o}, nil
}

// MirrorSets returns the ImageDigestMirrorSet for byDigest and the
// ImageTagMirrorSet for byTag, both named name, leaving out a kind whose
// list is empty (so the result may be empty).
func MirrorSets(name string, byDigest, byTag []Mirror) ([]Resource, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	var out []Resource
	if len(byDigest) > 0 {
		r, err := ImageDigestMirrorSet(name, byDigest)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if len(byTag) > 0 {
		r, err := ImageTagMirrorSet(name, byTag)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

func newMetadata(name string) metadata {
	return metadata{Name: name, Labels: map[string]string{ManagedByLabel: "enclave"}}
}
