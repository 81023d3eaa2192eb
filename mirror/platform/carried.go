package platform

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/enclave-mirror/enclave/archive"
	"github.com/enclave-mirror/enclave/imageset"
	"github.com/enclave-mirror/enclave/mirror/section"
	"github.com/enclave-mirror/enclave/release"
)

// carried is the release data an archive carries.
type carried struct {
	dir       string
	graphs    map[string][]byte
	sigs      map[digest.Digest][]release.ReleaseSignature
	graphData []byte
	index     *release.Index
}

// readCarried reads the release attachments of r, each bounded and
// verified against its digest.
func readCarried(ctx context.Context, r *archive.Reader) (*carried, error) {
	c := &carried{dir: r.Dir(), graphs: map[string][]byte{}, sigs: map[digest.Digest][]release.ReleaseSignature{}}
	// Every attachment counted, by number and added-up size, before any
	// is read (many names may point at one blob).
	atts, err := r.Attachments(archive.AttachmentLimits{})
	if err != nil {
		return nil, section.Classed(errIntegrity, err)
	}
	for _, a := range r.Manifest().Attachments {
		var limit int64
		sigDigest, sigN, isSig := release.ParseSignatureAttachment(a.Name)
		switch {
		case a.Name == release.AttachReleases:
			limit = release.MaxIndexBytes
		case a.Name == release.AttachGraphData:
			limit = release.DefaultMaxGraphDataBytes
		case strings.HasPrefix(a.Name, "graph/") && strings.HasSuffix(a.Name, ".json"):
			limit = release.DefaultMaxGraphBytes
		case isSig:
			limit = release.DefaultMaxSignatureBytes
		default:
			continue // not release data
		}
		data, err := atts.Read(ctx, a, limit)
		if err != nil {
			return nil, section.Classed(errIntegrity, err)
		}
		switch {
		case a.Name == release.AttachReleases:
			var idx release.Index
			if err := json.Unmarshal(data, &idx); err != nil {
				return nil, fmt.Errorf("%w: attachment %s: %v", errIntegrity, a.Name, err)
			}
			c.index = &idx
		case a.Name == release.AttachGraphData:
			c.graphData = data
		case isSig:
			c.sigs[sigDigest] = append(c.sigs[sigDigest], release.ReleaseSignature{Digest: sigDigest, Index: sigN, Data: data})
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
		return nil, section.Classedf(errIntegrity, err, "release data %s", dir)
	}
	defer r.Close()
	return readCarried(ctx, r)
}

// graphFetcher answers update graphs from an update service or, inside an
// air gap without one, from the graphs a previous archive carries.
type graphFetcher struct {
	opts    Options
	prev    *carried
	clients map[release.Product]*release.GraphClient
}

func (f *graphFetcher) graph(ctx context.Context, ch imageset.ReleaseChannel, arch release.Arch) (*release.Graph, error) {
	prod := product(ch)
	getenv := f.opts.getenv()
	if f.prev != nil && f.opts.UpdateURL == "" && getenv(release.EnvUpdateURL) == "" {
		name := release.GraphAttachment(prod, ch.Name, arch)
		raw, ok := f.prev.graphs[name]
		if !ok {
			return nil, fmt.Errorf("%w: release data %s carries no update graph %s; name an update service with --update-url or %s",
				errPrerequisites, f.prev.dir, name, release.EnvUpdateURL)
		}
		g, err := release.ParseGraph(raw)
		if err != nil {
			return nil, fmt.Errorf("%w: release data %s: %s: %v", errIntegrity, f.prev.dir, name, err)
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
			return nil, section.Classed(errUsage, err)
		}
		f.clients[prod] = c
	}
	return c.Graph(ctx, ch.Name, arch)
}

// ListReleases fetches one channel's graph and returns its versions in
// ascending order with the index of the channel head (for
// `enclave-pack list releases`).
func ListReleases(ctx context.Context, opts Options, channel string, typ string, arch string) ([]release.Version, int, error) {
	a, err := release.ParseArch(arch)
	if err != nil {
		return nil, -1, section.Classed(errUsage, err)
	}
	if typ != "" && typ != imageset.ChannelTypeOCP && typ != imageset.ChannelTypeOKD {
		return nil, -1, fmt.Errorf("%w: --type %q: want ocp or okd", errUsage, typ)
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
