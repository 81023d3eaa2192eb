package mirror

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"
	"go.yaml.in/yaml/v3"
	"golang.org/x/sync/errgroup"

	"github.com/enclave-mirror/enclave/archive"
	"github.com/enclave-mirror/enclave/clusterres"
	"github.com/enclave-mirror/enclave/imageset"
	"github.com/enclave-mirror/enclave/ocistore"
	"github.com/enclave-mirror/enclave/ocistore/retry"
	"github.com/enclave-mirror/enclave/release"
)

// This file builds mirror.platform (OpenShift and OKD releases) into Pack
// and Unpack.
//
// Pack fetches each channel's update graph per architecture, selects the
// releases, reads every payload at its source (through the same registry
// client as every other image, so registries.conf mirrors apply), and plans
// the payload and each component as ordinary images. Release data that is
// not OCI content travels as archive attachments:
//
//	releases.json                         the releases packed and their components
//	graph/<channel>/<arch>.json           each update graph, verbatim (OKD: graph/okd/...)
//	signatures/sha256=<hex>/signature-<n> each verified payload signature
//	graph-data.tar.gz                     the graph-data tarball (graph: true)
//
// Inside an air gap nothing is fetched from the internet: with
// PlatformOptions.ReleaseData naming the archive the previous stage
// delivered, signatures and graph data come only from its attachments (a
// missing one is an error, never a download), and so do update graphs unless
// an update service is named (--update-url or UPDATE_URL_OVERRIDE).
//
// Unpack pushes payloads to <dest>/openshift/release-images:<version>-<arch>
// and components to <dest>/openshift/release:<version>-<arch>-<name> (as
// oc-mirror v2 does), then writes an ImageDigestMirrorSet for them, the
// signature ConfigMap, and, when graph data is carried, the graph-data image
// and an UpdateService.

// Attachment names and media types of release data.
const (
	// AttachReleases lists the releases an archive holds (releaseIndex).
	AttachReleases = "releases.json"
	// AttachGraphData is the graph-data tarball (tar.gz).
	AttachGraphData = "graph-data.tar.gz"

	mediaTypeReleases  = "application/vnd.enclave.releases.v1+json"
	mediaTypeGraph     = "application/json"
	mediaTypeSignature = "application/pgp-signature"
	mediaTypeGraphData = "application/gzip"

	// maxReleaseIndexBytes bounds releases.json read back from an archive
	// (~20 KiB per release with 190 components).
	maxReleaseIndexBytes = 64 << 20
)

// GraphAttachment is the attachment name of an update graph.
func GraphAttachment(product release.Product, channel string, arch release.Arch) string {
	if product == release.ProductOKD {
		return "graph/okd/" + channel + "/" + string(arch) + ".json"
	}
	return "graph/" + channel + "/" + string(arch) + ".json"
}

// SignatureAttachment is the attachment name of signature n (1-based) of
// payload d: the path mirror.openshift.com serves it under.
func SignatureAttachment(d digest.Digest, n int) string {
	return fmt.Sprintf("signatures/sha256=%s/signature-%d", d.Encoded(), n)
}

var signatureNameRE = regexp.MustCompile(`^signatures/sha256=([a-f0-9]{64})/signature-([1-9][0-9]{0,3})$`)

