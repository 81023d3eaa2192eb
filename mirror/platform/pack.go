package platform

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sync/errgroup"
	"oras.land/oras-go/v2"

	"github.com/enclave-mirror/enclave/clusterres"
	"github.com/enclave-mirror/enclave/imageset"
	"github.com/enclave-mirror/enclave/mirror/section"
	"github.com/enclave-mirror/enclave/ocistore"
	"github.com/enclave-mirror/enclave/ocistore/retry"
	"github.com/enclave-mirror/enclave/release"
)

// packPlan is what Pack found: the images, the release records and their
// verified signatures, and the attachments every archive carries.
type packPlan struct {
	images     []section.Image
	attach     []section.Attachment
	graphImage *release.Image
	index      release.Index
	// sigs are the verified signatures by payload digest.
	sigs map[digest.Digest][][]byte
	// registry is the destination root of a mirror to mirror, "" into an
	// archive.
	registry string
	logf     section.Logf
}

// Pack selects the releases of mirror.platform, reads their payloads at the
// source, verifies their signatures, and returns the images to copy; its
// Deliver returns the attachments to carry (releases.json lists only the
// releases whose every image was copied) and, into a registry, the
// graph-data image.
func (k *Kind) Pack(ctx context.Context, env *section.PackEnv) (*section.PackPlan, error) {
	p := env.Config.Mirror.Platform
	if p == nil {
		return nil, nil
	}
	po := k.opts
	var prev *carried
	if po.ReleaseData != "" {
		var err error
		if prev, err = loadCarried(ctx, po.ReleaseData); err != nil {
			return nil, err
		}
	}
	var ver *release.Verifier
	if !po.SkipSignatures {
		v, err := release.VerifierFromEnv(po.ReleaseKey, po.getenv())
		if err != nil {
			return nil, fmt.Errorf("%w: mirror.platform: %v; or pass --skip-release-signatures to carry releases without signatures", errUsage, err)
		}
		ver = v
	}
	as, err := arches(p)
	if err != nil {
		return nil, err
	}
	pp := &packPlan{sigs: map[digest.Digest][][]byte{}}
	rels, err := k.selectReleases(ctx, env, p, as, prev, pp)
	if err != nil {
		return nil, err
	}
	var kubeVirt []string
	if p.KubeVirtContainer {
		kubeVirt = release.KubeVirtStreamKeys(as)
		if len(p.Platforms) > 0 {
			var names []string
			for _, f := range p.Platforms {
				names = append(names, f.Architecture)
			}
			kubeVirt = release.KubeVirtPlatformKeys(names)
		}
	}
	payloads, sigs, err := k.readPayloads(ctx, env, rels, prev, ver, kubeVirt)
	if err != nil {
		return nil, err
	}
	if err := pp.addImages(env, p, rels, payloads, sigs); err != nil {
		return nil, err
	}
	if p.Graph {
		if err := k.addGraphData(ctx, prev, pp); err != nil {
			return nil, err
		}
	}
	pp.registry = env.Registry
	pp.logf = env.Logf
	return &section.PackPlan{Images: pp.images, Deliver: pp.deliver}, nil
}

// selectReleases fetches every channel's graph per architecture (each
// carried as an attachment) and selects the releases, plus
// mirror.platform.release.
func (k *Kind) selectReleases(ctx context.Context, env *section.PackEnv, p *imageset.Platform, as []release.Arch, prev *carried, pp *packPlan) ([]release.Release, error) {
	f := &graphFetcher{opts: k.opts, prev: prev, clients: map[release.Product]*release.GraphClient{}}
	var cgs []release.ChannelGraph
	attached := map[string]bool{}
	for _, ch := range p.Channels {
		for _, a := range as {
			g, err := f.graph(ctx, ch, a)
			if err != nil {
				return nil, fmt.Errorf("mirror.platform channel %s (%s): %w", ch.Name, a, err)
			}
			name := release.GraphAttachment(product(ch), ch.Name, a)
			if !attached[name] {
				attached[name] = true
				pp.attach = append(pp.attach, section.Attachment{Name: name, MediaType: release.MediaTypeGraph, Data: g.Raw})
			}
			cgs = append(cgs, release.ChannelGraph{Spec: channelSpec(ch), Arch: a, Graph: g})
		}
	}
	var rels []release.Release
	if len(cgs) > 0 {
		var err error
		if rels, err = release.Select(cgs); err != nil {
			return nil, section.Classed(errUsage, err)
		}
	}
	if p.Release != "" {
		r, err := resolveRelease(ctx, env.Source, p.Release, as[0])
		if err != nil {
			return nil, fmt.Errorf("mirror.platform.release %s: %w", p.Release, err)
		}
		if !slices.ContainsFunc(rels, func(x release.Release) bool { return x.Digest == r.Digest }) {
			rels = append(rels, r)
		}
	}
	return rels, nil
}

