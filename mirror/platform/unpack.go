package platform

import (
	"bytes"
	"context"
	"fmt"

	"github.com/opencontainers/go-digest"
	"go.yaml.in/yaml/v3"

	"github.com/enclave-mirror/enclave/clusterres"
	"github.com/enclave-mirror/enclave/format"
	"github.com/enclave-mirror/enclave/imageset"
	"github.com/enclave-mirror/enclave/mirror/section"
	"github.com/enclave-mirror/enclave/ocistore"
	"github.com/enclave-mirror/enclave/release"
)

// unpackPlan is the release content of an archive, resolved for one
// unpack.
type unpackPlan struct {
	carried *carried
	// selected are the releases pushed.
	selected []release.IndexRecord
}

// Unpack claims every root releases.json names and says where each
// selected release goes. Without -c every release is selected; with -c, the
// releases its mirror.platform selects from the carried graphs (none
// without a platform section).
func (k *Kind) Unpack(ctx context.Context, env *section.UnpackEnv) (*section.UnpackPlan, error) {
	c, err := readCarried(ctx, env.Archive)
	if err != nil {
		return nil, err
	}
	if c.index == nil {
		return nil, nil
	}
	plan := &section.UnpackPlan{Claimed: map[digest.Digest]bool{}}
	for _, rec := range c.index.Releases {
		d, err := release.DigestOf(rec.Payload)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", errIntegrity, release.AttachReleases, err)
		}
		plan.Claimed[d] = true
		for _, comp := range rec.Components {
			cd, err := release.DigestOf(comp.Image)
			if err != nil {
				return nil, fmt.Errorf("%w: %s: %v", errIntegrity, release.AttachReleases, err)
			}
			plan.Claimed[cd] = true
		}
	}
	want, err := selectCarried(c, env.Config)
	if err != nil {
		return nil, err
	}
	up := &unpackPlan{carried: c}
	if plan.Pushes, err = up.pushes(env, want); err != nil {
		return nil, err
	}
	plan.Finish = up.finish
	return plan, nil
}

// pushes places the payload and components of every release in want (all
// for a nil want) and records the releases selected.
func (up *unpackPlan) pushes(env *section.UnpackEnv, want map[digest.Digest]bool) ([]section.Push, error) {
	roots := map[digest.Digest]format.Root{}
	for _, root := range env.Roots {
		roots[root.Descriptor.Digest] = root
	}
	var out []section.Push
	found := map[digest.Digest]bool{}
	seen := map[string]bool{}
	add := func(image, repo, tag string) error {
		dg, _ := release.DigestOf(image)
		root, ok := roots[dg]
		if !ok {
			return fmt.Errorf("%w: %s lists %s, which is not a root of the archive", errIntegrity, release.AttachReleases, image)
		}
		dst := release.Join(env.Registry, repo) + ":" + tag
		if seen[dst] {
			return nil
		}
		seen[dst] = true
		src, err := imageset.ParseReference(image)
		if err != nil {
			return fmt.Errorf("%w: %s: %v", errIntegrity, release.AttachReleases, err)
		}
		dref, err := ocistore.ParseReference(dst)
		if err != nil {
			return section.Classed(errUsage, err)
		}
		out = append(out, section.Push{Root: root, Source: src, Dest: dref, Tag: tag})
		return nil
	}
	for _, rec := range up.carried.index.Releases {
		d, _ := release.DigestOf(rec.Payload)
		if want != nil && !want[d] {
			continue
		}
		found[d] = true
		v, err := release.ParseVersion(rec.Version)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", errIntegrity, release.AttachReleases, err)
		}
		tag, err := release.PayloadTag(v, rec.Arch)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", errIntegrity, release.AttachReleases, err)
		}
		if err := add(rec.Payload, release.ReleaseImagesRepo, tag); err != nil {
			return nil, err
		}
		for _, comp := range rec.Components {
			ctag, err := release.ComponentTag(v, rec.Arch, comp.Name)
			if err != nil {
				return nil, fmt.Errorf("%w: %s: %v", errIntegrity, release.AttachReleases, err)
			}
			if err := add(comp.Image, release.ComponentsRepo, ctag); err != nil {
				return nil, err
			}
		}
		up.selected = append(up.selected, rec)
	}
	for d := range want {
		if !found[d] {
			return nil, fmt.Errorf("%w: the configuration selects release %s, which the archive does not hold", errPrerequisites, d)
		}
	}
	return out, nil
}