// PlatformOptions configure mirror.platform for Pack. The zero value uses
// the environment and the public endpoints, and requires a release key.
type PlatformOptions struct {
	// UpdateURL is the update graph API; default UPDATE_URL_OVERRIDE, then
	// the product's public endpoint.
	UpdateURL string
	// SignatureURL is the base URL of release signatures; default
	// OCP_SIGNATURE_URL, then mirror.openshift.com.
	SignatureURL string
	// GraphDataURL serves the graph-data tarball; default
	// release.GraphDataURL.
	GraphDataURL string
	// ReleaseKey is an armored OpenPGP public key file that release
	// signatures must verify against; default OCP_SIGNATURE_VERIFICATION_PK.
	// With neither, Pack refuses mirror.platform unless SkipSignatures is set.
	ReleaseKey string
	// SkipSignatures carries releases without signatures (so no signature
	// ConfigMap is written at unpack; clusters then cannot verify the
	// mirrored payloads without another source).
	SkipSignatures bool
	// ReleaseData is the directory of an archive a previous stage delivered
	// (enclave workflow). Signatures and graph data then come only from its
	// attachments; update graphs too, unless UpdateURL or
	// UPDATE_URL_OVERRIDE names an update service.
	ReleaseData string
	// HTTPClient is used for the update graph, signatures and graph data
	// (nil: the default transport).
	HTTPClient *http.Client
	// Getenv replaces os.Getenv (tests, embedding).
	Getenv func(string) string
}

func (o PlatformOptions) getenv() func(string) string {
	if o.Getenv != nil {
		return o.Getenv
	}
	return os.Getenv
}

// releaseIndex is releases.json.
type releaseIndex struct {
	Releases []releaseRecord `json:"releases"`
}

type releaseRecord struct {
	Version    string            `json:"version"`
	Arch       release.Arch      `json:"arch"`
	Payload    string            `json:"payload"`
	Channels   []string          `json:"channels,omitempty"`
	Components []componentRecord `json:"components"`
}

type componentRecord struct {
	Name  string `json:"name"`
	Image string `json:"image"`
}

type attachment struct {
	name, mediaType string
	data            []byte
}

// platformPlan is what planPlatform found for Pack.
type platformPlan struct {
	mappings   []imageset.Mapping
	attach     []attachment
	graphImage *release.Image
	index      releaseIndex
	// sigs are the verified signatures by payload digest.
	sigs map[digest.Digest][][]byte
}

// carried is the release data an archive carries.
type carried struct {
	dir       string
	graphs    map[string][]byte
	sigs      map[digest.Digest][]release.ReleaseSignature
	graphData []byte
	index     *releaseIndex
}

// readCarried reads the release attachments of r, each bounded (and all
// together: archive.AttachmentLimits) and verified against its digest.
func readCarried(ctx context.Context, r *archive.Reader) (*carried, error) {
	c := &carried{dir: r.Dir(), graphs: map[string][]byte{}, sigs: map[digest.Digest][]release.ReleaseSignature{}}
	atts, err := r.Attachments(archive.AttachmentLimits{})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrIntegrity, err)
	}
	for _, a := range r.Manifest().Attachments {
		var limit int64
		m := signatureNameRE.FindStringSubmatch(a.Name)
		switch {
		case a.Name == AttachReleases:
			limit = maxReleaseIndexBytes
		case a.Name == AttachGraphData:
			limit = release.DefaultMaxGraphDataBytes
		case strings.HasPrefix(a.Name, "graph/") && strings.HasSuffix(a.Name, ".json"):
			limit = release.DefaultMaxGraphBytes
		case m != nil:
			limit = release.DefaultMaxSignatureBytes
		default:
			continue // not release data
		}
		data, err := atts.Read(ctx, a, limit)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrIntegrity, err)
		}
		switch {
		case a.Name == AttachReleases:
			var idx releaseIndex
			if err := json.Unmarshal(data, &idx); err != nil {
				return nil, fmt.Errorf("%w: attachment %s: %v", ErrIntegrity, a.Name, err)
			}
			c.index = &idx
		case a.Name == AttachGraphData:
			c.graphData = data
		case m != nil:
			d := digest.NewDigestFromEncoded(digest.SHA256, m[1])
			n, _ := strconv.Atoi(m[2])
			c.sigs[d] = append(c.sigs[d], release.ReleaseSignature{Digest: d, Index: n, Data: data})
		default:
			c.graphs[a.Name] = data
		}
	}
	for _, s := range c.sigs {
		slices.SortFunc(s, func(a, b release.ReleaseSignature) int { return a.Index - b.Index })
	}
	return c, nil
}

