package format

import (
	"fmt"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// MaxOmittedPerRoot bounds the children one root may list as omitted
// (spec 7.3.1): an index lists a manifest per platform, perhaps an
// attestation per platform; 4096 is far above any published index, and
// checking a hostile manifest stays linear in its size.
const MaxOmittedPerRoot = 4096

// mediaTypeDockerManifestList is the Docker counterpart of an OCI index.
const mediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"

// checkOmitted enforces the rules of spec 7.3.1 on every root's omitted
// children: only an index in the archive omits children, at most
// MaxOmittedPerRoot, each a canonical digest listed once, neither the root
// itself nor in the archive nor a prerequisite (content the archive leaves
// out on purpose is not content it relies on). has reports whether the
// archive holds a digest; nil checks the syntax alone. That each omitted
// digest is a child of its index needs the index's content: package
// archive checks it (Reader.CheckGraph).
func checkOmitted(m *Manifest, has func(digest.Digest) bool) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: manifest: %s", ErrMalformed, fmt.Sprintf(format, args...))
	}
	var prereq map[digest.Digest]bool
	for i, r := range m.Roots {
		if len(r.Omitted) == 0 {
			continue
		}
		root := r.Descriptor.Digest
		if mt := r.Descriptor.MediaType; mt != ocispec.MediaTypeImageIndex && mt != mediaTypeDockerManifestList {
			return bad("root %d (%s) omits children but is not an image index (media type %q)", i, root, truncate(mt, 80))
		}
		if len(r.Omitted) > MaxOmittedPerRoot {
			return bad("root %s omits %d children, above %d", root, len(r.Omitted), MaxOmittedPerRoot)
		}
		if has != nil && !has(root) {
			return bad("root %s omits children but is not in the archive", root)
		}
		if has != nil && prereq == nil && m.Delta != nil {
			prereq = make(map[digest.Digest]bool, len(m.Delta.Prerequisites))
			for _, p := range m.Delta.Prerequisites {
				prereq[p.Digest] = true
			}
		}
		seen := make(map[digest.Digest]bool, len(r.Omitted))
		for j, o := range r.Omitted {
			if err := ValidateDigest(o.Digest); err != nil {
				return bad("root %s: omitted %d: %v", root, j, err)
			}
			if o.Size < 0 {
				return bad("root %s: omitted %s: negative size %d", root, o.Digest, o.Size)
			}
			if o.Digest == root || seen[o.Digest] {
				return bad("root %s: omitted %s is the root itself or listed twice", root, o.Digest)
			}
			seen[o.Digest] = true
			if has != nil && has(o.Digest) {
				return bad("root %s: omitted %s is in the archive", root, o.Digest)
			}
			if prereq[o.Digest] {
				return bad("root %s: omitted %s is also a prerequisite", root, o.Digest)
			}
		}
	}
	return nil
}