// selectCarried returns the payload digests cfg selects from the carried
// graphs, or nil for "every release" (no configuration).
func selectCarried(c *carried, cfg *imageset.Config) (map[digest.Digest]bool, error) {
	if cfg == nil {
		return nil, nil
	}
	want := map[digest.Digest]bool{}
	p := cfg.Mirror.Platform
	if p == nil {
		return want, nil
	}
	as, err := arches(p)
	if err != nil {
		return nil, err
	}
	var cgs []release.ChannelGraph
	for _, ch := range p.Channels {
		for _, a := range as {
			name := release.GraphAttachment(product(ch), ch.Name, a)
			raw, ok := c.graphs[name]
			if !ok {
				return nil, fmt.Errorf("%w: the configuration names channel %s (%s), and the archive carries no graph %s", errPrerequisites, ch.Name, a, name)
			}
			g, err := release.ParseGraph(raw)
			if err != nil {
				return nil, fmt.Errorf("%w: %s: %v", errIntegrity, name, err)
			}
			cgs = append(cgs, release.ChannelGraph{Spec: channelSpec(ch), Arch: a, Graph: g})
		}
	}
	if len(cgs) > 0 {
		rels, err := release.Select(cgs)
		if err != nil {
			return nil, section.Classed(errUsage, err)
		}
		for _, r := range rels {
			want[r.Digest] = true
		}
	}
	if p.Release != "" {
		ref, err := imageset.ParseReference(p.Release)
		if err != nil {
			return nil, section.Classed(errUsage, err)
		}
		matched := false
		for _, rec := range c.index.Releases {
			if rr, err := imageset.ParseReference(rec.Payload); err == nil && rr.Name() == ref.Name() && (ref.Digest == "" || rr.Digest == ref.Digest) {
				want[rr.Digest], matched = true, true
			}
		}
		if !matched {
			return nil, fmt.Errorf("%w: the archive does not hold mirror.platform.release %s", errPrerequisites, p.Release)
		}
	}
	return want, nil
}

// finish returns the cluster resources of the releases whose payload and
// components all reached the destination: an ImageDigestMirrorSet, the
// signature ConfigMap and, with graph data, an UpdateService (after pushing
// the graph-data image).
func (up *unpackPlan) finish(ctx context.Context, env *section.FinishEnv, results []section.Result) ([]clusterres.Resource, error) {
	if len(up.selected) == 0 {
		return nil, nil
	}
	failed := map[digest.Digest]bool{}
	for _, r := range results {
		if r.Err != nil {
			failed[r.Digest] = true
		}
	}
	rels := make([]placedRelease, len(up.selected))
	for i, rec := range up.selected {
		d, _ := release.DigestOf(rec.Payload)
		rels[i] = placedRelease{rec: rec, sigs: up.carried.sigs[d], failed: func(ref string) bool {
			dg, _ := release.DigestOf(ref)
			return failed[dg]
		}}
	}
	resources, err := releaseResources(clusterres.ArchiveName(env.ArchiveDigest), env.Registry, rels, env.Logf)
	if err != nil || len(resources) == 0 {
		return nil, err
	}
	if up.carried.graphData != nil {
		r, err := up.graphDataImage(ctx, env)
		if err != nil {
			return nil, err
		}
		resources = append(resources, r)
	}
	return resources, nil
}

// placedRelease is a release copied or pushed to the destination: its
// record, its verified signatures, and which of its images (by reference,
// as the record names them) did not arrive.
type placedRelease struct {
	rec    release.IndexRecord
	sigs   []release.ReleaseSignature
	failed func(ref string) bool
}