func loadCarried(ctx context.Context, dir string) (*carried, error) {
	r, err := archive.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: release data %s: %v", ErrIntegrity, dir, err)
	}
	defer r.Close()
	return readCarried(ctx, r)
}

func platformArches(p *imageset.Platform) ([]release.Arch, error) {
	names := p.Architectures
	if len(names) == 0 {
		names = []string{string(release.ArchAMD64)}
	}
	out := make([]release.Arch, 0, len(names))
	for _, n := range names {
		a, err := release.ParseArch(n)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrUsage, err)
		}
		out = append(out, a)
	}
	return out, nil
}

func channelSpec(ch imageset.ReleaseChannel) release.ChannelSpec {
	s := release.ChannelSpec{Name: ch.Name, Type: release.Product(ch.Type), ShortestPath: ch.ShortestPath, Full: ch.Full}
	if ch.MinVersion != nil {
		s.MinVersion = ch.MinVersion.String()
	}
	if ch.MaxVersion != nil {
		s.MaxVersion = ch.MaxVersion.String()
	}
	return s
}

func product(ch imageset.ReleaseChannel) release.Product {
	if ch.Type == imageset.ChannelTypeOKD {
		return release.ProductOKD
	}
	return release.ProductOCP
}

// graphFetcher answers update graphs from an update service or, inside an
// air gap without one, from the graphs a previous archive carries.
type graphFetcher struct {
	opts    PlatformOptions
	prev    *carried
	clients map[release.Product]*release.GraphClient
}

func (f *graphFetcher) graph(ctx context.Context, ch imageset.ReleaseChannel, arch release.Arch) (*release.Graph, error) {
	prod := product(ch)
	getenv := f.opts.getenv()
	if f.prev != nil && f.opts.UpdateURL == "" && getenv(release.EnvUpdateURL) == "" {
		name := GraphAttachment(prod, ch.Name, arch)
		raw, ok := f.prev.graphs[name]
		if !ok {
			return nil, fmt.Errorf("%w: release data %s carries no update graph %s; name an update service with --update-url or %s",
				ErrPrerequisites, f.prev.dir, name, release.EnvUpdateURL)
		}
		g, err := release.ParseGraph(raw)
		if err != nil {
			return nil, fmt.Errorf("%w: release data %s: %s: %v", ErrIntegrity, f.prev.dir, name, err)
		}
		return g, nil
	}
	c, ok := f.clients[prod]
	if !ok {
		opts := []release.GraphOption{release.WithGetenv(getenv)}
		if f.opts.UpdateURL != "" {
			opts = append(opts, release.WithUpdateURL(f.opts.UpdateURL))
		}
		if f.opts.HTTPClient != nil {
			opts = append(opts, release.WithGraphHTTPClient(f.opts.HTTPClient))
		}
		var err error
		if c, err = release.NewGraphClient(prod, opts...); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrUsage, err)
		}
		f.clients[prod] = c
	}
	return c.Graph(ctx, ch.Name, arch)
}