// readPayloads reads each release's payload and, with a verifier, its
// signatures, a few releases at a time.
// With kubeVirt (boot-image stream keys) each payload's components also
// get the KubeVirt container images its boot-image metadata names.
func (k *Kind) readPayloads(ctx context.Context, env *section.PackEnv, rels []release.Release, prev *carried, ver *release.Verifier, kubeVirt []string) ([]*release.Payload, [][][]byte, error) {
	po := k.opts
	var sc *release.SignatureClient
	if ver != nil && prev == nil {
		sopts := []release.SignatureOption{release.WithSignatureGetenv(po.getenv())}
		if po.SignatureURL != "" {
			sopts = append(sopts, release.WithSignatureURL(po.SignatureURL))
		}
		if po.HTTPClient != nil {
			sopts = append(sopts, release.WithSignatureHTTPClient(po.HTTPClient))
		}
		var err error
		if sc, err = release.NewSignatureClient(sopts...); err != nil {
			return nil, nil, section.Classed(errUsage, err)
		}
	}
	payloads := make([]*release.Payload, len(rels))
	sigs := make([][][]byte, len(rels))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(env.Parallel, 1))
	for i, r := range rels {
		g.Go(func() error {
			pl, err := readRelease(gctx, env.Source, r, kubeVirt != nil)
			if err != nil {
				return fmt.Errorf("release %s (%s) %s: %w", r.Version, r.Arch, r.Payload, err)
			}
			if kubeVirt != nil {
				kv, err := release.KubeVirtComponents(pl.BootImages, kubeVirt)
				if err != nil {
					return fmt.Errorf("release %s (%s): mirror.platform.kubeVirtContainer: %w", r.Version, r.Arch, err)
				}
				pl.Components = append(pl.Components, kv...)
			}
			payloads[i] = pl
			if ver == nil {
				return nil
			}
			s, err := releaseSignatures(gctx, sc, prev, ver, r)
			if err != nil {
				return fmt.Errorf("release %s (%s): %w", r.Version, r.Arch, err)
			}
			sigs[i] = s
			env.Logf("release %s (%s): %d components, %d verified signatures", r.Version, r.Arch, len(pl.Components), len(s))
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, nil, err
	}
	return payloads, sigs, nil
}

// addImages plans the payload and every component of each release. Into an
// archive a source is copied once (unpack names destinations from
// releases.json); into a registry every destination tag is its own image.
func (pp *packPlan) addImages(env *section.PackEnv, p *imageset.Platform, rels []release.Release, payloads []*release.Payload, sigs [][][]byte) error {
	seen := map[string]bool{}
	add := func(src imageset.Reference, dst imageset.Reference) {
		key := src.String()
		if !env.IntoArchive {
			key += " " + dst.String()
		}
		if seen[key] {
			return
		}
		seen[key] = true
		// platforms: every image of the release is copied sparse, as
		// oc-mirror filters them all (the graph-data image is not one).
		pp.images = append(pp.images, section.Image{Mapping: imageset.Mapping{Kind: imageset.KindRelease, Source: src, Destination: dst, Platforms: p.Platforms, Line: p.Line}})
	}
	for i, r := range rels {
		pl := payloads[i]
		tag, err := release.PayloadTag(r.Version, r.Arch)
		if err != nil {
			return err
		}
		src, err := imageset.ParseReference(r.Payload)
		if err != nil {
			return fmt.Errorf("release %s: %w", r.Version, err)
		}
		add(src, imageset.Reference{Repository: release.ReleaseImagesRepo, Tag: tag, Digest: r.Digest})
		rec := release.IndexRecord{Version: r.Version.String(), Arch: r.Arch, Payload: r.Payload, Channels: r.Channels}
		for _, c := range pl.Components {
			ctag, err := release.ComponentTag(r.Version, r.Arch, c.Name)
			if err != nil {
				return fmt.Errorf("release %s: %w", r.Version, err)
			}
			csrc, err := imageset.ParseReference(c.Image)
			if err != nil {
				return fmt.Errorf("release %s: component %s: %w", r.Version, c.Name, err)
			}
			add(csrc, imageset.Reference{Repository: release.ComponentsRepo, Tag: ctag, Digest: c.Digest})
			rec.Components = append(rec.Components, release.ComponentRecord{Name: c.Name, Image: c.Image})
		}
		pp.index.Releases = append(pp.index.Releases, rec)
		pp.sigs[r.Digest] = sigs[i]
	}
	return nil
}

// addGraphData takes the graph-data tarball (from the previous stage's
// archive inside an air gap) and builds the graph-data image.
func (k *Kind) addGraphData(ctx context.Context, prev *carried, pp *packPlan) error {
	var tarball []byte
	if prev != nil {
		if prev.graphData == nil {
			return fmt.Errorf("%w: graph: true, and release data %s carries no %s", errPrerequisites, prev.dir, release.AttachGraphData)
		}
		tarball = prev.graphData
	} else {
		var err error
		if tarball, err = fetchGraphData(ctx, k.opts); err != nil {
			return err
		}
	}
	img, err := release.BuildGraphDataImage(bytes.NewReader(tarball), release.GraphDataImageOptions{})
	if err != nil {
		return fmt.Errorf("graph data: %w", err)
	}
	pp.graphImage = img
	pp.attach = append(pp.attach, section.Attachment{Name: release.AttachGraphData, MediaType: release.MediaTypeGraphData, Data: tarball})
	return nil
}

// resolveRelease turns mirror.platform.release into a Release by reading
// its payload's metadata.
func resolveRelease(ctx context.Context, client *ocistore.Client, raw string, arch release.Arch) (release.Release, error) {
	ref, err := ocistore.ParseReference(raw)
	if err != nil {
		return release.Release{}, err
	}
	src, err := client.Source(ctx, ref)
	if err != nil {
		return release.Release{}, err
	}
	desc, err := src.Resolve(ctx, ref.Object())
	if err != nil {
		return release.Release{}, fmt.Errorf("resolve: %w", err)
	}
	if ref.Digest != "" && desc.Digest != ref.Digest {
		return release.Release{}, fmt.Errorf("%w: %s resolved to %s", errIntegrity, ref, desc.Digest)
	}
	pl, err := release.ReadPayload(ctx, src, desc, release.ReadOptions{Arch: arch})
	if err != nil {
		return release.Release{}, err
	}
	pinned := ref.Name() + "@" + desc.Digest.String()
	return release.Release{Version: pl.Version, Payload: pinned, Digest: desc.Digest, Arch: arch}, nil
}

// readRelease resolves a payload at its source and reads its components
// (and, with bootImages, its boot-image metadata).
func readRelease(ctx context.Context, client *ocistore.Client, r release.Release, bootImages bool) (*release.Payload, error) {
	ref, err := ocistore.ParseReference(r.Payload)
	if err != nil {
		return nil, err
	}
	src, err := client.Source(ctx, ref)
	if err != nil {
		return nil, err
	}
	desc, err := src.Resolve(ctx, ref.Object())
	if err != nil {
		return nil, fmt.Errorf("resolve: %w", err)
	}
	if desc.Digest != r.Digest {
		return nil, fmt.Errorf("%w: resolved to %s", errIntegrity, desc.Digest)
	}
	return release.ReadPayload(ctx, src, desc, release.ReadOptions{Arch: r.Arch, ExpectVersion: r.Version.String(), BootImages: bootImages})
}

// releaseSignatures returns the signatures of r that verify: from the
// previous stage's archive when one is given (never the network), else from
// the signature server. None verifying is an error.
func releaseSignatures(ctx context.Context, sc *release.SignatureClient, prev *carried, ver *release.Verifier, r release.Release) ([][]byte, error) {
	var raw [][]byte
	if prev != nil {
		for _, s := range prev.sigs[r.Digest] {
			raw = append(raw, s.Data)
		}
		if len(raw) == 0 {
			return nil, fmt.Errorf("%w: release data %s carries no signature for %s", errPrerequisites, prev.dir, r.Digest)
		}
	} else {
		var err error
		if raw, err = sc.Fetch(ctx, r.Digest); err != nil {
			return nil, err
		}
	}
	var good [][]byte
	var firstErr error
	for _, s := range raw {
		if _, err := ver.Verify(s, r.Digest); err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		good = append(good, s)
	}
	if len(good) == 0 {
		return nil, fmt.Errorf("%w: none of %d signatures of %s verifies against %s: %v (name the key that signs these releases with --release-key or %s)",
			errIntegrity, len(raw), r.Digest, ver.Source(), firstErr, release.EnvSignatureKey)
	}
	return good, nil
}

// fetchGraphData downloads the graph-data tarball, bounded.
func fetchGraphData(ctx context.Context, po Options) ([]byte, error) {
	u := po.GraphDataURL
	if u == "" {
		u = release.GraphDataURL
	}
	c := retry.NewClient(po.HTTPClient, retry.Options{}) // the registry's retry policy
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	u = retry.RedactString(u) // as every message prints it
	if err != nil {
		return nil, fmt.Errorf("%w: --graph-data-url %q: %v", errUsage, u, retry.RedactError(err))
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("graph data %s: %w", u, retry.RedactError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("graph data %s: HTTP %s", u, resp.Status)
	}
	const limit = release.DefaultMaxGraphDataBytes
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("graph data %s: %w", u, retry.RedactError(err))
	}
	if len(data) > limit {
		return nil, fmt.Errorf("graph data %s: over %d bytes", u, limit)
	}
	return data, nil
}

// deliver returns what is not an image: the attachments for an archive,
// the graph-data image for a registry. A release with an image that failed
// is left out of releases.json (and its signatures out of the archive), so
// the archive stays unpackable.
func (pp *packPlan) deliver(ctx context.Context, results []section.Result) (*section.Delivery, error) {
	failed := map[string]bool{}
	for _, im := range results {
		if im.Err != nil {
			failed[im.Source] = true
		}
	}
	isFailed := func(ref string) bool {
		r, err := imageset.ParseReference(ref)
		return err != nil || failed[r.String()]
	}
	var idx release.Index
	attach := slices.Clone(pp.attach)
	for _, rec := range pp.index.Releases {
		ok := !isFailed(rec.Payload)
		for _, c := range rec.Components {
			ok = ok && !isFailed(c.Image)
		}
		if !ok {
			continue
		}
		idx.Releases = append(idx.Releases, rec)
		d, _ := release.DigestOf(rec.Payload)
		for n, s := range pp.sigs[d] {
			attach = append(attach, section.Attachment{Name: release.SignatureAttachment(d, n+1), MediaType: release.MediaTypeSignature, Data: s})
		}
	}
	data, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return nil, err
	}
	attach = append(attach, section.Attachment{Name: release.AttachReleases, MediaType: release.MediaTypeReleases, Data: data})
	d := &section.Delivery{Attachments: attach}
	if pp.graphImage != nil {
		img := pp.graphImage
		d.Images = append(d.Images, section.BuiltImage{Repository: release.GraphImageRepo, Tag: release.GraphImageTag,
			Push: func(ctx context.Context, dst oras.Target, tag string) error { return img.Push(ctx, dst, tag) }})
	}
	if pp.registry != "" {
		rs, err := pp.resources(isFailed)
		if err != nil {
			return nil, err
		}
		d.Resources = rs
	}
	return d, nil
}

