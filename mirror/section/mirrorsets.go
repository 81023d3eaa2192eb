package section

import (
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/enclave-mirror/enclave/clusterres"
	"github.com/enclave-mirror/enclave/imageset"
)

// Placed is one image and where it went: what a kind's cluster resources
// are built from, at unpack (from the pushes) and mirror to mirror (from
// the copies) alike.
type Placed struct {
	// Source is the image's reference at its source.
	Source imageset.Reference
	// Dest is the repository that holds it at the destination,
	// "host[:port]/path", without tag or digest.
	Dest string
	// OK is set when the image arrived.
	OK bool
}

// MirrorSets returns an ImageDigestMirrorSet (every image that arrived)
// and an ImageTagMirrorSet (those of them named by tag at their source),
// both named name, that point clusters from each source repository at the
// destination repository. Images read from an OCI layout have no registry
// to redirect from, and an image placed at its own name (same registry, no
// prefix) needs no redirect: neither gets an entry. Nothing arrived: no
// resources.
func MirrorSets(name string, images []Placed) ([]clusterres.Resource, error) {
	var byDigest, byTag []clusterres.Mirror
	for _, p := range images {
		if !p.OK || p.Source.Registry == imageset.LayoutRegistry || p.Source.Name() == p.Dest {
			continue
		}
		m := clusterres.Mirror{Source: p.Source.Name(), Mirror: p.Dest}
		byDigest = append(byDigest, m)
		if p.Source.Tag != "" {
			byTag = append(byTag, m)
		}
	}
	if len(byDigest) == 0 {
		return nil, nil
	}
	return clusterres.MirrorSets(name, byDigest, byTag)
}

// ContentName names the cluster resources of a mirror to mirror after what
// was mirrored (as an archive's digest names those of an unpack): "enclave-"
// and 12 hex characters of the digest of lines (each "source -> destination"
// of one image the run planned, whether or not it arrived), sorted and
// without repeats. The same images mirrored again to the same places update
// the same objects, also when a rerun copies what failed before; other
// images get objects of their own.
func ContentName(lines []string) string {
	s := slices.Clone(lines)
	slices.Sort(s)
	s = slices.Compact(s)
	return clusterres.ArchiveName(digest.FromString(strings.Join(s, "\n") + "\n"))
}