// ListReleases fetches one channel's graph and returns its versions in
// ascending order with the index of the channel head (for
// `enclave-pack list releases`).
func ListReleases(ctx context.Context, opts PlatformOptions, channel string, typ string, arch string) ([]release.Version, int, error) {
	a, err := release.ParseArch(arch)
	if err != nil {
		return nil, -1, fmt.Errorf("%w: %v", ErrUsage, err)
	}
	if typ != "" && typ != imageset.ChannelTypeOCP && typ != imageset.ChannelTypeOKD {
		return nil, -1, fmt.Errorf("%w: --type %q: want ocp or okd", ErrUsage, typ)
	}
	f := &graphFetcher{opts: opts, clients: map[release.Product]*release.GraphClient{}}
	if opts.ReleaseData != "" {
		if f.prev, err = loadCarried(ctx, opts.ReleaseData); err != nil {
			return nil, -1, err
		}
	}
	g, err := f.graph(ctx, imageset.ReleaseChannel{Name: channel, Type: typ}, a)
	if err != nil {
		return nil, -1, err
	}
	vs := make([]release.Version, 0, len(g.Nodes))
	for _, n := range g.Nodes {
		vs = append(vs, n.Version)
	}
	slices.SortFunc(vs, func(a, b release.Version) int { return a.Compare(b) })
	head := -1
	if h := g.Head(); h >= 0 {
		hv := g.Nodes[h].Version
		head = slices.IndexFunc(vs, func(v release.Version) bool { return v.Compare(hv) == 0 && v.Build == hv.Build })
	}
	return vs, head, nil
}

