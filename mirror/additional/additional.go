// Package additional plans mirror.additionalImages: images named one by one,
// by tag, digest or both, from registries or OCI layouts on disk. It is the
// simplest [section.Kind], and the catch-all of an unpack: every archive
// reference that no other kind claimed is placed by its rules. Its cluster
// resources, an ImageDigestMirrorSet and an ImageTagMirrorSet, are written
// by unpack, or mirror to mirror delivered by the pack.
package additional

import (
	"context"
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/enclave-mirror/enclave/clusterres"
	"github.com/enclave-mirror/enclave/format"
	"github.com/enclave-mirror/enclave/imageset"
	"github.com/enclave-mirror/enclave/mirror/section"
)

// Kind is mirror.additionalImages as a [section.Kind].
type Kind struct{}

// New returns mirror.additionalImages.
func New() *Kind { return &Kind{} }

var _ section.Kind = (*Kind)(nil)

// Section returns imageset.SectionAdditionalImages.
func (*Kind) Section() imageset.Section { return imageset.SectionAdditionalImages }

// others are the sections this kind leaves to the others.
var others = imageset.PlanOptions{Allow: []imageset.Section{imageset.SectionPlatform, imageset.SectionOperators, imageset.SectionHelm}}

// Pack maps each entry to its destination (imageset.Config.Plan): the
// source host dropped, the repository path kept or replaced by targetRepo,
// the tag kept or replaced by targetTag, digest-only images tagged
// imageset.DigestTag.
func (*Kind) Pack(ctx context.Context, env *section.PackEnv) (*section.PackPlan, error) {
	plan, err := env.Config.Plan(others)
	if err != nil {
		return nil, err
	}
	p := &section.PackPlan{Blocked: plan.Blocked}
	for _, m := range plan.Mappings {
		p.Images = append(p.Images, section.Image{Mapping: m})
	}
	if env.Registry != "" {
		p.Deliver = deliverToRegistry(p.Images, env.Registry)
	}
	return p, nil
}

// deliverToRegistry returns the Deliver of a pack into a registry (mirror
// to mirror): the IDMS/ITMS unpack writes for the same images (see
// mirrorSets), named after the images planned ([section.ContentName]).
func deliverToRegistry(images []section.Image, registry string) func(context.Context, []section.Result) (*section.Delivery, error) {
	return func(ctx context.Context, results []section.Result) (*section.Delivery, error) {
		placed := make([]section.Placed, len(images))
		lines := make([]string, len(images))
		for i, img := range images {
			d, err := img.Destination.Under(registry)
			if err != nil {
				return nil, section.Classed(section.ErrUsage, err)
			}
			placed[i] = section.Placed{Source: img.Source, Dest: d.Name(), OK: results[i].Err == nil}
			lines[i] = img.Source.String() + " -> " + d.String()
		}
		rs, err := section.MirrorSets(section.ContentName(lines), placed)
		if err != nil {
			return nil, err
		}
		return &section.Delivery{Resources: rs}, nil
	}
}

// Unpack places the references of the roots left to it. Without a
// configuration every reference goes to its source repository path under
// the destination. With one (-c), each entry picks the one reference it
// names, by the rule that decided its mapping at pack
// ([imageset.Config.Match]), and goes where the entry says.
func (*Kind) Unpack(ctx context.Context, env *section.UnpackEnv) (*section.UnpackPlan, error) {
	type recorded struct {
		root format.Root
		src  imageset.Reference
	}
	var refs []recorded
	claimed := map[digest.Digest]bool{}
	for _, root := range env.Roots {
		claimed[root.Descriptor.Digest] = true
		for _, ref := range root.References {
			src, err := imageset.ParseReference(ref)
			if err != nil {
				return nil, fmt.Errorf("%w: archive root %s has reference %q: %v", section.ErrIntegrity, root.Descriptor.Digest, ref, err)
			}
			refs = append(refs, recorded{root, src})
		}
	}
	plan := &section.UnpackPlan{Claimed: claimed}
	if env.Config == nil {
		for _, rc := range refs {
			p, err := newPush(rc.root, rc.src, imageset.Reference{Repository: rc.src.Repository, Tag: rc.src.Tag}, env.Registry)
			if err != nil {
				return nil, err
			}
			plan.Pushes = append(plan.Pushes, p)
		}
		plan.Finish = mirrorSets(plan.Pushes)
		return plan, nil
	}
	in := make([]imageset.Recorded, len(refs))
	for i, rc := range refs {
		in[i] = imageset.Recorded{Ref: rc.src, Digest: rc.root.Descriptor.Digest}
	}
	picks, missing, err := env.Config.Match(others, in)
	if err != nil {
		return nil, err
	}
	if len(missing) > 0 {
		var names []string
		for _, m := range missing {
			names = append(names, m.Source.String())
		}
		return nil, fmt.Errorf("%w: the archive does not hold %d images the configuration asks for: %s", section.ErrPrerequisites, len(missing), strings.Join(names, ", "))
	}
	for _, pk := range picks {
		// The source is the entry's own (its tag, if any, decides whether
		// clusters get a tag mirror), with the root's digest.
		p, err := newPush(refs[pk.Index].root, pk.Mapping.Source, pk.Mapping.Destination, env.Registry)
		if err != nil {
			return nil, err
		}
		plan.Pushes = append(plan.Pushes, p)
	}
	plan.Finish = mirrorSets(plan.Pushes)
	return plan, nil
}

// newPush places root, read as src, at rel (a repository path and a tag, or
// none for DigestTag) under the destination registry root.
func newPush(root format.Root, src, rel imageset.Reference, registry string) (section.Push, error) {
	rel = imageset.Reference{Repository: rel.Repository, Tag: rel.Tag}
	if rel.Tag == "" {
		rel.Tag = imageset.DigestTag(root.Descriptor.Digest)
	}
	d, err := rel.Under(registry)
	if err != nil {
		return section.Push{}, section.Classed(section.ErrUsage, err)
	}
	return section.Push{Root: root, Source: src, Dest: d, Tag: rel.Tag}, nil
}

// mirrorSets returns the Finish of pushes: an ImageDigestMirrorSet (every
// image pushed, by digest) and an ImageTagMirrorSet (images pushed by tag)
// for the source -> mirror repositories ([section.MirrorSets]), named
// after the archive.
func mirrorSets(pushes []section.Push) func(context.Context, *section.FinishEnv, []section.Result) ([]clusterres.Resource, error) {
	return func(ctx context.Context, env *section.FinishEnv, results []section.Result) ([]clusterres.Resource, error) {
		placed := make([]section.Placed, len(pushes))
		for i, p := range pushes {
			placed[i] = section.Placed{Source: p.Source, Dest: p.Dest.Name(), OK: results[i].Err == nil}
		}
		return section.MirrorSets(clusterres.ArchiveName(env.ArchiveDigest), placed)
	}
}