// releaseResources returns, for the releases whose payload and components
// all arrived at registry, the ImageDigestMirrorSet (name-release) and the
// signature ConfigMap (name-release-signatures, when they have
// signatures), as unpack and a mirror to mirror write them. A release with
// an image missing is left out, said through logf. None arrived: none.
func releaseResources(name, registry string, rels []placedRelease, logf section.Logf) ([]clusterres.Resource, error) {
	var payloads []string
	var comps []release.Component
	var sigs []release.ReleaseSignature
	for _, r := range rels {
		ok := !r.failed(r.rec.Payload)
		var cs []release.Component
		for _, c := range r.rec.Components {
			cd, _ := release.DigestOf(c.Image)
			ok = ok && !r.failed(c.Image)
			cs = append(cs, release.Component{Name: c.Name, Image: c.Image, Digest: cd})
		}
		if !ok {
			logf("release %s (%s) is incomplete at the destination: left out of the cluster resources", r.rec.Version, r.rec.Arch)
			continue
		}
		payloads = append(payloads, r.rec.Payload)
		comps = append(comps, cs...)
		sigs = append(sigs, r.sigs...)
	}
	if len(payloads) == 0 {
		return nil, nil
	}
	pairs, err := release.ReleaseMirrors(registry, payloads, comps)
	if err != nil {
		return nil, err
	}
	mirrors := make([]clusterres.Mirror, 0, len(pairs))
	for _, p := range pairs {
		mirrors = append(mirrors, clusterres.Mirror{Source: p.Source, Mirror: p.Mirror})
	}
	idms, err := clusterres.ImageDigestMirrorSet(name+"-release", mirrors)
	if err != nil {
		return nil, err
	}
	resources := []clusterres.Resource{idms}
	if len(sigs) > 0 {
		y, err := release.SignatureConfigMapYAML(name+"-release-signatures", sigs)
		if err != nil {
			return nil, err
		}
		r, err := yamlResource("ConfigMap", name+"-release-signatures", release.SignatureConfigMapNamespace, y)
		if err != nil {
			return nil, err
		}
		resources = append(resources, r)
	} else {
		logf("no release signatures (packed with --skip-release-signatures): no signature ConfigMap written")
	}
	return resources, nil
}

// updateService returns the UpdateService that serves the graph-data image
// graphImage (by digest, in registry) for the releases at registry.
func updateService(registry string, graphImage digest.Digest) (clusterres.Resource, error) {
	y, err := release.UpdateServiceYAML(release.UpdateServiceOptions{
		GraphDataImage: release.Join(registry, release.GraphImageRepo) + "@" + graphImage.String(),
		Releases:       release.Join(registry, release.ReleaseImagesRepo),
	})
	if err != nil {
		return clusterres.Resource{}, err
	}
	return yamlResource("UpdateService", release.UpdateServiceName, release.UpdateServiceNamespace, y)
}

// graphDataImage pushes the graph-data image built from the carried tarball
// and returns the UpdateService that serves it.
func (up *unpackPlan) graphDataImage(ctx context.Context, env *section.FinishEnv) (clusterres.Resource, error) {
	img, err := release.BuildGraphDataImage(bytes.NewReader(up.carried.graphData), release.GraphDataImageOptions{})
	if err != nil {
		return clusterres.Resource{}, fmt.Errorf("%w: %s: %v", errIntegrity, release.AttachGraphData, err)
	}
	ref, err := ocistore.ParseReference(release.Join(env.Registry, release.GraphImageRepo) + ":" + release.GraphImageTag)
	if err != nil {
		return clusterres.Resource{}, section.Classed(errUsage, err)
	}
	repo, err := env.Repository(ctx, ref.Repository)
	if err != nil {
		return clusterres.Resource{}, err
	}
	if err := img.Push(ctx, repo, release.GraphImageTag); err != nil {
		return clusterres.Resource{}, fmt.Errorf("graph-data image: %w", err)
	}
	return updateService(env.Registry, img.Manifest.Digest)
}

// yamlResource wraps a rendered YAML document as a clusterres.Resource, so
// it is written like every other cluster resource (atomically, named by
// kind, namespace and name).
func yamlResource(kind, name, namespace string, doc []byte) (clusterres.Resource, error) {
	var n yaml.Node
	if err := yaml.Unmarshal(doc, &n); err != nil {
		return clusterres.Resource{}, fmt.Errorf("%s %s: %w", kind, name, err)
	}
	return clusterres.Resource{Kind: kind, Name: name, Namespace: namespace, Object: &n}, nil
}