// planPlatform selects the releases of mirror.platform, reads their
// payloads at the source, verifies their signatures, and returns the images
// to copy and the attachments to carry.
func planPlatform(ctx context.Context, opts PackOptions, client *ocistore.Client) (*platformPlan, error) {
	p := opts.Config.Mirror.Platform
	po := opts.Platform
	getenv := po.getenv()
	pp := &platformPlan{sigs: map[digest.Digest][][]byte{}}

	var prev *carried
	if po.ReleaseData != "" {
		var err error
		if prev, err = loadCarried(ctx, po.ReleaseData); err != nil {
			return nil, err
		}
	}
	var ver *release.Verifier
	if !po.SkipSignatures {
		v, err := release.VerifierFromEnv(po.ReleaseKey, getenv)
		if err != nil {
			return nil, fmt.Errorf("%w: mirror.platform: %v; or pass --skip-release-signatures to carry releases without signatures", ErrUsage, err)
		}
		ver = v
	}
	arches, err := platformArches(p)
	if err != nil {
		return nil, err
	}

	// Graphs and selection.
	f := &graphFetcher{opts: po, prev: prev, clients: map[release.Product]*release.GraphClient{}}
	var cgs []release.ChannelGraph
	attached := map[string]bool{}
	for _, ch := range p.Channels {
		for _, a := range arches {
			g, err := f.graph(ctx, ch, a)
			if err != nil {
				return nil, fmt.Errorf("mirror.platform channel %s (%s): %w", ch.Name, a, err)
			}
			name := GraphAttachment(product(ch), ch.Name, a)
			if !attached[name] {
				attached[name] = true
				pp.attach = append(pp.attach, attachment{name, mediaTypeGraph, g.Raw})
			}
			cgs = append(cgs, release.ChannelGraph{Spec: channelSpec(ch), Arch: a, Graph: g})
		}
	}
	var rels []release.Release
	if len(cgs) > 0 {
		if rels, err = release.Select(cgs); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrUsage, err)
		}
	}
	if p.Release != "" {
		r, err := resolveRelease(ctx, client, p.Release, arches[0])
		if err != nil {
			return nil, fmt.Errorf("mirror.platform.release %s: %w", p.Release, err)
		}
		if !slices.ContainsFunc(rels, func(x release.Release) bool { return x.Digest == r.Digest }) {
			rels = append(rels, r)
		}
	}

	var sc *release.SignatureClient
	if ver != nil && prev == nil {
		sopts := []release.SignatureOption{release.WithSignatureGetenv(getenv)}
		if po.SignatureURL != "" {
			sopts = append(sopts, release.WithSignatureURL(po.SignatureURL))
		}
		if po.HTTPClient != nil {
			sopts = append(sopts, release.WithSignatureHTTPClient(po.HTTPClient))
		}
		if sc, err = release.NewSignatureClient(sopts...); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrUsage, err)
		}
	}

	// Payloads and signatures, a few releases at a time.
	payloads := make([]*release.Payload, len(rels))
	sigs := make([][][]byte, len(rels))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(opts.Parallel, 1))
	for i, r := range rels {
		g.Go(func() error {
			pl, err := readRelease(gctx, client, r)
			if err != nil {
				return fmt.Errorf("release %s (%s) %s: %w", r.Version, r.Arch, r.Payload, err)
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
			opts.Progress.Logf("release %s (%s): %d components, %d verified signatures", r.Version, r.Arch, len(pl.Components), len(s))
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}

	// Mappings: the payload and every component. Into an archive a source
	// is copied once (unpack names destinations from releases.json); into a
	// registry every destination tag is its own mapping.
	seen := map[string]bool{}
	add := func(src imageset.Reference, dst imageset.Reference) {
		key := src.String()
		if opts.Archive == "" {
			key += " " + dst.String()
		}
		if seen[key] {
			return
		}
		seen[key] = true
		pp.mappings = append(pp.mappings, imageset.Mapping{Kind: imageset.KindRelease, Source: src, Destination: dst, Line: p.Line})
	}
	for i, r := range rels {
		pl := payloads[i]
		tag, err := release.PayloadTag(r.Version, r.Arch)
		if err != nil {
			return nil, err
		}
		src, err := imageset.ParseReference(r.Payload)
		if err != nil {
			return nil, fmt.Errorf("release %s: %w", r.Version, err)
		}
		add(src, imageset.Reference{Repository: release.ReleaseImagesRepo, Tag: tag, Digest: r.Digest})
		rec := releaseRecord{Version: r.Version.String(), Arch: r.Arch, Payload: r.Payload, Channels: r.Channels}
		for _, c := range pl.Components {
			ctag, err := release.ComponentTag(r.Version, r.Arch, c.Name)
			if err != nil {
				return nil, fmt.Errorf("release %s: %w", r.Version, err)
			}
			csrc, err := imageset.ParseReference(c.Image)
			if err != nil {
				return nil, fmt.Errorf("release %s: component %s: %w", r.Version, c.Name, err)
			}
			add(csrc, imageset.Reference{Repository: release.ComponentsRepo, Tag: ctag, Digest: c.Digest})
			rec.Components = append(rec.Components, componentRecord{Name: c.Name, Image: c.Image})
		}
		pp.index.Releases = append(pp.index.Releases, rec)
		pp.sigs[r.Digest] = sigs[i]
	}

	if p.Graph {
		var tarball []byte
		if prev != nil {
			if prev.graphData == nil {
				return nil, fmt.Errorf("%w: graph: true, and release data %s carries no %s", ErrPrerequisites, prev.dir, AttachGraphData)
			}
			tarball = prev.graphData
		} else if tarball, err = fetchGraphData(ctx, po); err != nil {
			return nil, err
		}
		img, err := release.BuildGraphDataImage(bytes.NewReader(tarball), release.GraphDataImageOptions{})
		if err != nil {
			return nil, fmt.Errorf("graph data: %w", err)
		}
		pp.graphImage = img
		pp.attach = append(pp.attach, attachment{AttachGraphData, mediaTypeGraphData, tarball})
	}
	return pp, nil
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
		return release.Release{}, fmt.Errorf("%w: %s resolved to %s", ErrIntegrity, ref, desc.Digest)
	}
	pl, err := release.ReadPayload(ctx, src, desc, release.ReadOptions{Arch: arch})
	if err != nil {
		return release.Release{}, err
	}
	pinned := ref.Name() + "@" + desc.Digest.String()
	return release.Release{Version: pl.Version, Payload: pinned, Digest: desc.Digest, Arch: arch}, nil
}

// readRelease resolves a payload at its source and reads its components.
func readRelease(ctx context.Context, client *ocistore.Client, r release.Release) (*release.Payload, error) {
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
		return nil, fmt.Errorf("%w: resolved to %s", ErrIntegrity, desc.Digest)
	}
	return release.ReadPayload(ctx, src, desc, release.ReadOptions{Arch: r.Arch, ExpectVersion: r.Version.String()})
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
			return nil, fmt.Errorf("%w: release data %s carries no signature for %s", ErrPrerequisites, prev.dir, r.Digest)
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
			firstErr = cmpOr(firstErr, err)
			continue
		}
		good = append(good, s)
	}
	if len(good) == 0 {
		return nil, fmt.Errorf("%w: none of %d signatures of %s verifies: %v", ErrIntegrity, len(raw), r.Digest, firstErr)
	}
	return good, nil
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// fetchGraphData downloads the graph-data tarball, bounded.
func fetchGraphData(ctx context.Context, po PlatformOptions) ([]byte, error) {
	u := po.GraphDataURL
	if u == "" {
		u = release.GraphDataURL
	}
	c := po.HTTPClient
	if c == nil {
		c = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	u = retry.RedactString(u) // as every message prints it
	if err != nil {
		return nil, fmt.Errorf("%w: --graph-data-url %q: %v", ErrUsage, u, retry.RedactError(err))
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

// deliver puts what is not an image where it belongs: attachments into an
// archive, the graph-data image into a registry, plan lines for a dry run.
// A release with an image that failed is left out of releases.json (and its
// signatures out of the archive), so the archive stays unpackable.
func (pp *platformPlan) deliver(ctx context.Context, dst packDest, images []ImageResult) error {
	failed := map[string]bool{}
	for _, im := range images {
		if im.Err != nil {
			failed[im.Source] = true
		}
	}
	var idx releaseIndex
	attach := slices.Clone(pp.attach)
	for _, rec := range pp.index.Releases {
		isFailed := func(ref string) bool {
			r, err := imageset.ParseReference(ref)
			return err != nil || failed[r.String()]
		}
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
			attach = append(attach, attachment{SignatureAttachment(d, n+1), mediaTypeSignature, s})
		}
	}
	data, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return err
	}
	attach = append(attach, attachment{AttachReleases, mediaTypeReleases, data})
	switch d := dst.(type) {
	case *archiveDest:
		for _, a := range attach {
			if err := d.w.Attach(ctx, a.name, a.mediaType, a.data); err != nil {
				return fmt.Errorf("attach %s: %w", a.name, err)
			}
		}
	case *registryDest:
		if pp.graphImage == nil {
			return nil
		}
		ref, err := ocistore.ParseReference(release.Join(d.root, release.GraphImageRepo) + ":" + release.GraphImageTag)
		if err != nil {
			return err
		}
		repo, err := d.client.Repository(ctx, ref)
		if err != nil {
			return err
		}
		if err := pp.graphImage.Push(ctx, repo, release.GraphImageTag); err != nil {
			return fmt.Errorf("graph-data image: %w", err)
		}
	case *dryRunDest:
		d.mu.Lock()
		defer d.mu.Unlock()
		for _, a := range attach {
			d.lines = append(d.lines, fmt.Sprintf("attach %s (%d bytes)", a.name, len(a.data)))
		}
	}
	return nil
}

// releaseUnpack is the release content of an archive, resolved for one
// unpack.
type releaseUnpack struct {
	carried *carried
	// claimed are roots that are release content: pushed only as releases.
	claimed map[digest.Digest]bool
	pushes  []push
	// selected are the releases pushed, by payload digest.
	selected []releaseRecord
}

// planReleaseUnpack names where each selected release goes. Without -c
// every release is selected; with -c, the releases its mirror.platform
// selects from the carried graphs (none without a platform section).
func planReleaseUnpack(ctx context.Context, r *archive.Reader, opts UnpackOptions) (*releaseUnpack, error) {
	c, err := readCarried(ctx, r)
	if err != nil {
		return nil, err
	}
	if c.index == nil {
		return nil, nil
	}
	ru := &releaseUnpack{carried: c, claimed: map[digest.Digest]bool{}}
	roots := map[digest.Digest]int{}
	for i, root := range r.Roots() {
		roots[root.Descriptor.Digest] = i
	}
	for _, rec := range c.index.Releases {
		d, err := release.DigestOf(rec.Payload)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrIntegrity, AttachReleases, err)
		}
		ru.claimed[d] = true
		for _, comp := range rec.Components {
			cd, err := release.DigestOf(comp.Image)
			if err != nil {
				return nil, fmt.Errorf("%w: %s: %v", ErrIntegrity, AttachReleases, err)
			}
			ru.claimed[cd] = true
		}
	}
	want, err := selectCarried(c, opts.Config)
	if err != nil {
		return nil, err
	}
	found := map[digest.Digest]bool{}
	seen := map[string]bool{}
	for _, rec := range c.index.Releases {
		d, _ := release.DigestOf(rec.Payload)
		if want != nil && !want[d] {
			continue
		}
		found[d] = true
		v, err := release.ParseVersion(rec.Version)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrIntegrity, AttachReleases, err)
		}
		tag, err := release.PayloadTag(v, rec.Arch)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrIntegrity, AttachReleases, err)
		}
		add := func(image, repo, tag string) error {
			dg, _ := release.DigestOf(image)
			i, ok := roots[dg]
			if !ok {
				return fmt.Errorf("%w: %s lists %s, which is not a root of the archive", ErrIntegrity, AttachReleases, image)
			}
			dst := release.Join(opts.Registry, repo) + ":" + tag
			if seen[dst] {
				return nil
			}
			seen[dst] = true
			src, err := imageset.ParseReference(image)
			if err != nil {
				return fmt.Errorf("%w: %s: %v", ErrIntegrity, AttachReleases, err)
			}
			dref, err := ocistore.ParseReference(dst)
			if err != nil {
				return fmt.Errorf("%w: %v", ErrUsage, err)
			}
			ru.pushes = append(ru.pushes, push{root: r.Roots()[i], source: src, dest: dref, tag: tag, release: true})
			return nil
		}
		if err := add(rec.Payload, release.ReleaseImagesRepo, tag); err != nil {
			return nil, err
		}
		for _, comp := range rec.Components {
			ctag, err := release.ComponentTag(v, rec.Arch, comp.Name)
			if err != nil {
				return nil, fmt.Errorf("%w: %s: %v", ErrIntegrity, AttachReleases, err)
			}
			if err := add(comp.Image, release.ComponentsRepo, ctag); err != nil {
				return nil, err
			}
		}
		ru.selected = append(ru.selected, rec)
	}
	for d := range want {
		if !found[d] {
			return nil, fmt.Errorf("%w: the configuration selects release %s, which the archive does not hold", ErrPrerequisites, d)
		}
	}
	return ru, nil
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
	arches, err := platformArches(p)
	if err != nil {
		return nil, err
	}
	var cgs []release.ChannelGraph
	for _, ch := range p.Channels {
		for _, a := range arches {
			name := GraphAttachment(product(ch), ch.Name, a)
			raw, ok := c.graphs[name]
			if !ok {
				return nil, fmt.Errorf("%w: the configuration names channel %s (%s), and the archive carries no graph %s", ErrPrerequisites, ch.Name, a, name)
			}
			g, err := release.ParseGraph(raw)
			if err != nil {
				return nil, fmt.Errorf("%w: %s: %v", ErrIntegrity, name, err)
			}
			cgs = append(cgs, release.ChannelGraph{Spec: channelSpec(ch), Arch: a, Graph: g})
		}
	}
	if len(cgs) > 0 {
		rels, err := release.Select(cgs)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrUsage, err)
		}
		for _, r := range rels {
			want[r.Digest] = true
		}
	}
	if p.Release != "" {
		ref, err := imageset.ParseReference(p.Release)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrUsage, err)
		}
		matched := false
		for _, rec := range c.index.Releases {
			if rr, err := imageset.ParseReference(rec.Payload); err == nil && rr.Name() == ref.Name() && (ref.Digest == "" || rr.Digest == ref.Digest) {
				want[rr.Digest], matched = true, true
			}
		}
		if !matched {
			return nil, fmt.Errorf("%w: the archive does not hold mirror.platform.release %s", ErrPrerequisites, p.Release)
		}
	}
	return want, nil
}

