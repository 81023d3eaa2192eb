package helm

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"github.com/enclave-mirror/enclave/ocistore"
)

// OCIRepository is an oci:// chart repository: chart name is a repository
// below its path, chart versions are tags. Charts are read through an
// [ocistore.Client], so auth files, TLS settings, registries.conf mirrors
// and retries apply as for images.
type OCIRepository struct {
	// Name is the repository's name in the configuration.
	Name   string
	base   ocistore.Reference // registry and path prefix, no tag
	client *ocistore.Client
	limits Limits
}

// NewOCIRepository returns a client for the chart repository at rawURL
// (oci://host[:port]/path). Errors wrap [ErrInvalid].
func NewOCIRepository(name, rawURL string, client *ocistore.Client, limits Limits) (*OCIRepository, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "oci" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%w: repository %q: %s is not an oci://host/path URL", ErrInvalid, name, redactString(rawURL))
	}
	p := strings.Trim(u.Path, "/")
	ref := ocistore.Reference{Registry: u.Host, Repository: p}
	if p != "" {
		if err := ref.Validate(); err != nil {
			return nil, fmt.Errorf("%w: repository %q: %s: %v", ErrInvalid, name, rawURL, err)
		}
	}
	return &OCIRepository{Name: name, base: ref, client: client, limits: limits.withDefaults()}, nil
}

// URL returns the repository URL, oci://host/path.
func (o *OCIRepository) URL() string { return "oci://" + o.base.Name() }

// chartRef returns the registry reference of chart name.
func (o *OCIRepository) chartRef(name string) (ocistore.Reference, error) {
	ref := ocistore.Reference{Registry: o.base.Registry, Repository: strings.TrimPrefix(o.base.Repository+"/"+name, "/")}
	if err := ref.Validate(); err != nil || strings.Contains(name, "/") {
		return ocistore.Reference{}, fmt.Errorf("%w: repository %q: chart name %q: not a repository path component", ErrInvalid, o.Name, name)
	}
	return ref, nil
}

// Versions lists the versions of chart name: its tags, "_" read as "+"
// as helm does.
func (o *OCIRepository) Versions(ctx context.Context, name string) ([]string, error) {
	ref, err := o.chartRef(name)
	if err != nil {
		return nil, err
	}
	repo, err := o.client.Repository(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("%w: repository %q: chart %s: %w", ErrFetch, o.Name, ref.Name(), ocistore.RedactURLs(err))
	}
	var versions []string
	err = repo.Tags(ctx, "", func(tags []string) error {
		for _, t := range tags {
			versions = append(versions, strings.ReplaceAll(t, "_", "+"))
		}
		if len(versions) > o.limits.MaxIndexEntries {
			return fmt.Errorf("%w: repository %q: chart %s has more than %d tags", ErrTooLarge, o.Name, ref.Name(), o.limits.MaxIndexEntries)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: repository %q: list tags of %s: %w", ErrFetch, o.Name, ref.Name(), ocistore.RedactURLs(err))
	}
	return versions, nil
}

// Pull resolves version of chart name among its tags (see
// [SelectVersion]) and fetches its manifest, config and layers. The chart
// keeps its manifest byte for byte, so [Chart.Push] reproduces its digest.
func (o *OCIRepository) Pull(ctx context.Context, name, version string) (*Chart, error) {
	versions, err := o.Versions(ctx, name)
	if err != nil {
		return nil, err
	}
	v, err := SelectVersion(versions, version)
	if err != nil {
		return nil, fmt.Errorf("repository %q (%s): chart %q: %w", o.Name, o.URL(), name, err)
	}
	ref, _ := o.chartRef(name)
	ref.Tag = OCITag(v)
	where := "oci://" + ref.String()
	src, err := o.client.Source(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrFetch, where, ocistore.RedactURLs(err))
	}
	desc, err := src.Resolve(ctx, ref.Tag)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrFetch, where, ocistore.RedactURLs(err))
	}
	if desc.MediaType != ocispec.MediaTypeImageManifest {
		return nil, fmt.Errorf("%w: %s is a %s, not an OCI manifest", ErrUnsupported, where, desc.MediaType)
	}
	fetch := func(d ocispec.Descriptor, max int64, what string) ([]byte, error) {
		if d.Size < 0 || d.Size > max {
			return nil, fmt.Errorf("%w: %s: %s is %d bytes, over the limit of %d", ErrTooLarge, where, what, d.Size, max)
		}
		rc, err := src.Fetch(ctx, d)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %s: %w", ErrFetch, where, what, ocistore.RedactURLs(err))
		}
		defer rc.Close()
		b, err := content.ReadAll(rc, d)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %s: %w", ErrFetch, where, what, err)
		}
		return b, nil
	}
	raw, err := fetch(desc, o.limits.MaxManifestBytes, "manifest")
	if err != nil {
		return nil, err
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("%w: %s: manifest: %v", ErrUnsupported, where, err)
	}
	if m.Config.MediaType != ConfigMediaType {
		return nil, fmt.Errorf("%w: %s: config is %q, not a Helm chart config", ErrUnsupported, where, m.Config.MediaType)
	}
	c := &Chart{manifest: raw, manifestDesc: desc, blobs: map[digest.Digest][]byte{}, Kind: SourceOCI, Source: where, Repository: o.URL()}
	if c.config, err = fetch(m.Config, o.limits.MaxManifestBytes, "config"); err != nil {
		return nil, err
	}
	c.blobs[m.Config.Digest] = c.config
	for _, l := range m.Layers {
		switch l.MediaType {
		case ChartLayerMediaType, LegacyChartLayerMediaType:
			if c.Archive != nil {
				return nil, fmt.Errorf("%w: %s has two chart layers", ErrUnsupported, where)
			}
			if c.Archive, err = fetch(l, o.limits.MaxChartBytes, "chart layer"); err != nil {
				return nil, err
			}
			c.blobs[l.Digest] = c.Archive
		case ProvLayerMediaType:
			if c.Provenance, err = fetch(l, o.limits.MaxProvenanceBytes, "provenance layer"); err != nil {
				return nil, err
			}
			c.blobs[l.Digest] = c.Provenance
		default:
			return nil, fmt.Errorf("%w: %s: layer %s has media type %q", ErrUnsupported, where, l.Digest, l.MediaType)
		}
	}
	if c.Archive == nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrUnsupported, where, errNoChartLayer)
	}
	ch, err := loadArchive(c.Archive, where)
	if err != nil {
		return nil, err
	}
	c.Name, c.Version = ch.Metadata.Name, ch.Metadata.Version
	if c.Name != name || OCITag(c.Version) != ref.Tag {
		return nil, fmt.Errorf("%w: %s: the archive's Chart.yaml says %s %s", ErrChart, where, c.Name, c.Version)
	}
	if t, err := time.Parse(time.RFC3339, m.Annotations[ocispec.AnnotationCreated]); err == nil {
		c.Created = t
	}
	return c, nil
}