// resources returns, for a pack into a registry (mirror to mirror), the
// cluster resources an unpack of the same releases writes: the IDMS and
// the signature ConfigMap of the releases whose every image was copied
// (see releaseResources) and, with graph: true, the UpdateService serving
// the graph-data image this run pushes. They are named after the images
// planned ([section.ContentName]).
func (pp *packPlan) resources(failed func(ref string) bool) ([]clusterres.Resource, error) {
	lines := make([]string, len(pp.images))
	for i, img := range pp.images {
		lines[i] = img.Source.String() + " -> " + release.Join(pp.registry, img.Destination.String())
	}
	rels := make([]placedRelease, len(pp.index.Releases))
	for i, rec := range pp.index.Releases {
		d, _ := release.DigestOf(rec.Payload)
		var sigs []release.ReleaseSignature
		for n, s := range pp.sigs[d] {
			sigs = append(sigs, release.ReleaseSignature{Digest: d, Index: n + 1, Data: s})
		}
		rels[i] = placedRelease{rec: rec, sigs: sigs, failed: failed}
	}
	logf := pp.logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	rs, err := releaseResources(section.ContentName(lines), pp.registry, rels, logf)
	if err != nil || len(rs) == 0 || pp.graphImage == nil {
		return rs, err
	}
	us, err := updateService(pp.registry, pp.graphImage.Manifest.Digest)
	if err != nil {
		return nil, err
	}
	return append(rs, us), nil
}