// merge replaces the generic pushes of release roots with the release
// pushes. A nil receiver leaves pushes as they are.
func (ru *releaseUnpack) merge(pushes []push) []push {
	if ru == nil {
		return pushes
	}
	out := slices.DeleteFunc(pushes, func(p push) bool { return ru.claimed[p.root.Descriptor.Digest] })
	return append(out, ru.pushes...)
}

// finish writes the cluster resources of the releases whose payload and
// components all reached the destination: an ImageDigestMirrorSet, the
// signature ConfigMap and, with graph data, the graph-data image and an
// UpdateService.
func (ru *releaseUnpack) finish(ctx context.Context, u *unpacker, archiveDigest digest.Digest, pushes []push, results []ImageResult) ([]string, error) {
	if ru == nil || len(ru.selected) == 0 {
		return nil, nil
	}
	failed := map[digest.Digest]bool{}
	for i, p := range pushes {
		if p.release && results[i].Err != nil {
			failed[p.root.Descriptor.Digest] = true
		}
	}
	var payloads []string
	var comps []release.Component
	var sigs []release.ReleaseSignature
	for _, rec := range ru.selected {
		d, _ := release.DigestOf(rec.Payload)
		ok := !failed[d]
		var cs []release.Component
		for _, c := range rec.Components {
			cd, _ := release.DigestOf(c.Image)
			ok = ok && !failed[cd]
			cs = append(cs, release.Component{Name: c.Name, Image: c.Image, Digest: cd})
		}
		if !ok {
			u.opts.Progress.Logf("release %s (%s) is incomplete at the destination: left out of the cluster resources", rec.Version, rec.Arch)
			continue
		}
		payloads = append(payloads, rec.Payload)
		comps = append(comps, cs...)
		sigs = append(sigs, ru.carried.sigs[d]...)
	}
	if len(payloads) == 0 {
		return nil, nil
	}
	name := clusterres.ArchiveName(archiveDigest)
	pairs, err := release.ReleaseMirrors(u.opts.Registry, payloads, comps)
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
		u.opts.Progress.Logf("the archive carries no release signatures: no signature ConfigMap written")
	}
	if ru.carried.graphData != nil {
		img, err := release.BuildGraphDataImage(bytes.NewReader(ru.carried.graphData), release.GraphDataImageOptions{})
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrIntegrity, AttachGraphData, err)
		}
		ref, err := ocistore.ParseReference(release.Join(u.opts.Registry, release.GraphImageRepo) + ":" + release.GraphImageTag)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrUsage, err)
		}
		repo, err := u.repo(ctx, ref.Repository)
		if err != nil {
			return nil, err
		}
		if err := img.Push(ctx, repo, release.GraphImageTag); err != nil {
			return nil, fmt.Errorf("graph-data image: %w", err)
		}
		y, err := release.UpdateServiceYAML(release.UpdateServiceOptions{
			GraphDataImage: ref.Name() + "@" + img.Manifest.Digest.String(),
			Releases:       release.Join(u.opts.Registry, release.ReleaseImagesRepo),
		})
		if err != nil {
			return nil, err
		}
		r, err := yamlResource("UpdateService", release.UpdateServiceName, release.UpdateServiceNamespace, y)
		if err != nil {
			return nil, err
		}
		resources = append(resources, r)
	}
	return clusterres.WriteDir(u.opts.ClusterResources, resources...)
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
